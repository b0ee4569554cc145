/**
 * Byte-level building blocks shared by every part of the protocol (docs/crypto.md §0); twin of
 * crypto/encoding.py.
 *
 * Everything that is signed, hashed or used as associated data is a concatenation of
 * length-prefixed fields starting with a purpose label, so bytes made for one purpose can never
 * be valid for another, and signed JSON travels as the exact string that was signed.
 *
 * This module is also the one place where input from peers and the server is checked: the other
 * modules parse and write JSON, decode base64 and check ids, integers and key lengths through the
 * helpers below, so a malformed input is always a `CryptoError` (`bad_encoding` unless a
 * primitive refuses it), never a TypeError escaping from a library.
 *
 * Types: bytes are `Uint8Array`; JSON numbers are integers only (docs/crypto.md §0.1), in
 * -2^53..2^53 and written in plain decimal, so every one of them is a JavaScript number read and
 * written exactly. A number with a fraction or an exponent (`1.0`, `1e3`, even when whole), a
 * bigger integer, NaN or Infinity is refused (`bad_encoding`) by the parser and by `dumps`, as
 * crypto/encoding.py refuses them.
 */

import { CryptoError } from './errors.js';
import * as sodium from './sodium.js';

export const ID_MAX = 255;
export const U32_MAX = 0xffffffff;
/** The largest integer every JSON implementation (a browser's double included) reads exactly. */
export const INT_MAX = 2 ** 53;
export const NONCE_BYTES = 24;
export const TAG_BYTES = 16;
export const SIG_BYTES = 64;
/**
 * Python's json gives up with a RecursionError near 1000 nested containers (the exact depth
 * depends on its call stack); a fixed bound just below keeps the refusal deterministic here.
 */
export const JSON_DEPTH_MAX = 900;

const bad = (why) => new CryptoError('bad_encoding', why);

export const isBytes = (v) => v instanceof Uint8Array;

// -- base64 and byte strings ----------------------------------------------------------------

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const B64_INDEX = new Map([...B64].map((c, i) => [c, i]));
const B64_RE = /^[A-Za-z0-9_-]*$/;

export function b64e(data) {
  let out = '';
  let i = 0;
  for (; i + 2 < data.length; i += 3) {
    const n = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    out += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63] + B64[n & 63];
  }
  if (data.length - i === 1) {
    const n = data[i] << 16;
    out += B64[n >> 18] + B64[(n >> 12) & 63];
  } else if (data.length - i === 2) {
    const n = (data[i] << 16) | (data[i + 1] << 8);
    out += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63];
  }
  return out;
}

/**
 * Strict base64url without padding: anything else is `bad_encoding`, so two encodings of the
 * same bytes can never both be accepted (ids derived from them stay unique).
 */
export function b64d(text, size = undefined) {
  if (typeof text !== 'string' || !B64_RE.test(text) || text.length % 4 === 1) {
    throw bad('not base64url without padding');
  }
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (const c of text) {
    acc = (acc << 6) | B64_INDEX.get(c);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
    acc &= (1 << bits) - 1;
  }
  // Leftover bits must be zero: the canonical spelling is the only one accepted.
  if (acc !== 0) throw bad('non-canonical base64url');
  if (size !== undefined && out.length !== size) throw bad(`expected ${size} bytes`);
  return out;
}

function isWellFormed(text) {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = text.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) return false;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return false;
    }
  }
  return true;
}

const ENCODER = new TextEncoder();

/**
 * A JavaScript string may hold lone surrogates (a JSON `\ud800` escape makes one), which have no
 * UTF-8 form; TextEncoder would silently turn them into U+FFFD, so they are refused first.
 */
export function utf8(text) {
  if (typeof text !== 'string' || !isWellFormed(text)) throw bad('text is not valid Unicode');
  return ENCODER.encode(text);
}

/** Each field as a 2-byte big-endian length followed by its bytes (strings as UTF-8). */
export function lp(...fields) {
  const parts = [];
  for (const f of fields) {
    let b;
    if (isBytes(f)) b = f;
    else if (typeof f === 'string') b = utf8(f);
    else throw bad('lp fields are bytes or text');
    if (b.length > 0xffff) throw bad('field longer than 65535 bytes');
    parts.push(Uint8Array.of(b.length >> 8, b.length & 0xff), b);
  }
  return sodium.concat(...parts);
}

export function isU32(value) {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= U32_MAX;
}

export function u32(n) {
  if (!isU32(n)) throw bad('integer out of u32 range');
  return Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

export const concat = sodium.concat;
export const memcmp = sodium.memcmp;
export const randomBytes = sodium.randomBytes;

// -- primitives ------------------------------------------------------------------------------

/** BLAKE2b (crypto_generichash) with an optional key: the only KDF and hash of the protocol. */
export function h(out, msg, key = undefined) {
  return sodium.generichash(out, msg, { key });
}

/** Ed25519 over lp(label) || data; `secretKey` is libsodium's 64-byte form. */
export function signDetached(secretKey, label, data) {
  checkBytes(secretKey, 64, 'Ed25519 secret key');
  if (!isBytes(data)) throw bad('signed data must be bytes');
  return sodium.signDetached(concat(lp(label), data), secretKey);
}

export function verifyDetached(publicKey, label, data, sig) {
  if (!isBytes(sig) || !isBytes(publicKey) || sig.length !== SIG_BYTES || publicKey.length !== 32) {
    throw new CryptoError('bad_signature', 'wrong signature or key length');
  }
  if (!isBytes(data)) throw bad('signed data must be bytes');
  if (!sodium.verifyDetached(sig, concat(lp(label), data), publicKey)) {
    throw new CryptoError('bad_signature');
  }
}

/**
 * XChaCha20-Poly1305; a reused nonce breaks it, so callers pass fresh random nonces except in
 * test vectors.
 */
export function aeadSeal(key, nonce, plaintext, ad) {
  checkBytes(key, 32, 'AEAD key');
  checkBytes(nonce, NONCE_BYTES, 'nonce');
  if (!isBytes(plaintext) || !isBytes(ad)) throw bad('AEAD input must be bytes');
  return sodium.aeadEncrypt(plaintext, ad, nonce, key);
}

/**
 * Every way a ciphertext can fail to open is the one code `bad_ciphertext`: a receiver must not
 * learn (or reveal) more than "this was not sealed for you".
 */
export function aeadOpen(key, nonce, ciphertext, ad) {
  if (!isBytes(ciphertext) || ciphertext.length < TAG_BYTES) {
    throw new CryptoError('bad_ciphertext', 'shorter than the tag');
  }
  try {
    return sodium.aeadDecrypt(ciphertext, ad, nonce, key);
  } catch (err) {
    throw new CryptoError('bad_ciphertext', '', { cause: err });
  }
}

// -- strict JSON -----------------------------------------------------------------------------

/** Python sorts keys by code point; JavaScript's default sort compares UTF-16 units. */
function codePointCompare(a, b) {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return (x.done ? 0 : 1) - (y.done ? 0 : 1);
    const d = x.value.codePointAt(0) - y.value.codePointAt(0);
    if (d !== 0) return d;
  }
}

/** Python's isinstance(v, dict) for parsed JSON: a plain object, not an array or an instance. */
export function isDict(v) {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function encodeValue(v, depth, stack, seps) {
  if (v === null) return 'null';
  if (v === true) return 'true';
  if (v === false) return 'false';
  if (typeof v === 'string') {
    if (!isWellFormed(v)) throw bad('text is not valid Unicode');
    // For well-formed text JSON.stringify escapes exactly what Python's ensure_ascii=False does.
    return JSON.stringify(v);
  }
  if (typeof v === 'number') {
    // NaN and the infinities are not integers either. Python has no integer -0 (its -0.0 is a
    // float, refused): written as `0` it would come back as another value, so it is refused too.
    if (!Number.isInteger(v)) throw bad('not protocol JSON (non-integer number)');
    if (Math.abs(v) > INT_MAX) throw bad('not protocol JSON (integer beyond 2^53)');
    if (Object.is(v, -0)) throw bad('not protocol JSON (-0)');
    // Up to 2^53 String() writes every integer in plain decimal (exponents start at 1e21).
    return String(v);
  }
  if (depth >= JSON_DEPTH_MAX) throw bad('nested too deeply');
  if (stack.has(v)) throw bad('not representable as JSON (cycle)');
  if (Array.isArray(v)) {
    stack.add(v);
    const parts = [];
    for (let i = 0; i < v.length; i++) {
      if (!(i in v)) throw bad('not representable as JSON (hole)');
      parts.push(encodeValue(v[i], depth + 1, stack, seps));
    }
    stack.delete(v);
    return `[${parts.join(seps[0])}]`;
  }
  if (isDict(v)) {
    stack.add(v);
    const keys = Object.keys(v).sort(codePointCompare);
    const parts = [];
    for (const k of keys) {
      if (!isWellFormed(k)) throw bad('text is not valid Unicode');
      if (v[k] === undefined) throw bad('not representable as JSON (undefined)');
      parts.push(`${JSON.stringify(k)}${seps[1]}${encodeValue(v[k], depth + 1, stack, seps)}`);
    }
    stack.delete(v);
    return `{${parts.join(seps[0])}}`;
  }
  throw bad('not representable as JSON');
}

/**
 * The JSON text that gets signed or encrypted (docs/crypto.md §0.1): compact, keys sorted by code
 * point, non-ASCII written raw; byte for byte crypto/encoding.py `dumps`. Anything the strict
 * parser would not give back as the same value (a non-integer number, an integer beyond 2^53,
 * -0, NaN, BigInt, undefined, lone surrogates, cycles, class instances, holes) is refused here
 * rather than becoming a message the receiver reads differently or refuses.
 *
 * `spaced` gives Python's default separators (", " and ": ") instead, for the one local format
 * written that way (TrustStore.toJson); only for ASCII content, as Python escapes the rest there.
 */
export function dumps(obj, { spaced = false } = {}) {
  return encodeValue(obj, 0, new Set(), spaced ? [', ', ': '] : [',', ':']);
}

const NUMBER_RE = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?/y;
const INT_MAX_DIGITS = String(INT_MAX);

/**
 * encoding.py `_exact_int`: beyond 2^53 a double no longer holds every integer, so a bigger one
 * is refused before it is converted (and rounded into range). The digits are compared as text:
 * at most 16 of them, and with 16 no more than 9007199254740992 (no leading zeros to fool it:
 * the grammar has none). `-0` is Python's int("-0"), the integer 0.
 */
function exactInt(text) {
  const digits = text[0] === '-' ? text.slice(1) : text;
  const n = INT_MAX_DIGITS.length;
  if (digits.length > n || (digits.length === n && digits > INT_MAX_DIGITS)) {
    throw bad('integer beyond 2^53');
  }
  return Number(text) + 0; // + 0 turns -0 into the integer 0
}

const ESCAPES = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

function setOwn(obj, key, value) {
  // A "__proto__" key must become a plain property, never the object's prototype.
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * A recursive-descent reader of exactly RFC 8259 JSON, with encoding.py `_strict_loads`'s
 * refusals on top: NaN/Infinity (`_no_constant`), fractions and exponents (`_no_fraction`),
 * integers beyond +-2^53 (`_exact_int`), duplicate keys (`_no_duplicates`) and nesting deeper
 * than JSON_DEPTH_MAX (Python's RecursionError).
 */
class Reader {
  constructor(text) {
    this.text = text;
    this.i = 0;
  }

  fail(why = 'not JSON') {
    throw bad(why);
  }

  ws() {
    const t = this.text;
    for (;;) {
      const c = t.charCodeAt(this.i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) this.i++;
      else return;
    }
  }

  value(depth) {
    this.ws();
    const t = this.text;
    const c = t[this.i];
    if (c === '{') return this.object(depth + 1);
    if (c === '[') return this.array(depth + 1);
    if (c === '"') return this.string();
    if (c === '-' || (c >= '0' && c <= '9')) return this.number();
    for (const [word, v] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ]) {
      if (t.startsWith(word, this.i)) {
        this.i += word.length;
        return v;
      }
    }
    // NaN, Infinity and anything else: Python's json reads the first two, `_no_constant` refuses.
    return this.fail();
  }

  number() {
    NUMBER_RE.lastIndex = this.i;
    const m = NUMBER_RE.exec(this.text);
    if (m === null) return this.fail();
    this.i = NUMBER_RE.lastIndex;
    // encoding.py `_no_fraction`: a fraction or an exponent, whatever the value (1.0, 1e2, 1e400),
    // is refused; serialisers disagree on how to write such numbers, so the protocol has none.
    if (m[1] !== undefined || m[2] !== undefined) return this.fail('non-integer number');
    return exactInt(m[0]);
  }

  string() {
    const t = this.text;
    let i = this.i + 1;
    let out = '';
    let start = i;
    for (;;) {
      if (i >= t.length) return this.fail('unterminated string');
      const c = t.charCodeAt(i);
      if (c === 0x22) break;
      if (c < 0x20) return this.fail('control character in a string');
      if (c !== 0x5c) {
        i++;
        continue;
      }
      out += t.slice(start, i);
      const e = t[i + 1];
      if (e === 'u') {
        const hex = t.slice(i + 2, i + 6);
        if (!/^[0-9A-Fa-f]{4}$/.test(hex)) return this.fail('bad \\u escape');
        out += String.fromCharCode(parseInt(hex, 16));
        i += 6;
      } else if (e !== undefined && Object.hasOwn(ESCAPES, e)) {
        out += ESCAPES[e];
        i += 2;
      } else {
        return this.fail('bad escape');
      }
      start = i;
    }
    out += t.slice(start, i);
    this.i = i + 1;
    return out;
  }

  array(depth) {
    if (depth > JSON_DEPTH_MAX) return this.fail('nested too deeply');
    this.i++;
    const out = [];
    this.ws();
    if (this.text[this.i] === ']') {
      this.i++;
      return out;
    }
    for (;;) {
      out.push(this.value(depth));
      this.ws();
      const c = this.text[this.i++];
      if (c === ']') return out;
      if (c !== ',') return this.fail();
    }
  }

  object(depth) {
    if (depth > JSON_DEPTH_MAX) return this.fail('nested too deeply');
    this.i++;
    const out = {};
    this.ws();
    if (this.text[this.i] === '}') {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.text[this.i] !== '"') return this.fail();
      const key = this.string();
      this.ws();
      if (this.text[this.i++] !== ':') return this.fail();
      const v = this.value(depth);
      // Two parsers may keep different copies of a duplicated key; refusing it keeps the Python
      // and browser clients from ever disagreeing on what a signed text says.
      if (Object.hasOwn(out, key)) return this.fail('duplicate JSON key');
      setOwn(out, key, v);
      this.ws();
      const c = this.text[this.i++];
      if (c === '}') return out;
      if (c !== ',') return this.fail();
    }
  }
}

const DECODER = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Any JSON value, strictly (the reader behind loadsObject; also used for the vector files). */
export function loadsValue(text) {
  if (isBytes(text)) {
    try {
      // ignoreBOM keeps a leading BOM in the text, where the reader refuses it as Python does.
      text = DECODER.decode(text);
    } catch (err) {
      throw new CryptoError('bad_encoding', 'not UTF-8', { cause: err });
    }
  }
  if (typeof text !== 'string') throw bad('not a JSON text');
  const r = new Reader(text);
  const v = r.value(0);
  r.ws();
  if (r.i !== text.length) r.fail('extra data after the JSON value');
  return v;
}

/**
 * A JSON object, strictly: bytes must be UTF-8 (no BOM, no UTF-16); NaN/Infinity, numbers with a
 * fraction or an exponent, integers beyond +-2^53 and duplicate keys are refused. Escaped lone
 * surrogates in strings are valid JSON and are kept; `utf8`/`lp` refuse them wherever such a
 * string would be encoded.
 */
export function loadsObject(text) {
  const obj = loadsValue(text);
  if (!isDict(obj)) throw bad('not a JSON object');
  return obj;
}

// -- signed objects --------------------------------------------------------------------------

/** The wire form {"signed": S, "sig": b64(sig)} of a signed object, as JSON text. */
export function makeSigned(secretKey, label, obj) {
  const s = dumps(obj);
  const sig = signDetached(secretKey, label, lp(s));
  return dumps({ signed: s, sig: b64e(sig) });
}

/**
 * [S, signature] of a signed object, not yet verified. S is checked to be encodable, so the
 * verifier's lp(S) cannot fail for another reason than a bad signature.
 */
export function splitSigned(wire) {
  if (typeof wire !== 'string') throw bad('a signed object is JSON text');
  const outer = loadsObject(wire);
  checkFields(outer, ['signed', 'sig'], 'signed object');
  const s = outer.signed;
  if (typeof s !== 'string') throw bad('signed must be a JSON text');
  utf8(s);
  return [s, b64d(outer.sig, SIG_BYTES)];
}

/** Verify first, parse after: nothing unverified is ever interpreted. */
export function openSigned(wire, publicKey, label) {
  const [s, sig] = splitSigned(wire);
  verifyDetached(publicKey, label, lp(s), sig);
  return loadsObject(s);
}

// -- field checks ----------------------------------------------------------------------------

/**
 * The server's ids are 1-255 visible ASCII characters ('!' to '~', no space): that keeps lp()
 * encodable, comparisons exact and ids unambiguous when shown or logged.
 */
export function checkId(value, what) {
  if (typeof value !== 'string' || value.length < 1 || value.length > ID_MAX) {
    throw bad(`${what} must be 1-${ID_MAX} printable ASCII characters`);
  }
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) throw bad(`${what} must be 1-${ID_MAX} printable ASCII characters`);
  }
  return value;
}

/** libsodium reads a fixed number of bytes whatever it is given: lengths are checked first. */
export function checkBytes(value, size, what) {
  if (!isBytes(value) || value.length !== size) throw bad(`${what} must be ${size} bytes`);
  return value;
}

/**
 * A non-negative integer up to `top`; booleans (and BigInt, which the parser never makes) are not
 * integers here.
 */
export function checkInt(value, what, top = INT_MAX) {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > top) {
    throw bad(`${what} must be an integer in 0..${top}`);
  }
  return value;
}

export function checkU32(value, what) {
  return checkInt(value, what, U32_MAX);
}

/**
 * Exactly the listed fields: an unsigned extra could otherwise ride along with a valid
 * signature, and a missing one could be read as a default.
 */
export function checkFields(obj, names, what) {
  const want = new Set(names);
  const keys = Object.keys(obj);
  if (keys.length !== want.size || !keys.every((k) => want.has(k))) {
    throw bad(`${what}: unexpected or missing fields`);
  }
}

/** obj[key] if it is an own field, else undefined (Python's dict.get). */
export function get(obj, key) {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

export function reqStr(obj, key, { nullable = false } = {}) {
  const v = get(obj, key);
  if ((v === null || v === undefined) && nullable) return null;
  if (typeof v !== 'string') throw bad(`field '${key}' must be a string`);
  return v;
}

export function reqInt(obj, key) {
  return checkInt(get(obj, key), `field '${key}'`);
}

export function reqU32(obj, key) {
  return checkInt(get(obj, key), `field '${key}'`, U32_MAX);
}

export function reqId(obj, key) {
  return checkId(get(obj, key), `field '${key}'`);
}

export function reqVersion(obj, key, want) {
  const v = get(obj, key);
  if (typeof v !== 'number' || v !== want) throw bad(`${key} must be ${want}`);
}
