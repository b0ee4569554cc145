/**
 * Group messages on sender-key sessions (docs/crypto.md §4); twin of crypto/group.py.
 *
 * A sender encrypts each room message once, under a chain key that only moves forward, and signs
 * it with its device key; every receiver holding the chain key from some index on can read from
 * there, never before. Costs per message are one ratchet step plus one AEAD and one signature,
 * whatever the room's size.
 */

import {
  b64d,
  b64e,
  checkBytes,
  checkId,
  checkInt,
  checkU32,
  concat,
  dumps,
  get,
  h,
  isDict,
  isU32,
  loadsObject,
  lp,
  memcmp,
  randomBytes,
  reqId,
  reqInt,
  reqStr,
  reqU32,
  signDetached,
  u32,
  utf8,
  verifyDetached,
} from './encoding.js';
import { CryptoError } from './errors.js';
import * as sodium from './sodium.js';

export const ALG = 'relais.group.v1';
/**
 * The only padded lengths (docs/crypto.md §4.2). The signature covers lp(c), and lp holds at most
 * 65535 bytes, so a 65536 bucket could never be signed, nor fit the server's 64 KiB envelope:
 * content stops at 16383 bytes (the 16384 bucket); larger payloads go as attachments (§7).
 */
export const BUCKETS = Object.freeze([256, 1024, 4096, 16384]);
export const MAX_SKIP = 10_000;
export const MAX_CONTENT = BUCKETS[BUCKETS.length - 1] - 1;
export const SID_BYTES = 16;
export const CK_BYTES = 32;
export const MH_BYTES = 32;
export const TAG_BYTES = 16;
const ENVELOPE_KEYS = Object.freeze(['v', 'alg', 'ct', 'sid', 'i', 'sd', 'su', 'me', 'mh', 'sig']);
const SHARE_KEYS = Object.freeze(['room', 'sid', 'i', 'ck', 'sd', 'su', 'me', 'fwd']);

export const L_MSG = 'relais/v1/msg';
export const L_CHAIN = 'relais/v1/chain';
export const L_AD = 'relais/v1/group';
export const L_SIG = 'relais/v1/group-sig';

const bad = (why) => new CryptoError('bad_encoding', why);

function hasExactly(obj, names) {
  const keys = Object.keys(obj);
  return keys.length === names.length && names.every((k) => Object.hasOwn(obj, k));
}

// -- ratchet and padding ---------------------------------------------------------------------

/** [mk, nonce] for the message at the index `ck` belongs to. */
export function messageKeys(ck) {
  const m = h(56, lp(L_MSG), ck);
  return [m.slice(0, 32), m.slice(32)];
}

export function nextCk(ck) {
  return h(32, lp(L_CHAIN), ck);
}

function advance(ck, steps) {
  for (let k = 0; k < steps; k++) ck = nextCk(ck);
  return ck;
}

/** The smallest bucket that holds `length` content bytes plus the 0x80 marker. */
function bucket(length) {
  for (const b of BUCKETS) if (length + 1 <= b) return b;
  throw bad(`content longer than ${MAX_CONTENT} bytes`);
}

/** Only the bucket shows in the ciphertext length, not the message length. Content longer than
 * MAX_CONTENT has no bucket (`bad_encoding`): it goes as an attachment. */
export function pad(content) {
  return sodium.pad(content, bucket(content.length));
}

/**
 * Inverse of `pad`, and only of `pad`: the padded length must be a bucket, and a padding that
 * `pad` would not have produced (wrong bucket for the content) is refused, so one plaintext has
 * exactly one padded form.
 */
export function unpad(padded) {
  const n = padded.length;
  if (!BUCKETS.includes(n)) throw bad('padded length is not a bucket size');
  let content;
  try {
    content = sodium.unpad(padded, n);
  } catch (err) {
    throw new CryptoError('bad_encoding', 'bad padding', { cause: err });
  }
  if (bucket(content.length) !== n) throw bad('padding longer than the bucket rule allows');
  return content.slice();
}

// -- field checks ----------------------------------------------------------------------------

function encodeContent(content) {
  if (!isDict(content)) throw bad('content must be a JSON object');
  const data = utf8(dumps(content));
  if (data.length > MAX_CONTENT) throw bad(`content longer than ${MAX_CONTENT} bytes`);
  return data;
}

export function groupAd(room, sid, i, su, sd, me, mh) {
  return lp(L_AD, room, sid, u32(i), su, sd, u32(me), mh);
}

// -- outbound --------------------------------------------------------------------------------

/**
 * The sender's side: `ck` is always the key of `index`, the next message to send; earlier keys
 * are dropped as soon as they are used so a device stolen later cannot read back.
 */
export class OutboundSession {
  constructor({ room, sid, ck, index, createdMs, me, sent = 0, sharedWith = {} }) {
    Object.assign(this, { room, sid, ck, index, createdMs, me, sent });
    this.sharedWith = { ...sharedWith };
  }

  static new(room, { createdMs, me, sid = null, ck = null }) {
    return new OutboundSession({
      room: checkId(room, 'room'),
      sid: checkBytes(sid === null ? randomBytes(SID_BYTES) : sid, SID_BYTES, 'sid'),
      ck: checkBytes(ck === null ? randomBytes(CK_BYTES) : ck, CK_BYTES, 'ck'),
      index: 0,
      createdMs: checkInt(createdMs, 'created_ms'),
      me: checkU32(me, 'me'),
    });
  }

  shareBody(su, sd) {
    return {
      room: this.room,
      sid: b64e(this.sid),
      i: this.index,
      ck: b64e(this.ck),
      sd: checkId(sd, 'sd'),
      su: checkId(su, 'su'),
      me: this.me,
      fwd: false,
    };
  }

  /**
   * `me`/`mh` are the sender's verified chain head now, which may be past the session's creation
   * head: receivers use them to notice membership events they have not seen.
   */
  encrypt(content, { su, sd, dsk, me, mh }) {
    const i = checkU32(this.index, 'index');
    const ad = groupAd(
      checkId(this.room, 'room'),
      this.sid,
      i,
      checkId(su, 'su'),
      checkId(sd, 'sd'),
      checkU32(me, 'me'),
      checkBytes(mh, MH_BYTES, 'mh'),
    );
    const plaintext = pad(encodeContent(content));
    const [mk, nonce] = messageKeys(this.ck);
    const c = sodium.aeadEncrypt(plaintext, ad, nonce, mk);
    const sig = signDetached(dsk.secret, L_SIG, concat(ad, lp(c)));
    this.ck = nextCk(this.ck);
    this.index = i + 1;
    this.sent += 1;
    return {
      v: 1,
      alg: ALG,
      ct: b64e(c),
      sid: b64e(this.sid),
      i,
      sd,
      su,
      me,
      mh: b64e(mh),
      sig: b64e(sig),
    };
  }

  /** The persisted form, with the Python side's field names. */
  toJson() {
    return {
      room: this.room,
      sid: b64e(this.sid),
      ck: b64e(this.ck),
      index: this.index,
      created_ms: this.createdMs,
      me: this.me,
      sent: this.sent,
      shared_with: { ...this.sharedWith },
    };
  }

  static fromJson(d) {
    if (!isDict(d)) throw bad('outbound session is not an object');
    const shared = get(d, 'shared_with');
    if (!isDict(shared) || !Object.values(shared).every((v) => isU32(v))) {
      throw bad('shared_with must map device ids to indices');
    }
    return new OutboundSession({
      room: reqId(d, 'room'),
      sid: b64d(get(d, 'sid'), SID_BYTES),
      ck: b64d(get(d, 'ck'), CK_BYTES),
      index: reqInt(d, 'index'),
      createdMs: reqInt(d, 'created_ms'),
      me: reqU32(d, 'me'),
      sent: reqInt(d, 'sent'),
      sharedWith: shared,
    });
  }
}

// -- envelope --------------------------------------------------------------------------------

export class Header {
  constructor({ sid, i, sd, su, me, mh, ct, sig }) {
    Object.assign(this, { sid, i, sd, su, me, mh, ct, sig });
    Object.freeze(this);
  }

  ad(room) {
    return groupAd(room, b64d(this.sid, SID_BYTES), this.i, this.su, this.sd, this.me, this.mh);
  }
}

/**
 * Exactly the fields of §4.2 and nothing else: unsigned extras could otherwise ride along with
 * a valid signature. The ciphertext length is checked before i/sd/su/me/mh/sig, as in Python.
 */
export function parseEnvelope(env) {
  if (!isDict(env) || !hasExactly(env, ENVELOPE_KEYS)) {
    throw bad('envelope fields differ from relais.group.v1');
  }
  if (typeof env.v !== 'number' || env.v !== 1 || env.alg !== ALG) {
    throw bad('unsupported envelope version or algorithm');
  }
  const sid = reqStr(env, 'sid');
  b64d(sid, SID_BYTES);
  const ct = b64d(env.ct);
  if (!BUCKETS.includes(ct.length - TAG_BYTES)) {
    throw bad('ciphertext length is not a padded bucket');
  }
  return new Header({
    sid,
    i: reqU32(env, 'i'),
    sd: reqId(env, 'sd'),
    su: reqId(env, 'su'),
    me: reqU32(env, 'me'),
    mh: b64d(env.mh, MH_BYTES),
    ct,
    sig: b64d(env.sig, 64),
  });
}

/**
 * `signPub` is the DSK of `hdr.sd` from `hdr.su`'s verified device list: the caller has already
 * matched su/sd against the server's sender ids.
 */
export function verifyEnvelope(hdr, room, signPub) {
  const ad = hdr.ad(checkId(room, 'room'));
  verifyDetached(signPub, L_SIG, concat(ad, lp(hdr.ct)), hdr.sig);
}

// -- inbound ---------------------------------------------------------------------------------

function parseShare(body) {
  if (!isDict(body) || !hasExactly(body, SHARE_KEYS)) {
    throw bad('room_key body fields differ from §4.4');
  }
  if (typeof body.fwd !== 'boolean') throw bad('fwd must be a boolean');
  const sid = reqStr(body, 'sid');
  b64d(sid, SID_BYTES);
  return {
    room: reqId(body, 'room'),
    sid,
    i: reqU32(body, 'i'),
    ck: b64d(body.ck, CK_BYTES),
    sd: reqId(body, 'sd'),
    su: reqId(body, 'su'),
    me: reqU32(body, 'me'),
    fwd: body.fwd,
  };
}

const DECIMAL_RE = /^(0|[1-9][0-9]*)$/;

/**
 * A receiver's copy of one sender session.
 *
 * `first*` is the earliest key held (what can be forwarded or backed up); `cur*` is the key of
 * the next index after the highest one decrypted, so in-order messages cost one step. Older
 * indices are recomputed from `firstCk`, at most MAX_SKIP steps, and no per-index keys are kept:
 * the state stays the same size however many messages were skipped.
 */
export class InboundSession {
  constructor({ room, sid, sd, su, me, firstIndex, firstCk, curIndex, curCk, used = new Map() }) {
    Object.assign(this, { room, sid, sd, su, me, firstIndex, firstCk, curIndex, curCk });
    this.used = new Map(used);
  }

  static fromShare(body) {
    const s = parseShare(body);
    return new InboundSession({
      room: s.room,
      sid: s.sid,
      sd: s.sd,
      su: s.su,
      me: s.me,
      firstIndex: s.i,
      firstCk: s.ck,
      curIndex: s.i,
      curCk: s.ck,
    });
  }

  /** The chain key of index `i` (>= firstIndex), from the nearest key held below it. */
  ckAt(i) {
    const [baseI, baseCk] =
      i >= this.curIndex ? [this.curIndex, this.curCk] : [this.firstIndex, this.firstCk];
    if (i - baseI > MAX_SKIP) {
      throw new CryptoError('too_far', `index ${i} is ${i - baseI} steps past the key held`);
    }
    return advance(baseCk, i - baseI);
  }

  /**
   * Take an earlier starting point only if it leads to the chain already held: a forwarder may
   * give access to earlier messages, never swap in another chain (`not_entitled`).
   *
   * Returns true when the earliest key moved back. A share at the same or a later index adds
   * nothing and returns false, but if it is within MAX_SKIP of a key held it is checked too, and
   * one that contradicts the chain is refused the same way.
   */
  merge(body) {
    const s = parseShare(body);
    if (s.room !== this.room || s.sid !== this.sid || s.sd !== this.sd) {
      throw bad('share is for another session');
    }
    if (s.su !== this.su || s.me !== this.me) {
      throw new CryptoError('not_entitled', "share disagrees with the session's sender or head");
    }
    const j = s.i;
    const ck = s.ck;
    if (j < this.firstIndex) {
      if (this.firstIndex - j > MAX_SKIP) {
        throw new CryptoError('too_far', 'earlier share more than MAX_SKIP steps back');
      }
      if (!memcmp(advance(ck, this.firstIndex - j), this.firstCk)) {
        throw new CryptoError('not_entitled', 'earlier share does not lead to the held chain');
      }
      this.firstIndex = j;
      this.firstCk = ck;
      return true;
    }
    let expected;
    try {
      expected = this.ckAt(j);
    } catch (err) {
      if (err instanceof CryptoError) return false;
      throw err;
    }
    if (!memcmp(expected, ck)) {
      throw new CryptoError('not_entitled', 'share contradicts the held chain');
    }
    return false;
  }

  /**
   * Checks of §4.2 after the signature (which `verifyEnvelope` did), in its order.
   *
   * Decrypting the same message id again returns its content again (a re-delivered event); the
   * same index under another message id is a `replay`.
   */
  decrypt(hdr, room, messageId) {
    if (room !== this.room || hdr.sid !== this.sid || hdr.sd !== this.sd) {
      throw new CryptoError('missing_key', 'envelope is not for this session');
    }
    if (hdr.su !== this.su) {
      throw new CryptoError('unknown_device', "envelope's user differs from the session's");
    }
    if (typeof messageId !== 'string' || messageId === '') {
      throw bad('message id must be a non-empty string');
    }
    if (hdr.i < this.firstIndex) {
      throw new CryptoError('missing_key', `session known from index ${this.firstIndex}`);
    }
    const seen = this.used.get(hdr.i);
    if (seen !== undefined && seen !== messageId) {
      throw new CryptoError('replay', `index ${hdr.i} already used by another message`);
    }
    const ck = this.ckAt(hdr.i);
    const [mk, nonce] = messageKeys(ck);
    let padded;
    try {
      padded = sodium.aeadDecrypt(hdr.ct, hdr.ad(room), nonce, mk);
    } catch (err) {
      throw new CryptoError('bad_ciphertext', '', { cause: err });
    }
    const content = loadsObject(unpad(padded));
    this.used.set(hdr.i, messageId);
    if (hdr.i >= this.curIndex) {
      this.curIndex = hdr.i + 1;
      this.curCk = nextCk(ck);
    }
    return content;
  }

  exportBody() {
    return {
      room: this.room,
      sid: this.sid,
      i: this.firstIndex,
      ck: b64e(this.firstCk),
      sd: this.sd,
      su: this.su,
      me: this.me,
      fwd: true,
    };
  }

  /** The persisted form, with the Python side's field names. */
  toJson() {
    const used = {};
    for (const i of [...this.used.keys()].sort((a, b) => a - b)) used[String(i)] = this.used.get(i);
    return {
      room: this.room,
      sid: this.sid,
      sd: this.sd,
      su: this.su,
      me: this.me,
      first_index: this.firstIndex,
      first_ck: b64e(this.firstCk),
      cur_index: this.curIndex,
      cur_ck: b64e(this.curCk),
      used,
    };
  }

  static fromJson(d) {
    if (!isDict(d)) throw bad('inbound session is not an object');
    const usedRaw = get(d, 'used');
    if (!isDict(usedRaw)) throw bad('used must be an object');
    const used = new Map();
    for (const [k, v] of Object.entries(usedRaw)) {
      if (!DECIMAL_RE.test(k)) throw bad('used keys must be indices');
      if (typeof v !== 'string') throw bad('used values must be message ids');
      used.set(checkU32(Number(k), 'used index'), v);
    }
    const sid = reqStr(d, 'sid');
    b64d(sid, SID_BYTES);
    const firstIndex = reqU32(d, 'first_index');
    const curIndex = reqInt(d, 'cur_index');
    if (curIndex < firstIndex) throw bad('cursor before the first index');
    return new InboundSession({
      room: reqId(d, 'room'),
      sid,
      sd: reqId(d, 'sd'),
      su: reqId(d, 'su'),
      me: reqU32(d, 'me'),
      firstIndex,
      firstCk: b64d(get(d, 'first_ck'), CK_BYTES),
      curIndex,
      curCk: b64d(get(d, 'cur_ck'), CK_BYTES),
      used,
    });
  }
}
