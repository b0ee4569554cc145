"""Protocol test vectors (docs/crypto.md §8) and the helpers the tests share to read them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent


def load(name: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads((HERE / name).read_text(encoding="utf-8"))["cases"]
    return cases


def flip_bit(text: str, index: int) -> str:
    """`text` with bit `index` of its UTF-8 bytes flipped. Bytes that stop being UTF-8 come back
    as lone surrogates, which is what a parser of hostile input must also survive."""
    raw = bytearray(text.encode("utf-8"))
    raw[index // 8] ^= 1 << (index % 8)
    return raw.decode("utf-8", "surrogateescape")
