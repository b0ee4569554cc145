"""Key pairs. Only seeds / private scalars are stored; public halves are recomputed."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import nacl.bindings as sodium
import nacl.exceptions

from .encoding import b64d, b64e, check_bytes
from .errors import CryptoError

KEY_BYTES = 32


@dataclass(frozen=True)
class SigningKey:
    """Ed25519 from a 32-byte seed (identity keys and device signing keys)."""

    # Private halves never appear in a repr (assertion messages, logs, tracebacks).
    seed: bytes = field(repr=False)
    public: bytes
    secret: bytes = field(repr=False)  # libsodium's 64-byte secret key (seed || public)

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        pk, sk = sodium.crypto_sign_seed_keypair(check_bytes(seed, KEY_BYTES, "Ed25519 seed"))
        return cls(seed, bytes(pk), bytes(sk))

    @classmethod
    def generate(cls) -> SigningKey:
        return cls.from_seed(os.urandom(KEY_BYTES))

    def public_b64(self) -> str:
        return b64e(self.public)


@dataclass(frozen=True)
class DhKey:
    """X25519: device keys, pre-keys and ephemeral keys."""

    private: bytes = field(repr=False)
    public: bytes

    @classmethod
    def from_private(cls, private: bytes) -> DhKey:
        check_bytes(private, KEY_BYTES, "X25519 private key")
        return cls(private, bytes(sodium.crypto_scalarmult_base(private)))

    @classmethod
    def generate(cls) -> DhKey:
        return cls.from_private(os.urandom(KEY_BYTES))

    def public_b64(self) -> str:
        return b64e(self.public)


def dh(private: bytes, public: bytes) -> bytes:
    """X25519. Lengths are checked first because libsodium reads 32 bytes whatever it is given;
    libsodium refuses low-order points (an all-zero shared secret), which is `bad_encoding` here
    rather than a silent weak key."""
    check_bytes(private, KEY_BYTES, "X25519 private key")
    check_bytes(public, KEY_BYTES, "X25519 public key")
    try:
        return bytes(sodium.crypto_scalarmult(private, public))
    except nacl.exceptions.CryptoError as err:
        raise CryptoError("bad_encoding", "low-order X25519 public key") from err


def public_key(text: str) -> bytes:
    return b64d(text, KEY_BYTES)
