// Everything one E2EE device knows, in one place that every part of the client shares
// (client/e2ee/state.py). The one lock lives here too: received items and user calls both mutate
// key state, and they must never do it concurrently.

import { dhKey, newDeviceEntry, signingKey } from "./primitives.js";

export const DAY_MS = 86_400_000;

export const nowMs = () => Date.now();

/** A refusal the application should show: `code` is stable, the message is for humans. */
export class E2EEError extends Error {
  constructor(code, message) {
    super(`${code}: ${message}`);
    this.name = "E2EEError";
    this.code = code;
  }
}

/** Rotation and retry settings (docs/crypto.md §6.1, §2.2); tests shorten them. */
export function Policy(over = {}) {
  return {
    rotate_after_messages: 100,
    rotate_after_ms: 7 * DAY_MS,
    prekey_rotate_ms: 7 * DAY_MS,
    prekey_grace_ms: 14 * DAY_MS,
    retry_interval_s: 30,
    ...over,
  };
}

/** (room, sender device, session id) as one Map key. */
export const sessionKey = (room, sd, sid) => JSON.stringify([room, sd, sid]);
export const splitKey = (key) => JSON.parse(key);

/** An async mutex (not re-entrant, like asyncio.Lock). */
export class Lock {
  constructor() {
    this._tail = Promise.resolve();
    this.locked = false;
  }

  /** @template T @param {() => Promise<T>} fn @returns {Promise<T>} */
  run(fn) {
    const result = this._tail.then(async () => {
      this.locked = true;
      try {
        return await fn();
      } finally {
        this.locked = false;
      }
    });
    this._tail = result.catch(() => {});
    return result;
  }
}

export class DeviceState {
  constructor({ api, userId, deviceId, policy, clock, metrics, trust, directory, chains, dsk, dx }) {
    this.api = api;
    this.user_id = userId;
    this.device_id = deviceId;
    this.policy = policy;
    this.clock = clock;
    this.metrics = metrics;
    this.trust = trust;
    this.directory = directory;
    this.chains = chains;
    /** The user's identity key: null until bootstrapped, approved or restored. */
    this.ik = null;
    this.dsk = dsk;
    this.dx = dx;
    /** @type {Map<number, any>} key id → DhKey */ this.prekeys = new Map();
    /** @type {Map<number, number>} */ this.prekey_made = new Map();
    /** @type {Map<number, number>} */ this.prekey_retired = new Map();
    /** @type {Map<string, any>} room → OutboundSession */ this.outbound = new Map();
    /** @type {Map<string, any>} sessionKey → InboundSession */ this.inbound = new Map();
    /** Sessions another device handed over: if one turns out wrong, it is dropped and asked again. */
    /** @type {Set<string>} */ this.inbound_forwarded = new Set();
    /** @type {Set<string>} */ this.seen_pairwise = new Set();
    /** @type {Map<string, import("./records.js").MessageRecord>} */ this.records = new Map();
    /** @type {Map<string, Set<string>>} sessionKey → record ids */ this.waiting = new Map();
    /** @type {Map<string, number>} */ this.requested = new Map();
    /** @type {Map<string, [number, number]>} sessionKey → (seq, index) */ this.order = new Map();
    /** @type {Uint8Array|null} */ this.backup_key = null;
    /** @type {number|null} */ this.backup_version = null;
    this.lock = new Lock();
    /** Told of every record that reached a state (decrypted, waiting, failed): the UI's feed. */
    /** @type {((rec: any) => any)|null} */ this.onRecord = null;
    /** Told of every room key taken (its session key). */
    /** @type {((key: string) => void)|null} */ this.onRoomKey = null;
    /** A user's identity key or its trust changed (this user's own: this device got it). */
    /** @type {((userId: string) => void)|null} */ this.onIdentity = null;
  }

  requireIdentity() {
    if (this.ik == null) throw new E2EEError("no_identity", "this device has not been approved yet");
    return this.ik;
  }

  ownEntry() {
    return newDeviceEntry(this.device_id, signingKey.public(this.dsk), dhKey.public(this.dx));
  }
}
