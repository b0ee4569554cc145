/**
 * Pairwise channel: one signed, encrypted message from one device to another (docs/crypto.md
 * §3); twin of crypto/pairwise.py.
 *
 * Opening is split in two: `openPayload` decrypts and checks everything the payload says about
 * itself, and only then does the client know which user's device list it needs (`Opened.su`) to
 * check the signature with `Opened.verify`. Nothing from an `Opened` may be acted on before
 * `verify` returned.
 */

import {
  U32_MAX,
  aeadOpen,
  aeadSeal,
  b64d,
  b64e,
  checkBytes,
  checkFields,
  checkId,
  checkInt,
  concat,
  dumps,
  h,
  isDict,
  loadsObject,
  lp,
  randomBytes,
  reqInt,
  reqVersion,
  signDetached,
  u32,
  utf8,
  verifyDetached,
} from './encoding.js';
import { CryptoError } from './errors.js';
import { DhKey, dh } from './keys.js';

export const ALG = 'relais.pairwise.v1';
export const KEY_LABEL = 'relais/v1/pairwise-key';
export const SIG_LABEL = 'relais/v1/pairwise-sig';
export const AD_LABEL = 'relais/v1/pairwise';
export const ID_BYTES = 16;
export const SIG_BYTES = 64;
export const HEADER_FIELDS = Object.freeze(['v', 'alg', 'sd', 'rd', 'spk', 'e', 'n', 'ct']);
export const INNER_FIELDS = Object.freeze(['t', 'body', 'su', 'sd', 'ru', 'rd', 'ts', 'id']);

const bad = (why) => new CryptoError('bad_encoding', why);

/** From the recipient's verified device list (`dh`) and verified pre-key (`prekeyId`, `prekey`). */
export class RecipientKeys {
  constructor(user, device, dhPub, prekeyId, prekey) {
    this.user = user;
    this.device = device;
    this.dh = dhPub;
    this.prekeyId = prekeyId;
    this.prekey = prekey;
    Object.freeze(this);
  }
}

/** [key, the hashed input], the latter exposed for test vectors. */
export function deriveKey(dh1, dh2, ePub, spkPub, dxPub) {
  const data = lp(KEY_LABEL, dh1, dh2, ePub, spkPub, dxPub);
  return [h(32, data), data];
}

export function associatedData(sd, rd, spkId, ePub) {
  return lp(AD_LABEL, sd, rd, u32(spkId), ePub);
}

function checkHeadVer(ver) {
  if (checkInt(ver, 'device-list version') < 1) throw bad('device list versions start at 1');
  return ver;
}

function parseHead(raw) {
  if (!isDict(raw)) throw bad('dl must be an object');
  checkFields(raw, ['v', 'h'], 'device-list head');
  return [checkHeadVer(raw.v), b64d(raw.h, 32)];
}

/**
 * The to-device payload JSON text. `msgId`, `eph` and `nonce` are random unless given (test
 * vectors only: reusing any of them breaks the channel's guarantees). `head` is the sender
 * user's device-list head [version, hash] as the sender knows it: the gossip that lets the
 * recipient refuse an older list the server may serve it (§2.5).
 */
export function encrypt({
  senderUser,
  senderDevice,
  senderKey,
  recipient,
  type,
  body,
  ts,
  msgId = null,
  eph = null,
  nonce = null,
  head = null,
}) {
  const su = checkId(senderUser, 'sender user');
  const sd = checkId(senderDevice, 'sender device');
  const ru = checkId(recipient.user, 'recipient user');
  const rd = checkId(recipient.device, 'recipient device');
  const k = checkInt(recipient.prekeyId, 'pre-key id', U32_MAX);
  const spk = checkBytes(recipient.prekey, 32, 'pre-key');
  const dx = checkBytes(recipient.dh, 32, 'device key');
  if (typeof type !== 'string' || type === '') throw bad('type must be a non-empty string');
  if (!isDict(body)) throw bad('body must be an object');
  checkInt(ts, 'ts');
  msgId = msgId === null ? randomBytes(ID_BYTES) : checkBytes(msgId, ID_BYTES, 'msg_id');
  nonce = nonce === null ? randomBytes(24) : checkBytes(nonce, 24, 'nonce');
  eph = eph === null ? DhKey.generate() : eph;
  const ePub = checkBytes(eph.public, 32, 'ephemeral key');

  const dh1 = dh(eph.private, spk);
  const dh2 = dh(eph.private, dx);
  const [key] = deriveKey(dh1, dh2, ePub, spk, dx);
  const inner = { t: type, body, su, sd, ru, rd, ts, id: b64e(msgId) };
  if (head !== null) {
    inner.dl = { v: checkHeadVer(head[0]), h: b64e(checkBytes(head[1], 32, 'device-list hash')) };
  }
  const p = utf8(dumps(inner));
  const sig = signDetached(senderKey.secret, SIG_LABEL, lp(p));
  const ct = aeadSeal(key, nonce, concat(sig, p), associatedData(sd, rd, k, ePub));
  return dumps({ v: 1, alg: ALG, sd, rd, spk: k, e: b64e(ePub), n: b64e(nonce), ct: b64e(ct) });
}

/** A decrypted, self-consistent pairwise message whose signature is NOT yet checked. */
export class Opened {
  constructor({ su, sd, ru, rd, type, body, ts, id, inner, sig, head = null }) {
    Object.assign(this, { su, sd, ru, rd, type, body, ts, id, inner, sig, head });
    Object.freeze(this);
  }

  /**
   * `signPub` is the `sign` key of device `sd` in the verified device list of `su`; `seenIds` a
   * Set of the ids accepted before. The id is recorded only once the signature verified, so a
   * forgery cannot burn an id.
   */
  verify(signPub, seenIds) {
    verifyDetached(checkBytes(signPub, 32, 'signing key'), SIG_LABEL, lp(this.inner), this.sig);
    if (seenIds.has(this.id)) throw new CryptoError('replay', 'pairwise message id already accepted');
    seenIds.add(this.id);
    return this;
  }

  /** `verify` with the device looked up in the sender's verified device list. */
  verifyFrom(devices, seenIds) {
    const entry = devices.user === this.su ? devices.get(this.sd) : null;
    if (entry === null) {
      throw new CryptoError('unknown_device', "sender device not in its user's device list");
    }
    return this.verify(entry.sign, seenIds);
  }
}

function prekeyOf(prekeys, k) {
  if (prekeys instanceof Map) return prekeys.get(k) ?? null;
  return Object.hasOwn(prekeys, String(k)) ? prekeys[String(k)] : null;
}

/**
 * Decrypt a to-device payload addressed to this device. `prekeys` (a Map from pre-key id to
 * DhKey, or an object keyed by the id's decimal text) holds the pre-key privates still kept
 * (current and those replaced less than 14 days ago).
 */
export function openPayload(
  payload,
  { myUser, myDevice, myDh, prekeys, serverSenderDevice = null },
) {
  checkId(myUser, 'my_user');
  checkId(myDevice, 'my_device');
  const hdr = loadsObject(payload);
  checkFields(hdr, HEADER_FIELDS, 'pairwise payload');
  reqVersion(hdr, 'v', 1);
  if (hdr.alg !== ALG) throw bad('not a pairwise payload');
  const sd = checkId(hdr.sd, 'sd');
  const rd = checkId(hdr.rd, 'rd');
  const k = checkInt(hdr.spk, 'spk', U32_MAX);
  const ePub = b64d(hdr.e, 32);
  const nonce = b64d(hdr.n, 24);
  const ct = b64d(hdr.ct);
  // Before any decryption: a payload for another device is refused on its header alone.
  if (rd !== myDevice) throw bad('payload addressed to another device');
  const spk = prekeyOf(prekeys, k);
  if (spk === null) throw new CryptoError('prekey_gone', `pre-key ${k} is not (or no longer) held`);

  const dh1 = dh(spk.private, ePub);
  const dh2 = dh(myDh.private, ePub);
  const [key] = deriveKey(dh1, dh2, ePub, spk.public, myDh.public);
  const plain = aeadOpen(key, nonce, ct, associatedData(sd, rd, k, ePub));
  if (plain.length <= SIG_BYTES) throw bad('plaintext shorter than a signature');
  const sig = plain.slice(0, SIG_BYTES);
  const p = plain.slice(SIG_BYTES);

  const inner = loadsObject(p);
  const hasDl = Object.hasOwn(inner, 'dl');
  checkFields(inner, hasDl ? [...INNER_FIELDS, 'dl'] : INNER_FIELDS, 'pairwise message');
  const head = hasDl ? parseHead(inner.dl) : null;
  const { t, body } = inner;
  if (typeof t !== 'string' || t === '') throw bad('t must be a non-empty string');
  if (!isDict(body)) throw bad('body must be an object');
  const su = checkId(inner.su, 'su');
  const ru = checkId(inner.ru, 'ru');
  if (inner.sd !== sd || inner.rd !== rd) throw bad("inner devices differ from the header's");
  if (ru !== myUser) throw bad('payload addressed to another user');
  if (serverSenderDevice !== null && serverSenderDevice !== sd) {
    throw bad('server-reported sender device differs');
  }
  const msgId = inner.id;
  b64d(msgId, ID_BYTES);
  return new Opened({
    su,
    sd,
    ru,
    rd,
    type: t,
    body,
    ts: reqInt(inner, 'ts'),
    id: msgId,
    inner: p,
    sig,
    head,
  });
}
