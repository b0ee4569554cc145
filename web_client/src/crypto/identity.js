/**
 * Identities: signed device lists and pre-keys, fingerprints, safety numbers (docs/crypto.md §2);
 * twin of crypto/identity.py.
 *
 * A user's device lists form a hash-chained log (each names the hash of the one before), so a
 * server that serves an older list, or drops one from the middle, is caught by anyone who has
 * seen a later head, and a revoked device can never come back: the succession rules below keep
 * every retired id retired along the chain. Every check runs in the order of the Python code, so
 * both clients refuse a malformed list with the same code.
 */

import {
  ID_MAX,
  U32_MAX,
  b64d,
  b64e,
  checkBytes,
  checkFields,
  checkId,
  checkInt,
  concat,
  h,
  isDict,
  loadsObject,
  lp,
  makeSigned,
  memcmp,
  reqInt,
  splitSigned,
  verifyDetached,
} from './encoding.js';
import { CryptoError } from './errors.js';

export const DEVICES_LABEL = 'relais/v1/devices';
export const DEVICES_HASH_LABEL = 'relais/v1/devices-hash';
export const PREKEY_LABEL = 'relais/v1/prekey';
export const FINGERPRINT_LABEL = 'relais/v1/fingerprint';
export const DEVICES_T = 'relais.devices.v2';
export const PREKEY_T = 'relais.prekey.v1';
export const QR_VERSION = 0x01;
export const MAX_ID = ID_MAX;

const bad = (why) => new CryptoError('bad_encoding', why);

// ---------------------------------------------------------------------------------------------
// §2.1 Device list
// ---------------------------------------------------------------------------------------------

export class DeviceEntry {
  constructor(id, sign, dh) {
    this.id = id;
    this.sign = sign;
    this.dh = dh;
    Object.freeze(this);
  }

  equals(other) {
    return (
      other instanceof DeviceEntry &&
      other.id === this.id &&
      memcmp(other.sign, this.sign) &&
      memcmp(other.dh, this.dh)
    );
  }
}

/**
 * A revoked device whose signing key still verifies what it signed before (its messages stay
 * readable for members who join later); it receives nothing any more.
 */
export class RetiredDevice {
  constructor(id, sign) {
    this.id = id;
    this.sign = sign;
    Object.freeze(this);
  }
}

export class DeviceList {
  /** `prev` is the hash of the list this one follows (empty for version 1); `hash` this one's. */
  constructor({ user, ver, ik, ts, devices, wire, retired = [], prev = new Uint8Array(0), hash }) {
    Object.assign(this, { user, ver, ik, ts, wire, prev, hash });
    this.devices = Object.freeze([...devices]);
    this.retired = Object.freeze([...retired]);
    Object.freeze(this);
  }

  get(deviceId) {
    return this.devices.find((d) => d.id === deviceId) ?? null;
  }

  getRetired(deviceId) {
    return this.retired.find((d) => d.id === deviceId) ?? null;
  }
}

function checkDevices(devices) {
  const seen = new Set();
  for (const d of devices) {
    if (!(d instanceof DeviceEntry)) throw bad('devices must be DeviceEntry values');
    checkId(d.id, 'device id');
    checkBytes(d.sign, 32, 'device signing key');
    checkBytes(d.dh, 32, 'device DH key');
    if (seen.has(d.id)) throw bad(`duplicate device id '${d.id}'`);
    seen.add(d.id);
  }
}

/** Version 1 starts the log (no predecessor); every later version names one. */
function checkPrev(ver, prev) {
  if (ver < 1) throw bad('device list versions start at 1');
  if (ver === 1) {
    if (prev !== null && prev !== undefined && prev.length !== 0) {
      throw bad('version 1 has no previous list');
    }
    return new Uint8Array(0);
  }
  if (prev === null || prev === undefined) {
    throw bad(`version ${ver} must name the previous list's hash`);
  }
  return checkBytes(prev, 32, 'previous list hash');
}

function checkRetired(retired, devices) {
  const live = new Set(devices.map((d) => d.id));
  const seen = new Set();
  for (const d of retired) {
    if (!(d instanceof RetiredDevice)) throw bad('retired must be RetiredDevice values');
    checkId(d.id, 'retired device id');
    checkBytes(d.sign, 32, 'retired device signing key');
    if (seen.has(d.id) || live.has(d.id)) throw bad(`retired device id '${d.id}' repeated or live`);
    seen.add(d.id);
  }
}

/**
 * H(32, lp(label) || lp(S) || lp(sig)): the signature is hashed too, so two wire forms of one
 * signed text (never produced, but possible) still have distinct hashes.
 */
export function listHash(wire) {
  const [s, sig] = splitSigned(wire);
  return h(32, lp(DEVICES_HASH_LABEL, s, sig));
}

/** `prev` is the hash (`listHash`) of version `ver - 1`; none for version 1. */
export function makeDeviceList(ik, user, ver, devices, ts, { prev = null, retired = [] } = {}) {
  checkId(user, 'user');
  checkInt(ver, 'ver');
  checkInt(ts, 'ts');
  const prevHash = checkPrev(ver, prev);
  checkDevices(devices);
  checkRetired(retired, devices);
  const body = {
    t: DEVICES_T,
    user,
    ver,
    prev: b64e(prevHash),
    ik: b64e(ik.public),
    ts,
    devices: devices.map((d) => ({ id: d.id, sign: b64e(d.sign), dh: b64e(d.dh) })),
  };
  if (retired.length > 0) body.retired = retired.map((d) => ({ id: d.id, sign: b64e(d.sign) }));
  return makeSigned(ik.secret, DEVICES_LABEL, body);
}

/**
 * Whether a list that fails under the pinned key is validly self-signed by the identity key it
 * names: that is a changed identity, not a forgery, and the client must say so.
 */
function claimsOtherIdentity(s, sig, pinnedIk) {
  try {
    const other = b64d(loadsObject(s).ik, 32);
    if (memcmp(other, pinnedIk)) return false;
    verifyDetached(other, DEVICES_LABEL, lp(s), sig);
  } catch (err) {
    if (err instanceof CryptoError) return false;
    throw err;
  }
  return true;
}

/**
 * Accept a served device list, or throw.
 *
 * `previous` is the list last accepted for `user`; the log rules apply only while the identity
 * key is the same (a re-accepted new identity starts its own log at version 1). Against it, a
 * lower version is a `rollback`, the same version with other bytes or a successor that does not
 * link to it is `devices_forked`, a successor that breaks the succession rules is
 * `devices_invalid`, and a version further ahead is `devices_withheld`: the lists between must be
 * verified first (`verifyDeviceLog`).
 */
export function verifyDeviceList(wire, user, pinnedIk, { previous = null } = {}) {
  checkId(user, 'user');
  checkBytes(pinnedIk, 32, 'pinned identity key');
  const [s, sig] = splitSigned(wire);
  try {
    verifyDetached(pinnedIk, DEVICES_LABEL, lp(s), sig);
  } catch (err) {
    if (err.code === 'bad_signature' && claimsOtherIdentity(s, sig, pinnedIk)) {
      throw new CryptoError('identity_changed', 'device list signed by another identity key', {
        cause: err,
      });
    }
    throw err;
  }
  const obj = loadsObject(s);
  const base = ['t', 'user', 'ver', 'prev', 'ik', 'ts', 'devices'];
  checkFields(obj, Object.hasOwn(obj, 'retired') ? [...base, 'retired'] : base, 'device list');
  if (obj.t !== DEVICES_T) throw bad('not a device list');
  if (obj.user !== user) throw bad('device list of another user');
  if (!memcmp(b64d(obj.ik, 32), pinnedIk)) {
    throw new CryptoError('identity_changed', 'device list names another identity key');
  }
  const ver = reqInt(obj, 'ver');
  const ts = reqInt(obj, 'ts');
  if (typeof obj.prev !== 'string') throw bad('prev must be a string');
  const prev = checkPrev(ver, obj.prev !== '' || ver > 1 ? b64d(obj.prev, 32) : null);
  const raw = obj.devices;
  if (!Array.isArray(raw)) throw bad('devices must be a list');
  const entries = [];
  for (const d of raw) {
    if (!isDict(d)) throw bad('device entry must be an object');
    checkFields(d, ['id', 'sign', 'dh'], 'device entry');
    entries.push(new DeviceEntry(checkId(d.id, 'device id'), b64d(d.sign, 32), b64d(d.dh, 32)));
  }
  checkDevices(entries);
  const retired = [];
  if (Object.hasOwn(obj, 'retired')) {
    const rawRetired = obj.retired;
    if (!Array.isArray(rawRetired) || rawRetired.length === 0) {
      throw bad('retired must be a non-empty list when present');
    }
    for (const d of rawRetired) {
      if (!isDict(d)) throw bad('retired entry must be an object');
      checkFields(d, ['id', 'sign'], 'retired entry');
      retired.push(new RetiredDevice(checkId(d.id, 'retired device id'), b64d(d.sign, 32)));
    }
    checkRetired(retired, entries);
  }
  const dl = new DeviceList({
    user,
    ver,
    ik: pinnedIk,
    ts,
    devices: entries,
    wire,
    retired,
    prev,
    hash: listHash(wire),
  });
  if (previous !== null && previous !== undefined) {
    if (previous.user !== user) throw bad("previous device list is another user's");
    if (memcmp(previous.ik, pinnedIk)) {
      if (ver < previous.ver) {
        throw new CryptoError('rollback', `version ${ver} < accepted ${previous.ver}`);
      }
      if (ver === previous.ver) {
        if (!memcmp(dl.hash, previous.hash)) {
          throw new CryptoError('devices_forked', `two different lists at version ${ver}`);
        }
        return previous;
      }
      if (ver > previous.ver + 1) {
        throw new CryptoError(
          'devices_withheld',
          `versions ${previous.ver + 1}..${ver - 1} not verified`,
        );
      }
      checkSuccessor(previous, dl);
    }
  }
  return dl;
}

/**
 * The succession rules: `after` links to `before` by hash, keeps every retired device retired
 * (same signing key), and every device live in `before` is, in `after`, either live with the
 * same keys or newly retired with the same signing key. So a retired id can never come back, a
 * device's keys never change under its id, and nothing leaves without a trace.
 */
export function checkSuccessor(before, after) {
  if (after.ver !== before.ver + 1 || !memcmp(after.prev, before.hash)) {
    throw new CryptoError('devices_forked', `version ${after.ver} does not follow ${before.ver}`);
  }
  const liveAfter = new Map(after.devices.map((d) => [d.id, d]));
  const retiredAfter = new Map(after.retired.map((d) => [d.id, d.sign]));
  const sameSign = (id, sign) => retiredAfter.has(id) && memcmp(retiredAfter.get(id), sign);
  for (const r of before.retired) {
    if (!sameSign(r.id, r.sign)) {
      throw new CryptoError('devices_invalid', `retired device '${r.id}' dropped or changed`);
    }
  }
  const beforeLive = new Set(before.devices.map((d) => d.id));
  for (const d of before.devices) {
    const kept = liveAfter.get(d.id);
    if (kept !== undefined && !kept.equals(d)) {
      throw new CryptoError('devices_invalid', `device '${d.id}' changed its keys`);
    }
    if (kept === undefined && !sameSign(d.id, d.sign)) {
      throw new CryptoError('devices_invalid', `device '${d.id}' left without being retired`);
    }
  }
  const oldRetired = new Set(before.retired.map((r) => r.id));
  for (const rid of retiredAfter.keys()) {
    if (!oldRetired.has(rid) && !beforeLive.has(rid)) {
      throw new CryptoError('devices_invalid', `retired device '${rid}' was never live`);
    }
  }
}

/**
 * Verify consecutive lists, each the successor of the one before (the first of `previous`, when
 * given). Returns them in order; the last is the new head.
 */
export function verifyDeviceLog(wires, user, pinnedIk, { previous = null } = {}) {
  const out = [];
  let last = previous;
  for (const wire of wires) {
    const dl = verifyDeviceList(wire, user, pinnedIk, { previous: last });
    if (last !== null && last !== undefined && dl.ver !== last.ver + 1) {
      throw new CryptoError('devices_forked', `the log repeats version ${dl.ver}`);
    }
    out.push(dl);
    last = dl;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// §2.2 Signed pre-key
// ---------------------------------------------------------------------------------------------

export class PreKey {
  constructor({ user, device, id, pub, ts, wire }) {
    Object.assign(this, { user, device, id, pub, ts, wire });
    Object.freeze(this);
  }
}

export function makePrekey(dsk, user, device, keyId, pub, ts) {
  const body = {
    t: PREKEY_T,
    user: checkId(user, 'user'),
    device: checkId(device, 'device'),
    id: checkInt(keyId, 'pre-key id', U32_MAX),
    pub: b64e(checkBytes(pub, 32, 'pre-key')),
    ts: checkInt(ts, 'ts'),
  };
  return makeSigned(dsk.secret, PREKEY_LABEL, body);
}

/** `signPub` is the device's `sign` key from its user's verified device list. */
export function verifyPrekey(wire, user, device, signPub) {
  checkId(user, 'user');
  checkId(device, 'device');
  checkBytes(signPub, 32, 'device signing key');
  const [s, sig] = splitSigned(wire);
  verifyDetached(signPub, PREKEY_LABEL, lp(s), sig);
  const obj = loadsObject(s);
  checkFields(obj, ['t', 'user', 'device', 'id', 'pub', 'ts'], 'pre-key');
  if (obj.t !== PREKEY_T) throw bad('not a pre-key');
  if (obj.user !== user || obj.device !== device) throw bad('pre-key of another device');
  const id = checkInt(obj.id, 'pre-key id', U32_MAX);
  return new PreKey({ user, device, id, pub: b64d(obj.pub, 32), ts: reqInt(obj, 'ts'), wire });
}

// ---------------------------------------------------------------------------------------------
// §2.3 Fingerprints, safety numbers, QR payload
// ---------------------------------------------------------------------------------------------

export function fingerprint(user, ikPub) {
  return h(
    32,
    lp(FINGERPRINT_LABEL, checkId(user, 'user'), checkBytes(ikPub, 32, 'identity key')),
  );
}

function digits(fp) {
  let out = '';
  for (let i = 0; i < 30; i += 5) {
    let n = 0n;
    for (let k = i; k < i + 5; k++) n = (n << 8n) | BigInt(fp[k]);
    out += String(n % 100000n).padStart(5, '0');
  }
  return out;
}

export function fingerprintDigits(user, ikPub) {
  return digits(fingerprint(user, ikPub));
}

/** Byte order, like Python's bytes comparison (shorter prefix first). */
function compareBytes(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/**
 * Ties on user_id (never expected) fall back to the fingerprint bytes, so the result stays
 * symmetric whatever the arguments. Ids are checked ASCII, so their bytes are their characters.
 */
function ordered(userA, ikA, userB, ikB) {
  const fpA = fingerprint(userA, ikA);
  const fpB = fingerprint(userB, ikB);
  const enc = new TextEncoder();
  const a = [enc.encode(userA), fpA];
  const b = [enc.encode(userB), fpB];
  const c = compareBytes(a[0], b[0]) || compareBytes(a[1], b[1]);
  return c <= 0 ? [a, b] : [b, a];
}

/** 60 digits (display them in 12 groups of 5); the same on both sides. */
export function safetyNumber(userA, ikA, userB, ikB) {
  const [first, second] = ordered(userA, ikA, userB, ikB);
  return digits(first[1]) + digits(second[1]);
}

export function qrBytes(userA, ikA, userB, ikB) {
  const [first, second] = ordered(userA, ikA, userB, ikB);
  return concat(Uint8Array.of(QR_VERSION), lp(first[0], first[1], second[0], second[1]));
}

export function qrPayload(userA, ikA, userB, ikB) {
  return b64e(qrBytes(userA, ikA, userB, ikB));
}

function parseQr(payload) {
  const raw = b64d(payload);
  if (raw.length === 0 || raw[0] !== QR_VERSION) throw bad('not a Relais v1 QR payload');
  let pos = 1;
  let n = 0;
  while (pos < raw.length) {
    if (pos + 2 > raw.length) throw bad('truncated QR payload');
    const size = (raw[pos] << 8) | raw[pos + 1];
    pos += 2 + size;
    n += 1;
  }
  if (pos !== raw.length || n !== 4) throw bad('malformed QR payload');
}

/**
 * True when the scanned code names exactly this pair of identities. A code that is not a Relais
 * payload at all throws `bad_encoding`, so the application can tell "not our code" from "codes
 * differ".
 */
export function verifyQr(payload, me, myIk, other, otherIk) {
  parseQr(payload);
  return payload === qrPayload(me, myIk, other, otherIk);
}
