// The JavaScript twin of client/sdk.py: a Relais client over REST and socket.io.
//
// It keeps the per-room sync position itself (Inbox: only over a contiguous run of seqs), retries
// sends with the same client_msg_id (the server makes that idempotent), delivers each message to
// the application exactly once even when it arrives both live and through `sync`, and syncs after
// every reconnection. No DOM: it runs in Node 20 and in browsers.
import { Api, ApiError, OFFLINE } from "./api.js";
import { Emitter } from "./events.js";
import { Socket } from "./socket.js";

export { ApiError };

/** Codes after which an idempotent call is simply tried again (docs/protocol.md §4.1). */
const RETRY_CODES = new Set(["unavailable", "internal", OFFLINE, "not_connected"]);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A random client_msg_id (base64url, 16 characters): kept across the retries of one send. */
export function newClientMsgId() {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(12));
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/**
 * What the client has received, deduplicated by message id, per room in seq order.
 *
 * `since[room]` only moves over a contiguous run of seqs: a live message that arrives while a
 * paged `sync` is still fetching older ones must not make the next page skip the gap.
 */
export class Inbox {
  constructor() {
    /** @type {Record<string, number>} */
    this.since = {};
    /** @type {Set<string>} */
    this.seen = new Set();
    /** @type {Record<string, object[]>} */
    this.messages = {};
    /** @type {Record<string, Set<number>>} */
    this.ahead = {};
  }

  /** Record the message's position (even a duplicate's: a re-fetch must move forward) and say
   * whether it is new to the application. */
  accept(msg) {
    const room = msg.room_id;
    const seq = Number(msg.seq);
    let pos = this.since[room] ?? 0;
    if (seq > pos) {
      const ahead = (this.ahead[room] ??= new Set());
      ahead.add(seq);
      while (ahead.has(pos + 1)) {
        pos += 1;
        ahead.delete(pos);
      }
      this.since[room] = pos;
    }
    if (this.seen.has(msg.id)) return false;
    this.seen.add(msg.id);
    (this.messages[room] ??= []).push(msg);
    return true;
  }

  /** The positions and ids (not the messages: the application keeps those) as plain data. */
  toJSON() {
    const ahead = {};
    for (const [room, set] of Object.entries(this.ahead)) if (set.size) ahead[room] = [...set];
    return { since: { ...this.since }, seen: [...this.seen], ahead };
  }

  static fromJSON(data) {
    const inbox = new Inbox();
    if (!data) return inbox;
    Object.assign(inbox.since, data.since || {});
    for (const id of data.seen || []) inbox.seen.add(id);
    for (const [room, seqs] of Object.entries(data.ahead || {})) inbox.ahead[room] = new Set(seqs);
    return inbox;
  }
}

/**
 * Events (through `on(name, fn)`): "message" (a new message, once), "to_device" (entries),
 * "event" (event, data) for every other server event, "connect", "disconnect" (reason),
 * "reconnect" (after the catch-up sync), "sync_failed" (error).
 */
export class RelaisClient extends Emitter {
  /**
   * @param {string} baseUrl
   * @param {{transports?: string[], reconnectionDelay?: number, reconnectionDelayMax?: number}} [opts]
   */
  constructor(baseUrl, opts = {}) {
    super();
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.transports = opts.transports || ["websocket"];
    this.reconnectionDelay = opts.reconnectionDelay ?? 200;
    this.reconnectionDelayMax = opts.reconnectionDelayMax ?? 2000;
    this.api = new Api(this.baseUrl);
    /** @type {string|null} */ this.token = null;
    /** @type {string|null} */ this.userId = null;
    /** @type {string|null} */ this.deviceId = null;
    /** @type {Socket|null} */ this.socket = null;
    this.inbox = new Inbox();
    // Plug points for the E2EE layer (e2ee/client.js), as in the Python SDK: awaited in order.
    /** @type {((msg: object) => any)|null} */ this.onMessage = null;
    /** Called with to-device entries (a live one, or a sync page before it is acked). */
    /** @type {((entries: object[]) => Promise<void>)|null} */ this.onToDevice = null;
    /** @type {((event: string, data: any) => any)|null} */ this.onEvent = null;
    /** @type {object[]} */ this.toDevice = [];
    /** Run on each automatic reconnection, alongside the sync of what was missed. */
    /** @type {Array<() => Promise<void>>} */ this.reconnectHooks = [];
    this._connectedOnce = false;
    /** @type {Promise<void>|null} */ this._filling = null;
    this._fillAgain = false;
    // Live events are handled one after another, like the Python client's read loop.
    this._chain = Promise.resolve();
  }

  // -- REST ---------------------------------------------------------------------------------
  /** @param {string} method @param {string} path @param {any} [body] */
  async request(method, path, body) {
    this.api.token = this.token;
    return this.api.call(method, path, body);
  }

  async login(username, password, { totp, deviceName = "web-client", deviceId } = {}) {
    const body = { username, password, device_name: deviceName };
    if (totp) body.totp = totp;
    if (deviceId) body.device_id = deviceId;
    const res = await this.request("POST", "/api/v1/auth/login", body);
    this.useSession(res.token, res.user_id, res.device_id);
    return res;
  }

  useSession(token, userId, deviceId) {
    this.token = token;
    this.userId = userId;
    this.deviceId = deviceId;
    this.api.token = token;
  }

  async createRoom(patientUserId = null, encryptedMeta = null, { roomId, signedEvent, patientSignedEvent } = {}) {
    const body = { patient_user_id: patientUserId, encrypted_meta: encryptedMeta };
    if (roomId != null) body.room_id = roomId;
    if (signedEvent != null) body.signed_event = signedEvent;
    if (patientSignedEvent != null) body.patient_signed_event = patientSignedEvent;
    const res = await this.request("POST", "/api/v1/rooms", body);
    return String(res.room_id);
  }

  async listRooms() {
    return (await this.request("GET", "/api/v1/rooms")).rooms;
  }

  async getRoom(roomId) {
    return this.request("GET", `/api/v1/rooms/${roomId}`);
  }

  async addMember(roomId, userId, { roomRole = "member", consentId = null, signedEvent } = {}) {
    const body = { user_id: userId, room_role: roomRole, consent_id: consentId };
    if (signedEvent != null) body.signed_event = signedEvent;
    return this.request("POST", `/api/v1/rooms/${roomId}/members`, body);
  }

  async removeMember(roomId, userId, { signedEvent } = {}) {
    const body = signedEvent != null ? { signed_event: signedEvent } : {};
    return this.request("DELETE", `/api/v1/rooms/${roomId}/members/${userId}`, body);
  }

  async signChainCreate(roomId, signedEvent) {
    return this.request("POST", `/api/v1/rooms/${roomId}/chain`, { signed_event: signedEvent });
  }

  async membershipEvents(roomId) {
    const res = await this.request("GET", `/api/v1/rooms/${roomId}/membership-events`);
    return [...res.events];
  }

  // -- keys (public material and encrypted backup; see docs/crypto.md) -------------------------
  /** With `version`, the list joins the server's log (it must be the next version). */
  async publishDeviceList(identityKey, signedDeviceList, version = null) {
    const body = { identity_key: identityKey, signed_device_list: signedDeviceList };
    if (version != null) body.version = version;
    return this.request("PUT", "/api/v1/keys/device-list", body);
  }

  async publishDeviceKeys(publicKeys) {
    return this.request("PUT", "/api/v1/keys/device", { public_keys: publicKeys });
  }

  /** `since` asks, per user, for the logged device lists after that version as well. */
  async queryKeys(userIds, since = null) {
    const body = { user_ids: userIds };
    if (since && Object.keys(since).length) body.since = since;
    const res = await this.request("POST", "/api/v1/keys/query", body);
    return { ...res.users };
  }

  async revokeDevice(deviceId) {
    return this.request("DELETE", `/api/v1/devices/${deviceId}`);
  }

  async getBackup() {
    const res = await this.request("GET", "/api/v1/keys/backup");
    return res.backup ?? null;
  }

  async putBackup(version, info) {
    return this.request("PUT", "/api/v1/keys/backup", { version, info });
  }

  async putBackupEntries(version, entries) {
    return this.request("PUT", "/api/v1/keys/backup/entries", { version, entries });
  }

  async backupEntries() {
    const out = [];
    let after = null;
    for (;;) {
      const path = "/api/v1/keys/backup/entries?limit=1000" + (after ? `&after=${encodeURIComponent(after)}` : "");
      const res = await this.request("GET", path);
      out.push(...res.entries);
      after = res.next;
      if (!after) return out;
    }
  }

  /** Upload already-encrypted bytes; returns {attachment_id, room_id, size, sha256, created_at}. */
  async uploadAttachment(roomId, data) {
    return this.request("POST", `/api/v1/rooms/${roomId}/attachments`, data);
  }

  /** @returns {Promise<Uint8Array>} */
  async downloadAttachment(attachmentId) {
    return this.request("GET", `/api/v1/attachments/${attachmentId}`);
  }

  // -- socket ---------------------------------------------------------------------------------
  get connected() {
    return !!this.socket && this.socket.io.connected;
  }

  /** Connect with the session token; resolves once the server accepted the CONNECT. */
  /** Connect over a socket of one's own, or over `socket`: a connection the page already has
   * (the patient's join page keeps one socket for the waiting room, the call and the text). */
  async connect({ waitTimeoutMs = 10000, socket: shared = null } = {}) {
    if (this.socket && this.socket !== shared) this.socket.close();
    const socket =
      shared ||
      new Socket(this.token, {
        base: this.baseUrl,
        transports: this.transports,
        reconnectionDelay: this.reconnectionDelay,
        reconnectionDelayMax: this.reconnectionDelayMax,
        autoConnect: false,
      });
    this.socket = socket;
    const sio = socket.io;
    sio.on("message.new", (msg) => this._serial(() => this._deliver(msg, true)));
    socket.onAny((event, data) => {
      if (event === "message.new") return;
      this._serial(async () => {
        if (event === "todevice.new") {
          this.toDevice.push(data);
          this.emit("to_device", [data]);
          if (this.onToDevice) await this.onToDevice([data]);
        } else {
          if (event === "room.member" && data && data.user_id === this.userId && data.action === "add") this._fillGaps();
          if (this.onEvent) await this.onEvent(event, data);
          this.emit("event", event, data);
        }
      });
    });
    sio.on("connect", () => {
      this.emit("connect");
      // Not awaited: the sync's own acks must keep arriving.
      if (this._connectedOnce && this.socket === socket) this._afterReconnect();
      this._connectedOnce = true;
    });
    sio.on("disconnect", (reason) => this.emit("disconnect", reason));
    if (sio.connected) {
      this._connectedOnce = true;
      return;
    }
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        sio.disconnect();
        reject(new ApiError(OFFLINE, "connect timed out"));
      }, waitTimeoutMs);
      const onConnect = () => {
        cleanup();
        resolve();
      };
      const onError = (err) => {
        // A refusal by the server (CONNECT_ERROR) is final; a transport error is retried.
        const data = err && err.data;
        if (data && data.error) {
          cleanup();
          sio.disconnect();
          reject(new ApiError(data.error.code, data.error.message || "connect refused", data.error.details || {}));
        }
      };
      const cleanup = () => {
        clearTimeout(timer);
        sio.off("connect", onConnect);
        sio.off("connect_error", onError);
      };
      sio.on("connect", onConnect);
      sio.on("connect_error", onError);
      sio.connect();
    });
  }

  /** Run `fn` after every live event queued before it (events keep their arrival order). */
  _serial(fn) {
    const next = this._chain.then(fn).catch((err) => this.emit("error", err, "live event"));
    this._chain = next;
    return next;
  }

  async _deliver(msg, live = false) {
    // A live message past a hole (this user was just added to the room, or a message.new was
    // lost while the socket stayed up): fetch what is missing now, not at the next reconnect.
    if (live && Number(msg.seq) > (this.inbox.since[msg.room_id] ?? 0) + 1) this._fillGaps();
    if (this.inbox.accept(msg)) {
      this.emit("message", msg);
      if (this.onMessage) await this.onMessage(msg);
    }
  }

  /** A call whose error ack becomes an ApiError; `offline` when not connected or no answer. */
  async call(event, data = {}, timeoutMs = 10000) {
    if (!this.socket) throw new ApiError("not_connected", "call connect() first");
    return this.socket.call(event, data, timeoutMs);
  }

  /** Repeat an idempotent call (its client_msg_id makes a retry store nothing twice) through
   * timeouts, transient server errors and a dropped socket (it reconnects by itself). */
  async _callUntilAcked(event, payload, retries, timeoutMs) {
    let last = null;
    for (let attempt = 0; attempt < retries; attempt++) {
      try {
        return await this.call(event, payload, timeoutMs);
      } catch (err) {
        if (!(err instanceof ApiError) || !RETRY_CODES.has(err.code)) throw err;
        last = err;
      }
      await sleep(Math.min(100 * (attempt + 1), 1000));
    }
    throw new ApiError("send_failed", `gave up after ${retries} tries: ${last && last.code}`);
  }

  /** Send until acked; the same client_msg_id on every try makes retries safe. */
  async send(roomId, envelope, { clientMsgId, retries = 20, timeoutMs = 10000 } = {}) {
    const payload = { room_id: roomId, client_msg_id: clientMsgId || newClientMsgId(), envelope };
    return this._callUntilAcked("message.send", payload, retries, timeoutMs);
  }

  /** Queue payloads for devices: messages = [{device_id, type, payload}]. */
  async sendToDevice(messages, { clientMsgId } = {}) {
    const payload = { messages, client_msg_id: clientMsgId || newClientMsgId() };
    return this._callUntilAcked("todevice.send", payload, 20, 10000);
  }

  /** Messages and to-device entries emitted while the socket was down reach nobody live:
   * fetch them; the hooks run alongside. */
  async _afterReconnect() {
    const catchUp = async () => {
      try {
        await this.sync();
      } catch (err) {
        // The next reconnection, or the application's own sync, catches up.
        this.emit("sync_failed", err);
      }
    };
    const run = async (hook) => {
      try {
        await hook();
      } catch (err) {
        this.emit("error", err, "reconnect hook");
      }
    };
    await Promise.all([catchUp(), ...this.reconnectHooks.map(run)]);
    this.emit("reconnect");
  }

  /** Fetch everything missed (all pages); returns how many new messages were delivered. */
  async sync() {
    let delivered = 0;
    for (;;) {
      const res = await this.call("sync", { since: { ...this.inbox.since } });
      for (const room of res.rooms) {
        if (!(room.room_id in this.inbox.since)) this.inbox.since[room.room_id] = 0;
        for (const msg of room.messages) {
          const before = this.inbox.seen.size;
          await this._deliver(msg);
          delivered += this.inbox.seen.size - before;
        }
      }
      const pending = res.to_device || [];
      if (pending.length) {
        this.toDevice.push(...pending);
        this.emit("to_device", pending);
        if (this.onToDevice) await this.onToDevice(pending);
        await this.call("todevice.ack", { up_to: pending[pending.length - 1].id });
      }
      if (!res.more) return delivered;
    }
  }

  /** One `sync` at a time for holes seen live; a hole seen during it runs one more. */
  _fillGaps() {
    if (this._filling) {
      this._fillAgain = true;
      return;
    }
    this._filling = (async () => {
      do {
        this._fillAgain = false;
        try {
          await this.sync();
        } catch (err) {
          this.emit("sync_failed", err);
        }
      } while (this._fillAgain);
      this._filling = null;
    })();
  }

  /** Older messages of one room, newest first (scroll-back); not fed to the inbox. */
  async history(roomId, { beforeSeq, limit = 100 } = {}) {
    const payload = { room_id: roomId, limit };
    if (beforeSeq != null) payload.before_seq = beforeSeq;
    return this.call("room.history", payload);
  }

  /** Go offline (the session stays valid); `connect()` again brings the socket back. */
  disconnect() {
    if (this.socket) {
      const socket = this.socket;
      this.socket = null;
      socket.close();
    }
  }

  async close() {
    this.disconnect();
    await this._chain;
  }
}
