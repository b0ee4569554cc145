/**
 * Key pairs (twin of crypto/keys.py). Only seeds / private scalars are stored; public halves are
 * recomputed.
 */

import { b64d, b64e, checkBytes } from './encoding.js';
import { CryptoError } from './errors.js';
import * as sodium from './sodium.js';

export const KEY_BYTES = 32;

/** Ed25519 from a 32-byte seed (identity keys and device signing keys). */
export class SigningKey {
  constructor(seed, publicKey, secret) {
    this.seed = seed;
    this.public = publicKey;
    this.secret = secret; // libsodium's 64-byte secret key (seed || public)
    Object.freeze(this);
  }

  static fromSeed(seed) {
    const { publicKey, secretKey } = sodium.signSeedKeypair(checkBytes(seed, KEY_BYTES, 'Ed25519 seed'));
    return new SigningKey(Uint8Array.from(seed), publicKey, secretKey);
  }

  static generate() {
    return SigningKey.fromSeed(sodium.randomBytes(KEY_BYTES));
  }

  publicB64() {
    return b64e(this.public);
  }

  /** Private halves never appear when the key is logged or serialised by accident. */
  toJSON() {
    return { public: this.publicB64() };
  }
}

/** X25519: device keys, pre-keys and ephemeral keys. */
export class DhKey {
  constructor(priv, publicKey) {
    this.private = priv;
    this.public = publicKey;
    Object.freeze(this);
  }

  static fromPrivate(priv) {
    checkBytes(priv, KEY_BYTES, 'X25519 private key');
    return new DhKey(Uint8Array.from(priv), sodium.scalarmultBase(priv));
  }

  static generate() {
    return DhKey.fromPrivate(sodium.randomBytes(KEY_BYTES));
  }

  publicB64() {
    return b64e(this.public);
  }

  toJSON() {
    return { public: this.publicB64() };
  }
}

/**
 * X25519. Lengths are checked first because libsodium reads 32 bytes whatever it is given;
 * libsodium refuses low-order points (an all-zero shared secret), which is `bad_encoding` here
 * rather than a silent weak key.
 */
export function dh(priv, pub) {
  checkBytes(priv, KEY_BYTES, 'X25519 private key');
  checkBytes(pub, KEY_BYTES, 'X25519 public key');
  try {
    return sodium.scalarmult(priv, pub);
  } catch (err) {
    throw new CryptoError('bad_encoding', 'low-order X25519 public key', { cause: err });
  }
}

export function publicKey(text) {
  return b64d(text, KEY_BYTES);
}
