"""Property tests of the wire schemas: every socket event payload and every REST body.

- well-formed payloads are accepted and survive a dump/JSON round trip unchanged;
- anything else is refused with a pydantic ValidationError and never another exception type
  (which would surface as `internal` instead of `validation_failed`);
- every model forbids unknown fields (the opaque envelope excepted, within its own bounds);
- the typed error built from a refusal carries field paths and error kinds only — never the
  offending value, which may be patient data.

The models are collected from the live registries, so a new event or route is covered as soon
as it is declared.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

import server.app
from server.api.routing import ROUTES, validation_error
from server.messaging.schemas import Envelope, History, MessageSend, Sync
from server.realtime.registry import EVENTS, _validation_error

server.app._load_features()

MODELS: dict[str, type[BaseModel]] = {}
for _spec in ROUTES:
    if _spec.body is not None:
        MODELS[f"{_spec.method} {_spec.path}"] = _spec.body
for _name, _ev in EVENTS.items():
    if _ev.model is not None:
        MODELS[f"event {_name}"] = _ev.model
OPEN_MODELS = {Envelope}  # documented: up to 13 extra scalar fields, checked by extras_ok()

SECRET = "PATIENT-SECRET-7f3a"

ID_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
ids = st.text(alphabet=ID_ALPHABET, min_size=1, max_size=40)
client_msg_ids = st.text(alphabet=ID_ALPHABET + ".:", min_size=1, max_size=64)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.just(SECRET),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def envelopes(draw: st.DrawFn) -> dict[str, Any]:
    env: dict[str, Any] = {
        "v": draw(st.integers(1, 1000)),
        "alg": draw(st.text(min_size=1, max_size=64)),
        "ct": draw(st.text(min_size=1, max_size=200)),
    }
    extra_keys = draw(
        st.lists(st.text(alphabet="abcdefxyz_", min_size=1, max_size=32), max_size=13, unique=True)
    )
    for k in extra_keys:
        if k not in env:
            env[k] = draw(st.one_of(st.text(max_size=40), st.integers(-(2**53), 2**53)))
    return env


@st.composite
def message_sends(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "room_id": draw(ids),
        "client_msg_id": draw(client_msg_ids),
        "envelope": draw(envelopes()),
    }


@settings(max_examples=200, deadline=None)
@given(message_sends())
def test_valid_message_send_round_trips(payload: dict[str, Any]) -> None:
    model = MessageSend.model_validate(payload)
    assert model.model_dump() == payload
    assert model.envelope.extras_ok()
    again = MessageSend.model_validate_json(json.dumps(payload))
    assert again == model


@settings(max_examples=100, deadline=None)
@given(
    since=st.dictionaries(ids, st.integers(0, 2**62), max_size=20),
    limit=st.one_of(st.none(), st.integers(1, 1000)),
)
def test_valid_sync_round_trips(since: dict[str, int], limit: int | None) -> None:
    payload = {"since": since, "limit": limit}
    assert Sync.model_validate(payload).model_dump() == payload
    assert Sync.model_validate_json(json.dumps(payload)).model_dump() == payload


@settings(max_examples=100, deadline=None)
@given(room=ids, before=st.one_of(st.none(), st.integers(1, 2**62)), limit=st.integers(1, 500))
def test_valid_history_round_trips(room: str, before: int | None, limit: int) -> None:
    payload = {"room_id": room, "before_seq": before, "limit": limit}
    assert History.model_validate(payload).model_dump() == payload


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(sorted(MODELS)), data=json_values)
def test_any_json_is_accepted_or_refused_by_validation_only(name: str, data: Any) -> None:
    model = MODELS[name]
    try:
        model.model_validate(data)
    except ValidationError as exc:
        body = json.dumps(validation_error(exc).body())
        assert SECRET not in body, "a refusal echoes the offending value"
        assert SECRET not in json.dumps(_validation_error(exc).body())
    try:
        model.model_validate_json(json.dumps(data))
    except ValidationError:
        pass


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(sorted(MODELS)), raw=st.binary(max_size=200))
def test_raw_bytes_are_refused_by_validation_only(name: str, raw: bytes) -> None:
    try:
        MODELS[name].model_validate_json(raw)
    except ValidationError:
        pass


@pytest.mark.parametrize("name", sorted(MODELS))
def test_unknown_fields_are_refused(name: str) -> None:
    model = MODELS[name]
    if model in OPEN_MODELS:
        pytest.skip("open by design")
    with pytest.raises(ValidationError) as err:
        model.model_validate({"zz_not_a_field": 1})
    assert "extra_forbidden" in {e["type"] for e in err.value.errors()}


@settings(max_examples=200, deadline=None)
@given(payload=message_sends(), data=st.data())
def test_broken_message_send_is_refused(payload: dict[str, Any], data: st.DataObject) -> None:
    """One wrong part is enough to refuse the whole message (strict types, bounded ids)."""
    field = data.draw(st.sampled_from(["room_id", "client_msg_id", "envelope", "extra"]))
    if field == "room_id":
        payload["room_id"] = data.draw(
            st.one_of(
                st.integers(),
                st.just(""),
                st.text(alphabet="/ é.%$", min_size=1),
                st.text(alphabet=ID_ALPHABET, min_size=41, max_size=60),
            )
        )
    elif field == "client_msg_id":
        payload["client_msg_id"] = data.draw(
            st.one_of(
                st.integers(),
                st.just(""),
                st.text(alphabet="/ é%$", min_size=1),
                st.text(alphabet=ID_ALPHABET, min_size=65, max_size=80),
            )
        )
    elif field == "envelope":
        part = data.draw(st.sampled_from(["v", "alg", "ct", "whole"]))
        if part == "whole":
            payload["envelope"] = data.draw(
                st.one_of(st.text(), st.lists(st.integers()), st.none())
            )
        elif part == "v":
            payload["envelope"]["v"] = data.draw(
                st.one_of(
                    st.integers(max_value=0),
                    st.integers(min_value=1001),
                    st.just("1"),
                    st.just(True),
                    st.floats(),
                )
            )
        else:
            payload["envelope"][part] = data.draw(st.one_of(st.just(""), st.integers(), st.none()))
    else:
        payload["unexpected"] = data.draw(json_values)
    with pytest.raises(ValidationError):
        MessageSend.model_validate(payload)


@settings(max_examples=100, deadline=None)
@given(
    env=envelopes(), n=st.integers(14, 20), nested=st.sampled_from([[1], {"a": 1}, None, 1.5, True])
)
def test_envelope_extras_are_bounded(env: dict[str, Any], n: int, nested: Any) -> None:
    """Too many extra fields, or a non-scalar one, is refused by the handler's extras_ok()."""
    many = dict(env) | {f"k{i}": "x" for i in range(n)}
    assert not Envelope.model_validate(many).extras_ok()
    odd = {"v": env["v"], "alg": env["alg"], "ct": env["ct"], "field": nested}
    assert not Envelope.model_validate(odd).extras_ok()


@settings(max_examples=100, deadline=None)
@given(seq=st.one_of(st.integers(max_value=-1), st.just("3"), st.floats(), st.just(None)), room=ids)
def test_sync_positions_must_be_non_negative_ints(seq: Any, room: str) -> None:
    with pytest.raises(ValidationError):
        Sync.model_validate({"since": {room: seq}})
