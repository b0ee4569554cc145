"""Every string the browser app shows comes from its catalogues (web_client/src/i18n), French by
default and English; a key used in the sources and missing from a catalogue, a key one catalogue
has and the other lacks, or a server error code without words for the user fails here."""

from __future__ import annotations

import json
import re

from server.errors import ERROR_STATUS
from tests.nodejs import WEB_CLIENT

SRC = WEB_CLIENT / "src"
LANGS = ("fr", "en")
# t("key"), t('key', ...), t(`key`) with a literal key; template keys (`lang.${l}`) are checked
# through their expansions below.
USE = re.compile(r"""\bt\(\s*["'`]([a-z0-9_.]+)["'`]""")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _catalogue(lang: str) -> dict[str, str]:
    data = json.loads((SRC / "i18n" / f"{lang}.json").read_text(encoding="utf-8"))
    assert all(isinstance(v, str) and v.strip() for v in data.values()), lang
    return data


def _used_keys() -> set[str]:
    keys: set[str] = set()
    for path in SRC.rglob("*.js"):
        keys |= set(USE.findall(path.read_text(encoding="utf-8")))
    return keys


def test_catalogues_have_the_same_keys_and_placeholders() -> None:
    fr, en = (_catalogue(lang) for lang in LANGS)
    assert sorted(fr.keys() - en.keys()) == [], "missing in en.json"
    assert sorted(en.keys() - fr.keys()) == [], "missing in fr.json"
    for key in fr:
        assert set(PLACEHOLDER.findall(fr[key])) == set(PLACEHOLDER.findall(en[key])), key


def test_every_key_used_in_the_sources_exists() -> None:
    used = _used_keys()
    assert len(used) > 20, "the scan found no keys: has the t() call changed?"
    for lang in LANGS:
        missing = sorted(used - _catalogue(lang).keys())
        assert missing == [], f"{lang}.json lacks {missing}"


def test_every_language_has_its_own_name() -> None:
    for lang in LANGS:
        assert all(f"lang.{code}" in _catalogue(lang) for code in LANGS)


def test_every_server_error_code_has_words_for_the_user() -> None:
    for lang in LANGS:
        cat = _catalogue(lang)
        missing = sorted(c for c in ERROR_STATUS if f"error.{c}" not in cat)
        assert missing == [], f"{lang}.json lacks error strings for {missing}"


def test_key_families_built_at_run_time_are_complete() -> None:
    """Keys the sources build from a value (`role.${role}`, `message.failed.${code}`, ...): every
    value the server or the protocol can produce has its words."""
    from crypto.errors import CODES

    devices = ("denied", "missing", "unsupported", "no_camera", "no_microphone")
    families = {
        "role": ("admin", "clinician", "assistant", "caregiver", "patient"),
        "room_role": ("owner", "member"),
        "consent": ("verbal", "written"),
        "message.failed": (*CODES, "room_frozen", "other"),
        "consult.role": ("host", "patient", "assistant", "observer"),
        "consult.state": ("invited", "waiting", "left", "denied"),
        # The call (src/call/modes.js, src/join/call.js, src/ui/clinician/call_panel.js).
        "consult.mode": ("video_high", "video_low", "audio_only", "text_only", "unknown"),
        "consult.cause": ("weak", "cut", "better", "resumed"),
        "consult.devices": devices,
        "call.family": ("video", "audio", "text", "unknown", "connecting"),
        "call.why_weak": ("video", "audio", "text", "unknown"),
        "call.why": ("cut", "better", "resumed"),
        "call.devices": devices,
    }
    for lang in LANGS:
        cat = _catalogue(lang)
        missing = sorted(
            key
            for fam, values in families.items()
            for v in values
            if (key := f"{fam}_{v}" if fam.startswith(("consult.", "call.")) else f"{fam}.{v}")
            not in cat
        )
        assert missing == [], f"{lang}.json lacks {missing}"
