// An end-to-end encrypted Relais device (client/e2ee/client.py): the only way the app sends room
// content. The work is split by job (own device keys, backup, sending, receiving, key sharing,
// membership); this class wires those parts to one shared DeviceState and to the connection.
// Everything received is handled by one worker, in arrival order, under the state's lock, so key
// state is never mutated concurrently; user calls that touch keys take the same lock.
//
// Persistence: the whole state is one plain object (Uint8Array fields, no classes) saved through
// a storage {load(name), save(name, value), delete(name)} after every step of work; `open()`
// rebuilds a client from it (lists, pre-keys and chains are verified again on load).
//
// Events (`on(name, fn)`): "message" (MessageRecord, on every state it reaches: decrypted,
// waiting_for_key, failed), "room_changed" ({room_id, ...}), "keys_changed" (user id),
// "room_key" (room id), "identity" (user id: that user's identity key or its verification changed;
// this user's own when this device got its identity key), "warning" ({code, ...}),
// "error" (err, where).
import { Emitter } from "../net/events.js";
import { KeyBackup } from "./backup.js";
import { RoomChains } from "./chains.js";
import { OwnDevice } from "./devices.js";
import { KeyDirectory } from "./directory.js";
import { KeyShare } from "./keyshare.js";
import { RoomMembership } from "./membership.js";
import { Outbox } from "./outbox.js";
import {
  dhKey,
  inbound,
  outbound,
  qrPayload,
  safetyNumber as safetyNumberOf,
  signingKey,
  trust as T,
  trustStore,
} from "./primitives.js";
import { Receiver } from "./receiving.js";
import { DECRYPTED, FAILED, MessageRecord, Metrics, WAITING } from "./records.js";
import { Sender } from "./sending.js";
import { SessionStore } from "./sessions.js";
import { DeviceState, E2EEError, nowMs, Policy, splitKey } from "./state.js";
import { Inbox } from "../net/sdk.js";

export { DECRYPTED, E2EEError, FAILED, MessageRecord, Policy, WAITING };

/** The storage record holding the device state. */
export const STATE_NAME = "e2ee-device";
const STATE_VERSION = 1;

/** A storage backed by a Map (Node tests; the browser uses store/vault.js). */
export class MemoryStorage {
  constructor(entries = []) {
    this.map = new Map(entries);
  }
  async load(name) {
    return this.map.get(name) ?? null;
  }
  async save(name, value) {
    this.map.set(name, value);
  }
  async delete(name) {
    this.map.delete(name);
  }
}

export class E2EEClient extends Emitter {
  /**
   * @param {import("../net/sdk.js").RelaisClient} api a logged-in client
   * @param {{policy?: object, clock?: () => number, storage?: object, saved?: object}} [opts]
   */
  constructor(api, { policy, clock = nowMs, storage = null, saved = null } = {}) {
    super();
    if (api.userId == null || api.deviceId == null) throw new E2EEError("not_logged_in", "log the RelaisClient in first");
    if (saved && (saved.user_id !== api.userId || saved.device_id !== api.deviceId)) {
      throw new E2EEError("wrong_device", "the saved state belongs to another user or device");
    }
    this.storage = storage;
    const metrics = new Metrics();
    const trust = saved ? trustStore.fromJSON(saved.trust) : trustStore.create();
    const directory = new KeyDirectory(api, trust, metrics);
    const chains = new RoomChains(api, directory, metrics, api.userId);
    this.state = new DeviceState({
      api,
      userId: api.userId,
      deviceId: api.deviceId,
      policy: Policy(policy),
      clock,
      metrics,
      trust,
      directory,
      chains,
      dsk: saved ? signingKey.fromSeed(saved.dsk) : signingKey.generate(),
      dx: saved ? dhKey.fromPrivate(saved.dx) : dhKey.generate(),
    });
    this.backup = new KeyBackup(this.state);
    this.sessions = new SessionStore(this.state, this.backup);
    this.outbox = new Outbox(this.state);
    this.ownDevice = new OwnDevice(this.state, this.backup, this.sessions, this.outbox);
    this.membership = new RoomMembership(this.state, this.sessions, this.outbox);
    this.sender = new Sender(this.state, this.sessions, this.backup, this.outbox);
    this.receiver = new Receiver(this.state, this.sessions, this.outbox);
    this.keyshare = new KeyShare(this.state, this.sessions, this.outbox, this.receiver);
    if (saved) this._restore(saved);
    this.state.onRecord = (rec) => this.emit("message", rec);
    this.state.onRoomKey = (key) => this.emit("room_key", splitKey(key)[0]);
    this.state.onIdentity = (userId) => this.emit("identity", userId);
    directory.onIdentity = (userId) => this.emit("identity", userId);
    /** @type {Array<{kind: string, item: any, done: () => void}>} */
    this._queue = [];
    this._busy = 0;
    this._pumping = false;
    this._retryTimer = null;
    this._saving = null;
    this._closed = false;
    api.onMessage = (msg) => {
      this._enqueue("message", msg);
    };
    // Sync pages are handled before they are acked: resolved once the worker is done.
    api.onToDevice = (entries) => this._enqueue("to_device", entries);
    api.onEvent = (event, data) => this._onEvent(event, data);
  }

  /** A client for `api`'s device, rebuilt from `storage` when it holds this device's state. */
  static async open(api, { storage, policy, clock } = {}) {
    const saved = storage ? await storage.load(STATE_NAME) : null;
    const usable = saved && saved.v === STATE_VERSION && saved.user_id === api.userId && saved.device_id === api.deviceId;
    return new E2EEClient(api, { storage, policy, clock, saved: usable ? saved : null });
  }

  get api() {
    return this.state.api;
  }
  get userId() {
    return this.state.user_id;
  }
  get deviceId() {
    return this.state.device_id;
  }
  get metrics() {
    return this.state.metrics;
  }
  get records() {
    return this.state.records;
  }
  get trust() {
    return this.state.trust;
  }
  get directory() {
    return this.state.directory;
  }
  get chains() {
    return this.state.chains;
  }
  get hasIdentity() {
    return this.state.ik != null;
  }

  // -- this device ------------------------------------------------------------------------------
  /** First device of a user: make the identity key, publish a device list naming only this
   * device, and (with a passphrase) the encrypted key backup holding the identity seed. */
  async bootstrap(passphrase = null, { backupOps, backupMem, onProgress } = {}) {
    await this.ownDevice.bootstrap(passphrase, { backupOps, backupMem, onProgress });
    await this.save();
    this.emit("identity", this.userId);
  }

  /** A further device of an existing user: publish its pre-key and return the approval code the
   * user carries to one of their other devices (a QR code in the app). */
  async startNewDevice() {
    const code = await this.ownDevice.startNewDevice();
    await this.save();
    return code;
  }

  approvalCode() {
    return this.ownDevice.approvalCode();
  }

  /** On a trusted device: sign the new device into the list and hand it what it needs. */
  async approveDevice(code) {
    await this.ownDevice.approveDevice(code);
    await this.save();
  }

  /** Unlock the backup with the passphrase; `onProgress(fraction)` reports argon2id. */
  async restoreFromBackup(passphrase, { onProgress } = {}) {
    const n = await this.ownDevice.restoreFromBackup(passphrase, { onProgress });
    await this.save();
    this.emit("identity", this.userId);
    return n;
  }

  async enableBackup(passphrase, { ops, mem, onProgress } = {}) {
    await this.backup.enable(passphrase, { ops, mem, onProgress });
    await this.save();
  }

  async revokeDevice(deviceId) {
    await this.ownDevice.revokeDevice(deviceId);
    await this.save();
  }

  async rotatePrekey() {
    await this.ownDevice.rotatePrekey();
    await this.save();
  }

  eraseExpiredPrekeys() {
    this.ownDevice.eraseExpiredPrekeys();
  }

  // -- rooms and messages -----------------------------------------------------------------------
  async createRoom(patientUserId = null, { history = "shared" } = {}) {
    const room = await this.membership.createRoom(patientUserId, { history });
    await this.save();
    this.emit("room_changed", { room_id: room, action: "create" });
    return room;
  }

  async signRoomCreate(roomId, { history = "shared" } = {}) {
    const done = await this.membership.signRoomCreate(roomId, { history });
    await this.save();
    return done;
  }

  /** Sign the add on the verified head; with shared history, forward this device's sessions of
   * the room to the new member's devices at once. */
  async addMember(roomId, userId, { roomRole = "member", consentId = null, history = "shared" } = {}) {
    await this.membership.addMember(roomId, userId, { roomRole, consentId, history });
    await this.save();
  }

  /** Sign the removal; this device's next message rotates its session (§6.1). */
  async removeMember(roomId, userId) {
    await this.membership.removeMember(roomId, userId);
    await this.save();
  }

  async sendText(roomId, text) {
    return this.sendContent(roomId, { type: "text", body: text });
  }

  /** `clientMsgId`: the caller's id for this message (an outbox item's), kept across retries so
   * a send whose ack was lost is stored once. */
  async sendContent(roomId, content, { clientMsgId } = {}) {
    const ack = await this.sender.sendContent(roomId, content, { clientMsgId });
    await this.save();
    return ack;
  }

  /** Encrypt with a fresh secretstream key, upload the ciphertext, send the key in the room. */
  async sendFile(roomId, data, { name, mime = "application/octet-stream" }) {
    const ack = await this.sender.sendFile(roomId, data, { name, mime });
    await this.save();
    return ack;
  }

  /** @returns {Promise<Uint8Array>} the plaintext of a `file` content */
  async downloadFile(content) {
    return this.sender.downloadFile(content);
  }

  async retryWaiting() {
    await this.state.lock.run(() => this.receiver.retryWaiting());
  }

  // -- connection -------------------------------------------------------------------------------
  /** @param {{socket?: import("../net/socket.js").Socket}} [opts] a connection the page already
   * has (the patient's join page: one socket for the waiting room, the call and the text) */
  async connect({ socket = null } = {}) {
    this._closed = false;
    const interval = this.state.policy.retry_interval_s;
    if (this._retryTimer == null && interval > 0) {
      this._retryTimer = setInterval(() => {
        if (this.state.waiting.size) this._enqueue("retry", null);
      }, interval * 1000);
      this._retryTimer.unref?.();
    }
    // Events missed while offline (membership, device lists) arrive with no notice.
    for (const room of this.chains.states.keys()) this.chains.markDirty(room);
    for (const user of this.directory.lists.keys()) this.directory.markDirty(user);
    await this.api.connect(socket ? { socket } : undefined);
    await this.api.sync();
    if (this.state.prekeys.size) await this.ownDevice.rotatePrekeyIfDue();
    await this.state.lock.run(async () => {
      for (const room of [...this.chains.dirty]) await this.chains.get(room);
    });
    await this._resyncRejoined();
    await this.save();
  }

  /** Fetch again the rooms this user re-joined: their history is ours again (§6.1). */
  async _resyncRejoined() {
    if (!this.chains.rejoined.size) return;
    for (const room of this.chains.rejoined) delete this.api.inbox.since[room];
    this.chains.rejoined.clear();
    await this.api.sync();
  }

  /** Go offline (the device keeps its keys); `connect()` brings it back and syncs. */
  disconnect() {
    this.api.disconnect();
  }

  async close() {
    this._closed = true;
    if (this._retryTimer != null) clearInterval(this._retryTimer);
    this._retryTimer = null;
    this.api.disconnect();
    await this.idle(30000).catch(() => {});
    await this.save();
    await this.api.close();
  }

  /** Wait until everything received so far has been processed (tests, bots). */
  async idle(timeoutMs = 30000) {
    const deadline = Date.now() + timeoutMs;
    while (this._queue.length || this._busy) {
      if (Date.now() > deadline) throw new Error("E2EE worker still busy");
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  _enqueue(kind, item) {
    return new Promise((resolve) => {
      this._queue.push({ kind, item, done: resolve });
      this._pump();
    });
  }

  async _pump() {
    if (this._pumping) return;
    this._pumping = true;
    try {
      while (this._queue.length) {
        const job = this._queue.shift();
        this._busy++;
        try {
          await this.state.lock.run(async () => {
            if (job.kind === "message") await this.receiver.handleMessage(job.item);
            else if (job.kind === "to_device") for (const entry of job.item) await this.keyshare.handle(entry);
            else if (job.kind === "retry") await this.receiver.retryWaiting();
            await this.backup.flush();
          });
          if (this.chains.rejoined.size && this.api.connected) {
            // Not from this worker: the sync hands to-device entries back to it.
            this._resyncRejoined().catch((err) => this.emit("error", err, "resync"));
          }
        } catch (err) {
          this.metrics.inc("worker_errors");
          this.emit("error", err, job.kind);
        } finally {
          this._busy--;
          job.done();
        }
        this._scheduleSave();
      }
    } finally {
      this._pumping = false;
    }
  }

  _onEvent(event, data) {
    if (event === "keys.changed" && data && typeof data === "object") {
      this.directory.markDirty(String(data.user_id));
      this._enqueue("retry", null);
      this.emit("keys_changed", String(data.user_id));
    } else if (event === "room.member" && data && typeof data === "object") {
      this.chains.markDirty(String(data.room_id));
      this._enqueue("retry", null);
      this.emit("room_changed", data);
    } else if (event === "room.updated" && data && typeof data === "object") {
      this.emit("room_changed", data);
    }
  }

  // -- what the user sees -----------------------------------------------------------------------
  counts() {
    const out = { [DECRYPTED]: 0, [WAITING]: 0, [FAILED]: 0 };
    for (const rec of this.records.values()) out[rec.state]++;
    return out;
  }

  messages(roomId) {
    return [...this.records.values()].filter((r) => r.room_id === roomId).sort((a, b) => a.seq - b.seq);
  }

  /** The 60-digit number both users compare (docs/crypto.md §2.4). */
  safetyNumber(userId) {
    const mine = T.pinned(this.trust, this.userId);
    const theirs = T.pinned(this.trust, userId);
    if (!mine || !theirs) throw new E2EEError("unknown_user", "fetch both identity keys first");
    return safetyNumberOf(this.userId, mine, userId, theirs);
  }

  /** What a verification screen shows (docs/crypto.md §2.3): the safety number, the QR payload
   * of the same two keys, and the pin's state (`tofu`, `verified` or `changed`). */
  verificationFacts(userId) {
    const mine = T.pinned(this.trust, this.userId);
    const theirs = T.pinned(this.trust, userId);
    if (!mine || !theirs) throw new E2EEError("unknown_user", "fetch both identity keys first");
    return {
      number: safetyNumberOf(this.userId, mine, userId, theirs),
      qr: qrPayload(this.userId, mine, userId, theirs),
      state: T.pinState(this.trust, userId),
    };
  }

  /** `tofu`, `verified`, `changed`, or null for a user whose key this device never saw. */
  trustState(userId) {
    return T.pinState(this.trust, userId) ?? null;
  }

  /** After comparing safety numbers: pin `userId`'s current identity key as verified. */
  markVerified(userId) {
    const theirs = T.pinned(this.trust, userId);
    if (!theirs) throw new E2EEError("unknown_user", "fetch the identity key first");
    T.markVerified(this.trust, userId, theirs);
    this._scheduleSave();
    this.emit("identity", userId);
  }

  warnings() {
    return [...this.directory.warnings, ...this.chains.warnings];
  }

  /** Non-secret facts for logs and bots (never keys). */
  exportStateSummary() {
    return {
      device: this.deviceId,
      rooms: [...this.chains.states.keys()].sort(),
      inbound_sessions: this.state.inbound.size,
      counts: this.counts(),
    };
  }

  // -- persistence ------------------------------------------------------------------------------
  /** The whole device state as plain data (Uint8Array fields): secret, store it encrypted. */
  snapshot() {
    const st = this.state;
    const entries = (m, f = (v) => v) => [...m].map(([k, v]) => [k, f(v)]);
    return {
      v: STATE_VERSION,
      user_id: st.user_id,
      device_id: st.device_id,
      ik: st.ik ? signingKey.seed(st.ik) : null,
      dsk: signingKey.seed(st.dsk),
      dx: dhKey.private(st.dx),
      prekeys: entries(st.prekeys, (k) => dhKey.private(k)),
      prekey_made: entries(st.prekey_made),
      prekey_retired: entries(st.prekey_retired),
      trust: trustStore.toJSON(st.trust),
      directory: st.directory.toJSON(),
      chains: st.chains.toJSON(),
      outbound: entries(st.outbound, (s) => outbound.toJSON(s)),
      inbound: entries(st.inbound, (s) => inbound.toJSON(s)),
      inbound_forwarded: [...st.inbound_forwarded],
      seen_pairwise: [...st.seen_pairwise],
      records: [...st.records.values()].map((r) => r.toJSON()),
      waiting: entries(st.waiting, (s) => [...s]),
      requested: entries(st.requested),
      order: entries(st.order),
      backup_key: st.backup_key,
      backup_version: st.backup_version,
      revocations_at: entries(this.sender.revocationsAt),
      inbox: this.api.inbox.toJSON(),
    };
  }

  _restore(d) {
    const st = this.state;
    st.ik = d.ik ? signingKey.fromSeed(d.ik) : null;
    for (const [id, priv] of d.prekeys || []) st.prekeys.set(Number(id), dhKey.fromPrivate(priv));
    for (const [id, t] of d.prekey_made || []) st.prekey_made.set(Number(id), t);
    for (const [id, t] of d.prekey_retired || []) st.prekey_retired.set(Number(id), t);
    st.directory.loadJSON(d.directory);
    st.chains.loadJSON(d.chains);
    for (const [room, s] of d.outbound || []) st.outbound.set(room, outbound.fromJSON(s));
    for (const [key, s] of d.inbound || []) st.inbound.set(key, inbound.fromJSON(s));
    for (const key of d.inbound_forwarded || []) st.inbound_forwarded.add(key);
    for (const id of d.seen_pairwise || []) st.seen_pairwise.add(id);
    for (const r of d.records || []) st.records.set(r.id, MessageRecord.fromJSON(r));
    for (const [key, ids] of d.waiting || []) st.waiting.set(key, new Set(ids));
    for (const [key, i] of d.requested || []) st.requested.set(key, i);
    for (const [key, o] of d.order || []) st.order.set(key, o);
    st.backup_key = d.backup_key ?? null;
    st.backup_version = d.backup_version ?? null;
    for (const [room, r] of d.revocations_at || []) this.sender.revocationsAt.set(room, r);
    if (d.inbox) this.api.inbox = Inbox.fromJSON(d.inbox);
  }

  /** Write the state now (also done after every step of work). */
  async save() {
    if (!this.storage) return;
    // One write at a time, the newest state last.
    const prev = this._saving || Promise.resolve();
    const next = prev.then(() => this.storage.save(STATE_NAME, this.snapshot()));
    this._saving = next.catch((err) => this.emit("error", err, "save"));
    await next;
  }

  _scheduleSave() {
    if (!this.storage || this._saveQueued) return;
    this._saveQueued = true;
    queueMicrotask(() => {
      this._saveQueued = false;
      this.save().catch(() => {});
    });
  }
}
