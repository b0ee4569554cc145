/**
 * What end-to-end encryption costs in the browser: the JavaScript twin of the protocol
 * (src/crypto, the modules the app bundles) timed operation by operation.
 *
 * Driven by bench/web_crypto.py, which bundles this file with esbuild as the app build does,
 * loads it in headless Chromium and times the same operations on the same inputs through the
 * Python package crypto/ (PyNaCl) for comparison. The inputs that can be shared (device lists,
 * signed pre-keys, a 500-message room history, a key backup) come from the Python side as a
 * fixture; both sides check what they decrypt, so a broken setup stops the bench instead of
 * timing an error path.
 *
 * Each operation is timed as bench/web_crypto.py times its Python twin: one run to estimate its
 * cost, a number of operations per repeat chosen to fill the target time, one untimed batch to
 * warm the JIT, then repeats (asked for one at a time, in turns with the other operations) whose
 * inputs are prepared outside the timed loop; each gives µs per operation.
 */

import {
  attachments,
  backup,
  encoding,
  group,
  identity,
  keys,
  pairwise,
  sodium,
} from '../src/crypto/index.js';

const { b64d } = encoding;
const TS = 1_800_000_000_000;
const ME = 3;
const MH = Uint8Array.from({ length: 32 }, (_, i) => i);
const ROOM = 'r_bench';
const MIB = 1024 * 1024;

/** The bench's message contents: JSON texts of exactly `size` bytes ({"body":..,"type":"text"}). */
export function content(size) {
  return { type: 'text', body: 'Relais bench text, '.repeat(Math.ceil(size / 19)).slice(0, size - 25) };
}

// -- timing ----------------------------------------------------------------------------------

const now = () => performance.now();

/**
 * `prepare(count)` returns `count` operations (zero-argument functions, possibly async) with
 * their inputs ready; only calling them is timed. Calibration runs one operation to estimate its
 * cost, picks how many make a repeat of about `targetMs`, and runs one untimed batch of that
 * many (the JIT's warm-up) unless a single operation already takes longer.
 */
async function calibrateOp(prepare, targetMs, maxNumber = 100_000) {
  const one = await prepare(1);
  const t0 = now();
  await runAll(one);
  const estimate = Math.max(now() - t0, 0.001);
  const number = Math.max(1, Math.min(maxNumber, Math.round(targetMs / estimate)));
  if (estimate < targetMs) await runAll(await prepare(number));
  return number;
}

/** One timed repeat: µs per operation. */
async function repeatOp(prepare, number) {
  const ops = await prepare(number);
  const t0 = now();
  await runAll(ops);
  return ((now() - t0) / number) * 1000;
}

async function runAll(ops) {
  for (const op of ops) {
    const out = op();
    if (out instanceof Promise) await out;
  }
}

function times(count, fn) {
  return Array.from({ length: count }, fn);
}

function check(ok, what) {
  if (!ok) throw new Error(`bench setup is wrong: ${what}`);
}

const sameJson = (a, b) => encoding.dumps(a) === encoding.dumps(b);

// -- the fixture's keys ----------------------------------------------------------------------

/** A device of the fixture: its own private keys (a device only ever holds its own). */
function device(d) {
  const dsk = keys.SigningKey.fromSeed(b64d(d.dsk_seed, 32));
  const dx = keys.DhKey.fromPrivate(b64d(d.dx, 32));
  const prekey = keys.DhKey.fromPrivate(b64d(d.prekey, 32));
  return { user: d.user, id: d.device, dsk, dx, prekey, prekeyId: d.prekey_id, d };
}

/** The sender's path to a new device: its user's device list, its signed pre-key. */
function recipientKeys(bob) {
  const list = identity.verifyDeviceList(bob.d.list, bob.user, b64d(bob.d.ik, 32));
  const entry = list.get(bob.id);
  const pk = identity.verifyPrekey(bob.d.prekey_wire, bob.user, bob.id, entry.sign);
  return new pairwise.RecipientKeys(bob.user, bob.id, entry.dh, pk.id, pk.pub);
}

function sendPairwise(alice, to, body) {
  return pairwise.encrypt({
    senderUser: alice.user,
    senderDevice: alice.id,
    senderKey: alice.dsk,
    recipient: to,
    type: 'room_key',
    body,
    ts: TS,
  });
}

function openPairwise(bob, payload, signPub, seen) {
  return pairwise
    .openPayload(payload, {
      myUser: bob.user,
      myDevice: bob.id,
      myDh: bob.dx,
      prekeys: new Map([[bob.prekeyId, bob.prekey]]),
    })
    .verify(signPub, seen);
}

/** The receiver's path for one message (docs/crypto.md §4.2 order). */
function read(sess, env, signPub, id) {
  const hdr = group.parseEnvelope(env);
  group.verifyEnvelope(hdr, ROOM, signPub);
  return sess.decrypt(hdr, ROOM, id);
}

/**
 * A room history as a device that just opened the room reads it: open and verify the pairwise
 * `room_key` of each session, then parse, verify and decrypt every message in server order.
 * `me` (the reading device's own keys) is loaded beforehand, as the app holds it.
 */
export function decryptHistory(fx, me = device(fx.history.receiver)) {
  const h = fx.history;
  const senders = h.senders.map((s) => ({ ...s, signPub: b64d(s.sign, 32) }));
  const seen = new Set();
  const sessions = new Map();
  for (const share of h.shares) {
    const sender = senders[share.sender];
    const opened = openPairwise(me, share.payload, sender.signPub, seen);
    const sess = group.InboundSession.fromShare(opened.body);
    sessions.set(`${sess.sd}|${sess.sid}`, sess);
  }
  let last = null;
  for (const m of h.messages) {
    const sess = sessions.get(`${m.env.sd}|${m.env.sid}`);
    last = read(sess, m.env, senders[m.sender].signPub, m.id);
  }
  return last;
}

// -- the operations --------------------------------------------------------------------------

/**
 * Every operation by name: `(fx) => prepare(count)`. Names, inputs and order match
 * bench/web_crypto.py's Python twin.
 */
function operations(fx) {
  const alice = device(fx.pairwise.alice);
  const bob = device(fx.pairwise.bob);
  const aliceIk = b64d(alice.d.ik, 32);
  const bobIk = b64d(bob.d.ik, 32);
  const bobKeys = recipientKeys(bob);
  const shareBody = group.OutboundSession.new(ROOM, { createdMs: TS, me: ME }).shareBody(alice.user, alice.id);

  const groupOps = (size) => {
    const c = content(size);
    check(encoding.utf8(encoding.dumps(c)).length === size, `content of ${size} bytes`);
    /** A fresh session per batch, held by bob from a real pairwise share. */
    const pair = () => {
      const out = group.OutboundSession.new(ROOM, { createdMs: TS, me: ME });
      const opened = openPairwise(bob, sendPairwise(alice, bobKeys, out.shareBody(alice.user, alice.id)), alice.dsk.public, new Set());
      return [out, group.InboundSession.fromShare(opened.body)];
    };
    const enc = (out) => out.encrypt(c, { su: alice.user, sd: alice.id, dsk: alice.dsk, me: ME, mh: MH });
    return {
      encrypt: (count) => {
        const [out] = pair();
        return times(count, () => () => enc(out));
      },
      decrypt: (count) => {
        const [out, inb] = pair();
        const envs = times(count, () => enc(out));
        const last = count - 1;
        return envs.map((env, k) => () => {
          const got = read(inb, env, alice.dsk.public, `m_${k}`);
          if (k === last) check(sameJson(got, c), 'decrypted content differs');
        });
      },
    };
  };
  const g200 = groupOps(200);
  const g4000 = groupOps(4000);

  const attachmentData = sodium.randomBytes(fx.attachment_mib * MIB);
  const [blob, fileKey] = attachments.encryptFile(attachmentData);
  check(sodium.memcmp(attachments.decryptFile(blob, fileKey), attachmentData), 'attachment round trip');

  const msg300 = sodium.randomBytes(300);
  const sig300 = sodium.signDetached(msg300, alice.dsk.secret);
  const xPriv = sodium.randomBytes(32);
  const xPub = bob.dx.public;
  const ck = sodium.randomBytes(32);
  const aeadKey = sodium.randomBytes(32);
  const nonce = sodium.randomBytes(24);
  const ad = sodium.randomBytes(100);
  const plain256 = sodium.randomBytes(256);
  const oneMib = sodium.randomBytes(MIB);

  return {
    group_encrypt_200: g200.encrypt,
    group_decrypt_200: g200.decrypt,
    group_encrypt_4000: g4000.encrypt,
    group_decrypt_4000: g4000.decrypt,
    device_list_verify: (count) =>
      times(count, () => () => identity.verifyDeviceList(bob.d.list, bob.user, bobIk)),
    prekey_verify: (count) => {
      const sign = identity.verifyDeviceList(bob.d.list, bob.user, bobIk).get(bob.id).sign;
      return times(count, () => () => identity.verifyPrekey(bob.d.prekey_wire, bob.user, bob.id, sign));
    },
    pairwise_setup_send: (count) => times(count, () => () => sendPairwise(alice, recipientKeys(bob), shareBody)),
    pairwise_encrypt: (count) => times(count, () => () => sendPairwise(alice, bobKeys, shareBody)),
    pairwise_open: (count) => {
      const seen = new Set();
      return times(count, () => sendPairwise(alice, bobKeys, shareBody)).map(
        (p) => () => openPairwise(bob, p, alice.dsk.public, seen),
      );
    },
    pairwise_setup_receive: (count) => {
      const seen = new Set();
      return times(count, () => sendPairwise(alice, bobKeys, shareBody)).map((p) => () => {
        const list = identity.verifyDeviceList(alice.d.list, alice.user, aliceIk);
        return openPairwise(bob, p, list.get(alice.id).sign, seen);
      });
    },
    attachment_encrypt: (count) => times(count, () => () => attachments.encryptFile(attachmentData)),
    attachment_decrypt: (count) => times(count, () => () => attachments.decryptFile(blob, fileKey)),
    backup_unlock_default: (count) =>
      times(count, () => async () => {
        const [bk] = await backup.unlockBackup(fx.backup.info, fx.backup.user, fx.backup.passphrase);
        check(encoding.b64e(bk) === fx.backup.bk, 'backup unlocks to another key');
      }),
    history_500: (count) => {
      const me = device(fx.history.receiver);
      return times(count, () => () => check(sameJson(decryptHistory(fx, me), fx.history.content), 'history'));
    },
    ed25519_sign: (count) => times(count, () => () => sodium.signDetached(msg300, alice.dsk.secret)),
    ed25519_verify: (count) =>
      times(count, () => () => check(sodium.verifyDetached(sig300, msg300, alice.dsk.public), 'verify')),
    x25519: (count) => times(count, () => () => sodium.scalarmult(xPriv, xPub)),
    x25519_public: (count) => times(count, () => () => sodium.scalarmultBase(xPriv)),
    ratchet_blake2b: (count) =>
      times(count, () => () => {
        group.messageKeys(ck);
        group.nextCk(ck);
      }),
    aead_encrypt_256: (count) => times(count, () => () => sodium.aeadEncrypt(plain256, ad, nonce, aeadKey)),
    blake2b_mib: (count) => times(count, () => () => encoding.h(32, oneMib)),
    // References, not used by the app: the browser's native curves (async, where it has them).
    webcrypto_ed25519_verify: async (count) => {
      const key = await crypto.subtle.importKey('raw', alice.dsk.public, { name: 'Ed25519' }, false, ['verify']);
      return times(count, () => async () => {
        check(await crypto.subtle.verify({ name: 'Ed25519' }, key, sig300, msg300), 'WebCrypto verify');
      });
    },
    webcrypto_x25519: async (count) => {
      const mine = await crypto.subtle.generateKey({ name: 'X25519' }, false, ['deriveBits']);
      const theirs = await crypto.subtle.importKey('raw', xPub, { name: 'X25519' }, false, []);
      return times(count, () => () => crypto.subtle.deriveBits({ name: 'X25519', public: theirs }, mine.privateKey, 256));
    },
  };
}

// -- the page's interface ---------------------------------------------------------------------

let built = null;
let builtFor = null;
const numbers = new Map();

function prepareOf(name, fx) {
  if (builtFor !== fx) {
    built = operations(fx);
    builtFor = fx;
    numbers.clear();
  }
  const prepare = built[name];
  if (prepare === undefined) throw new Error(`unknown operation ${name}`);
  return prepare;
}

/**
 * Calibrate one operation by name: {number} (operations per repeat), or {unsupported} for a
 * WebCrypto reference this browser does not have. The driver calibrates every operation, then
 * calls `repeat` for each in turns, so a burst of load from elsewhere hits them all alike.
 */
export async function calibrate(name, fx, targetMs) {
  const prepare = prepareOf(name, fx);
  if (name.startsWith('webcrypto_')) {
    try {
      await prepare(1);
    } catch (err) {
      return { unsupported: `${err.name}: ${err.message}` };
    }
  }
  const number = await calibrateOp(prepare, targetMs);
  numbers.set(name, number);
  return { number };
}

/** One timed repeat of a calibrated operation, in µs per operation. */
export async function repeat(name, fx) {
  return repeatOp(prepareOf(name, fx), numbers.get(name));
}

/** The first history read of a fresh page (cold JIT), in ms: run before anything else. */
export function historyCold(fx) {
  const me = device(fx.history.receiver);
  const t0 = now();
  const last = decryptHistory(fx, me);
  const ms = now() - t0;
  check(sameJson(last, fx.history.content), 'history');
  return ms;
}

export function environment() {
  return {
    user_agent: globalThis.navigator?.userAgent ?? '',
    cross_origin_isolated: globalThis.crossOriginIsolated === true,
    hardware_concurrency: globalThis.navigator?.hardwareConcurrency ?? null,
  };
}
