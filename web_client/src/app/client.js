// Everything the screens need from Relais, in one object: the SDK connection (REST + socket),
// the E2EE client with its state sealed in the vault, the outbox, and the names of people. The
// screens never touch keys or the wire; they read timelines and call verbs.
import { RelaisClient } from "../net/sdk.js";
import { Emitter } from "../net/events.js";
import { ApiError, OFFLINE } from "../net/api.js";
import { E2EEClient } from "../e2ee/client.js";
import { summaryText } from "./consult_summary.js";
import { Outbox } from "./outbox.js";
import { t } from "../i18n/index.js";

/** The vault as the E2EE client's storage interface. */
function vaultStorage(vault) {
  return {
    load: (name) => vault.get(name),
    save: (name, value) => vault.put(name, value),
    delete: (name) => vault.delete(name),
  };
}

/** Upload with progress: fetch cannot report it, XMLHttpRequest can. */
function uploadWithProgress(sdk, roomId, bytes, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `${sdk.baseUrl}/api/v1/rooms/${encodeURIComponent(roomId)}/attachments`);
    xhr.setRequestHeader("Authorization", `Bearer ${sdk.token}`);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.responseType = "json";
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => {
      const body = xhr.response || {};
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(new ApiError(body.error?.code || "internal", body.error?.message || `HTTP ${xhr.status}`, body.error?.details || {}, xhr.status));
    };
    xhr.onerror = () => reject(new ApiError(OFFLINE, "upload failed"));
    xhr.send(bytes);
  });
}

/** The approval code travels as one line of text (pasted, or in a QR code). */
export function encodeApproval(code) {
  return `relais-approve:${btoa(JSON.stringify(code))}`;
}

export function decodeApproval(text) {
  const bad = () => new ApiError("bad_code", "not an approval code");
  const m = /^relais-approve:([A-Za-z0-9+/=]+)$/.exec(String(text).trim());
  if (!m) throw bad();
  let code;
  try {
    code = JSON.parse(atob(m[1]));
  } catch {
    throw bad();
  }
  const fields = ["user", "device", "sign", "dh"];
  if (!code || typeof code !== "object" || Object.keys(code).length !== 4 || !fields.every((f) => typeof code[f] === "string")) throw bad();
  return code;
}

export class AppClient extends Emitter {
  /**
   * @param {import("./session.js").Session} session
   * @param {RelaisClient} sdk
   * @param {E2EEClient} e2ee
   * @param {Outbox} outbox
   */
  constructor(session, sdk, e2ee, outbox) {
    super();
    this.session = session;
    this.sdk = sdk;
    this.e2ee = e2ee;
    this.outbox = outbox;
    /** @type {Map<string, string>} user id -> display name */
    this.names = new Map();
    this.rooms = /** @type {object[]} */ ([]);
    this.canConsult = ["clinician", "admin"].includes(session.record.role);
    this.connected = false;
  }

  /** The signed-in session's client, its E2EE state restored from the vault. */
  static async open(session) {
    const sdk = new RelaisClient(location.origin, { transports: ["websocket", "polling"], reconnectionDelay: 1000, reconnectionDelayMax: 30000 });
    sdk.useSession(session.token, session.userId, session.deviceId);
    const e2ee = await E2EEClient.open(sdk, { storage: vaultStorage(session.vault) });
    let app;
    const outbox = new Outbox(session.vault, (item) => app._sendQueued(item));
    app = new AppClient(session, sdk, e2ee, outbox);
    await outbox.load();
    app._wire();
    return app;
  }

  get userId() {
    return this.sdk.userId;
  }

  _wire() {
    const e = this.e2ee;
    e.on("message", (rec) => {
      const who = rec.sender_user;
      if (who && who !== this.userId && !this.names.has(who)) this.learnName(who, rec.room_id);
      this.emit("timeline", rec.room_id);
      this.emit("rooms");
    });
    e.on("identity", (userId) => this.emit("identity", userId));
    e.on("room_changed", (d) => {
      this.emit("room", d.room_id);
      this.emit("rooms");
    });
    this.outbox.on("changed", (roomId) => this.emit("timeline", roomId));
    this.sdk.on("connect", () => {
      this.connected = true;
      this.emit("connection", true);
      this.emit("rooms");
      this.outbox.drain();
    });
    this.sdk.on("disconnect", (reason) => {
      this.connected = false;
      this.emit("connection", false);
      // The server closed the socket itself: this session was ended (signed out or this device
      // revoked from another device, or expired). socket.io does not reconnect after that.
      if (reason === "io server disconnect") this._checkSession();
    });
    this.sdk.on("event", (event, data) => {
      if (event === "typing" || event === "receipt" || event === "presence") this.emit(event, data);
      if (event === "receipt" || event === "room.member") this.emit("rooms");
      if (event.startsWith("consult.")) this.emit("consult", event, data);
    });
  }

  /** Emits "ended" when the server no longer knows this session; otherwise reconnects. */
  async _checkSession() {
    if (this._closed) return;
    try {
      await this.sdk.request("GET", "/api/v1/me");
    } catch (err) {
      if (err?.code === "unauthorized") {
        this.emit("ended");
        return;
      }
    }
    if (!this.sdk.connected && !this._closed) this.connect().catch((err) => err?.code === "unauthorized" && this.emit("ended"));
  }

  /** Where this device stands: "ready", "first_device" (the user has no keys yet) or
   * "new_device" (the user has keys elsewhere: approve this browser, or restore the backup). */
  async deviceStatus() {
    if (this.e2ee.hasIdentity) return "ready";
    const keys = await this.sdk.queryKeys([this.userId]);
    return keys[this.userId]?.identity_key ? "new_device" : "first_device";
  }

  /** Connect and sync; while the server cannot be reached, try again with a growing delay (the
   * workspace shows "offline" and keeps what is typed in the outbox meanwhile). */
  connect() {
    // One attempt loop at a time: two would close each other's socket in turn.
    this._connecting ??= this._connectLoop().finally(() => (this._connecting = null));
    return this._connecting;
  }

  async _connectLoop() {
    let delay = 1000;
    while (!this._closed) {
      try {
        await this.e2ee.connect();
        this.connected = true;
        this.emit("connection", true);
        this.emit("rooms");
        this.outbox.drain();
        return;
      } catch (err) {
        if (err?.code === "unauthorized") throw err;
        this.emit("connection", false);
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 30000);
      }
    }
  }

  async close() {
    this._closed = true;
    await this.e2ee.close();
  }

  // -- this device --------------------------------------------------------------------------
  /** First device: identity key, device list, and the key backup under `passphrase` (or none). */
  async bootstrap(passphrase, onProgress = () => {}) {
    await this.e2ee.bootstrap(passphrase || null, { onProgress });
  }

  /** A further device: its approval code, as the text the other device pastes (or scans). */
  async startNewDevice() {
    return encodeApproval(await this.e2ee.startNewDevice());
  }

  /** Calls `onReady` once another device has approved this one; returns the way to stop. */
  whenApproved(onReady) {
    let done = false;
    const check = () => {
      if (!done && this.e2ee.hasIdentity) {
        done = true;
        onReady();
      }
    };
    // The approving device's secrets arrive over the socket; the E2EE client says "identity"
    // once they gave this device its identity key. Connected with retries: a first attempt
    // that fails (a slow link) must not leave this screen waiting for ever.
    const off = this.e2ee.on("identity", check);
    this.connect().catch(() => {});
    check();
    return () => {
      done = true;
      off();
    };
  }

  async restore(passphrase, onProgress = () => {}) {
    await this.e2ee.restoreFromBackup(passphrase, { onProgress });
  }

  async approveDevice(text) {
    await this.e2ee.approveDevice(decodeApproval(text));
  }

  /** This user's devices, one row each (a device signs in many times): those in the signed
   * device list (they hold keys, even signed out) and those with a live session (a browser
   * waiting for approval), oldest first, each with its latest sign-in and a short id, since
   * two browsers of the same kind otherwise carry the same name. */
  async devices() {
    const { sessions } = await this.sdk.request("GET", "/api/v1/auth/sessions");
    await this.e2ee.directory.ensure([this.userId]).catch(() => {});
    const listed = new Set((this.e2ee.directory.lists.get(this.userId)?.devices || []).map((d) => d.id));
    const latest = new Map();
    for (const s of sessions) {
      const prev = latest.get(s.device_id);
      if (!prev || s.created_at > prev.created_at) latest.set(s.device_id, s);
    }
    return [...latest.values()]
      .filter((s) => listed.has(s.device_id) || sessions.some((o) => o.device_id === s.device_id && o.active))
      .map((s) => ({
        device_id: s.device_id,
        name: s.device_name,
        short_id: s.device_id.replace(/^d_/, "").slice(0, 6),
        signed_in_at: s.created_at,
        last_seen_at: s.last_seen_at || s.created_at,
        current: s.device_id === this.session.deviceId,
      }))
      .sort((a, b) => a.signed_in_at - b.signed_in_at);
  }

  async revokeDevice(deviceId) {
    await this.e2ee.revokeDevice(deviceId);
  }

  /** What the verification screen shows for `userId`: the safety number, the QR payload, and
   * whether that user's identity key is already verified (or changed since it was pinned). */
  async verificationFacts(userId) {
    await this.e2ee.directory.ensure([userId, this.userId]);
    return this.e2ee.verificationFacts(userId);
  }

  async markVerified(userId) {
    this.e2ee.markVerified(userId);
    await this.e2ee.save();
  }

  /** How far this device trusts `userId`'s identity key: "verified" (safety numbers compared),
   * "changed" (a new key is served: compare again), "tofu" (first seen, not compared) or null. */
  trustOf(userId) {
    return this.e2ee.trustState(userId);
  }

  /** Resolves once the socket is up (at once when it is). */
  whenConnected() {
    if (this.connected) return Promise.resolve();
    return new Promise((resolve) => {
      const off = this.on("connection", (up) => up && (off(), resolve()));
    });
  }

  // -- names --------------------------------------------------------------------------------
  nameOf(userId) {
    return this.names.get(userId) || t("people.unknown");
  }

  _learn(members) {
    let learnt = false;
    for (const m of members || []) {
      const name = m.display_name || m.username;
      if (name && this.names.get(m.user_id) !== name) {
        this.names.set(m.user_id, name);
        learnt = true;
      }
    }
    if (learnt) this.emit("names");
  }

  /** Learn the name of someone this device has only an id for (the sender of a message that
   * arrived before the room's members were fetched, a verification opened from its address):
   * from the room they write in, else from this user's rooms. Emits "names" when found. */
  learnName(userId, roomId = null) {
    if (this.names.has(userId)) return Promise.resolve(this.names.get(userId));
    this._learning ??= new Map();
    this._looked ??= new Set();
    const key = roomId || "*";
    // Asked once per place: a sender who left the room is not looked up again per message.
    if (this._looked.has(`${key} ${userId}`) && !this._learning.has(key)) return Promise.resolve(null);
    this._looked.add(`${key} ${userId}`);
    if (!this._learning.has(key)) {
      const rooms = async () => (roomId ? [roomId] : (this.rooms.length ? this.rooms : await this.listRooms()).map((r) => r.room_id));
      const job = (async () => {
        await this.whenConnected();
        for (const room of await rooms()) {
          await this.room(room);
          if (this.names.has(userId)) return;
        }
      })()
        .catch(() => {})
        .finally(() => this._learning.delete(key));
      this._learning.set(key, job);
    }
    return this._learning.get(key).then(() => this.names.get(userId) || null);
  }

  // -- rooms --------------------------------------------------------------------------------
  async listRooms() {
    if (!this.sdk.connected) return this._localRooms();
    const { rooms } = await this.sdk.call("room.list");
    this.rooms = rooms;
    return rooms.map((r) => ({ ...r, unread: Math.max(0, r.last_seq - r.read_seq), title: this.titleOf(r.room_id) }));
  }

  /** Offline (a reload before the socket is up): the rooms this device holds messages of, from
   * the vault, so the list and the open room show what was already there. */
  _localRooms() {
    const last = new Map();
    for (const rec of this.e2ee.records.values()) {
      const prev = last.get(rec.room_id);
      if (!prev || rec.seq > prev.seq) last.set(rec.room_id, rec);
    }
    return [...last.values()].map((rec) => ({
      room_id: rec.room_id,
      last_seq: rec.seq,
      read_seq: rec.seq,
      last_activity_at: rec.ts || 0,
      unread: 0,
      title: this.titleOf(rec.room_id),
    }));
  }

  async room(roomId) {
    const state = await this.sdk.call("room.get", { room_id: roomId });
    this._learn(state.members);
    return state;
  }

  /** The room's name: the latest `room.title` message of the room that this device could read. */
  titleOf(roomId) {
    const titles = this.e2ee.messages(roomId).filter((r) => r.state === "decrypted" && r.content?.type === "room.title");
    const last = titles[titles.length - 1];
    return last ? String(last.content.title || "").slice(0, 200) : null;
  }

  roomTitle(room) {
    return this.titleOf(room.room_id) || t("rooms.untitled", { id: room.room_id.slice(2, 8) });
  }

  async createRoom(title) {
    const roomId = await this.e2ee.createRoom(null);
    if (title) await this.e2ee.sendContent(roomId, { type: "room.title", title });
    this.emit("rooms");
    return roomId;
  }

  async receipts(roomId) {
    return (await this.sdk.call("receipts.get", { room_id: roomId })).receipts;
  }

  async markRead(roomId, seq) {
    try {
      await this.sdk.call("receipt.read", { room_id: roomId, seq });
      this.emit("rooms");
    } catch {
      // offline: marked again when the room is next shown
    }
  }

  typing(roomId, on) {
    this.sdk.call("typing", { room_id: roomId, typing: on }).catch(() => {});
  }

  async presence(userIds) {
    return (await this.sdk.call("presence.get", { user_ids: userIds.slice(0, 200) })).presence;
  }

  async searchPeople(q) {
    const { people } = await this.sdk.request("GET", `/api/v1/people?q=${encodeURIComponent(q)}`);
    this._learn(people);
    return people;
  }

  async addMember(room, userId, { roomRole = "member", consentMethod = null } = {}) {
    let consentId = null;
    if (consentMethod) {
      const made = await this.sdk.request("POST", `/api/v1/rooms/${encodeURIComponent(room.room_id)}/consents`, { subject_user_id: userId, method: consentMethod });
      consentId = made.consent_id;
    }
    await this.e2ee.addMember(room.room_id, userId, { roomRole, consentId });
    this.emit("room", room.room_id);
  }

  async removeMember(roomId, userId) {
    await this.e2ee.removeMember(roomId, userId);
    this.emit("room", roomId);
  }

  // -- messages -----------------------------------------------------------------------------
  /** The room's messages in order, then this user's sends still in the outbox. */
  timeline(roomId) {
    const shown = this.e2ee.messages(roomId);
    // An outbox item the server already stored (its record is here, under the item's
    // client_msg_id, or a retry's "<id>.<n>") is shown once: as the stored message.
    const stored = new Set();
    for (const rec of shown) {
      if (rec.sender_device === this.sdk.deviceId && rec.client_msg_id) stored.add(rec.client_msg_id.replace(/\.\d+$/, ""));
    }
    const pending = this.outbox.forRoom(roomId).filter((item) => !stored.has(item.id)).map((item) => ({
      id: item.id,
      pending: true,
      sending: this.outbox.sending === item.id,
      failed: item.failed || null,
      sender_user: this.userId,
      ts: item.ts,
      content: item.content,
    }));
    return [...shown, ...pending];
  }

  async queueText(roomId, body) {
    await this.outbox.add(roomId, { type: "text", body });
  }

  async _sendQueued(item) {
    if (!this.sdk.connected) throw new ApiError(OFFLINE, "offline");
    await this.e2ee.sendContent(item.room_id, item.content, { clientMsgId: item.id });
  }

  /** Encrypt in the browser, upload the ciphertext with progress, then send the key. */
  async sendFile(roomId, file, onProgress = () => {}) {
    const data = new Uint8Array(await file.arrayBuffer());
    const sdk = this.sdk;
    const plain = sdk.uploadAttachment;
    sdk.uploadAttachment = (room, blob) => uploadWithProgress(sdk, room, blob, onProgress);
    try {
      return await this.e2ee.sendFile(roomId, data, { name: file.name, mime: file.type || "application/octet-stream" });
    } finally {
      sdk.uploadAttachment = plain;
    }
  }

  async downloadFile(content) {
    return this.e2ee.downloadFile(content);
  }

  // -- consultations ------------------------------------------------------------------------
  async startConsultation(roomId, displayName, withCode) {
    const made = await this.sdk.request("POST", "/api/v1/consultations", { room_id: roomId });
    const link = await this.sdk.request("POST", `/api/v1/consultations/${encodeURIComponent(made.consultation_id)}/links`, { display_name: displayName, with_code: withCode });
    return { ...made, link: new URL(link.url, location.origin).href, code: link.code, expires_at: link.expires_at };
  }

  /** The consultations this user hosts that are still open and came from care room `roomId`,
   * newest first. */
  async openConsultations(roomId) {
    const { consultations } = await this.sdk.request("GET", "/api/v1/consultations");
    // roomId null: the assisted consultations (health bus), which have no care room.
    return consultations.filter(
      (c) => c.role === "host" && c.status === "open" && (roomId ? c.room_id === roomId : c.assisted && !c.room_id),
    );
  }

  /** One consultation as its host sees it: status, participants (admitted), waiting. */
  async consultation(id) {
    return this.sdk.request("GET", `/api/v1/consultations/${encodeURIComponent(id)}`);
  }

  /** The host enters the consultation (admitted at once): the server then sends it
   * `consult.participants` as well as `consult.waiting`. Sent again after every reconnection. */
  async joinConsultation(id) {
    return this.sdk.call("consult.join", { consultation_id: id });
  }

  async admit(id, participantId) {
    return this.sdk.call("consult.admit", { consultation_id: id, participant_id: participantId });
  }

  /** The host invites a colleague (a clinician account) to take part as a clinician. */
  async inviteColleague(id, userId) {
    return this.sdk.request("POST", `/api/v1/consultations/${encodeURIComponent(id)}/participants`, {
      user_id: userId,
      role: "clinician",
    });
  }

  /** Open consultations this user was invited to by another host (newest first). */
  async invitations() {
    const { consultations } = await this.sdk.request("GET", "/api/v1/consultations");
    return consultations.filter((c) => c.role !== "host" && c.status === "open");
  }

  async deny(id, participantId) {
    return this.sdk.call("consult.deny", { consultation_id: id, participant_id: participantId });
  }

  async endConsultation(id) {
    return this.sdk.call("consult.end", { consultation_id: id });
  }

  /** The ended consultation's summary (./consult_summary.js), queued as an encrypted message
   * into its care room: sent now, or when the connection comes back. */
  async postConsultationSummary(id, roomId) {
    const record = await this.sdk.request("GET", `/api/v1/consultations/${encodeURIComponent(id)}/record`);
    await this.queueText(roomId, summaryText(record));
  }

  /** The door a call's media leg (src/call/leg.js) signals through: this tab's socket, and every
   * `consult.*` event the server sends. */
  mediaSignal() {
    return {
      call: (event, payload, timeoutMs) => this.sdk.call(event, payload, timeoutMs),
      subscribe: (handler) => this.on("consult", handler),
    };
  }

  // -- assisted sessions (health-bus assistant, ui/assistant/) ---------------------------------
  /** Active clinicians whose username or display name starts with `q` (2 characters at least):
   * the care-team directory (`GET /api/v1/people`) is the only list of clinicians an assistant
   * may read. Their names are not kept in `names` (nothing here outlives the search). */
  async findClinicians(q) {
    const { people } = await this.sdk.request("GET", `/api/v1/people?q=${encodeURIComponent(q)}`);
    return people.filter((p) => p.role === "clinician");
  }

  /** Opens an assisted consultation in `body.host_user_id`'s queue (docs/protocol.md). */
  async openAssisted(body) {
    return this.sdk.request("POST", "/api/v1/consultations/assisted", body);
  }

  /** This assistant's assisted consultations still open with them in the queue or admitted: a
   * session this browser lost (a reload, a crash) that still sits in a clinician's queue. */
  async openAssistedSessions() {
    const { consultations } = await this.sdk.request("GET", "/api/v1/consultations");
    return consultations.filter((c) => c.assisted && c.role === "assistant" && c.status === "open" && ["waiting", "admitted"].includes(c.state));
  }

  /** Leaves such a leftover session, forgetting its text channel first (as at the end of one). */
  async leaveLeftover(id) {
    const chat = (await this.consultation(id)).chat_room_id;
    await this.forgetRoom(chat);
    await this.leaveConsultation(id);
    await this.leaveRoomIfMember(chat);
    await this.forgetRoom(chat);
  }

  /** Takes this user out of a room the server still has them in: a consultation's text channel
   * after the consultation ended (the server removes nobody then) or when the host's client
   * signed them into its chain (then the removal must be signed: this device signs it). Without
   * it the room would come back with the next sync. The E2EE client picks the form from the
   * verified chain (signed when the chain names this user, a plain removal otherwise), so no
   * unsigned attempt is refused first: one round trip on a 2G link instead of two. */
  async leaveRoomIfMember(roomId) {
    if (!roomId) return;
    const { rooms } = await this.sdk.call("room.list");
    if (!rooms.some((r) => r.room_id === roomId)) return;
    try {
      await this.e2ee.removeMember(roomId, this.userId);
    } catch (err) {
      // Removed meanwhile, between the list and the removal (the leave's own server-side
      // removal, or the host's client signing this device out): the chain fetch or the
      // removal then fails, and what matters is that this user is out. Seen in CI.
      const after = await this.sdk.call("room.list");
      if (after.rooms.some((r) => r.room_id === roomId)) throw err;
    }
  }

  /** The assistant (and so the patient they represent) leaves: the host cannot admit them again
   * without a new `consult.join`. Ending the consultation itself is the host's. */
  async leaveConsultation(id) {
    return this.sdk.call("consult.leave", { consultation_id: id });
  }

  /** Drops everything this device learnt about one room (a consultation's text channel): its
   * messages, its verified chain, its group sessions and sync position, in memory and in the
   * vault. From then on this page ignores the room's events and messages (its last membership
   * change, the removal that leaving causes, would otherwise be fetched and kept again); the room
   * id itself is held in memory only, for this page. Call it before leaving, and again after. */
  async forgetRoom(roomId) {
    if (!roomId) return;
    if (!this.forgotten) {
      this.forgotten = new Set();
      const sdk = this.sdk;
      const onEvent = sdk.onEvent;
      const onMessage = sdk.onMessage;
      const ignored = (data) => data && this.forgotten.has(data.room_id);
      sdk.onEvent = (event, data) => (ignored(data) ? undefined : onEvent?.(event, data));
      sdk.onMessage = (msg) => (ignored(msg) ? undefined : onMessage?.(msg));
      this.e2ee.on("message", (rec) => ignored(rec) && this._forget(rec.room_id));
    }
    this.forgotten.add(roomId);
    await this._forget(roomId);
  }

  async _forget(roomId) {
    const st = this.e2ee.state;
    const inbox = this.sdk.inbox;
    const ofRoom = (key) => key === roomId || (typeof key === "string" && key.startsWith("[") && JSON.parse(key)[0] === roomId);
    for (const [id, rec] of [...st.records]) {
      if (rec.room_id === roomId) {
        st.records.delete(id);
        inbox.seen.delete(id);
      }
    }
    for (const msg of inbox.messages[roomId] || []) inbox.seen.delete(msg.id);
    delete inbox.since[roomId];
    delete inbox.messages[roomId];
    delete inbox.ahead[roomId];
    const chains = st.chains;
    for (const m of [st.outbound, st.inbound, st.waiting, st.requested, st.order, chains.states, chains.events, chains.frozen, chains._joinedAt, this.e2ee.sender.revocationsAt]) {
      for (const key of [...m.keys()]) if (ofRoom(key)) m.delete(key);
    }
    for (const s of [st.inbound_forwarded, chains.rejoined, chains.dirty]) for (const key of [...s]) if (ofRoom(key)) s.delete(key);
    chains.warnings = chains.warnings.filter((w) => w.room !== roomId && w.room_id !== roomId);
    await this.e2ee.save();
  }
}
