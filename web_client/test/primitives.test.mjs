// The libsodium functions composed from noble (src/crypto/sodium.js) and the strict encodings
// (src/crypto/encoding.js), against outputs of libsodium itself (PyNaCl 1.6, recorded below) and
// the refusals crypto/encoding.py makes (tests/unit/test_crypto_encoding.py).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ed25519 } from '@noble/curves/ed25519.js';

import {
  INT_MAX,
  b64d,
  b64e,
  checkId,
  checkInt,
  dumps,
  loadsObject,
  loadsValue,
  lp,
  u32,
  verifyDetached,
} from '../src/crypto/encoding.js';
import { CryptoError } from '../src/crypto/errors.js';
import * as backup from '../src/crypto/backup.js';
import * as group from '../src/crypto/group.js';
import { DhKey, SigningKey, dh } from '../src/crypto/keys.js';
import * as sodium from '../src/crypto/sodium.js';

const hex = (s) => Uint8Array.from(Buffer.from(s, 'hex'));
const ascii = (s) => new TextEncoder().encode(s);

function code(fn) {
  try {
    fn();
  } catch (err) {
    if (err instanceof CryptoError) return err.code;
    throw err;
  }
  return assert.fail('expected a CryptoError');
}

// -- secretstream ----------------------------------------------------------------------------

// crypto_secretstream_xchacha20poly1305 from libsodium (PyNaCl), key = bytes 0..31: the header,
// then one push each of "hello" MESSAGE, "" PUSH, "rekeyed" REKEY, "x" * 100 MESSAGE, "end" FINAL.
// The REKEY tag makes the chunks after it depend on the rekey step being right.
const STREAM_KEY = Uint8Array.from({ length: 32 }, (_, i) => i);
const STREAM = [
  '849fd0b2ab091d46256b1a776d3c0a0120d4293c0c5951f3',
  '3b22cad9157ac56cc5b14ef4052a2bee6590c85ed821',
  '7424081f92f80002da793db6ea631ccdde',
  '1caac20dd0c9889fcfdfc7cfa09ed6dde1dddb1864df4dc4',
  '017d3ff9ed859e78368e16c71f94eb8517c2ad330226ff88ff26783cb0fab327d585b412b1510082860c8d026046a830a48f31da418c5fc4e5af3955fa6aa6d929ca3ce56da494a717c1d3ba376b2135254a2b5206ca9169fcc5a73ff68fdaf6851fe87978f5be21ce05c01ee6a5b1bdb6e80330d5',
  '16271a70a2706ac1f861b1f5c18c69d738fdf6f9',
].map(hex);
const MESSAGES = [
  [ascii('hello'), sodium.TAG_MESSAGE],
  [ascii(''), sodium.TAG_PUSH],
  [ascii('rekeyed'), sodium.TAG_REKEY],
  [ascii('x'.repeat(100)), sodium.TAG_MESSAGE],
  [ascii('end'), sodium.TAG_FINAL],
];

test('secretstream pull reads what libsodium pushed, tags included', () => {
  const state = sodium.secretstreamInitPull(STREAM[0], STREAM_KEY);
  MESSAGES.forEach(([m, tag], k) => {
    const got = sodium.secretstreamPull(state, STREAM[k + 1]);
    assert.deepEqual(got.m, m);
    assert.equal(got.tag, tag);
  });
});

test('secretstream push from the same header gives libsodium bytes', () => {
  const { state, header } = sodium.secretstreamInitPush(STREAM_KEY, STREAM[0]);
  assert.deepEqual(header, STREAM[0]);
  MESSAGES.forEach(([m, tag], k) => assert.deepEqual(sodium.secretstreamPush(state, m, tag), STREAM[k + 1]));
});

test('secretstream refuses a changed byte, a reordered chunk and a short chunk', () => {
  const flipped = STREAM[1].slice();
  flipped[3] ^= 1;
  assert.throws(() => sodium.secretstreamPull(sodium.secretstreamInitPull(STREAM[0], STREAM_KEY), flipped), sodium.SodiumError);
  assert.throws(() => sodium.secretstreamPull(sodium.secretstreamInitPull(STREAM[0], STREAM_KEY), STREAM[2]), sodium.SodiumError);
  assert.throws(() => sodium.secretstreamPull(sodium.secretstreamInitPull(STREAM[0], STREAM_KEY), new Uint8Array(16)), sodium.SodiumError);
});

// -- sodium_pad / sodium_unpad ---------------------------------------------------------------

test('sodium_pad matches libsodium', () => {
  assert.deepEqual(sodium.pad(new Uint8Array(0), 1), hex('80'));
  assert.deepEqual(sodium.pad(ascii('abc'), 4), hex('61626380'));
  assert.deepEqual(sodium.pad(ascii('abcd'), 4), hex('6162636480000000'));
  assert.throws(() => sodium.pad(ascii('a'), 0), sodium.SodiumError);
});

test('sodium_unpad accepts and refuses what libsodium does', () => {
  assert.deepEqual(sodium.unpad(hex('80'), 1), new Uint8Array(0));
  assert.deepEqual(sodium.unpad(hex('61628000'), 4), ascii('ab'));
  // libsodium looks at the last `blocksize` bytes only; the length need not be a multiple.
  assert.deepEqual(sodium.unpad(hex('6162800000'), 4), ascii('ab'));
  for (const [buf, bs] of [
    ['61628000000000', 4], // the marker is outside the window
    ['0000', 2], // no marker
    ['618000', 4], // shorter than the block
    ['6180000000', 3],
    ['61628001', 4], // a non-zero byte after the marker
  ]) {
    assert.throws(() => sodium.unpad(hex(buf), bs), sodium.SodiumError, buf);
  }
});

test('group padding: the four buckets, nothing above, and the one-padding rule', () => {
  assert.equal(group.pad(new Uint8Array(255)).length, 256);
  assert.equal(group.pad(new Uint8Array(256)).length, 1024);
  assert.equal(group.pad(new Uint8Array(16383)).length, 16384);
  // 16384 bytes do not fit the 16384 bucket (the 0x80 marker needs one more byte): no bucket.
  assert.equal(code(() => group.pad(new Uint8Array(16384))), 'bad_encoding');
  assert.equal(code(() => group.unpad(new Uint8Array(65536))), 'bad_encoding');
  assert.deepEqual(group.unpad(group.pad(ascii('hi'))), ascii('hi'));
  const five = new Uint8Array(1024);
  five.set(ascii('hello'));
  five[5] = 0x80;
  assert.equal(code(() => group.unpad(five)), 'bad_encoding'); // 5 bytes belong in 256
  assert.equal(code(() => group.unpad(new Uint8Array(300))), 'bad_encoding');
  assert.equal(code(() => group.unpad(new Uint8Array(256))), 'bad_encoding');
});

// -- Ed25519 ---------------------------------------------------------------------------------

test('Ed25519 signatures are libsodium bytes and verify', () => {
  const key = SigningKey.fromSeed(Uint8Array.from({ length: 32 }, (_, i) => i));
  const sig = sodium.signDetached(ascii('data'), key.secret);
  assert.ok(sodium.verifyDetached(sig, ascii('data'), key.public));
  assert.ok(!sodium.verifyDetached(sig, ascii('date'), key.public));
});

test('Ed25519: a mixed-order R that libsodium refuses is refused (noble alone accepts it)', () => {
  // Made with R = rB + T (T of order 8); libsodium's crypto_sign_open refuses it ("forged or
  // corrupt"), noble's cofactored verify (even with zip215: false) accepts it.
  const pk = hex('ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c');
  const msg = hex('6d697865642d6f726465722052');
  const sig = hex(
    '6a84d583f06569edb3f5ed77df65544b27d6948b4f0b2cb76f33dd8413b20719' +
      '3f6c4ec00abbcc8ef88c62f4633fff4e42727ca87fa3e17f200524a19a18d506',
  );
  assert.equal(ed25519.verify(sig, msg, pk, { zip215: false }), true);
  assert.equal(sodium.verifyDetached(sig, msg, pk), false);
});

test('Ed25519: non-canonical S, small-order keys and small-order R are refused', () => {
  const key = SigningKey.fromSeed(new Uint8Array(32).fill(3));
  const msg = ascii('m');
  const sig = sodium.signDetached(msg, key.secret);
  // S + L encodes the same scalar; libsodium refuses S >= L.
  const L = ed25519.Point.Fn.ORDER;
  let s = 0n;
  for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(sig[i]);
  s += L;
  const big = sig.slice();
  for (let i = 32; i < 64; i++) {
    big[i] = Number(s & 255n);
    s >>= 8n;
  }
  assert.equal(sodium.verifyDetached(big, msg, key.public), false);
  const identity = hex('0100000000000000000000000000000000000000000000000000000000000000');
  assert.equal(sodium.verifyDetached(sig, msg, identity), false);
  const smallR = sig.slice();
  smallR.set(identity, 0);
  assert.equal(sodium.verifyDetached(smallR, msg, key.public), false);
  assert.equal(code(() => verifyDetached(key.public, 'l', msg, sig.subarray(0, 63))), 'bad_signature');
  assert.equal(code(() => verifyDetached(key.public.subarray(0, 31), 'l', msg, sig)), 'bad_signature');
  assert.equal(code(() => verifyDetached(key.public, 'l', 'text', sig)), 'bad_encoding');
});

// -- X25519 ----------------------------------------------------------------------------------

test('X25519 refuses low-order points as bad_encoding, like encoding.dh in Python', () => {
  const a = DhKey.fromPrivate(new Uint8Array(32).fill(1));
  const b = DhKey.fromPrivate(new Uint8Array(32).fill(2));
  assert.deepEqual(dh(a.private, b.public), dh(b.private, a.public));
  for (const pub of [new Uint8Array(32), hex('01'.padEnd(64, '0')), b.public.subarray(0, 31)]) {
    assert.equal(code(() => dh(a.private, pub)), 'bad_encoding');
  }
  assert.equal(code(() => DhKey.fromPrivate(new Uint8Array(31))), 'bad_encoding');
  assert.equal(code(() => SigningKey.fromSeed(new Uint8Array(33))), 'bad_encoding');
});

// -- encodings -------------------------------------------------------------------------------

test('b64 is strict base64url without padding', () => {
  assert.equal(b64e(hex('fbff')), '-_8');
  assert.deepEqual(b64d('-_8'), hex('fbff'));
  for (const bad of ['-_8=', '+/8', '-_9', ' -_8', '-_8\n', 'A', 'AAAAA', null, 3]) {
    assert.equal(code(() => b64d(bad)), 'bad_encoding', String(bad));
  }
  assert.equal(code(() => b64d('-_8', 3)), 'bad_encoding');
});

test('lp, u32, ids and integers', () => {
  assert.deepEqual(lp('ab', hex('00'), 'é'), hex('00026162000100' + '0002c3a9'));
  assert.equal(code(() => lp('a'.repeat(0x10000))), 'bad_encoding');
  assert.equal(code(() => lp('\ud800')), 'bad_encoding');
  assert.equal(code(() => lp(5)), 'bad_encoding');
  assert.deepEqual(u32(0xffffffff), hex('ffffffff'));
  for (const bad of [-1, 2 ** 32, true, '1', new Number(1), null, 1.5]) {
    assert.equal(code(() => u32(bad)), 'bad_encoding', String(bad));
  }
  for (const bad of ['', ' ', 'u a', 'u\x7f', 'é', `u_${'a'.repeat(254)}`, null]) {
    assert.equal(code(() => checkId(bad, 'id')), 'bad_encoding', String(bad));
  }
  assert.equal(checkInt(2 ** 53, 'n'), 2 ** 53);
  for (const bad of [-1, 2 ** 53 + 2, 2n ** 53n, 1n, true, new Number(1), '1', null, 0.5]) {
    assert.equal(code(() => checkInt(bad, 'n')), 'bad_encoding', String(bad));
  }
});

test("dumps writes crypto/encoding.py's compact sorted JSON (docs/crypto.md §0.1)", () => {
  // Texts crypto.encoding.dumps produced (tests/unit/test_crypto_encoding.py has the first).
  for (const text of [
    '{"B":{"y":[],"z":{}},"a":"é ✓ 😀 \\"q\\" \\\\ / \\b\\f\\n\\r\\t \\u0000\\u001f \x7f \u2028",' +
      '"b":[1,-2,0,9007199254740992,-9007199254740992,true,false,null],"é":""}',
    '{"a":"é\\n\\u0001\\"","b":{"":null,"z":true},"é":false}',
    '{"\uffff":2,"𐀀":1}', // code point order, not UTF-16 order
    '{"a":[0,1,-1,999999999999999,1000000000000000,-1000000000000000,4294967295,9007199254740991]}',
  ]) {
    assert.equal(dumps(loadsObject(text)), text);
  }
  assert.equal(dumps({ b: 1, a: [2, 'x'] }), '{"a":[2,"x"],"b":1}');
  assert.equal(dumps({ '𐀀': 1, '\uffff': 2 }), '{"\uffff":2,"𐀀":1}');
  assert.equal(dumps({ a: INT_MAX, b: -INT_MAX, c: 1e15 }), '{"a":9007199254740992,"b":-9007199254740992,"c":1000000000000000}');
  assert.equal(dumps({ a: [1, 2] }, { spaced: true }), '{"a": [1, 2]}');
  // -0 parses to the integer 0, as Python's int("-0").
  assert.equal(dumps(loadsObject('{"a": -0, "b": [-0]}')), '{"a":0,"b":[0]}');
});

test('dumps refuses every number but an integer within +-2^53, and -0', () => {
  for (const bad of [
    1.5,
    0.1,
    -0.5,
    -0,
    2 ** 53 + 2,
    -(2 ** 53) - 2,
    1e21,
    Number.MAX_VALUE,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    1n,
    2n ** 64n,
    new Number(1),
  ]) {
    assert.equal(code(() => dumps({ a: bad })), 'bad_encoding', String(bad));
    assert.equal(code(() => dumps({ a: [bad] })), 'bad_encoding', String(bad));
  }
});

test('dumps refuses what would not come back the same', () => {
  const cyclic = [];
  cyclic.push(cyclic);
  for (const bad of [
    { a: Number.NaN },
    { a: Number.POSITIVE_INFINITY },
    { a: '\ud800' },
    { '\udfff': 1 },
    { a: new Uint8Array(1) },
    { a: undefined },
    { a: new Map() },
    { a: [, 1] }, // eslint-disable-line no-sparse-arrays
    cyclic,
  ]) {
    assert.equal(code(() => dumps(bad)), 'bad_encoding');
  }
});

test('loadsObject refuses what crypto/encoding.py refuses', () => {
  for (const text of [
    '{"a": NaN}',
    '{"a": Infinity}',
    '{"a": -Infinity}',
    '{"a": 1e400}',
    '{"a": 1, "a": 1}',
    '{"x": [{"b": 0, "b": 1}]}',
    '['.repeat(50000),
    `{"a": [${'['.repeat(100000)}${']'.repeat(100000)}]}`,
    `{"a": ${'9'.repeat(5000)}}`,
    '\ufeff{}',
    '[]',
    '"x"',
    '1',
    '',
    '{',
    '{} {}',
    '{"a": "\x01"}',
    "{'a': 1}",
    '{"a": 01}',
    '{"a": 1.}',
    '{"a": "\\x"}',
  ]) {
    assert.equal(code(() => loadsObject(text)), 'bad_encoding', text.slice(0, 40));
    assert.equal(code(() => loadsObject(ascii(text))), 'bad_encoding', text.slice(0, 40));
  }
  for (const raw of [hex('7b2261223a22ff227d'), hex('7b2261223a22eda080227d'), hex('efbbbf7b7d')]) {
    assert.equal(code(() => loadsObject(raw)), 'bad_encoding');
  }
});

test('loadsObject refuses every number but a plain integer within +-2^53 (docs/crypto.md §0.1)', () => {
  for (const num of [
    '1.0',
    '0.0',
    '-0.0',
    '1.5',
    '1e3',
    '1E3',
    '1e+3',
    '1e-3',
    '0e0',
    '-0e0',
    '1.0e0',
    '1e400',
    '-1e400',
    '9007199254740993',
    '-9007199254740993',
    '9007199254740999',
    '9999999999999999',
    '10000000000000000',
    '18446744073709551616',
    '9'.repeat(5000),
    `-${'9'.repeat(5000)}`,
    'NaN',
    '-NaN',
    'Infinity',
    '-Infinity',
    '+1',
    '.5',
    '01',
    '-01',
    '-',
    '0x10',
  ]) {
    for (const text of [`{"a": ${num}}`, `{"a":[${num}]}`, `{"a":{"b":${num}}}`]) {
      assert.equal(code(() => loadsObject(text)), 'bad_encoding', text.slice(0, 40));
    }
    assert.equal(code(() => loadsValue(num)), 'bad_encoding', num.slice(0, 40));
  }
  for (const [num, value] of [
    ['0', 0],
    ['-0', 0],
    ['7', 7],
    ['-7', -7],
    ['4294967296', 2 ** 32],
    ['999999999999999', 999999999999999],
    ['1000000000000000', 1e15],
    ['9007199254740991', 2 ** 53 - 1],
    ['9007199254740992', 2 ** 53],
    ['-9007199254740992', -(2 ** 53)],
  ]) {
    const got = loadsObject(`{"a": ${num}}`).a;
    assert.ok(Object.is(got, value), `${num} read as ${got}`);
    assert.ok(Object.is(loadsValue(num), value), num);
  }
});

test('loadsObject keeps what Python keeps: escaped surrogates, a __proto__ key', () => {
  const obj = loadsObject('{"s": "\\ud800", "p": "\\ud83d\\ude00", "u": "\\u00E9\\u00e9", "__proto__": 1}');
  assert.equal(obj.p, '😀');
  assert.equal(obj.u, 'éé');
  assert.equal(obj.__proto__, 1); // eslint-disable-line no-proto
  assert.equal(Object.getPrototypeOf(obj), Object.prototype);
  assert.equal(code(() => lp(obj.s)), 'bad_encoding');
  assert.equal(code(() => dumps(obj)), 'bad_encoding');
});

// -- argon2id --------------------------------------------------------------------------------

test('argon2id at the default cost (3 passes, 64 MiB) gives libsodium bytes and reports progress', async () => {
  // crypto.backup.wrapping_key("Dr Café soigne l'épaule", bytes([9]) * 16, 3, 64 MiB) in Python.
  const progress = [];
  const wk = await backup.wrappingKey("Dr Café soigne l'épaule", new Uint8Array(16).fill(9), 3, 64 * 1024 * 1024, {
    onProgress: (p) => progress.push(p),
  });
  assert.equal(b64e(wk), '8jLLPjYrvTDhGCDvr9VqUIlE-jwSbzHKl4exOFq0KtE');
  assert.ok(progress.length > 10 && progress.length <= 101, `${progress.length} progress calls`);
  assert.equal(progress.at(-1), 1);
});
