"""Attachment encryption (docs/crypto.md §7).

The server stores an opaque blob; the key, the blob's hash and the plaintext size travel inside an
encrypted message. The hash binds the message to one exact blob (the server cannot swap it), and
secretstream's FINAL tag makes a cut-short download an error instead of a shorter file.

Chunking: every full 65,536-byte chunk is pushed with tag MESSAGE, and the remainder (0 to 65,535
bytes, so possibly empty) with tag FINAL. A streaming writer never has to know in advance whether
a full chunk is the last one, and each plaintext size has exactly one blob layout.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import nacl.bindings as sodium
import nacl.exceptions

from .encoding import check_bytes, check_int, h
from .errors import CryptoError

CHUNK = 65536
KEY_BYTES = sodium.crypto_secretstream_xchacha20poly1305_KEYBYTES
HEADER_BYTES = sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES
A_BYTES = sodium.crypto_secretstream_xchacha20poly1305_ABYTES
TAG_MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
TAG_FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL
_NACL_ERRORS = (nacl.exceptions.CryptoError, ValueError, TypeError, RuntimeError)


@dataclass(frozen=True)
class FileKey:
    key: bytes
    hash: bytes
    size: int


def blob_size(size: int) -> int:
    """The exact blob length for a plaintext of `size` bytes (lets an uploader or a downloader
    check a length before reading anything)."""
    return HEADER_BYTES + (size // CHUNK) * (CHUNK + A_BYTES) + (size % CHUNK) + A_BYTES


class FileEncryptor:
    """Incremental encryption for streaming uploads: send `header` first, then every `push`
    output in order. `push` takes any amount of data and returns the ciphertext of every full
    chunk it completes (possibly nothing); `final=True` flushes the remainder as the FINAL chunk.
    """

    def __init__(self, key: bytes | None = None) -> None:
        if key is None:
            key = os.urandom(KEY_BYTES)
        self.key = check_bytes(key, KEY_BYTES, "attachment key")
        self._state = sodium.crypto_secretstream_xchacha20poly1305_state()
        self.header: bytes = bytes(
            sodium.crypto_secretstream_xchacha20poly1305_init_push(self._state, key)
        )
        self._hash = sodium.crypto_generichash_blake2b_init(digest_size=32)
        sodium.crypto_generichash_blake2b_update(self._hash, self.header)
        self._buf = bytearray()
        self._size = 0
        self._done = False

    def _emit(self, chunk: bytes, tag: int) -> bytes:
        c = bytes(sodium.crypto_secretstream_xchacha20poly1305_push(self._state, chunk, tag=tag))
        sodium.crypto_generichash_blake2b_update(self._hash, c)
        return c

    def push(self, chunk: bytes, final: bool) -> bytes:
        if self._done:
            raise CryptoError("bad_encoding", "stream already finished")
        if not isinstance(chunk, bytes | bytearray | memoryview):
            raise CryptoError("bad_encoding", "chunk must be bytes")
        self._buf += chunk
        self._size += len(chunk)
        out = bytearray()
        start = 0
        while len(self._buf) - start >= CHUNK:
            out += self._emit(bytes(self._buf[start : start + CHUNK]), TAG_MESSAGE)
            start += CHUNK
        del self._buf[:start]
        if final:
            out += self._emit(bytes(self._buf), TAG_FINAL)
            self._buf.clear()
            self._done = True
        return bytes(out)

    def finish(self, total_size: int) -> FileKey:
        """`total_size` is what the uploader believes it sent; a mismatch means lost data."""
        if not self._done:
            raise CryptoError("bad_encoding", "push(final=True) was never called")
        if total_size != self._size:
            raise CryptoError("bad_encoding", f"pushed {self._size} bytes, not {total_size}")
        digest = bytes(sodium.crypto_generichash_blake2b_final(self._hash))
        return FileKey(self.key, digest, self._size)


def encrypt_file(data: bytes, *, key: bytes | None = None) -> tuple[bytes, FileKey]:
    enc = FileEncryptor(key)
    blob = enc.header + enc.push(data, final=True)
    return blob, enc.finish(len(data))


def decrypt_file(blob: bytes, fk: FileKey) -> bytes:
    """Hash first: nothing from a blob other than the one the message named is even parsed."""
    if not isinstance(fk, FileKey):
        raise CryptoError("bad_encoding", "malformed file key")
    check_bytes(fk.key, KEY_BYTES, "attachment key")
    check_bytes(fk.hash, 32, "attachment hash")
    check_int(fk.size, "attachment size")
    if isinstance(blob, bytearray | memoryview):
        blob = bytes(blob)
    if not isinstance(blob, bytes):
        raise CryptoError("bad_encoding", "blob must be bytes")
    if h(32, blob) != fk.hash:
        raise CryptoError("bad_ciphertext", "blob does not match its hash")
    if len(blob) < HEADER_BYTES:
        raise CryptoError("truncated", "blob shorter than a stream header")
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    try:
        sodium.crypto_secretstream_xchacha20poly1305_init_pull(state, blob[:HEADER_BYTES], fk.key)
    except _NACL_ERRORS as err:
        raise CryptoError("bad_ciphertext", "bad stream header") from err
    out = bytearray()
    pos = HEADER_BYTES
    seg = CHUNK + A_BYTES
    while pos < len(blob):
        c = blob[pos : pos + seg]
        pos += len(c)
        if len(c) < A_BYTES:
            raise CryptoError("bad_ciphertext", "chunk shorter than its tag")
        try:
            m, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(state, c)
        except _NACL_ERRORS as err:
            raise CryptoError("bad_ciphertext", "chunk does not authenticate") from err
        out += m
        if tag == TAG_FINAL:
            if pos != len(blob):
                raise CryptoError("bad_ciphertext", "data after the final chunk")
            if len(m) == CHUNK:
                raise CryptoError("bad_ciphertext", "a full chunk is never the final one")
            if len(out) != fk.size:
                raise CryptoError("bad_ciphertext", "plaintext size differs from the message's")
            return bytes(out)
        if tag != TAG_MESSAGE:
            raise CryptoError("bad_ciphertext", "unexpected chunk tag")
        # A MESSAGE chunk shorter than CHUNK can only be the last segment: the loop ends.
    raise CryptoError("truncated", "stream ends without its final chunk")
