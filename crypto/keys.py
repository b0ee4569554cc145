"""Key pairs. Only seeds / private scalars are stored; public halves are recomputed."""

from __future__ import annotations

import os
from dataclasses import dataclass

import nacl.bindings as sodium

from .encoding import b64d, b64e


@dataclass(frozen=True)
class SigningKey:
    """Ed25519 from a 32-byte seed (identity keys and device signing keys)."""

    seed: bytes
    public: bytes
    secret: bytes  # libsodium's 64-byte secret key (seed || public)

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        pk, sk = sodium.crypto_sign_seed_keypair(seed)
        return cls(seed, bytes(pk), bytes(sk))

    @classmethod
    def generate(cls) -> SigningKey:
        return cls.from_seed(os.urandom(32))

    def public_b64(self) -> str:
        return b64e(self.public)


@dataclass(frozen=True)
class DhKey:
    """X25519: device keys, pre-keys and ephemeral keys."""

    private: bytes
    public: bytes

    @classmethod
    def from_private(cls, private: bytes) -> DhKey:
        return cls(private, bytes(sodium.crypto_scalarmult_base(private)))

    @classmethod
    def generate(cls) -> DhKey:
        return cls.from_private(os.urandom(32))

    def public_b64(self) -> str:
        return b64e(self.public)


def dh(private: bytes, public: bytes) -> bytes:
    """X25519; libsodium refuses low-order points (all-zero output), which we surface as a
    ValueError-derived failure rather than a silent weak key."""
    return bytes(sodium.crypto_scalarmult(private, public))


def public_key(text: str) -> bytes:
    return b64d(text, 32)
