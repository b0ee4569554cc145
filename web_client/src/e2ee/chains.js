// Each room's membership as this device verified it from the signed chain (docs/crypto.md §5;
// client/e2ee/chains.py). The server's member list decides who may fetch ciphertext; this one
// decides who gets keys. A room whose served chain stops verifying is frozen: nothing is shared
// in it until a human looks, and the reason is kept for the application.
import { ApiError } from "../net/api.js";
import { bytesEqual, chainApply, CryptoError, eventHash, parseEvent, trust as T, verifyChain } from "./primitives.js";

/** Fetches overtaken by this device's own signing, fetched again before giving up for now. */
const STALE_RETRIES = 3;

export class RoomChains {
  constructor(api, directory, metrics, userId) {
    this.api = api;
    this.user_id = userId;
    /** Rooms this user was added to again since this device last looked. */
    /** @type {Set<string>} */ this.rejoined = new Set();
    /** @type {Map<string, number>} */ this._joinedAt = new Map();
    this.directory = directory;
    this.metrics = metrics;
    /** @type {Map<string, any>} room → ChainState */ this.states = new Map();
    /** @type {Map<string, any[]>} room → ChainEvent[] */ this.events = new Map();
    /** @type {Map<string, string>} */ this.frozen = new Map();
    /** @type {Set<string>} */ this.dirty = new Set();
    this.warnings = [];
    /** room → the refresh in flight: one at a time per room, so an older fetch never lands last. */
    /** @type {Map<string, Promise<void>>} */ this._refreshing = new Map();
    /** room → how many events this device adopted: a fetch sent before one of them is stale. */
    /** @type {Map<string, number>} */ this._adopted = new Map();
  }

  markDirty(roomId) {
    this.dirty.add(roomId);
  }

  warn(code, details = {}) {
    this.metrics.inc(code);
    this.warnings.push({ code, ...details });
  }

  /** The verified state, refreshed when unknown, dirty or forced; null when frozen. */
  async get(roomId, { force = false } = {}) {
    if (this.frozen.has(roomId)) return null;
    if (force || !this.states.has(roomId) || this.dirty.has(roomId)) await this.refresh(roomId);
    if (this.frozen.has(roomId)) return null;
    return this.states.get(roomId) ?? null;
  }

  /** Fetch and verify the served chain. Refreshes of one room run one after the other, and a
   * fetch overtaken by an event this device signed meanwhile is fetched again: a served chain
   * shorter than the verified head means a fork only when the fetch was made after that head. */
  async refresh(roomId) {
    const before = this._refreshing.get(roomId) || Promise.resolve();
    const mine = before.catch(() => {}).then(() => this._refresh(roomId));
    this._refreshing.set(roomId, mine);
    try {
      await mine;
    } finally {
      if (this._refreshing.get(roomId) === mine) this._refreshing.delete(roomId);
    }
  }

  async _refresh(roomId) {
    this.dirty.delete(roomId);
    for (let attempt = 0; attempt < STALE_RETRIES; attempt++) {
      const adopted = this._adopted.get(roomId) || 0;
      let rows;
      try {
        rows = await this.api.membershipEvents(roomId);
      } catch (err) {
        if (!(err instanceof ApiError) || err.code !== "not_found") throw err;
        // No longer a member: keep the last verified view (only used to choose whom to ask).
        this.metrics.inc("chain_unavailable");
        return;
      }
      const wires = rows.filter((r) => r.signed_event).map((r) => r.signed_event);
      let parsed;
      try {
        parsed = wires.map((w) => parseEvent(w));
      } catch (err) {
        if (!(err instanceof CryptoError)) throw err;
        this.freeze(roomId, err.code);
        return;
      }
      await this.directory.ensure(new Set(parsed.map((e) => e.actor)));
      // This device signed an event since the fetch: the fetch is older than the head.
      if ((this._adopted.get(roomId) || 0) !== adopted) continue;
      this._verified(roomId, wires, parsed);
      return;
    }
    this.dirty.add(roomId); // kept moving under us: the adopted head stands, looked at later
  }

  _verified(roomId, wires, parsed) {
    const trust = this.directory.trust;
    const identityKeyOf = (user) => (T.trusted(trust, user) ? T.pinned(trust, user) : null);
    let state;
    try {
      state = verifyChain(roomId, wires, identityKeyOf, { known: this.states.get(roomId) ?? null });
    } catch (err) {
      if (!(err instanceof CryptoError)) throw err;
      this.freeze(roomId, err.code);
      return;
    }
    this.states.set(roomId, state);
    this.events.set(roomId, parsed);
    const me = memberOf(state, this.user_id);
    if (me) {
      const at = this._joinedAt.get(roomId);
      if (at !== undefined && at !== me.addedN) this.rejoined.add(roomId);
      this._joinedAt.set(roomId, me.addedN);
    }
  }

  /** Like `get`, but a frozen room still answers with its last verified state. Only for
   * accepting keys and choosing whom to ask for one: giving keys needs `get`. */
  async view(roomId, { force = false } = {}) {
    const state = await this.get(roomId, { force });
    return state ?? this.states.get(roomId) ?? null;
  }

  freeze(roomId, code) {
    this.frozen.set(roomId, code);
    this.warn(code, { room: roomId });
  }

  head(roomId) {
    const st = this.states.get(roomId);
    return [st.headN, st.headHash];
  }

  hashAt(roomId, n) {
    const evs = this.events.get(roomId) || [];
    return n >= 1 && n <= evs.length ? eventHash(evs[n - 1].wire) : null;
  }

  changedSince(roomId, n, actions) {
    return (this.events.get(roomId) || []).slice(n).some((e) => actions.includes(e.action));
  }

  /** Apply an event this device just signed and the server accepted. A refresh that ran
   * meanwhile may already hold it: then there is nothing to apply. */
  adopt(roomId, wire, actorIk) {
    this._adopted.set(roomId, (this._adopted.get(roomId) || 0) + 1);
    const state = this.states.get(roomId);
    const n = parseEvent(wire).n;
    if (state.headN >= n) {
      if (!bytesEqual(this.hashAt(roomId, n) || new Uint8Array(0), eventHash(wire))) this.markDirty(roomId);
      return;
    }
    const ev = chainApply(state, wire, actorIk);
    if (!this.events.has(roomId)) this.events.set(roomId, []);
    this.events.get(roomId).push(ev);
  }

  // -- persistence: the event wires, verified again on load -------------------------------------
  toJSON() {
    const rooms = {};
    for (const [room, evs] of this.events) rooms[room] = evs.map((e) => e.wire);
    return {
      rooms,
      frozen: Object.fromEntries(this.frozen),
      joined_at: Object.fromEntries(this._joinedAt),
      rejoined: [...this.rejoined],
    };
  }

  /** Rebuild from `toJSON()` (the trust store and directory loaded first). A room whose saved
   * chain no longer verifies is simply fetched again. */
  loadJSON(data) {
    if (!data) return;
    const trust = this.directory.trust;
    const identityKeyOf = (user) => (T.trusted(trust, user) ? T.pinned(trust, user) : null);
    for (const [room, wires] of Object.entries(data.rooms || {})) {
      try {
        this.states.set(room, verifyChain(room, wires, identityKeyOf, {}));
        this.events.set(room, wires.map((w) => parseEvent(w)));
      } catch (err) {
        if (!(err instanceof CryptoError)) throw err;
        this.dirty.add(room);
      }
    }
    for (const [room, code] of Object.entries(data.frozen || {})) this.frozen.set(room, code);
    for (const [room, n] of Object.entries(data.joined_at || {})) this._joinedAt.set(room, n);
    for (const room of data.rejoined || []) this.rejoined.add(room);
  }
}

/** The Member of `user` in a ChainState (`members` a Map or a plain object), or null. */
export function memberOf(state, user) {
  const m = state.members;
  return (m instanceof Map ? m.get(user) : m[user]) ?? null;
}

/** The user ids of a ChainState's current members. */
export function memberIds(state) {
  const m = state.members;
  return m instanceof Map ? [...m.keys()] : Object.keys(m);
}
