"""argon2id password hashing, run off the event loop (a hash costs tens of milliseconds)."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# RFC 9106 "second recommended" profile scaled to a 2-core server: 64 MiB, 3 passes. The cost
# is a setting (argon2_time_cost / argon2_memory_kib); stored hashes carry their own parameters,
# so changing it never locks anyone out, and `needs_rehash` tells when to upgrade one.
_HASHER = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=1)
# Verified against when the user does not exist, so timing does not reveal valid usernames.
_DUMMY_HASH: str | None = None


def configure(time_cost: int, memory_kib: int) -> None:
    global _HASHER, _DUMMY_HASH
    if (_HASHER.time_cost, _HASHER.memory_cost) != (time_cost, memory_kib):
        _HASHER = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)
        _DUMMY_HASH = None


def _dummy() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = _HASHER.hash("relais-dummy-password")
    return _DUMMY_HASH


MIN_PASSWORD_LENGTH = 10


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_HASHER.hash, password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(stored or _dummy(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str | None, password: str) -> bool:
    return await asyncio.to_thread(_verify, stored, password)


def needs_rehash(stored: str) -> bool:
    return _HASHER.check_needs_rehash(stored)
