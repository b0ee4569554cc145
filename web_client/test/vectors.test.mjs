// The protocol vectors of tests/vectors/*.json (docs/crypto.md §8), recomputed by the JavaScript
// twin byte for byte, the way tests/unit/test_crypto_*.py recompute them with the Python code.
//
// Every case of every file runs; an op this file does not know FAILS (a new vector op can never
// be skipped silently), and the last test checks that the number of cases run equals the number
// in the files. The files are read with the twin's own strict JSON reader (docs/crypto.md §0.1:
// integers within +-2^53 only), so a value no JSON implementation reads the same everywhere can
// never reach a vector input silently.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import * as attachments from '../src/crypto/attachments.js';
import * as backup from '../src/crypto/backup.js';
import { b64d, b64e, concat, dumps, h, loadsObject, loadsValue, lp, u32 } from '../src/crypto/encoding.js';
import { CryptoError } from '../src/crypto/errors.js';
import * as group from '../src/crypto/group.js';
import * as identity from '../src/crypto/identity.js';
import { DhKey, SigningKey } from '../src/crypto/keys.js';
import * as membership from '../src/crypto/membership.js';
import * as pairwise from '../src/crypto/pairwise.js';
import * as sodium from '../src/crypto/sodium.js';

const VECTORS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'tests', 'vectors');
const TS = 1_700_000_000_000; // membership.json: event n has ts TS + n (its "ts" input says so)

async function code(fn) {
  try {
    await fn();
  } catch (err) {
    if (err instanceof CryptoError) return err.code;
    throw err;
  }
  return assert.fail('expected a CryptoError');
}

const pattern = (n, a, b) => Uint8Array.from({ length: n }, (_, k) => (a * k + b) & 0xff);
const key = (text) => b64d(text, 32);
const optional = (obj, k) => (Object.hasOwn(obj, k) ? obj[k] : undefined);

/** The case's error code if it names one, else run `check` for its output. */
async function expect(c, run, check) {
  if (Object.hasOwn(c, 'error')) {
    assert.equal(await code(run), c.error);
    return;
  }
  await check(await run());
}

// -- attachments.json ------------------------------------------------------------------------

async function fileDecrypt(c) {
  const i = c.input;
  const blob = b64d(i.blob);
  const fk = new attachments.FileKey(key(i.key), key(i.hash), i.size);
  await expect(
    c,
    () => attachments.decryptFile(blob, fk),
    (plain) => {
      assert.deepEqual(plain, pattern(fk.size, 31, 7));
      assert.equal(b64e(h(32, plain)), c.output.plaintext_hash);
      assert.equal(blob.length, attachments.blobSize(fk.size));
      // The blob libsodium made, remade by the composed secretstream from its header.
      const header = blob.subarray(0, attachments.HEADER_BYTES);
      const [again, fk2] = attachments.encryptFile(plain, { key: fk.key, header });
      assert.deepEqual(again, blob);
      assert.deepEqual(fk2.hash, fk.hash);
    },
  );
}

// -- backup.json -----------------------------------------------------------------------------

async function makeBackupInfo(c) {
  const { input: i, output: o } = c;
  assert.equal(b64e(backup.passphraseBytes(i.passphrase)), o.passphrase_bytes);
  const salt = b64d(i.salt, 16);
  const nonce = b64d(i.nonce, 24);
  const wk = await backup.wrappingKey(i.passphrase, salt, i.ops, i.mem);
  assert.equal(b64e(wk), o.wk);
  const ad = lp('relais/v1/backup-key', i.user);
  assert.equal(b64e(ad), o.ad);
  const bk = key(i.bk);
  const seed = key(i.ik_seed);
  assert.equal(b64e(sodium.aeadEncrypt(concat(bk, seed), ad, nonce, wk)), o.ct);
  assert.deepEqual(loadsObject(o.info), {
    v: 1,
    alg: 'relais.backup.v1',
    user: i.user,
    salt: i.salt,
    ops: i.ops,
    mem: i.mem,
    n: i.nonce,
    ct: o.ct,
  });
  const opts = { ops: i.ops, mem: i.mem, salt, nonce };
  assert.equal(await backup.makeBackupInfo(i.user, i.passphrase, bk, seed, opts), o.info);
}

async function unlockBackup(c) {
  const i = c.input;
  await expect(
    c,
    () => backup.unlockBackup(i.info, i.user, i.passphrase),
    ([bk, seed]) => assert.deepEqual({ bk: b64e(bk), ik_seed: b64e(seed) }, c.output),
  );
}

function sealEntry(c) {
  const { input: i, output: o } = c;
  const bk = key(i.bk);
  const idInput = lp('relais/v1/backup-id', i.room, i.sd, b64d(i.sid, 16));
  assert.equal(b64e(idInput), o.id_input);
  const eid = b64e(h(16, idInput, bk));
  assert.equal(eid, o.id);
  assert.equal(backup.entryId(bk, i.room, i.sd, i.sid), o.id);
  const ek = h(32, lp('relais/v1/backup-entry-key'), bk);
  assert.equal(b64e(ek), o.ek);
  const ad = lp('relais/v1/backup-entry', i.user, eid);
  assert.equal(b64e(ad), o.ad);
  const plain = b64d(o.plaintext);
  assert.deepEqual(loadsObject(plain), i.export);
  const nonce = b64d(i.nonce, 24);
  assert.equal(b64e(concat(nonce, sodium.aeadEncrypt(plain, ad, nonce, ek))), o.data);
  assert.equal(backup.sealEntry(bk, i.user, eid, i.export, { nonce }), o.data);
  assert.deepEqual(backup.openEntry(bk, i.user, eid, o.data), i.export);
}

async function openEntry(c) {
  const i = c.input;
  await expect(
    c,
    () => backup.openEntry(key(i.bk), i.user, i.id, i.data),
    (exported) => assert.deepEqual(exported, c.output.export),
  );
}

function sealHead(c) {
  const { input: i, output: o } = c;
  const bk = key(i.bk);
  const hid = b64e(h(16, lp('relais/v1/backup-devices-head'), bk));
  assert.equal(hid, o.id);
  assert.equal(backup.headEntryId(bk), o.id);
  const ad = lp('relais/v1/backup-entry', i.user, hid);
  assert.equal(b64e(ad), o.ad);
  const plain = b64d(o.plaintext);
  assert.deepEqual(loadsObject(plain), {
    t: 'relais.devices-head.v1',
    user: i.user,
    ver: i.ver,
    h: i.hash,
  });
  const nonce = b64d(i.nonce, 24);
  const ek = h(32, lp('relais/v1/backup-entry-key'), bk);
  assert.equal(b64e(concat(nonce, sodium.aeadEncrypt(plain, ad, nonce, ek))), o.data);
  assert.equal(backup.sealHead(bk, i.user, i.ver, b64d(i.hash, 32), { nonce }), o.data);
}

async function openHead(c) {
  const i = c.input;
  await expect(
    c,
    () => backup.openHead(key(i.bk), i.user, i.data),
    ([ver, got]) => assert.deepEqual({ ver, hash: b64e(got) }, c.output),
  );
}

// -- group.json ------------------------------------------------------------------------------

function groupRatchet(c) {
  let ck = key(c.input.ck0);
  assert.equal(c.output.ck.length, c.output.m.length);
  c.output.ck.forEach((wantCk, n) => {
    assert.equal(b64e(ck), wantCk);
    const [mk, nonce] = group.messageKeys(ck);
    assert.equal(b64e(concat(mk, nonce)), c.output.m[n]);
    // Independently of messageKeys/nextCk: keyed BLAKE2b straight from the primitive.
    assert.deepEqual(sodium.generichash(56, lp('relais/v1/msg'), { key: ck }), concat(mk, nonce));
    const next = group.nextCk(ck);
    assert.deepEqual(next, sodium.generichash(32, lp('relais/v1/chain'), { key: ck }));
    ck = next;
  });
}

async function groupPad(c) {
  const raw = pattern(c.input.len, 7, 1);
  await expect(c, () => group.pad(raw), (padded) => {
    assert.equal(padded.length, c.output.padded_len);
    if (Object.hasOwn(c.output, 'padded')) assert.equal(b64e(padded), c.output.padded);
    assert.deepEqual(group.unpad(padded), raw);
  });
}

async function groupUnpad(c) {
  assert.equal(await code(() => group.unpad(b64d(c.input.padded))), c.error);
}

function groupShare(c) {
  const i = c.input;
  const out = group.OutboundSession.new(i.room, {
    createdMs: 0,
    me: i.me,
    sid: b64d(i.sid, 16),
    ck: key(i.ck),
  });
  const body = c.output.body;
  assert.deepEqual(out.shareBody(i.su, body.sd), body);
}

function groupEncrypt(c) {
  const { input: i, output: o } = c;
  const content = loadsObject(i.content_json);
  assert.equal(dumps(content), i.content_json);
  const sid = b64d(i.sid, 16);
  const mh = b64d(i.mh, 32);
  const out = new group.OutboundSession({
    room: i.room,
    sid,
    ck: key(i.ck),
    index: i.i,
    createdMs: 0,
    me: i.me,
  });
  const [mk, nonce] = group.messageKeys(out.ck);
  assert.deepEqual([b64e(mk), b64e(nonce)], [o.mk, o.nonce]);
  const ad = group.groupAd(i.room, sid, i.i, i.su, i.sd, i.me, mh);
  assert.equal(b64e(ad), o.ad);
  // The AD written out field by field from the spec text.
  assert.deepEqual(ad, lp('relais/v1/group', i.room, sid, u32(i.i), i.su, i.sd, u32(i.me), mh));
  const dsk = SigningKey.fromSeed(key(i.sign_seed));
  const env = out.encrypt(content, { su: i.su, sd: i.sd, dsk, me: i.me, mh });
  assert.deepEqual(env, o.envelope);
  assert.deepEqual([env.ct, env.sig], [o.ct, o.sig]);
  assert.equal(b64d(env.ct).length - 16, o.padded_len);
  assert.equal(b64e(out.ck), o.next_ck);
  assert.equal(out.index, i.i + 1);
}

function runGroupDecrypt(inp) {
  const s = group.InboundSession.fromShare(inp.share);
  for (const body of inp.merges) s.merge(body);
  const contents = [];
  for (const m of inp.messages) {
    const hdr = group.parseEnvelope(m.envelope);
    group.verifyEnvelope(hdr, inp.room, key(inp.sign_pub));
    contents.push(s.decrypt(hdr, inp.room, m.message_id));
  }
  return [contents, s];
}

async function groupDecrypt(c) {
  await expect(
    c,
    () => runGroupDecrypt(c.input),
    ([contents, s]) => {
      assert.deepEqual(contents, c.output.contents);
      assert.equal(s.firstIndex, c.output.first_index);
    },
  );
}

// -- identity.json ---------------------------------------------------------------------------

function makeDeviceList(c) {
  const { input: i, output: o } = c;
  const ik = SigningKey.fromSeed(key(i.ik_seed));
  const devices = i.devices.map((d) => {
    assert.equal(SigningKey.fromSeed(b64d(d.sign_seed)).publicB64(), d.sign);
    assert.equal(b64e(sodium.scalarmultBase(b64d(d.dh_private))), d.dh);
    return new identity.DeviceEntry(d.id, b64d(d.sign), b64d(d.dh));
  });
  const retired = i.retired.map((r) => new identity.RetiredDevice(r.id, b64d(r.sign, 32)));
  const prev = i.prev === '' ? null : b64d(i.prev);
  const wire = identity.makeDeviceList(ik, i.user, i.ver, devices, i.ts, { prev, retired });
  assert.equal(wire, o.wire);
  assert.equal(ik.publicB64(), o.ik);
  assert.deepEqual(loadsObject(wire), { signed: o.signed, sig: o.sig });
  assert.deepEqual(loadsObject(o.signed), {
    t: 'relais.devices.v2',
    user: i.user,
    ver: i.ver,
    prev: i.prev,
    ik: o.ik,
    ts: i.ts,
    devices: i.devices.map((d) => ({ id: d.id, sign: d.sign, dh: d.dh })),
    ...(i.retired.length > 0 ? { retired: i.retired } : {}),
  });
  const sigInput = concat(lp('relais/v1/devices'), lp(o.signed));
  assert.equal(b64e(sigInput), o.sig_input);
  assert.equal(b64e(sodium.signDetached(sigInput, ik.secret)), o.sig);
  const hashInput = concat(lp('relais/v1/devices-hash'), lp(o.signed), lp(b64d(o.sig)));
  assert.equal(b64e(hashInput), o.hash_input);
  assert.equal(b64e(sodium.generichash(32, hashInput)), o.hash);
  assert.equal(b64e(identity.listHash(wire)), o.hash);
}

function previousList(i, pinned) {
  return i.previous === null ? null : identity.verifyDeviceList(i.previous, i.user, pinned);
}

async function verifyDeviceList(c) {
  const i = c.input;
  const pinned = key(i.pinned_ik);
  const previous = previousList(i, pinned);
  await expect(
    c,
    () => identity.verifyDeviceList(i.wire, i.user, pinned, { previous }),
    (dl) => {
      const o = c.output;
      assert.deepEqual([dl.user, dl.ver, b64e(dl.ik), dl.ts], [o.user, o.ver, o.ik, o.ts]);
      assert.deepEqual([b64e(dl.prev), b64e(dl.hash)], [o.prev, o.hash]);
      assert.deepEqual(
        dl.devices.map((d) => ({ id: d.id, sign: b64e(d.sign), dh: b64e(d.dh) })),
        o.devices,
      );
      assert.deepEqual(
        dl.retired.map((d) => ({ id: d.id, sign: b64e(d.sign) })),
        optional(o, 'retired') ?? [],
      );
      assert.equal(dl.wire, i.wire);
      for (const d of dl.devices) assert.equal(dl.get(d.id), d);
      assert.equal(dl.get('d_nope'), null);
    },
  );
}

async function verifyDeviceLog(c) {
  const i = c.input;
  const pinned = key(i.pinned_ik);
  const previous = previousList(i, pinned);
  await expect(
    c,
    () => identity.verifyDeviceLog(i.wires, i.user, pinned, { previous }),
    (chain) =>
      assert.deepEqual(
        chain.map((d) => ({ ver: d.ver, hash: b64e(d.hash) })),
        c.output.heads,
      ),
  );
}

function makePrekey(c) {
  const { input: i, output: o } = c;
  const dsk = SigningKey.fromSeed(key(i.dsk_seed));
  assert.equal(b64e(sodium.scalarmultBase(b64d(i.private))), i.pub);
  const wire = identity.makePrekey(dsk, i.user, i.device, i.id, b64d(i.pub), i.ts);
  assert.equal(wire, o.wire);
  assert.equal(dsk.publicB64(), o.sign_pub);
  assert.deepEqual(loadsObject(wire), { signed: o.signed, sig: o.sig });
  assert.deepEqual(loadsObject(o.signed), {
    t: 'relais.prekey.v1',
    user: i.user,
    device: i.device,
    id: i.id,
    pub: i.pub,
    ts: i.ts,
  });
  const sigInput = concat(lp('relais/v1/prekey'), lp(o.signed));
  assert.equal(b64e(sigInput), o.sig_input);
  assert.equal(b64e(sodium.signDetached(sigInput, dsk.secret)), o.sig);
}

async function verifyPrekey(c) {
  const i = c.input;
  await expect(
    c,
    () => identity.verifyPrekey(i.wire, i.user, i.device, key(i.sign_pub)),
    (pk) => {
      assert.deepEqual({ id: pk.id, pub: b64e(pk.pub), ts: pk.ts }, c.output);
      assert.deepEqual([pk.user, pk.device, pk.wire], [i.user, i.device, i.wire]);
    },
  );
}

function digitsOf(fp) {
  let out = '';
  for (let k = 0; k < 30; k += 5) {
    const n = fp.subarray(k, k + 5).reduce((acc, b) => acc * 256 + b, 0);
    out += String(n % 100000).padStart(5, '0');
  }
  return out;
}

function fingerprint(c) {
  const { input: i, output: o } = c;
  const ik = SigningKey.fromSeed(key(i.ik_seed));
  assert.equal(ik.publicB64(), i.ik);
  const fpInput = concat(lp('relais/v1/fingerprint'), lp(i.user), Uint8Array.of(0, 32), ik.public);
  assert.equal(b64e(fpInput), o.fp_input);
  const fp = sodium.generichash(32, fpInput);
  assert.equal(b64e(fp), o.fp);
  assert.deepEqual(identity.fingerprint(i.user, ik.public), fp);
  const groups = [0, 5, 10, 15, 20, 25].map((k) =>
    fp.subarray(k, k + 5).reduce((acc, b) => acc * 256 + b, 0),
  );
  assert.deepEqual(groups, o.groups);
  assert.equal(digitsOf(fp), o.digits);
  assert.equal(identity.fingerprintDigits(i.user, ik.public), o.digits);
  assert.match(o.digits, /^[0-9]{30}$/);
}

function safetyNumber(c) {
  const { input: i, output: o } = c;
  const a = [i.user_a, key(i.ik_a)];
  const b = [i.user_b, key(i.ik_b)];
  const [first, second] = a[0] < b[0] ? [a, b] : [b, a]; // ASCII ids: string order is byte order
  const fp1 = identity.fingerprint(...first);
  const fp2 = identity.fingerprint(...second);
  assert.equal(o.safety_number, digitsOf(fp1) + digitsOf(fp2));
  assert.equal(identity.safetyNumber(...a, ...b), o.safety_number);
  const qr = concat(Uint8Array.of(1), lp(first[0], fp1, second[0], fp2));
  assert.equal(b64e(qr), o.qr_bytes);
  assert.equal(o.qr_bytes, o.qr_payload);
  assert.equal(identity.qrPayload(...a, ...b), o.qr_payload);
}

async function verifyQr(c) {
  const i = c.input;
  await expect(
    c,
    () => identity.verifyQr(i.payload, i.me, b64d(i.my_ik), i.other, b64d(i.other_ik)),
    (valid) => assert.equal(valid, c.output.valid),
  );
}

// -- membership.json -------------------------------------------------------------------------

function summary(state) {
  const out = {};
  for (const u of [...state.members.keys()].sort()) {
    const m = state.members.get(u);
    out[u] = { role: m.role, history: m.history, added_n: m.addedN };
  }
  return out;
}

const keysOf = (table) => (u) => (Object.hasOwn(table, u) ? key(table[u]) : null);

function chainBuild(c) {
  const { input: i, output: o } = c;
  assert.equal(i.ts, '1700000000000 + n');
  const iks = new Map(Object.entries(i.identity_seeds).map(([u, s]) => [u, SigningKey.fromSeed(key(s))]));
  assert.equal(i.events.length, o.wires.length);
  let prev = new Uint8Array(0);
  i.events.forEach((ev, k) => {
    const n = k + 1;
    const made = membership.makeEvent(iks.get(ev.actor), { room: i.room, n, prev, ts: TS + n, ...ev });
    assert.equal(made, o.wires[k]);
    assert.equal(b64e(membership.eventHash(made)), o.hashes[k]);
    const outer = loadsObject(made);
    const expected = h(32, concat(lp('relais/v1/member-hash'), lp(outer.signed), lp(b64d(outer.sig, 64))));
    assert.deepEqual(membership.eventHash(made), expected);
    prev = b64d(o.hashes[k], 32);
  });
  const pins = (u) => iks.get(u)?.public ?? null;
  const state = membership.verifyChain(i.room, o.wires, pins);
  assert.deepEqual(summary(state), o.members);
  assert.deepEqual([state.headN, b64e(state.headHash)], [o.head.n, o.head.hash]);
}

async function chainVerify(c) {
  const i = c.input;
  const kh = optional(i, 'known_head') ?? null;
  const knownHead = kh === null ? null : [kh.n, b64d(kh.hash, 32)];
  await expect(
    c,
    () => membership.verifyChain(i.room, i.wires, keysOf(i.identity_keys), { knownHead }),
    (state) => {
      const o = c.output;
      assert.deepEqual(summary(state), o.members);
      assert.equal(state.policy, o.policy);
      assert.deepEqual([state.headN, b64e(state.headHash)], [o.head.n, o.head.hash]);
      if (state.headN === 0) assert.deepEqual(state.headHash, new Uint8Array(32));
    },
  );
}

async function chainCheckAppend(c) {
  const { room, last_wire: lastWire, new_wire: newWire, actor_ik: ik, ...rest } = c.input;
  const opts = { ...rest, actorIk: ik === null ? null : b64d(ik, 32) };
  await expect(
    c,
    () => membership.checkAppend(room, lastWire, newWire, opts),
    (ev) => assert.deepEqual([ev.n, b64e(ev.hash)], [c.output.n, c.output.hash]),
  );
}

// -- pairwise.json ---------------------------------------------------------------------------

function pairwiseEncrypt(c) {
  const { input: i, output: o } = c;
  const dsk = SigningKey.fromSeed(key(i.sender_sign_seed));
  const dx = DhKey.fromPrivate(key(i.recipient_dh_private));
  const spk = DhKey.fromPrivate(key(i.prekey_private));
  const eph = DhKey.fromPrivate(key(i.eph_private));
  const nonce = b64d(i.nonce, 24);
  const msgId = b64d(i.msg_id, 16);
  assert.deepEqual(
    [dsk.publicB64(), dx.publicB64(), spk.publicB64(), eph.publicB64()],
    [o.sender_sign_pub, o.recipient_dh, o.prekey, o.e],
  );
  const dh1 = sodium.scalarmult(eph.private, spk.public);
  const dh2 = sodium.scalarmult(eph.private, dx.public);
  assert.deepEqual([b64e(dh1), b64e(dh2)], [o.dh1, o.dh2]);
  // The recipient's side of the agreement gives the same secrets.
  assert.deepEqual(sodium.scalarmult(spk.private, eph.public), dh1);
  assert.deepEqual(sodium.scalarmult(dx.private, eph.public), dh2);
  const keyInput = lp('relais/v1/pairwise-key', dh1, dh2, eph.public, spk.public, dx.public);
  assert.equal(b64e(keyInput), o.key_input);
  const k = sodium.generichash(32, keyInput);
  assert.equal(b64e(k), o.key);
  const head = optional(i, 'head');
  assert.deepEqual(loadsObject(o.inner), {
    t: i.type,
    body: i.body,
    su: i.sender_user,
    sd: i.sender_device,
    ru: i.recipient_user,
    rd: i.recipient_device,
    ts: i.ts,
    id: i.msg_id,
    ...(head !== undefined ? { dl: head } : {}),
  });
  const p = new TextEncoder().encode(o.inner);
  const sigInput = concat(lp('relais/v1/pairwise-sig'), lp(p));
  assert.equal(b64e(sigInput), o.sig_input);
  const sig = sodium.signDetached(sigInput, dsk.secret);
  assert.equal(b64e(sig), o.sig);
  assert.equal(b64e(concat(sig, p)), o.plaintext);
  const ad = lp('relais/v1/pairwise', i.sender_device, i.recipient_device, u32(i.prekey_id), eph.public);
  assert.equal(b64e(ad), o.ad);
  assert.equal(b64e(sodium.aeadEncrypt(concat(sig, p), ad, nonce, k)), o.ct);
  assert.deepEqual(loadsObject(o.payload), {
    v: 1,
    alg: 'relais.pairwise.v1',
    sd: i.sender_device,
    rd: i.recipient_device,
    spk: i.prekey_id,
    e: o.e,
    n: i.nonce,
    ct: o.ct,
  });
  const payload = pairwise.encrypt({
    senderUser: i.sender_user,
    senderDevice: i.sender_device,
    senderKey: dsk,
    recipient: new pairwise.RecipientKeys(
      i.recipient_user,
      i.recipient_device,
      dx.public,
      i.prekey_id,
      spk.public,
    ),
    type: i.type,
    body: i.body,
    ts: i.ts,
    msgId,
    eph,
    nonce,
    head: head === undefined ? null : [head.v, b64d(head.h, 32)],
  });
  assert.equal(payload, o.payload);
}

async function pairwiseOpen(c) {
  const i = c.input;
  const run = () => {
    const prekeys = new Map(
      Object.entries(i.prekeys).map(([k, v]) => [Number(k), DhKey.fromPrivate(key(v))]),
    );
    const opened = pairwise.openPayload(i.payload, {
      myUser: i.my_user,
      myDevice: i.my_device,
      myDh: DhKey.fromPrivate(key(i.my_dh_private)),
      prekeys,
      serverSenderDevice: i.server_sender_device,
    });
    return opened.verify(key(i.sender_sign_pub), new Set(i.seen_ids));
  };
  await expect(c, run, (got) => {
    assert.deepEqual(
      {
        su: got.su,
        sd: got.sd,
        ru: got.ru,
        rd: got.rd,
        type: got.type,
        body: got.body,
        ts: got.ts,
        id: got.id,
        ...(got.head !== null ? { head: { v: got.head[0], h: b64e(got.head[1]) } } : {}),
      },
      c.output,
    );
  });
}

// -- the run ---------------------------------------------------------------------------------

const OPS = {
  file_decrypt: fileDecrypt,
  make_backup_info: makeBackupInfo,
  unlock_backup: unlockBackup,
  seal_entry: sealEntry,
  open_entry: openEntry,
  seal_head: sealHead,
  open_head: openHead,
  group_ratchet: groupRatchet,
  group_pad: groupPad,
  group_unpad: groupUnpad,
  group_share: groupShare,
  group_encrypt: groupEncrypt,
  group_decrypt: groupDecrypt,
  make_device_list: makeDeviceList,
  verify_device_list: verifyDeviceList,
  verify_device_log: verifyDeviceLog,
  make_prekey: makePrekey,
  verify_prekey: verifyPrekey,
  fingerprint,
  safety_number: safetyNumber,
  verify_qr: verifyQr,
  chain_build: chainBuild,
  chain_verify: chainVerify,
  chain_check_append: chainCheckAppend,
  pairwise_encrypt: pairwiseEncrypt,
  pairwise_open: pairwiseOpen,
};

const files = readdirSync(VECTORS)
  .filter((f) => f.endsWith('.json'))
  .sort();
const docs = files.map((f) => [f, loadsValue(readFileSync(join(VECTORS, f)))]);
const total = docs.reduce((n, [, doc]) => n + doc.cases.length, 0);
let ran = 0;

test('the vector files are found and parse like JSON.parse reads them', () => {
  assert.ok(files.length >= 6, `vector files in ${VECTORS}: ${files}`);
  for (const [f] of docs) {
    // The strict reader refuses floats and big integers, so it and JSON.parse must agree.
    const plain = JSON.parse(readFileSync(join(VECTORS, f), 'utf8'));
    assert.equal(dumps(loadsValue(readFileSync(join(VECTORS, f)))), dumps(plain), f);
  }
});

for (const [file, doc] of docs) {
  for (const c of doc.cases) {
    test(`${file} ${c.op}: ${c.name}`, async () => {
      const run = Object.hasOwn(OPS, c.op) ? OPS[c.op] : null;
      assert.ok(run !== null, `unknown vector op ${c.op}: teach test/vectors.test.mjs to check it`);
      assert.ok(Object.hasOwn(c, 'error') !== Object.hasOwn(c, 'output'), 'a case has output or error');
      await run(c);
      ran += 1;
    });
  }
}

test('every vector case ran and passed', () => {
  assert.ok(total > 0);
  assert.equal(ran, total, `${ran} of ${total} vector cases passed`);
});
