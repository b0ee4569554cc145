"""Sealing TOTP secrets at rest: binding to the account and key id, key lists, the key file."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pyotp
import pytest

from server.auth.totp_secrets import (
    KEY_FILE,
    TotpCipher,
    TotpKeyError,
    load_cipher,
    new_key_line,
    parse_keys,
)
from server.settings import Settings


def _cipher(*lines: str) -> TotpCipher:
    return TotpCipher(parse_keys(",".join(lines)))


def test_seal_opens_only_for_its_account() -> None:
    c = _cipher(new_key_line())
    secret = pyotp.random_base32()
    sealed = c.seal("u_a", secret)
    assert sealed.startswith(f"v1:{c.current_id}:") and secret not in sealed
    assert c.open("u_a", sealed) == secret
    with pytest.raises(TotpKeyError):
        c.open("u_b", sealed)  # copied onto another account


def test_relabelled_or_tampered_values_do_not_open() -> None:
    old, new = new_key_line(), new_key_line()
    c = _cipher(new, old)
    sealed = c.seal("u_a", pyotp.random_base32())
    relabelled = sealed.replace(c.current_id, old.split(":")[0], 1)
    with pytest.raises(TotpKeyError):
        c.open("u_a", relabelled)
    raw = bytearray(base64.b64decode(sealed.rsplit(":", 1)[1]))
    raw[-1] ^= 1
    with pytest.raises(TotpKeyError):
        c.open("u_a", sealed.rsplit(":", 1)[0] + ":" + base64.b64encode(bytes(raw)).decode())


def test_rotation_first_key_seals_all_keys_open() -> None:
    old, new = new_key_line(), new_key_line()
    secret = pyotp.random_base32()
    before = _cipher(old).seal("u_a", secret)
    rotated = _cipher(new, old)
    assert rotated.open("u_a", before) == secret and not rotated.is_current(before)
    assert rotated.is_current(rotated.seal("u_a", secret))
    with pytest.raises(TotpKeyError):
        _cipher(new).open("u_a", before)  # the old key dropped too early


def test_clear_secrets_from_before_still_open() -> None:
    c = _cipher(new_key_line())
    secret = pyotp.random_base32()
    assert c.open("u_a", secret) == secret and not c.is_current(secret)


@pytest.mark.parametrize(
    "raw",
    ["nokey", "a:notbase64!", "a:" + base64.b64encode(b"short").decode(), "bad id:AAAA"],
)
def test_malformed_key_lists_are_refused(raw: str) -> None:
    with pytest.raises(TotpKeyError):
        parse_keys(raw)


def test_duplicate_key_ids_are_refused() -> None:
    line = new_key_line()
    with pytest.raises(TotpKeyError):
        parse_keys(f"{line},{line}")


def test_key_file_created_once_private(tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path))
    first = load_cipher(settings)
    path = tmp_path / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = load_cipher(settings)
    assert again.current_id == first.current_id
    secret = pyotp.random_base32()
    assert again.open("u_a", first.seal("u_a", secret)) == secret
    assert [p.name for p in path.parent.iterdir()] == ["totp.key"]  # no temporary left


def test_configured_keys_win_over_the_file(tmp_path: Path) -> None:
    line = new_key_line()
    c = load_cipher(Settings(data_dir=str(tmp_path), totp_keys=line))
    assert c.current_id == line.split(":")[0]
    assert not (tmp_path / KEY_FILE).exists()
