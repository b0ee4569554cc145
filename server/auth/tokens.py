"""Opaque secrets (session tokens, invite tokens): random, prefixed, stored only as hashes.

A SHA-256 of a 256-bit random token is enough at rest: unlike a password, the token has full
entropy, so a slow hash would only cost CPU on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_token(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
