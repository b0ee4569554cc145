// Other users' public keys as this device has verified them (client/e2ee/directory.py).
//
// Only what verifies is kept: a device list signed by the user's pinned identity key (trust on
// first use) that extends, by its hash chain, the last list this device verified for that user
// (docs/crypto.md §2.5), and per-device pre-keys signed by a device of that list. A user whose
// log this device cannot follow is frozen (devices_forked, devices_invalid, devices_withheld):
// no key goes to any of their devices.
import {
  bytesEqual,
  CryptoError,
  listGet,
  listGetRetired,
  newRecipientKeys,
  publicKey,
  trust as T,
  verifyDeviceList,
  verifyDeviceLog,
  verifyPrekey,
} from "./primitives.js";

/** The server's page of logged lists per user and query (server/keys/directory.py LOG_PAGE). */
export const LOG_PAGE = 100;
/** Freezes that only the user (or an operator) can resolve; a withheld head resolves itself. */
export const HARD_FREEZES = ["devices_forked", "devices_invalid"];

const pk = (user, device) => JSON.stringify([user, device]);

export class KeyDirectory {
  constructor(api, trust, metrics) {
    this.api = api;
    this.trust = trust;
    this.metrics = metrics;
    /** @type {Map<string, any>} user → DeviceList */ this.lists = new Map();
    /** user → version → hash of every list verified on the chain since the first pinned. */
    /** @type {Map<string, Map<number, Uint8Array>>} */ this.hashes = new Map();
    /** user → a head [ver, hash] learned from gossip or the backup, not yet proven. */
    /** @type {Map<string, [number, Uint8Array]>} */ this.claimed = new Map();
    /** @type {Map<string, number>} */ this.served = new Map();
    /** @type {Map<string, string>} */ this.frozen = new Map();
    /** Keyed by (user, device): a list naming another user's device id cannot touch it. */
    /** @type {Map<string, any>} */ this.prekeys = new Map();
    this.warnings = [];
    /** @type {Set<string>} */ this.dirty = new Set();
    /** @type {Map<string, number>} user → how many times a device left their verified list */
    this.revocations = new Map();
    /** Called with a user whose served identity key no longer matches the pinned one. */
    /** @type {((userId: string) => void)|null} */ this.onIdentity = null;
  }

  markDirty(userId) {
    this.dirty.add(userId);
  }

  head(userId) {
    const dl = this.lists.get(userId);
    return dl ? [dl.ver, dl.hash] : null;
  }

  /** Fetch users never seen, marked dirty (a `keys.changed` event) or all when forced; with each,
   * the logged lists after the version this device can build on. */
  async ensure(userIds, { force = false } = {}) {
    const wanted = [...new Set(userIds)].filter((u) => force || !this.lists.has(u) || this.dirty.has(u)).sort();
    for (let start = 0; start < wanted.length; start += 500) {
      const chunk = wanted.slice(start, start + 500);
      const since = {};
      for (const u of chunk) {
        const v = this._logFrom(u);
        if (v != null) since[u] = v;
      }
      const users = await this.api.queryKeys(chunk, since);
      for (const uid of chunk) {
        this.dirty.delete(uid);
        if (uid in users) await this._absorb(uid, users[uid]);
      }
    }
  }

  _logFrom(uid) {
    const dl = this.lists.get(uid);
    if (dl) return dl.ver;
    const claim = this.claimed.get(uid);
    return claim ? claim[0] - 1 : null;
  }

  /** A head vouched for by one of the user's own devices or by the key backup. */
  async learnHead(userId, ver, listHash) {
    if (HARD_FREEZES.includes(this.frozen.get(userId))) return;
    const known = this.hashes.get(userId)?.get(ver);
    if (known !== undefined) {
      if (!bytesEqual(known, listHash)) this._freeze(userId, "devices_forked");
      return;
    }
    const dl = this.lists.get(userId);
    if (dl && ver <= dl.ver) return;
    const claim = this.claimed.get(userId);
    if (claim && claim[0] >= ver) {
      if (claim[0] === ver && !bytesEqual(claim[1], listHash)) this._freeze(userId, "devices_forked");
      return;
    }
    this.claimed.set(userId, [ver, listHash]);
    await this.ensure([userId], { force: true });
  }

  _warn(code, details = {}) {
    this.metrics.inc(code);
    this.warnings.push({ code, ...details });
  }

  _freeze(uid, code) {
    if (HARD_FREEZES.includes(this.frozen.get(uid))) return;
    if (this.frozen.get(uid) !== code) this._warn(code, { user: uid });
    this.frozen.set(uid, code);
  }

  async _fullLog(uid, pinned, entry) {
    const log = (entry.device_list_log || []).filter((w) => typeof w === "string");
    let page = log;
    while (page.length === LOG_PAGE) {
      let last;
      try {
        last = verifyDeviceList(page[page.length - 1], uid, pinned).ver;
      } catch (err) {
        if (err instanceof CryptoError) break;
        throw err;
      }
      const more = await this.api.queryKeys([uid], { [uid]: last });
      page = [...((more[uid] || {}).device_list_log || [])];
      log.push(...page);
    }
    return log;
  }

  async _absorb(uid, entry) {
    const ikText = entry.identity_key;
    const wire = entry.signed_device_list;
    if (typeof ikText !== "string" || typeof wire !== "string") return;
    let ik;
    try {
      ik = publicKey(ikText);
    } catch (err) {
      if (!(err instanceof CryptoError)) throw err;
      this._warn("bad_encoding", { user: uid });
      return;
    }
    const state = T.observe(this.trust, uid, ik);
    if (state === "changed") {
      this._warn("identity_changed", { user: uid });
      this.onIdentity?.(uid);
      return;
    }
    const pinned = T.pinned(this.trust, uid);
    let before = this.lists.get(uid) ?? null;
    if (before && !bytesEqual(before.ik, pinned)) {
      // A new identity the application re-accepted: its log starts afresh.
      before = null;
      this.hashes.delete(uid);
      this.claimed.delete(uid);
      this.frozen.delete(uid);
      this.lists.delete(uid);
    }
    if (HARD_FREEZES.includes(this.frozen.get(uid))) return;
    let chain;
    try {
      const latest = verifyDeviceList(wire, uid, pinned);
      this.served.set(uid, latest.ver);
      chain = await this._follow(uid, pinned, before, latest, entry);
    } catch (err) {
      if (!(err instanceof CryptoError)) throw err;
      if (String(err.code).startsWith("devices_")) this._freeze(uid, err.code);
      else this._warn(err.code, { user: uid });
      return;
    }
    if (chain.length) {
      let known = this.hashes.get(uid);
      if (!known) this.hashes.set(uid, (known = new Map()));
      for (const dl of chain) known.set(dl.ver, dl.hash);
      const head = chain[chain.length - 1];
      if (before) {
        const now = new Set(head.devices.map((d) => d.id));
        if (before.devices.some((d) => !now.has(d.id))) {
          // A device left a verified list: no session it may hold must carry what comes next.
          this.revocations.set(uid, (this.revocations.get(uid) || 0) + 1);
        }
      }
      this.lists.set(uid, head);
    }
    if (!this._claimHolds(uid)) return;
    const dl = this.lists.get(uid);
    for (const dev of entry.devices || []) {
      const did = dev.device_id;
      const keys = dev.public_keys;
      const listed = typeof did === "string" ? listGet(dl, did) : null;
      if (!listed) {
        this._warn("unsigned_device", { user: uid, device: did });
        continue;
      }
      if (typeof keys !== "string") continue;
      let pre;
      try {
        pre = verifyPrekey(keys, uid, listed.id, listed.sign);
      } catch (err) {
        if (!(err instanceof CryptoError)) throw err;
        this._warn(err.code, { user: uid, device: did });
        continue;
      }
      const held = this.prekeys.get(pk(uid, listed.id));
      if (!held || pre.id >= held.id) this.prekeys.set(pk(uid, listed.id), pre);
    }
  }

  /** The lists that extend what this device verified (or its claimed head) up to the served
   * head; throws the code that freezes the user when the chain does not hold. */
  async _follow(uid, pinned, before, latest, entry) {
    const claim = this.claimed.get(uid);
    if (!before && !claim) return [latest]; // first contact: trust on first use
    const chain = verifyDeviceLog(await this._fullLog(uid, pinned, entry), uid, pinned, { previous: before });
    const top = chain.length ? chain[chain.length - 1] : before;
    if (!top || latest.ver > top.ver) {
      chain.push(verifyDeviceList(latest.wire, uid, pinned, { previous: top }));
    } else {
      const known = new Map(this.hashes.get(uid) || []);
      for (const dl of chain) known.set(dl.ver, dl.hash);
      const at = known.get(latest.ver);
      if (at !== undefined && !bytesEqual(at, latest.hash)) {
        throw new CryptoError("devices_forked", `another list at version ${latest.ver}`);
      }
      if (latest.ver < top.ver) this._warn("rollback", { user: uid, served: latest.ver, held: top.ver });
    }
    if (!before && claim) {
      if (chain[0].ver > claim[0] || chain[chain.length - 1].ver < claim[0]) {
        throw new CryptoError("devices_withheld", `version ${claim[0]} not served (head ${latest.ver})`);
      }
    }
    return chain;
  }

  /** Reconcile a claimed head with the verified chain; false while the user is frozen. */
  _claimHolds(uid) {
    const claim = this.claimed.get(uid);
    let withheld = false;
    if (claim) {
      const dl = this.lists.get(uid);
      const known = this.hashes.get(uid)?.get(claim[0]);
      if (!dl || claim[0] > dl.ver) withheld = true;
      else if (known !== undefined && !bytesEqual(known, claim[1])) this._freeze(uid, "devices_forked");
      else this.claimed.delete(uid);
    }
    if (withheld) this._freeze(uid, "devices_withheld");
    else if (this.frozen.get(uid) === "devices_withheld") this.frozen.delete(uid);
    return this.lists.has(uid) && !this.frozen.has(uid);
  }

  device(userId, deviceId) {
    const dl = this.lists.get(userId);
    return dl ? listGet(dl, deviceId) ?? null : null;
  }

  /** The signing key of a device its user revoked: it still verifies what it signed. */
  retiredSignKey(userId, deviceId) {
    const dl = this.lists.get(userId);
    const entry = dl ? listGetRetired(dl, deviceId) : null;
    return entry ? entry.sign : null;
  }

  /** Devices that may receive keys: only users currently trusted (not `changed`). */
  devicesOf(userId) {
    const dl = this.lists.get(userId);
    if (!dl || !T.trusted(this.trust, userId) || this.frozen.has(userId)) return [];
    return [...dl.devices];
  }

  recipient(userId, deviceId) {
    const dev = this.device(userId, deviceId);
    const pre = this.prekeys.get(pk(userId, deviceId));
    if (!dev || !pre || !T.trusted(this.trust, userId)) return null;
    if (this.frozen.has(userId)) return null;
    return newRecipientKeys(userId, deviceId, dev.dh, pre.id, pre.pub);
  }

  // -- persistence: wires and hashes, re-verified on load ---------------------------------------
  toJSON() {
    const mapObj = (m, f = (v) => v) => Object.fromEntries([...m].map(([k, v]) => [k, f(v)]));
    return {
      lists: mapObj(this.lists, (dl) => ({ wire: dl.wire, prev: dl.prev })),
      hashes: mapObj(this.hashes, (m) => [...m]),
      claimed: mapObj(this.claimed),
      served: mapObj(this.served),
      frozen: mapObj(this.frozen),
      prekeys: [...this.prekeys].map(([k, p]) => [k, p.wire]),
      revocations: mapObj(this.revocations),
    };
  }

  /** Rebuild from `toJSON()`; lists and pre-keys are verified again under the pinned keys. */
  loadJSON(data) {
    if (!data) return;
    for (const [uid, { wire }] of Object.entries(data.lists || {})) {
      const pinned = T.pinned(this.trust, uid);
      if (!pinned) continue;
      try {
        // Its predecessor was verified when it was first taken; only its own signature here.
        this.lists.set(uid, verifyDeviceList(wire, uid, pinned));
      } catch (err) {
        if (!(err instanceof CryptoError)) throw err;
        this.dirty.add(uid);
      }
    }
    for (const [uid, pairs] of Object.entries(data.hashes || {})) this.hashes.set(uid, new Map(pairs));
    for (const [uid, c] of Object.entries(data.claimed || {})) this.claimed.set(uid, c);
    for (const [uid, v] of Object.entries(data.served || {})) this.served.set(uid, v);
    for (const [uid, v] of Object.entries(data.frozen || {})) this.frozen.set(uid, v);
    for (const [uid, v] of Object.entries(data.revocations || {})) this.revocations.set(uid, v);
    for (const [k, wire] of data.prekeys || []) {
      const [uid, did] = JSON.parse(k);
      const dev = this.device(uid, did);
      if (!dev) continue;
      try {
        this.prekeys.set(k, verifyPrekey(wire, uid, did, dev.sign));
      } catch (err) {
        if (!(err instanceof CryptoError)) throw err;
      }
    }
  }
}
