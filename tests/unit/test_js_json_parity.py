"""The strict JSON of the JavaScript twin (web_client/src/crypto/encoding.js) against
crypto/encoding.py, case for case (docs/crypto.md §0.1).

A generated corpus of JSON texts, valid and invalid (numbers with fractions and exponents, `-0`,
integers at and beyond +-2^53, NaN/Infinity, duplicate keys, deep nesting, unicode escapes, lone
surrogates, whitespace variants, bytes that are not UTF-8, and seeded random mutations of valid
texts), goes through `loads_object` (and, for texts that are not objects, the parser behind it)
in Python and through loadsObject / loadsValue in JS, driven by web_client/test/json_parity.mjs.
Both must accept or refuse the same texts with the same code, read the same value, and write it
back as the same canonical text (or both refuse to write it, as for a lone surrogate).

Without Node.js or web_client/node_modules this skips, or fails under RELAIS_REQUIRE_SERVICES=1
like the other JS tests.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from collections.abc import Iterator
from typing import Any

from crypto import encoding
from crypto.errors import CryptoError
from tests.nodejs import WEB_CLIENT, require_node

Case = dict[str, str]
TIMEOUT_S = 300
SEED = 20240531

INT_MAX = 2**53

# -- the corpus ------------------------------------------------------------------------------

_INTEGERS = [
    0,
    1,
    7,
    10,
    2**31 - 1,
    2**31,
    2**32 - 1,
    2**32,
    10**15 - 1,
    10**15,
    10**16 - 1,
    10**16,
    INT_MAX - 1,
    INT_MAX,
    INT_MAX + 1,
    INT_MAX + 2,  # a double holds it exactly, and it is still refused
    INT_MAX + 7,
    9_007_199_254_740_999,
    9_999_999_999_999_999,
    8_999_999_999_999_999,
    2**63,
    2**64,
    10**21,
    10**22,
    10**400,
]

NUMBERS = [
    *(str(n) for n in _INTEGERS),
    *(str(-n) for n in _INTEGERS),
    "-0",
    "9" * 5000,
    "-" + "9" * 5000,
    "1" + "0" * 4400,
    # fractions and exponents, whole or not
    "0.0",
    "-0.0",
    "1.0",
    "-1.0",
    "1.5",
    "0.1",
    "9007199254740992.0",
    "1e3",
    "1E3",
    "1e+3",
    "1e-3",
    "1e0",
    "0e0",
    "-0e-0",
    "1.5e3",
    "1.0e0",
    "1e400",
    "-1e400",
    "1e-400",
    "123.456e-7",
    "9007199254740993e0",
    # not JSON numbers
    "2.",
    ".5",
    "1.e3",
    "1e",
    "1e+",
    "1ee3",
    "00",
    "01",
    "-00",
    "-01",
    "+1",
    "-",
    "--1",
    "0x10",
    "1_000",
    "\u0661",  # ARABIC-INDIC DIGIT ONE
    "１",  # FULLWIDTH DIGIT ONE
    # constants
    "NaN",
    "-NaN",
    "Infinity",
    "-Infinity",
    "+Infinity",
    "infinity",
    "nan",
    "true",
    "false",
    "null",
    "True",
    "None",
    "undefined",
    "tru",
    "nul",
]

NUMBER_CONTEXTS = ['{{"a":{}}}', '{{"a": [{}, 1]}}', '{{"x":{{"b":{}}}}}', "[{}]", "{}"]

STRING_BODIES = [
    "",
    "plain",
    "é ✓ 😀",
    "\x7f\u2028\u2029/",
    "\\u0041\\u00e9\\u00E9",
    "\\ud83d\\ude00",
    "\\uD83D\\uDE00",
    "\\ud800",
    "\\udc00",
    "\\udfff\\ud800",
    "\\ud800a",
    "\\ud800\\u0041",
    "a\\ud83d",
    "\\ud83d\\ud83d\\ude00",
    "\\u0000\\u001f\\u007f\\u2028",
    '\\u005c\\u0022\\/\\"\\\\',
    "\\b\\f\\n\\r\\t",
    "\\uFFFF\\uFEFF",
    # bad escapes
    "\\x41",
    "\\u12",
    "\\u12G4",
    "\\U0001F600",
    "\\'",
    "\\a",
    "\\0",
    "\\",
    "\\u",
    "\\ ",
    # raw control characters (all refused) and raw lone surrogates (kept)
    *(chr(c) for c in (0, 1, 9, 10, 13, 0x1F)),
    "\ud800",
    "x\udfffy",
]

KEY_SETS = [
    ["b", "a", "B", "é", "\U00010000", "\uffff", ""],
    ["\\uffff", "\\ud800\\udc00"],  # code point order differs from UTF-16 order here
    ["a\\u0000", "a", "a\\t"],
    ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf"],
    ["\\ud800"],
]

DUPLICATES = [
    '{"a":1,"a":1}',
    '{"a":1,"a":2}',
    '{"a":1,"b":2,"a":3}',
    '{"":1,"":2}',
    '{"a":1,"\\u0061":2}',
    '{"é":1,"\\u00e9":2}',
    '{"😀":1,"\\ud83d\\ude00":2}',
    '{"__proto__":1,"__proto__":2}',
    '{"__proto__":{"a":1}}',
    '{"x":[{"b":0,"b":1}]}',
    '{"x":{"y":{"z":1,"z":1}}}',
    '{"a":{"b":1},"c":{"b":2}}',
    '[{"a":1,"a":2}]',
]

STRUCTURE = [
    "",
    " ",
    "{",
    "}",
    "{}",
    "[]",
    "{} {}",
    "{}x",
    "{},",
    "{,}",
    '{"a":1,}',
    '{"a":[1,]}',
    '{"a" 1}',
    '{"a":}',
    '{"a"}',
    "{:1}",
    "{'a':1}",
    "{a:1}",
    '{"a":1 "b":2}',
    '{"a":1,,"b":2}',
    '{"a":[1 2]}',
    '{"a":"x}',
    '{"a":"x"',
    '"x"',
    "1",
    "/*c*/{}",
    '{"a":1}//',
    '{"a":1}#',
    "\x00{}",
    "{}\x00",
]

WHITESPACE = ["", " ", "\t", "\n", "\r", " \n\t\r ", "\r\n"]
NOT_WHITESPACE = ["\f", "\v", "\u00a0", "\u2028", "\u2003", "\ufeff", "\x00", "\x1c"]
WS_TEMPLATE = '%{%"a"%:%[%1%,%-2%,%"x"%,%true%,%null%]%,%"b"%:%{%}%}%'


def _nest(depth: int, kind: str) -> str:
    if kind == "array":
        return '{"a":' + "[" * depth + "]" * depth + "}"
    if kind == "object":
        return '{"a":' * depth + "0" + "}" * depth
    return '{"a":' + '[{"a":' * depth + "1" + "}]" * depth + "}"


# JS refuses beyond JSON_DEPTH_MAX (900) levels; Python at its recursion limit: near 1000 levels
# on 3.11, counting the caller's stack, more on later versions (a separate C recursion limit).
# Depths in between are left out (neither side promises them): the deepest accepted case is
# 601 levels (mixed, 300), the shallowest refused one 50,000.
DEPTHS_OK = [1, 2, 31, 100, 300, 600]
DEPTHS_REFUSED = [50_000, 100_000]

BYTES = [
    b"{}",
    '{"a":"é😀"}'.encode(),
    b"\xef\xbb\xbf{}",  # a BOM
    b"\xef\xbb\xbf",
    "{}".encode("utf-16"),
    "{}".encode("utf-16-le"),
    "{}".encode("utf-16-be"),
    "{}".encode("utf-32"),
    b'{"a":"\xff"}',
    b'{"a":"\xc0\xaf"}',  # overlong "/"
    b'{"a":"\xe0\x80\xaf"}',
    b'{"a":"\xed\xa0\x80"}',  # CESU-8 / WTF-8 lone surrogate
    b'{"a":"\xed\xa0\xbd\xed\xb8\x80"}',  # CESU-8 pair
    b'{"a":"\xf0\x9f\x98"}',  # truncated
    b'{"a":"\xf4\x90\x80\x80"}',  # beyond U+10FFFF
    b'{"a":"\xc3"}',
    b'{"a":1}\xc3',
    b'{"\xc3\xa9":1}',
    b"{\x00}",
]


def _fixed_cases() -> Iterator[Case]:
    for num in NUMBERS:
        for ctx in NUMBER_CONTEXTS:
            text = ctx.format(num)
            yield {"mode": "object", "text": text}
            yield {"mode": "value", "text": text}
    for body in STRING_BODIES:
        yield {"mode": "object", "text": '{"s":"' + body + '"}'}
        yield {"mode": "object", "text": '{"' + body + '":1}'}
        yield {"mode": "value", "text": '"' + body + '"'}
    for keys in KEY_SETS:
        text = "{" + ",".join(f'"{k}":{i}' for i, k in enumerate(keys)) + "}"
        yield {"mode": "object", "text": text}
        yield {"mode": "object", "text": '{"o":' + text + ',"a":[' + text + "]}"}
    for text in DUPLICATES + STRUCTURE:
        yield {"mode": "object", "text": text}
        yield {"mode": "value", "text": text}
    for ws in WHITESPACE + NOT_WHITESPACE:
        yield {"mode": "object", "text": WS_TEMPLATE.replace("%", ws)}
        for i in range(WS_TEMPLATE.count("%")):
            parts = WS_TEMPLATE.split("%")
            text = "".join(p + (ws if j == i else "") for j, p in enumerate(parts[:-1]))
            yield {"mode": "object", "text": text + parts[-1]}
    for depth in DEPTHS_OK + DEPTHS_REFUSED:
        for kind in ("array", "object", "mixed"):
            yield {"mode": "object", "text": _nest(depth, kind)}
    for depth in DEPTHS_REFUSED:
        yield {"mode": "value", "text": "[" * depth}
        yield {"mode": "value", "text": "[" * depth + "]" * depth}
        yield {"mode": "object", "text": '{"a":' + "[" * depth}
    for raw in BYTES:
        yield {"mode": "object", "hex": raw.hex()}


# Random values and mutations of their texts: characters that matter to a JSON reader.
_ALPHABET = [
    *'{}[]":,.-+eE0123456789 \t\n\r\\u/abfnrtlsxNIy',
    "é",
    "\ud800",
    "\udc00",
    "\x00",
    "\x7f",
    "\ufeff",
    "😀",
]
_KEY_CHARS = ["a", "b", "z", "A", "_", " ", "é", "ÿ", "\uffff", "😀", "\u2028", "\n", '"', "\\"]


def _random_int(rng: random.Random) -> int:
    return rng.choice(
        [
            rng.randint(-10, 10),
            rng.randint(-(2**32), 2**32),
            rng.randint(-INT_MAX, INT_MAX),
            rng.choice([INT_MAX, -INT_MAX, INT_MAX - 1, 10**15, 10**16 - 1]),
        ]
    )


def _random_value(rng: random.Random, depth: int) -> Any:
    roll = rng.random()
    if depth > 4 or roll < 0.45:
        kind = rng.randrange(6)
        if kind == 0:
            return _random_int(rng)
        if kind == 1:
            return "".join(rng.choice(_KEY_CHARS) for _ in range(rng.randrange(6)))
        return [True, False, None, 0][kind - 2]
    if roll < 0.7:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = {"".join(rng.choice(_KEY_CHARS) for _ in range(rng.randrange(1, 4))) for _ in range(4)}
    return {k: _random_value(rng, depth + 1) for k in sorted(keys)[: rng.randrange(5)]}


def _random_text(rng: random.Random, obj: Any) -> str:
    text = json.dumps(
        obj,
        ensure_ascii=rng.random() < 0.5,
        sort_keys=rng.random() < 0.5,
        separators=rng.choice([(",", ":"), (", ", ": "), (" ,\n", "\t:\r")]),
    )
    if rng.random() < 0.5:
        text = rng.choice(WHITESPACE) + text + rng.choice(WHITESPACE)
    return text


def _mutate(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(4)
        i = rng.randrange(len(chars) + 1)
        if op == 0 and chars:
            del chars[min(i, len(chars) - 1)]
        elif op == 1:
            chars.insert(i, rng.choice(_ALPHABET))
        elif op == 2 and chars:
            chars[min(i, len(chars) - 1)] = rng.choice(_ALPHABET)
        else:
            j = rng.randrange(i, len(chars) + 1)
            chars[j:j] = chars[i : min(j, i + 8)]
    return "".join(chars)


def _random_cases(rng: random.Random, n: int) -> Iterator[Case]:
    for _ in range(n):
        obj = {"r": _random_value(rng, 0)}
        text = _random_text(rng, obj)
        yield {"mode": "object", "text": text}
        yield {"mode": "object", "text": _mutate(rng, text)}
        yield {"mode": "value", "text": _mutate(rng, text)}


def corpus() -> list[Case]:
    return [*_fixed_cases(), *_random_cases(random.Random(SEED), 1500)]


# -- the two sides ---------------------------------------------------------------------------


def python_result(case: Case) -> dict[str, Any]:
    """What crypto/encoding.py does with a case, in the shape json_parity.mjs reports."""
    try:
        if "hex" in case:
            value = encoding.loads_object(bytes.fromhex(case["hex"]))
        elif case["mode"] == "object":
            value = encoding.loads_object(case["text"])
        else:
            # The parser behind loads_object, for texts that are not one object; its errors are
            # mapped the way loads_object maps them.
            try:
                value = encoding._strict_loads(case["text"])
            except (ValueError, RecursionError) as err:
                raise CryptoError("bad_encoding", "not JSON") from err
    except CryptoError as err:
        return {"ok": False, "code": err.code}
    try:
        return {"ok": True, "value": value, "dumps": encoding.dumps(value)}
    except CryptoError as err:
        return {"ok": True, "value": value, "dumps_code": err.code}


def js_results(cases: list[Case]) -> list[dict[str, Any]]:
    node = require_node()
    env = {k: v for k, v in os.environ.items() if k != "NODE_TEST_CONTEXT"}
    run = subprocess.run(
        [node, "test/json_parity.mjs"],
        cwd=WEB_CLIENT,
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=TIMEOUT_S,
        env=env,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    results: list[dict[str, Any]] = json.loads(run.stdout)
    assert len(results) == len(cases)
    return results


def _typed(value: Any) -> str:
    # json.dumps tells true from 1 (Python's == does not) and escapes lone surrogates.
    return json.dumps(value, sort_keys=True)


def _same(py: dict[str, Any], js: dict[str, Any]) -> bool:
    if "crash" in js or py["ok"] != js["ok"]:
        return False
    if not py["ok"]:
        return bool(py["code"] == js["code"])
    return (
        _typed(py["value"]) == _typed(js["value"])
        and py.get("dumps") == js.get("dumps")
        and py.get("dumps_code") == js.get("dumps_code")
    )


def _show(case: Case, py: dict[str, Any], js: dict[str, Any]) -> str:
    def short(d: dict[str, Any]) -> str:
        return repr({k: (_typed(v)[:80] if k == "value" else v) for k, v in d.items()})[:300]

    shown = repr(case.get("text", case.get("hex")))[:120]
    return f"{case['mode']} {shown}\n  py {short(py)}\n  js {short(js)}"


# -- tests -----------------------------------------------------------------------------------


def test_js_and_python_read_and_write_every_case_alike() -> None:
    cases = corpus()
    js = js_results(cases)
    py = [python_result(c) for c in cases]
    crashes = [_show(c, p, j) for c, p, j in zip(cases, py, js, strict=True) if "crash" in j]
    assert not crashes, "JS threw something other than a CryptoError:\n" + "\n".join(crashes[:20])
    diffs = [_show(c, p, j) for c, p, j in zip(cases, py, js, strict=True) if not _same(p, j)]
    assert not diffs, f"{len(diffs)} of {len(cases)} cases differ:\n" + "\n".join(diffs[:20])
    # The corpus exercises both outcomes, and writing as well as reading.
    accepted = sum(p["ok"] for p in py)
    written = sum("dumps" in p for p in py)
    assert accepted > 1000 and len(cases) - accepted > 1000, (accepted, len(cases))
    assert written > 1000 and accepted - written > 10, (written, accepted)


# docs/crypto.md §0.1 on both sides: the canonical text, or None for bad_encoding.
RULE = [
    ('{"a": 0}', '{"a":0}'),
    ('{"a": -0}', '{"a":0}'),  # Python's int("-0"): read as 0, never written as -0
    ('{"a": 9007199254740992}', '{"a":9007199254740992}'),
    ('{"a": -9007199254740992}', '{"a":-9007199254740992}'),
    ('{"a": 9007199254740993}', None),
    ('{"a": -9007199254740993}', None),
    ('{"a": 9007199254740994}', None),
    ('{"a": 1.0}', None),
    ('{"a": -0.0}', None),
    ('{"a": 1.5}', None),
    ('{"a": 1e3}', None),
    ('{"a": 1E+3}', None),
    ('{"a": 0e0}', None),
    ('{"a": 1e400}', None),
    ('{"a": NaN}', None),
    ('{"a": Infinity}', None),
    ('{"a": -Infinity}', None),
    ('{"a": 1, "a": 1}', None),
    ('{"a": "\\ud800"}', None),  # read, but it cannot be written
    ('{ "b" :\t[ true ,null ],\r\n"a":"\\u00e9\\/" }', '{"a":"é/","b":[true,null]}'),
]


def test_both_follow_the_rule_of_section_0_1() -> None:
    cases = [{"mode": "object", "text": text} for text, _ in RULE]
    for case, py, js, (text, want) in zip(
        cases, map(python_result, cases), js_results(cases), RULE, strict=True
    ):
        for side in (py, js):
            got = side.get("dumps") if side.get("ok") else None
            assert got == want, (text, side)
            if want is None:
                assert side.get("code", side.get("dumps_code")) == "bad_encoding", (text, side)
        assert _same(py, js), _show(case, py, js)
