// The one door from the E2EE client (this folder) to the protocol objects (src/crypto/, the
// JavaScript twin of the Python `crypto` package, written on its own branch). Every other module
// here imports crypto only through this file, in the Python names and argument order
// (positional arguments as in Python, keyword-only arguments as one trailing options object,
// bytes as Uint8Array), so that a difference in the twin's spelling (camelCase or snake_case)
// is absorbed here and nowhere else.
import * as attachmentsMod from "../crypto/attachments.js";
import * as backupMod from "../crypto/backup.js";
import * as encodingMod from "../crypto/encoding.js";
import * as errorsMod from "../crypto/errors.js";
import * as groupMod from "../crypto/group.js";
import * as identityMod from "../crypto/identity.js";
import * as keysMod from "../crypto/keys.js";
import * as membershipMod from "../crypto/membership.js";
import * as pairwiseMod from "../crypto/pairwise.js";
import * as trustMod from "../crypto/trust.js";

/** The export named one way or the other (camelCase first); throws at load if neither exists. */
function pick(mod, where, ...names) {
  for (const name of names) if (mod[name] !== undefined) return mod[name];
  throw new Error(`src/crypto/${where}.js exports none of ${names.join(", ")}`);
}
/** The method of an object (or class) spelled one way or the other. */
function call(obj, names, ...args) {
  for (const name of names) if (typeof obj[name] === "function") return obj[name](...args);
  throw new Error(`no method ${names.join("/")} on ${obj?.constructor?.name || typeof obj}`);
}

// -- errors, encoding ------------------------------------------------------------------------
export const CryptoError = pick(errorsMod, "errors", "CryptoError");
export const b64e = pick(encodingMod, "encoding", "b64e");
export const b64d = pick(encodingMod, "encoding", "b64d");

export function isCryptoError(err) {
  return err instanceof CryptoError;
}

/** Constant-time is not needed here (public values only): byte arrays equal. */
export function bytesEqual(a, b) {
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function randomBytes(n) {
  return globalThis.crypto.getRandomValues(new Uint8Array(n));
}

// -- keys ------------------------------------------------------------------------------------
const SigningKeyCls = pick(keysMod, "keys", "SigningKey");
const DhKeyCls = pick(keysMod, "keys", "DhKey");
const publicKeyFn = pick(keysMod, "keys", "publicKey", "public_key");

export const signingKey = {
  generate: () => call(SigningKeyCls, ["generate"]),
  fromSeed: (seed) => call(SigningKeyCls, ["fromSeed", "from_seed"], seed),
  seed: (k) => k.seed,
  public: (k) => k.public ?? k.publicKey,
  publicB64: (k) => call(k, ["publicB64", "public_b64"]),
};
export const dhKey = {
  generate: () => call(DhKeyCls, ["generate"]),
  fromPrivate: (p) => call(DhKeyCls, ["fromPrivate", "from_private"], p),
  private: (k) => k.private ?? k.privateKey,
  public: (k) => k.public ?? k.publicKey,
  publicB64: (k) => call(k, ["publicB64", "public_b64"]),
};
export const publicKey = (text) => publicKeyFn(text);

// -- identity: device lists, pre-keys, safety numbers ------------------------------------------
export const DeviceEntry = pick(identityMod, "identity", "DeviceEntry");
export const RetiredDevice = pick(identityMod, "identity", "RetiredDevice");
const makeDeviceListFn = pick(identityMod, "identity", "makeDeviceList", "make_device_list");
const verifyDeviceListFn = pick(identityMod, "identity", "verifyDeviceList", "verify_device_list");
const verifyDeviceLogFn = pick(identityMod, "identity", "verifyDeviceLog", "verify_device_log");
const makePrekeyFn = pick(identityMod, "identity", "makePrekey", "make_prekey");
const verifyPrekeyFn = pick(identityMod, "identity", "verifyPrekey", "verify_prekey");
const safetyNumberFn = pick(identityMod, "identity", "safetyNumber", "safety_number");

export const newDeviceEntry = (id, sign, dh) => new DeviceEntry(id, sign, dh);
export const newRetiredDevice = (id, sign) => new RetiredDevice(id, sign);
/** (ik, user, ver, devices, ts, {prev, retired}) → wire */
export const makeDeviceList = (...a) => makeDeviceListFn(...a);
/** (wire, user, pinned, {previous}) → DeviceList */
export const verifyDeviceList = (...a) => verifyDeviceListFn(...a);
/** (wires, user, pinned, {previous}) → DeviceList[] */
export const verifyDeviceLog = (...a) => verifyDeviceLogFn(...a);
/** (dsk, user, device, keyId, pub, ts) → wire */
export const makePrekey = (...a) => makePrekeyFn(...a);
/** (wire, user, device, signPub) → PreKey */
export const verifyPrekey = (...a) => verifyPrekeyFn(...a);
export const safetyNumber = (...a) => safetyNumberFn(...a);
export const qrPayload = (...a) => identityMod.qrPayload(...a);
export const listGet = (dl, id) => call(dl, ["get"], id);
export const listGetRetired = (dl, id) => call(dl, ["getRetired", "get_retired"], id);

// -- trust -----------------------------------------------------------------------------------
const TrustStoreCls = pick(trustMod, "trust", "TrustStore");
export const trustStore = {
  create: () => new TrustStoreCls(),
  fromJSON: (text) => call(TrustStoreCls, ["fromJSON", "fromJson", "from_json"], text),
  toJSON: (t) => call(t, ["toJSON", "toJson", "to_json"]),
};
// TrustStore methods observe/pinned/trusted/mark_verified, in either spelling.
export const trust = {
  observe: (t, user, ik) => call(t, ["observe"], user, ik),
  pinned: (t, user) => call(t, ["pinned"], user),
  trusted: (t, user) => call(t, ["trusted"], user),
  markVerified: (t, user, ik) => call(t, ["markVerified", "mark_verified"], user, ik),
  pinState: (t, user) => call(t, ["pinState", "pin_state"], user),
};

// -- pairwise --------------------------------------------------------------------------------
const RecipientKeysCls = pick(pairwiseMod, "pairwise", "RecipientKeys");
const pairwiseEncryptFn = pick(pairwiseMod, "pairwise", "encrypt");
const openPayloadFn = pick(pairwiseMod, "pairwise", "openPayload", "open_payload");
export const newRecipientKeys = (user, device, dh, prekeyId, prekey) =>
  new RecipientKeysCls(user, device, dh, prekeyId, prekey);
/** ({sender_user, sender_device, sender_key, recipient, type, body, ts, head}) → payload text */
export function pairwiseEncrypt(o) {
  return pairwiseEncryptFn({
    ...o,
    senderUser: o.sender_user,
    senderDevice: o.sender_device,
    senderKey: o.sender_key,
  });
}
/** (payload, {my_user, my_device, my_dh, prekeys (Map id→DhKey), server_sender_device}) */
export function openPayload(payload, o) {
  return openPayloadFn(payload, {
    ...o,
    myUser: o.my_user,
    myDevice: o.my_device,
    myDh: o.my_dh,
    serverSenderDevice: o.server_sender_device,
  });
}
export const openedVerify = (opened, signPub, seen) => call(opened, ["verify"], signPub, seen);

// -- group sessions --------------------------------------------------------------------------
const OutboundCls = pick(groupMod, "group", "OutboundSession");
const InboundCls = pick(groupMod, "group", "InboundSession");
const parseEnvelopeFn = pick(groupMod, "group", "parseEnvelope", "parse_envelope");
const verifyEnvelopeFn = pick(groupMod, "group", "verifyEnvelope", "verify_envelope");
export const outbound = {
  /** (room, {created_ms, me}) */
  create: (room, o) => call(OutboundCls, ["create", "new"], room, { ...o, createdMs: o.created_ms }),
  fromJSON: (d) => call(OutboundCls, ["fromJSON", "fromJson", "from_json"], d),
  toJSON: (s) => call(s, ["toJSON", "toJson", "to_json"]),
  shareBody: (s, su, sd) => call(s, ["shareBody", "share_body"], su, sd),
  /** (sess, content, {su, sd, dsk, me, mh}) → envelope */
  encrypt: (s, content, o) => call(s, ["encrypt"], content, o),
};
export const inbound = {
  fromShare: (body) => call(InboundCls, ["fromShare", "from_share"], body),
  fromJSON: (d) => call(InboundCls, ["fromJSON", "fromJson", "from_json"], d),
  toJSON: (s) => call(s, ["toJSON", "toJson", "to_json"]),
  merge: (s, body) => call(s, ["merge"], body),
  decrypt: (s, header, room, id) => call(s, ["decrypt"], header, room, id),
  exportBody: (s) => call(s, ["exportBody", "export_body"]),
};
export const parseEnvelope = (env) => parseEnvelopeFn(env);
export const verifyEnvelope = (h, room, pub) => verifyEnvelopeFn(h, room, pub);

// -- membership chain ------------------------------------------------------------------------
const makeEventFn = pick(membershipMod, "membership", "makeEvent", "make_event");
const eventHashFn = pick(membershipMod, "membership", "eventHash", "event_hash");
const parseEventFn = pick(membershipMod, "membership", "parseEvent", "parse_event");
const verifyChainFn = pick(membershipMod, "membership", "verifyChain", "verify_chain");
/** (ik, {room, n, prev, action, actor, target, role, consent, history, ts}) → wire */
export const makeEvent = (ik, o) => makeEventFn(ik, o);
export const eventHash = (wire) => eventHashFn(wire);
export const parseEvent = (wire) => parseEventFn(wire);
/** (room, wires, identityKeyOf, {known}) → ChainState */
export const verifyChain = (room, wires, ikOf, o = {}) => verifyChainFn(room, wires, ikOf, o);
export const chainApply = (state, wire, actorIk) => call(state, ["apply"], wire, actorIk);
export const memberAt = (state, user, n) => call(state, ["memberAt", "member_at"], user, n);

// -- key backup ------------------------------------------------------------------------------
export const BACKUP_DEFAULT_OPS = pick(backupMod, "backup", "DEFAULT_OPS");
export const BACKUP_DEFAULT_MEM = pick(backupMod, "backup", "DEFAULT_MEM");
const makeBackupInfoFn = pick(backupMod, "backup", "makeBackupInfo", "make_backup_info");
const unlockBackupFn = pick(backupMod, "backup", "unlockBackup", "unlock_backup");
export const backup = {
  /** (user, passphrase, bk, seed, {ops, mem, onProgress}) → Promise<info> (argon2id) */
  makeBackupInfo: async (...a) => makeBackupInfoFn(...a),
  /** (info, user, passphrase, {onProgress}) → Promise<[bk, seed]> */
  unlockBackup: async (...a) => unlockBackupFn(...a),
  entryId: pick(backupMod, "backup", "entryId", "entry_id"),
  sealEntry: pick(backupMod, "backup", "sealEntry", "seal_entry"),
  openEntry: pick(backupMod, "backup", "openEntry", "open_entry"),
  headEntryId: pick(backupMod, "backup", "headEntryId", "head_entry_id"),
  sealHead: pick(backupMod, "backup", "sealHead", "seal_head"),
  openHead: pick(backupMod, "backup", "openHead", "open_head"),
};

// -- attachments -----------------------------------------------------------------------------
const encryptFileFn = pick(attachmentsMod, "attachments", "encryptFile", "encrypt_file");
const decryptFileFn = pick(attachmentsMod, "attachments", "decryptFile", "decrypt_file");
const FileKeyCls = pick(attachmentsMod, "attachments", "FileKey");
/** data → Promise<[blob, FileKey{key, hash, size}]> */
export const encryptFile = async (data) => encryptFileFn(data);
export const decryptFile = async (blob, fk) => decryptFileFn(blob, fk);
export const newFileKey = (key, hash, size) => new FileKeyCls(key, hash, size);
