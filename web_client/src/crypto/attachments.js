/**
 * Attachment encryption (docs/crypto.md §7); twin of crypto/attachments.py.
 *
 * The server stores an opaque blob; the key, the blob's hash and the plaintext size travel inside
 * an encrypted message. The hash binds the message to one exact blob (the server cannot swap
 * it), and secretstream's FINAL tag makes a cut-short download an error instead of a shorter
 * file.
 *
 * Chunking: every full 65,536-byte chunk is pushed with tag MESSAGE, and the remainder (0 to
 * 65,535 bytes, so possibly empty) with tag FINAL. A streaming writer never has to know in
 * advance whether a full chunk is the last one, and each plaintext size has exactly one blob
 * layout.
 */

import { checkBytes, checkInt, concat, h, isBytes, memcmp, randomBytes } from './encoding.js';
import { CryptoError } from './errors.js';
import * as sodium from './sodium.js';

export const CHUNK = 65536;
export const KEY_BYTES = sodium.SECRETSTREAM_KEYBYTES;
export const HEADER_BYTES = sodium.SECRETSTREAM_HEADERBYTES;
export const A_BYTES = sodium.SECRETSTREAM_ABYTES;
export const TAG_MESSAGE = sodium.TAG_MESSAGE;
export const TAG_FINAL = sodium.TAG_FINAL;

export class FileKey {
  constructor(key, hash, size) {
    this.key = key;
    this.hash = hash;
    this.size = size;
    Object.freeze(this);
  }
}

/**
 * The exact blob length for a plaintext of `size` bytes (lets an uploader or a downloader check
 * a length before reading anything).
 */
export function blobSize(size) {
  return HEADER_BYTES + Math.floor(size / CHUNK) * (CHUNK + A_BYTES) + (size % CHUNK) + A_BYTES;
}

/**
 * Incremental encryption for streaming uploads: send `header` first, then every `push` output in
 * order. `push` takes any amount of data and returns the ciphertext of every full chunk it
 * completes (possibly nothing); `final = true` flushes the remainder as the FINAL chunk.
 * `header` (24 bytes) is random unless given: test vectors only.
 */
export class FileEncryptor {
  constructor(key = null, { header = undefined } = {}) {
    if (key === null) key = randomBytes(KEY_BYTES);
    this.key = checkBytes(key, KEY_BYTES, 'attachment key');
    const { state, header: hdr } = sodium.secretstreamInitPush(this.key, header);
    this.state = state;
    this.header = hdr;
    this.hash = sodium.generichashInit(32);
    this.hash.update(this.header);
    this.buf = [];
    this.buffered = 0;
    this.size = 0;
    this.done = false;
  }

  emit(chunk, tag) {
    const c = sodium.secretstreamPush(this.state, chunk, tag);
    this.hash.update(c);
    return c;
  }

  push(chunk, final) {
    if (this.done) throw new CryptoError('bad_encoding', 'stream already finished');
    if (!isBytes(chunk)) throw new CryptoError('bad_encoding', 'chunk must be bytes');
    this.buf.push(Uint8Array.from(chunk));
    this.buffered += chunk.length;
    this.size += chunk.length;
    const out = [];
    if (this.buffered >= CHUNK || final) {
      const all = concat(...this.buf);
      let start = 0;
      while (all.length - start >= CHUNK) {
        out.push(this.emit(all.subarray(start, start + CHUNK), TAG_MESSAGE));
        start += CHUNK;
      }
      const rest = all.slice(start);
      this.buf = [rest];
      this.buffered = rest.length;
      if (final) {
        out.push(this.emit(rest, TAG_FINAL));
        this.buf = [];
        this.buffered = 0;
        this.done = true;
      }
    }
    return concat(...out);
  }

  /** `totalSize` is what the uploader believes it sent; a mismatch means lost data. */
  finish(totalSize) {
    if (!this.done) throw new CryptoError('bad_encoding', 'push(final=true) was never called');
    if (totalSize !== this.size) {
      throw new CryptoError('bad_encoding', `pushed ${this.size} bytes, not ${totalSize}`);
    }
    return new FileKey(this.key, this.hash.digest(), this.size);
  }
}

export function encryptFile(data, { key = null, header = undefined } = {}) {
  const enc = new FileEncryptor(key, { header });
  const blob = concat(enc.header, enc.push(data, true));
  return [blob, enc.finish(data.length)];
}

/** Hash first: nothing from a blob other than the one the message named is even parsed. */
export function decryptFile(blob, fk) {
  if (!(fk instanceof FileKey)) throw new CryptoError('bad_encoding', 'malformed file key');
  checkBytes(fk.key, KEY_BYTES, 'attachment key');
  checkBytes(fk.hash, 32, 'attachment hash');
  checkInt(fk.size, 'attachment size');
  if (!isBytes(blob)) throw new CryptoError('bad_encoding', 'blob must be bytes');
  if (!memcmp(h(32, blob), fk.hash)) {
    throw new CryptoError('bad_ciphertext', 'blob does not match its hash');
  }
  if (blob.length < HEADER_BYTES) {
    throw new CryptoError('truncated', 'blob shorter than a stream header');
  }
  const state = sodium.secretstreamInitPull(blob.subarray(0, HEADER_BYTES), fk.key);
  const out = [];
  let total = 0;
  let pos = HEADER_BYTES;
  const seg = CHUNK + A_BYTES;
  while (pos < blob.length) {
    const c = blob.subarray(pos, pos + seg);
    pos += c.length;
    if (c.length < A_BYTES) throw new CryptoError('bad_ciphertext', 'chunk shorter than its tag');
    let m;
    let tag;
    try {
      ({ m, tag } = sodium.secretstreamPull(state, c));
    } catch (err) {
      throw new CryptoError('bad_ciphertext', 'chunk does not authenticate', { cause: err });
    }
    out.push(m);
    total += m.length;
    if (tag === TAG_FINAL) {
      if (pos !== blob.length) throw new CryptoError('bad_ciphertext', 'data after the final chunk');
      if (m.length === CHUNK) {
        throw new CryptoError('bad_ciphertext', 'a full chunk is never the final one');
      }
      if (total !== fk.size) {
        throw new CryptoError('bad_ciphertext', "plaintext size differs from the message's");
      }
      return concat(...out);
    }
    if (tag !== TAG_MESSAGE) throw new CryptoError('bad_ciphertext', 'unexpected chunk tag');
    // A MESSAGE chunk shorter than CHUNK can only be the last segment: the loop ends, and a
    // stream that ends without FINAL is `truncated` whatever the last chunk's length.
  }
  throw new CryptoError('truncated', 'stream ends without its final chunk');
}
