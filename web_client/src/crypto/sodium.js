/**
 * The libsodium functions the protocol names (docs/crypto.md §0), composed from the noble
 * libraries: the JavaScript stand-in for PyNaCl's `nacl.bindings`.
 *
 * Everything here must give the same bytes as libsodium, and accept and refuse the same inputs,
 * because the Python reference runs on libsodium. Where noble's defaults differ from libsodium
 * (Ed25519 verification rules, the secretstream construction that noble does not ship), the
 * libsodium behaviour is rebuilt from noble's lower-level pieces. Functions throw `SodiumError`
 * where libsodium returns -1; callers translate that into a `CryptoError` code, exactly where the
 * Python code catches `nacl.exceptions.CryptoError`.
 */

import { chacha20, hchacha, xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { poly1305 } from '@noble/ciphers/_poly1305.js';
import { ED25519_TORSION_SUBGROUP, ed25519, x25519 } from '@noble/curves/ed25519.js';
import { blake2b } from '@noble/hashes/blake2.js';
import { sha512 } from '@noble/hashes/sha2.js';

/** libsodium returned -1 (or PyNaCl raised before calling it). */
export class SodiumError extends Error {
  constructor(message) {
    super(message);
    this.name = 'SodiumError';
  }
}

const fail = (why) => {
  throw new SodiumError(why);
};

export function randomBytes(n) {
  const out = new Uint8Array(n);
  // getRandomValues fills at most 65536 bytes per call.
  for (let i = 0; i < n; i += 65536) globalThis.crypto.getRandomValues(out.subarray(i, i + 65536));
  return out;
}

/** sodium_memcmp: time depends on the length only, never on where the bytes differ. */
export function memcmp(a, b) {
  if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array) || a.length !== b.length) {
    return false;
  }
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

export function concat(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// -- BLAKE2b ---------------------------------------------------------------------------------

function pad16(x) {
  if (x === undefined || x.length === 0) return undefined;
  if (x.length > 16) fail('salt and personal are at most 16 bytes');
  // libsodium copies a shorter salt/personal into 16 zero bytes; noble wants exactly 16.
  const out = new Uint8Array(16);
  out.set(x);
  return out;
}

/**
 * crypto_generichash_blake2b_salt_personal. An empty key is no key (libsodium treats keylen 0 as
 * unkeyed); salt and personal are zero-padded to 16 bytes as libsodium does.
 */
export function generichash(outlen, msg, { key, salt, personal } = {}) {
  if (!Number.isInteger(outlen) || outlen < 1 || outlen > 64) fail('digest size out of range');
  if (key !== undefined && key.length > 64) fail('key longer than 64 bytes');
  const opts = { dkLen: outlen };
  if (key !== undefined && key.length > 0) opts.key = key;
  const s = pad16(salt);
  const p = pad16(personal);
  if (s !== undefined || p !== undefined) {
    opts.salt = s ?? new Uint8Array(16);
    opts.personalization = p ?? new Uint8Array(16);
  }
  return blake2b(msg, opts);
}

/** Incremental unkeyed BLAKE2b (crypto_generichash init/update/final), for streamed blobs. */
export function generichashInit(outlen) {
  return blake2b.create({ dkLen: outlen });
}

// -- Ed25519 ---------------------------------------------------------------------------------

const Point = ed25519.Point;
const P = Point.Fp.ORDER;
const L = Point.Fn.ORDER;
const Y_MASK = (1n << 255n) - 1n;

function leToBigint(bytes) {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]);
  return n;
}

function hexBytes(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

// The y coordinates of the eight torsion points. libsodium refuses a key or an R whose encoding,
// sign bit ignored, names one of them (its ge25519_has_small_order blocklist, which also lists
// the non-canonical p and p + 1): comparing y mod p is that same list.
const SMALL_ORDER_Y = new Set(
  ED25519_TORSION_SUBGROUP.map((hex) => (leToBigint(hexBytes(hex)) & Y_MASK) % P),
);

function hasSmallOrder(enc) {
  return SMALL_ORDER_Y.has((leToBigint(enc) & Y_MASK) % P);
}

/** crypto_sign_seed_keypair: (public 32, secret 64 = seed || public). */
export function signSeedKeypair(seed) {
  if (!(seed instanceof Uint8Array) || seed.length !== 32) fail('seed must be 32 bytes');
  const pk = ed25519.getPublicKey(seed);
  return { publicKey: pk, secretKey: concat(seed, pk) };
}

/**
 * The signature part of crypto_sign (RFC 8032, deterministic, so the same bytes as libsodium).
 * libsodium hashes the public half stored in `sk`; noble recomputes it from the seed. The two
 * agree for every key made by signSeedKeypair, the only way this package makes one.
 */
export function signDetached(msg, sk) {
  if (!(sk instanceof Uint8Array) || sk.length !== 64) fail('secret key must be 64 bytes');
  return ed25519.sign(msg, sk.subarray(0, 32));
}

/**
 * crypto_sign_verify_detached as released libsodium (1.0.18 to 1.0.22) decides it, not as
 * noble's `verify` does: S must be below the group order, neither R nor the key may be of small
 * order, the key's y must be canonical, and the check is cofactorless, [S]B - [h]A must encode
 * to exactly the bytes of R. noble checks the cofactored equation and lets a small-order R
 * through; either difference would let one client accept a signature the other refuses.
 */
export function verifyDetached(sig, msg, pk) {
  if (sig.length !== 64 || pk.length !== 32) return false;
  const r = sig.subarray(0, 32);
  const s = leToBigint(sig.subarray(32));
  if (s >= L || hasSmallOrder(r)) return false;
  if ((leToBigint(pk) & Y_MASK) >= P || hasSmallOrder(pk)) return false;
  let A;
  try {
    A = Point.fromBytes(pk, false);
  } catch {
    return false;
  }
  const k = leToBigint(sha512(concat(r, pk, msg))) % L;
  const check = Point.BASE.multiplyUnsafe(s).subtract(A.multiplyUnsafe(k)).toBytes();
  return memcmp(check, r);
}

// -- X25519 ----------------------------------------------------------------------------------

export function scalarmultBase(priv) {
  return x25519.getPublicKey(priv);
}

/**
 * crypto_scalarmult: libsodium returns -1 for a low-order point (an all-zero shared secret);
 * noble throws for the same set of points, before running the ladder.
 */
export function scalarmult(priv, pub) {
  try {
    return x25519.getSharedSecret(priv, pub);
  } catch {
    return fail('low-order X25519 point');
  }
}

// -- AEAD ------------------------------------------------------------------------------------

/** crypto_aead_xchacha20poly1305_ietf_encrypt: ciphertext || 16-byte tag. */
export function aeadEncrypt(plaintext, ad, nonce, key) {
  return xchacha20poly1305(key, nonce, ad).encrypt(plaintext);
}

export function aeadDecrypt(ciphertext, ad, nonce, key) {
  try {
    return xchacha20poly1305(key, nonce, ad).decrypt(ciphertext);
  } catch {
    return fail('AEAD verification failed');
  }
}

// -- sodium_pad / sodium_unpad (ISO/IEC 7816-4) ----------------------------------------------

/** 0x80 then zeros up to the next multiple of `blocksize` strictly above the length. */
export function pad(buf, blocksize) {
  if (!Number.isInteger(blocksize) || blocksize <= 0) fail('block size must be positive');
  const xpadlen = blocksize - 1 - (buf.length % blocksize);
  const out = new Uint8Array(buf.length + xpadlen + 1);
  out.set(buf);
  out[buf.length] = 0x80;
  return out;
}

/**
 * The libsodium rule: within the last `blocksize` bytes, reading backwards, zeros then one 0x80.
 * It does not ask the length to be a multiple of `blocksize` (callers that need it check it).
 * Every byte of the window is read whatever it holds, like libsodium's constant-time loop.
 */
export function unpad(buf, blocksize) {
  if (!Number.isInteger(blocksize) || blocksize <= 0 || buf.length < blocksize) {
    fail('bad padding');
  }
  let acc = 0;
  let found = -1;
  for (let i = 0; i < blocksize; i++) {
    const c = buf[buf.length - 1 - i];
    if (found < 0 && acc === 0 && c === 0x80) found = i;
    acc |= c;
  }
  if (found < 0) fail('bad padding');
  return buf.subarray(0, buf.length - 1 - found);
}

// -- crypto_secretstream_xchacha20poly1305 ---------------------------------------------------

export const SECRETSTREAM_KEYBYTES = 32;
export const SECRETSTREAM_HEADERBYTES = 24;
export const SECRETSTREAM_ABYTES = 17;
export const TAG_MESSAGE = 0;
export const TAG_PUSH = 1;
export const TAG_REKEY = 2;
export const TAG_FINAL = TAG_PUSH | TAG_REKEY;
const SIGMA = new TextEncoder().encode('expand 32-byte k');

/** Aligned 32-bit words over a copy of `bytes`, in the host order noble's hchacha expects. */
function words(bytes) {
  return new Uint32Array(Uint8Array.from(bytes).buffer);
}

function hchacha20(key, input16) {
  const out = new Uint32Array(8);
  hchacha(words(SIGMA), words(key), words(input16), out);
  return new Uint8Array(out.buffer);
}

function le64(n) {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  return out;
}

/**
 * The stream state: a subkey `k` and a 12-byte ChaCha20 nonce made of a 4-byte little-endian
 * counter (starting at 1) and an 8-byte inner nonce that each chunk's MAC is folded into.
 */
class StreamState {
  constructor(key, header) {
    if (!(key instanceof Uint8Array) || key.length !== SECRETSTREAM_KEYBYTES) {
      fail('secretstream key must be 32 bytes');
    }
    if (!(header instanceof Uint8Array) || header.length !== SECRETSTREAM_HEADERBYTES) {
      fail('secretstream header must be 24 bytes');
    }
    this.k = hchacha20(key, header.subarray(0, 16));
    this.nonce = new Uint8Array(12);
    this.resetCounter();
    this.nonce.set(header.subarray(16, 24), 4);
  }

  resetCounter() {
    this.nonce.fill(0, 0, 4);
    this.nonce[0] = 1;
  }

  /** The Poly1305 tag over the chunk, in libsodium's layout (including its odd padding). */
  mac(block, c) {
    const mlen = c.length;
    const polyKey = chacha20(this.k, this.nonce, new Uint8Array(64)).subarray(0, 32);
    const mac = poly1305.create(polyKey);
    // No associated data here (adlen 0), so its padding is empty too.
    mac.update(block);
    mac.update(c);
    // libsodium pads with (0x10 - 64 + mlen) & 0xf zero bytes, not up to a 16-byte boundary (its
    // own comment says so); copying that expression keeps the tags identical.
    mac.update(new Uint8Array((0x10 - 64 + mlen) & 0xf));
    mac.update(le64(0));
    mac.update(le64(64 + mlen));
    return mac.digest();
  }

  /** After each chunk: fold the MAC into the inner nonce, count, and rekey when asked to. */
  advance(mac, tag) {
    for (let i = 0; i < 8; i++) this.nonce[4 + i] ^= mac[i];
    for (let i = 0, carry = 1; i < 4; i++) {
      const v = this.nonce[i] + carry;
      this.nonce[i] = v & 0xff;
      carry = v >> 8;
    }
    const counterIsZero = (this.nonce[0] | this.nonce[1] | this.nonce[2] | this.nonce[3]) === 0;
    if ((tag & TAG_REKEY) !== 0 || counterIsZero) this.rekey();
  }

  rekey() {
    const buf = concat(this.k, this.nonce.subarray(4, 12));
    const x = chacha20(this.k, this.nonce, buf);
    this.k = x.slice(0, 32);
    this.nonce.set(x.subarray(32, 40), 4);
    this.resetCounter();
  }

  push(m, tag) {
    const block = new Uint8Array(64);
    block[0] = tag;
    chacha20(this.k, this.nonce, block, block, 1);
    const c = chacha20(this.k, this.nonce, m, undefined, 2);
    const mac = this.mac(block, c);
    this.advance(mac, tag);
    return concat(block.subarray(0, 1), c, mac);
  }

  pull(input) {
    if (input.length < SECRETSTREAM_ABYTES) fail('chunk shorter than its tag');
    const mlen = input.length - SECRETSTREAM_ABYTES;
    const block = new Uint8Array(64);
    block[0] = input[0];
    chacha20(this.k, this.nonce, block, block, 1);
    const tag = block[0];
    block[0] = input[0];
    const c = input.subarray(1, 1 + mlen);
    const mac = this.mac(block, c);
    if (!memcmp(mac, input.subarray(1 + mlen))) fail('chunk does not authenticate');
    const m = chacha20(this.k, this.nonce, c, undefined, 2);
    this.advance(mac, tag);
    return { m, tag };
  }
}

/** crypto_secretstream_xchacha20poly1305_init_push; `header` is random unless given. */
export function secretstreamInitPush(key, header = randomBytes(SECRETSTREAM_HEADERBYTES)) {
  return { state: new StreamState(key, header), header: Uint8Array.from(header) };
}

export function secretstreamPush(state, m, tag = TAG_MESSAGE) {
  return state.push(m, tag);
}

export function secretstreamInitPull(header, key) {
  return new StreamState(key, header);
}

/** {m, tag}; throws SodiumError when the chunk does not authenticate. */
export function secretstreamPull(state, c) {
  return state.pull(c);
}

// -- argon2id (crypto_pwhash, ALG_ARGON2ID13) ------------------------------------------------

export const PWHASH_ARGON2ID_OPSLIMIT_MIN = 1;
export const PWHASH_ARGON2ID_MEMLIMIT_MIN = 8192;

/**
 * crypto_pwhash_alg(outlen, passwd, salt, opslimit, memlimit, ARGON2ID13): libsodium counts
 * memory in bytes and runs argon2id v1.3 with one lane over memlimit / 1024 KiB.
 */
export async function pwhashArgon2id(outlen, passwd, salt, opslimit, memlimit, onProgress) {
  if (salt.length !== 16) fail('salt must be 16 bytes');
  if (opslimit < PWHASH_ARGON2ID_OPSLIMIT_MIN || memlimit < PWHASH_ARGON2ID_MEMLIMIT_MIN) {
    fail('argon2id limits below the minimum');
  }
  const opts = {
    t: opslimit,
    m: Math.floor(memlimit / 1024),
    p: 1,
    dkLen: outlen,
    version: 0x13,
    maxmem: memlimit,
  };
  if (onProgress !== undefined) {
    // noble reports after every few blocks (about 10,000 calls at the default cost); a progress
    // bar needs one call per whole percent.
    let last = -1;
    opts.onProgress = (fraction) => {
      const pct = Math.floor(fraction * 100);
      if (pct !== last) {
        last = pct;
        onProgress(fraction);
      }
    };
  }
  // Loaded on first use: only a key backup (set up once, restored once per device) needs it, so
  // it stays out of the bundle every page load pays for.
  const { argon2idAsync } = await import('@noble/hashes/argon2.js');
  try {
    return await argon2idAsync(passwd, salt, opts);
  } catch (err) {
    throw new SodiumError(`argon2id refused its parameters (${err.message})`);
  }
}
