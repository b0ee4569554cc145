// A consultation's end-to-end encrypted text channel (client/consult_text.py, in the browser).
//
// The server makes the chat room and its server-side membership follows admission
// (server/consultations/chat.py), but who gets message keys is decided by the room's signed chain
// (docs/crypto.md §5), which only clients can sign. So the host's client starts the chain and keeps
// it in step with the roster, signing in only those the host admitted through this client (`admit`)
// or approved (`approve`): were it to sign whomever the server lists, a server could add a reader
// to any consultation. Signing people out follows the server's roster. Everyone else reads and
// writes. Text needs no media: it rides the socket, so it keeps working in `text-only`.
import { Emitter } from "../net/events.js";
import { memberIds } from "./chains.js";
import { DECRYPTED } from "./records.js";

const SYNC_RETRIES = 5;
const SYNC_RETRY_MS = 2000;
const ROSTER_EVENTS = new Set(["consult.participants", "consult.ended"]);

/** Events: "texts" (the decrypted texts changed), "unapproved" (admitted by the server, not here). */
export class ConsultationText extends Emitter {
  /** @param {import("./client.js").E2EEClient} e2ee @param {string} consultationId */
  constructor(e2ee, consultationId) {
    super();
    this.e2ee = e2ee;
    this.api = e2ee.api;
    this.consultationId = consultationId;
    /** @type {string|null} */ this.chatRoomId = null;
    this.host = false;
    /** Users this client admitted or the host approved: the only ones it signs in. */
    this.approved = new Set();
    /** Admitted according to the server, not approved here: for the screen to show. */
    this.unapproved = new Set();
    /** user id → display name, as the consultation last listed its participants. */
    this.names = new Map();
    this.syncErrors = 0;
    this._wanted = false;
    this._syncing = null;
    this._failures = 0;
    this._retry = null;
    this._offs = [
      this.api.on("event", (event, data) => {
        if (this.host && ROSTER_EVENTS.has(event) && data?.consultation_id === this.consultationId) this.wantSync();
      }),
      e2ee.on("message", (rec) => rec.room_id === this.chatRoomId && this.emit("texts", this.texts())),
    ];
  }

  /** Learn the chat room; as host, start its chain and sign the current roster in. A participant
   * calls this once admitted (the chat room is hidden before: `not_admitted`). */
  async open() {
    const state = await this._state();
    if (!state.chat_room_id) {
      const err = new Error("the chat room opens once admitted");
      err.code = "not_admitted";
      throw err;
    }
    this.chatRoomId = String(state.chat_room_id);
    this.host = state.me?.role === "host";
    if (this.host) {
      await this.e2ee.signRoomCreate(this.chatRoomId);
      await this.syncRoster();
    }
    this.emit("texts", this.texts());
    return this.chatRoomId;
  }

  /** Host: admit someone from the waiting room and sign them (or, for a walk-in patient, the
   * assistant who represents them) into the text channel. */
  async admit(participantId) {
    const state = await this._state();
    const rows = new Map();
    for (const p of [...(state.waiting || []), ...(state.participants || [])]) rows.set(p.participant_id, p);
    await this.api.call("consult.admit", { consultation_id: this.consultationId, participant_id: participantId });
    const target = rows.get(participantId);
    for (const row of [target, target && rows.get(target.represented_by || "")]) {
      if (row?.user_id) this.approved.add(String(row.user_id));
    }
    this.wantSync();
  }

  /** Host: sign in someone the server lists as admitted (from another of the host's devices). */
  approve(userId) {
    this.approved.add(userId);
    this.wantSync();
  }

  /** Host: one roster sync at a time; a change arriving meanwhile folds into the next one. */
  wantSync() {
    this._wanted = true;
    if (!this._syncing) this._syncing = this._syncLoop().finally(() => (this._syncing = null));
    return this._syncing;
  }

  async syncRoster() {
    this._wanted = true;
    await (this._syncing || this.wantSync());
  }

  async _syncLoop() {
    while (this._wanted && this.chatRoomId) {
      this._wanted = false;
      try {
        await this._syncOnce();
        this._failures = 0;
      } catch (err) {
        // Say, a participant whose keys are not published yet: tried again a few times, then at
        // the next roster change. The chain stays as it was, so nobody gets keys meanwhile.
        this.syncErrors++;
        this._failures++;
        if (this._failures < SYNC_RETRIES && !this._retry) {
          this._retry = setTimeout(() => {
            this._retry = null;
            this.wantSync();
          }, SYNC_RETRY_MS);
        }
      }
    }
  }

  async _syncOnce() {
    const room = this.chatRoomId;
    const state = await this._state();
    const admitted = new Set(
      state.status === "ended"
        ? []
        : (state.participants || []).filter((p) => p.user_id && p.state === "admitted").map((p) => String(p.user_id)),
    );
    const me = this.e2ee.userId;
    const chain = await this.e2ee.chains.get(room, { force: true });
    const signed = new Set(chain ? memberIds(chain) : []);
    const unapproved = [...admitted].filter((u) => !this.approved.has(u) && !signed.has(u) && u !== me);
    if (unapproved.join() !== [...this.unapproved].join()) {
      this.unapproved = new Set(unapproved);
      this.emit("unapproved", [...this.unapproved]);
    }
    for (const user of [...admitted].sort()) {
      if (this.approved.has(user) && !signed.has(user) && user !== me) await this.e2ee.addMember(room, user);
    }
    for (const user of [...signed].sort()) {
      if (!admitted.has(user) && user !== me) await this.e2ee.removeMember(room, user);
    }
  }

  async _state() {
    const state = await this.api.request("GET", `/api/v1/consultations/${encodeURIComponent(this.consultationId)}`);
    for (const p of state.participants || []) {
      if (p.user_id && p.display_name) this.names.set(String(p.user_id), p.display_name);
    }
    return state;
  }

  /** Read the roster again (names of newcomers); a participant calls it on `consult.participants`. */
  async refresh() {
    await this._state();
    this.emit("texts", this.texts());
  }

  async send(text) {
    if (!this.chatRoomId) throw Object.assign(new Error("open() once admitted"), { code: "not_admitted" });
    return this.e2ee.sendText(this.chatRoomId, text);
  }

  /** Every message of the channel, in room order: {id, seq, ts, sender, mine, state, body}. Messages
   * still waiting for their key or that failed are listed too, so the screen can say so. */
  texts() {
    if (!this.chatRoomId) return [];
    return this.e2ee
      .messages(this.chatRoomId)
      .filter((r) => r.state !== DECRYPTED || r.content?.type === "text")
      .map((r) => ({
        id: r.id,
        seq: r.seq,
        ts: r.ts,
        sender: r.sender_user,
        mine: r.sender_user === this.e2ee.userId,
        state: r.state,
        body: r.state === DECRYPTED ? String(r.content.body ?? "") : "",
      }));
  }

  close() {
    this._offs.forEach((off) => off());
    this._offs = [];
    if (this._retry) clearTimeout(this._retry);
    this._retry = null;
    this.chatRoomId = null;
  }
}
