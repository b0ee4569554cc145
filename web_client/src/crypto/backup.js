/**
 * Server-stored key backup (docs/crypto.md §6.3); twin of crypto/backup.py.
 *
 * The server holds only ciphertext: the backup key `BK` and the identity seed wrapped under an
 * argon2id key from the user's passphrase, and one entry per inbound session sealed under a key
 * derived from `BK`. The argon2id cost comes back from the server, so it is bounded both ways:
 * too low would make a served header cheap to brute-force against, too high would let the
 * server exhaust the client's memory.
 *
 * argon2id at the default cost takes seconds in a browser, so the functions that run it are
 * async and take an `onProgress(fraction)` callback for a progress indicator; everything else is
 * synchronous like the Python side.
 */

import {
  TAG_BYTES,
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
  reqVersion,
  utf8,
} from './encoding.js';
import { CryptoError } from './errors.js';
import * as sodium from './sodium.js';

export const DEFAULT_OPS = 3;
export const DEFAULT_MEM = 64 * 1024 * 1024;
export const MIN_OPS = sodium.PWHASH_ARGON2ID_OPSLIMIT_MIN;
export const MAX_OPS = 10;
export const MIN_MEM = sodium.PWHASH_ARGON2ID_MEMLIMIT_MIN;
export const MAX_MEM = 1024 * 1024 * 1024;
export const ALG = 'relais.backup.v1';
export const KEY_LABEL = 'relais/v1/backup-key';
export const ID_LABEL = 'relais/v1/backup-id';
export const ENTRY_KEY_LABEL = 'relais/v1/backup-entry-key';
export const ENTRY_LABEL = 'relais/v1/backup-entry';
export const INFO_FIELDS = Object.freeze(['v', 'alg', 'user', 'salt', 'ops', 'mem', 'n', 'ct']);

const bad = (why) => new CryptoError('bad_encoding', why);
const isInt = (v) => typeof v === 'number' && Number.isInteger(v);

/** mem must be whole KiB: argon2 works in KiB, so 1024 values would otherwise name one cost. */
function cost(ops, mem) {
  if (!isInt(ops) || ops < MIN_OPS || ops > MAX_OPS) {
    throw bad(`ops must be in ${MIN_OPS}..${MAX_OPS}`);
  }
  if (!isInt(mem) || mem < MIN_MEM || mem > MAX_MEM || mem % 1024 !== 0) {
    throw bad(`mem must be a multiple of 1024 in ${MIN_MEM}..${MAX_MEM}`);
  }
  return [ops, mem];
}

/** NFC then UTF-8, so the same passphrase typed on any keyboard unlocks the backup. */
export function passphraseBytes(passphrase) {
  if (typeof passphrase !== 'string') throw bad('passphrase must be a string');
  try {
    return utf8(passphrase.normalize('NFC'));
  } catch (err) {
    throw new CryptoError('bad_encoding', 'passphrase is not valid Unicode', { cause: err });
  }
}

/** WK = argon2id(passphrase, salt, ops, mem, 32). */
export async function wrappingKey(passphrase, salt, ops, mem, { onProgress } = {}) {
  checkBytes(salt, 16, 'salt');
  [ops, mem] = cost(ops, mem);
  const pw = passphraseBytes(passphrase);
  try {
    return await sodium.pwhashArgon2id(32, pw, salt, ops, mem, onProgress);
  } catch (err) {
    throw new CryptoError('bad_encoding', 'argon2id refused its parameters', { cause: err });
  }
}

export function keyAd(user) {
  return lp(KEY_LABEL, checkId(user, 'user'));
}

/** The `info` JSON text for `PUT /api/v1/keys/backup`. */
export async function makeBackupInfo(
  user,
  passphrase,
  bk,
  ikSeed,
  { ops = DEFAULT_OPS, mem = DEFAULT_MEM, salt = null, nonce = null, onProgress } = {},
) {
  const ad = keyAd(user);
  const secret = concat(checkBytes(bk, 32, 'backup key'), checkBytes(ikSeed, 32, 'identity seed'));
  salt = salt === null ? randomBytes(16) : checkBytes(salt, 16, 'salt');
  nonce = nonce === null ? randomBytes(24) : checkBytes(nonce, 24, 'nonce');
  const wk = await wrappingKey(passphrase, salt, ops, mem, { onProgress });
  const ct = aeadSeal(wk, nonce, secret, ad);
  const info = { v: 1, alg: ALG, user, salt: b64e(salt), ops, mem, n: b64e(nonce), ct: b64e(ct) };
  return dumps(info);
}

/**
 * [BK, identity seed]. A wrong passphrase is `bad_ciphertext`, like any tampering. Every check
 * of the served `info` runs before argon2id, so a malformed one costs nothing.
 */
export async function unlockBackup(info, user, passphrase, { onProgress } = {}) {
  const obj = loadsObject(info);
  checkFields(obj, INFO_FIELDS, 'backup info');
  reqVersion(obj, 'v', 1);
  if (obj.alg !== ALG) throw bad('not a backup info');
  const ad = keyAd(user);
  if (obj.user !== user) throw bad('backup info of another user');
  const salt = b64d(obj.salt, 16);
  const nonce = b64d(obj.n, 24);
  const ct = b64d(obj.ct, 64 + TAG_BYTES);
  const [ops, mem] = cost(obj.ops, obj.mem);
  const wk = await wrappingKey(passphrase, salt, ops, mem, { onProgress });
  const plain = aeadOpen(wk, nonce, ct, ad);
  return [plain.slice(0, 32), plain.slice(32)];
}

/**
 * Stable per session and opaque to the server. `sid` is the b64 session id; its 16 raw bytes
 * are hashed.
 */
export function entryId(bk, room, sd, sid) {
  checkBytes(bk, 32, 'backup key');
  const rawSid = b64d(sid, 16);
  return b64e(h(16, lp(ID_LABEL, checkId(room, 'room'), checkId(sd, 'sd'), rawSid), bk));
}

export function entryKey(bk) {
  return h(32, lp(ENTRY_KEY_LABEL), checkBytes(bk, 32, 'backup key'));
}

export function entryAd(user, id) {
  b64d(id, 16);
  return lp(ENTRY_LABEL, checkId(user, 'user'), id);
}

/** `data` of one backup entry; `exported` is the session's room_key body at its earliest index. */
export function sealEntry(bk, user, id, exported, { nonce = null } = {}) {
  const ad = entryAd(user, id);
  if (!isDict(exported)) throw bad('export must be an object');
  const plain = utf8(dumps(exported));
  nonce = nonce === null ? randomBytes(24) : checkBytes(nonce, 24, 'nonce');
  return b64e(concat(nonce, aeadSeal(entryKey(bk), nonce, plain, ad)));
}

export function openEntry(bk, user, id, data) {
  const ad = entryAd(user, id);
  const raw = b64d(data);
  if (raw.length < 24 + TAG_BYTES) {
    throw new CryptoError('bad_ciphertext', 'entry shorter than nonce and tag');
  }
  const plain = aeadOpen(entryKey(bk), raw.subarray(0, 24), raw.subarray(24), ad);
  return loadsObject(plain);
}

// The owner's device-list head (§2.1, §6.3): one entry under an id derived from BK alone, so
// every device holding BK overwrites the same entry when it signs a new list.
export const HEAD_ID_LABEL = 'relais/v1/backup-devices-head';
export const HEAD_T = 'relais.devices-head.v1';

export function headEntryId(bk) {
  return b64e(h(16, lp(HEAD_ID_LABEL), checkBytes(bk, 32, 'backup key')));
}

/**
 * `data` of the head entry: the version and hash of the newest device list the user signed, so
 * a restore refuses to build on anything older the server serves.
 */
export function sealHead(bk, user, ver, listHash, { nonce = null } = {}) {
  const head = {
    t: HEAD_T,
    user: checkId(user, 'user'),
    ver: checkInt(ver, 'ver'),
    h: b64e(checkBytes(listHash, 32, 'list hash')),
  };
  return sealEntry(bk, user, headEntryId(bk), head, { nonce });
}

/** [version, list hash] from the head entry. */
export function openHead(bk, user, data) {
  const obj = openEntry(bk, user, headEntryId(bk), data);
  checkFields(obj, ['t', 'user', 'ver', 'h'], 'device-list head');
  if (obj.t !== HEAD_T || obj.user !== user) throw bad("not this user's device-list head");
  const ver = checkInt(obj.ver, 'ver');
  if (ver < 1) throw bad('device list versions start at 1');
  return [ver, b64d(obj.h, 32)];
}
