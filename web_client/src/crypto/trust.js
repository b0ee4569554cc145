/**
 * Trust on first use of identity keys (docs/crypto.md §2.4); twin of crypto/trust.py.
 *
 * The store only records what the client has seen and accepted; it never decides on its own to
 * accept a new key. A changed key keeps the old one pinned (so nothing is shared with, or
 * accepted from, the new one) until the application calls `acceptChange` or `markVerified` after
 * the user compared safety numbers.
 */

import {
  b64d,
  b64e,
  checkBytes,
  checkFields,
  checkId,
  dumps,
  isDict,
  loadsObject,
  memcmp,
  reqVersion,
} from './encoding.js';
import { CryptoError } from './errors.js';

export const TOFU = 'tofu';
export const VERIFIED = 'verified';
export const CHANGED = 'changed';
export const STATES = Object.freeze([TOFU, VERIFIED, CHANGED]);

const bad = (why) => new CryptoError('bad_encoding', why);

/** `ik` is the accepted key (the old one while "changed"); `seen` the other key observed. */
class Pin {
  constructor(state, ik, seen = null) {
    this.state = state;
    this.ik = ik;
    this.seen = seen;
  }
}

function b64Key(value) {
  b64d(value, 32);
  return value;
}

export class TrustStore {
  constructor() {
    this.pins = new Map();
    // {user, old: b64, new: b64}, one per observed change; the application may drain it, the
    // once-per-change rule does not depend on its content.
    this.warnings = [];
  }

  pinState(user) {
    const pin = this.pins.get(checkId(user, 'user'));
    return pin ? pin.state : null;
  }

  pinned(user) {
    const pin = this.pins.get(checkId(user, 'user'));
    return pin ? pin.ik : null;
  }

  trusted(user) {
    const state = this.pinState(user);
    return state === TOFU || state === VERIFIED;
  }

  /** Record the identity key the server serves for `user`; returns the resulting state. */
  observe(user, ik) {
    checkId(user, 'user');
    checkBytes(ik, 32, 'identity key');
    const pin = this.pins.get(user);
    if (pin === undefined) {
      this.pins.set(user, new Pin(TOFU, ik));
      return TOFU;
    }
    if (memcmp(ik, pin.ik)) return pin.state;
    if (pin.seen === null || !memcmp(pin.seen, ik)) {
      pin.state = CHANGED;
      pin.seen = ik;
      this.warnings.push({ user, old: b64e(pin.ik), new: b64e(ik) });
    }
    return pin.state;
  }

  acceptChange(user, ik) {
    checkId(user, 'user');
    this.pins.set(user, new Pin(TOFU, checkBytes(ik, 32, 'identity key')));
  }

  /**
   * `ik` is the key the compared safety number was computed from; it becomes the pinned key even
   * if another one was pinned (comparing again is how a change is resolved).
   */
  markVerified(user, ik) {
    checkId(user, 'user');
    this.pins.set(user, new Pin(VERIFIED, checkBytes(ik, 32, 'identity key')));
  }

  /** The same text as Python's TrustStore.to_json (json.dumps with sort_keys, default separators). */
  toJson() {
    const users = {};
    for (const u of [...this.pins.keys()].sort()) {
      const p = this.pins.get(u);
      users[u] = { state: p.state, ik: b64e(p.ik), seen: p.seen ? b64e(p.seen) : null };
    }
    return dumps({ v: 1, users, warnings: this.warnings }, { spaced: true });
  }

  static fromJson(text) {
    const obj = loadsObject(text);
    checkFields(obj, ['v', 'users', 'warnings'], 'trust store');
    reqVersion(obj, 'v', 1);
    const { users, warnings } = obj;
    if (!isDict(users) || !Array.isArray(warnings)) throw bad('not a trust store');
    const store = new TrustStore();
    for (const [user, p] of Object.entries(users)) {
      checkId(user, 'user');
      if (!isDict(p)) throw bad('bad pin');
      const keys = Object.keys(p);
      if (keys.length !== 3 || !['state', 'ik', 'seen'].every((k) => Object.hasOwn(p, k))) {
        throw bad('bad pin');
      }
      if (!STATES.includes(p.state)) throw bad('bad pin state');
      const seen = p.seen === null ? null : b64d(p.seen, 32);
      if ((seen !== null) !== (p.state === CHANGED)) throw bad('a changed pin records the new key');
      store.pins.set(user, new Pin(p.state, b64d(p.ik, 32), seen));
    }
    for (const w of warnings) {
      if (!isDict(w)) throw bad('bad warning');
      const keys = Object.keys(w);
      if (keys.length !== 3 || !['user', 'old', 'new'].every((k) => Object.hasOwn(w, k))) {
        throw bad('bad warning');
      }
      store.warnings.push({ user: checkId(w.user, 'user'), old: b64Key(w.old), new: b64Key(w.new) });
    }
    return store;
  }
}
