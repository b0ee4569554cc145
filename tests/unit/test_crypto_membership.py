"""The signed membership chain (docs/crypto.md §5): the vectors of tests/vectors/membership.json,
and properties against a plain model of the rules: random valid histories verify to the model's
member list, every single operation is accepted exactly when the model allows it, and deleting,
swapping or editing any event of a valid chain is detected."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from crypto import membership
from crypto.encoding import b64d, b64e, h, lp, sign_detached
from crypto.errors import CryptoError
from crypto.keys import SigningKey
from tests.vectors import flip_bit, load

CASES = load("membership.json")
PROPS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROOM = "r_room"
USERS = ("u_a", "u_b", "u_c", "u_d", "u_e")
IKS = {u: SigningKey.from_seed(h(32, lp("relais/test", u))) for u in USERS}
TS = 1_700_000_000_000


def by_op(op: str) -> list[dict[str, Any]]:
    return [c for c in CASES if c["op"] == op]


def ids(cases: list[dict[str, Any]]) -> list[str]:
    return [c["name"] for c in cases]


def summary(state: membership.ChainState) -> dict[str, dict[str, Any]]:
    return {
        u: {"role": m.role, "history": m.history, "added_n": m.added_n}
        for u, m in sorted(state.members.items())
    }


def keys_of(table: dict[str, str]) -> Any:
    return lambda u: b64d(table[u], 32) if u in table else None


# -- vectors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("case", by_op("chain_build"), ids=ids(by_op("chain_build")))
def test_chain_build_vector(case: dict[str, Any]) -> None:
    i, o = case["input"], case["output"]
    seeds = {u: SigningKey.from_seed(b64d(s, 32)) for u, s in i["identity_seeds"].items()}
    prev = b""
    for n, (ev, wire, hh) in enumerate(
        zip(i["events"], o["wires"], o["hashes"], strict=True), start=1
    ):
        made = membership.make_event(
            seeds[ev["actor"]], room=i["room"], n=n, prev=prev, ts=TS + n, **ev
        )
        assert made == wire
        assert b64e(membership.event_hash(wire)) == hh
        outer = json.loads(wire)
        sig = b64d(outer["sig"], 64)
        assert membership.event_hash(wire) == h(
            32, lp("relais/v1/member-hash") + lp(outer["signed"]) + lp(sig)
        )
        prev = b64d(hh, 32)
    pins = {u: k.public for u, k in seeds.items()}
    st_ = membership.verify_chain(i["room"], o["wires"], pins.get)
    assert summary(st_) == o["members"]
    assert (st_.head_n, b64e(st_.head_hash)) == (o["head"]["n"], o["head"]["hash"])


@pytest.mark.parametrize("case", by_op("chain_verify"), ids=ids(by_op("chain_verify")))
def test_chain_verify_vector(case: dict[str, Any]) -> None:
    i = case["input"]
    kh = i.get("known_head")
    known_head = None if kh is None else (kh["n"], b64d(kh["hash"], 32))

    def run() -> membership.ChainState:
        return membership.verify_chain(
            i["room"], i["wires"], keys_of(i["identity_keys"]), known_head=known_head
        )

    if "error" in case:
        with pytest.raises(CryptoError) as err:
            run()
        assert err.value.code == case["error"]
        return
    state = run()
    o = case["output"]
    assert summary(state) == o["members"] and state.policy == o["policy"]
    assert (state.head_n, b64e(state.head_hash)) == (o["head"]["n"], o["head"]["hash"])
    if state.head_n == 0:
        assert state.head_hash == bytes(32)


@pytest.mark.parametrize("case", by_op("chain_check_append"), ids=ids(by_op("chain_check_append")))
def test_check_append_vector(case: dict[str, Any]) -> None:
    i = dict(case["input"])
    room, last, new = i.pop("room"), i.pop("last_wire"), i.pop("new_wire")
    ik = None if i["actor_ik"] is None else b64d(i.pop("actor_ik"), 32)
    i.pop("actor_ik", None)
    if "error" in case:
        with pytest.raises(CryptoError) as err:
            membership.check_append(room, last, new, actor_ik=ik, **i)
        assert err.value.code == case["error"]
    else:
        ev = membership.check_append(room, last, new, actor_ik=ik, **i)
        assert (ev.n, b64e(ev.hash)) == (case["output"]["n"], case["output"]["hash"])


def test_vectors_cover_the_brief() -> None:
    errors = {c["name"]: c.get("error") for c in by_op("chain_verify")}
    assert errors["dropped middle event"] == "chain_invalid"
    assert errors["reordered events 3 and 4"] == "chain_invalid"
    assert errors["event 2 signed by carol for alice"] == "bad_signature"
    assert errors["non-owner bob adds dave"] == "chain_invalid"
    assert errors["removal of the last owner"] == "chain_invalid"
    assert errors["forked head"] == "chain_forked"


# -- the model -------------------------------------------------------------------------------


@dataclass
class Model:
    """The rules of §5.2 written as plainly as possible."""

    roles: dict[str, str] = field(default_factory=dict)
    history: dict[str, str] = field(default_factory=dict)
    added: dict[str, int] = field(default_factory=dict)
    spans: dict[str, list[list[int | None]]] = field(default_factory=dict)
    n: int = 0

    def owners(self) -> int:
        return sum(1 for r in self.roles.values() if r == "owner")

    def allows(self, actor: str, action: str, target: str, role: str | None) -> bool:
        is_owner = self.roles.get(actor) == "owner"
        if action == "create":
            return self.n == 0 and actor == target and role == "owner"
        if self.n == 0:
            return False
        if action == "add":
            return is_owner and target not in self.roles
        if target not in self.roles:
            return False
        last_owner = self.roles[target] == "owner" and self.owners() == 1
        if action == "remove":
            return (is_owner or actor == target) and not last_owner
        return is_owner and not (last_owner and role != "owner")

    def do(self, action: str, target: str, role: str | None, history: str | None) -> None:
        self.n += 1
        if action in ("create", "add"):
            assert role is not None and history is not None
            self.roles[target], self.history[target], self.added[target] = role, history, self.n
            self.spans.setdefault(target, []).append([self.n, None])
        elif action == "remove":
            del self.roles[target]
            self.spans[target][-1][1] = self.n
        else:
            assert role is not None
            self.roles[target] = role

    def member_at(self, user: str, n: int) -> bool:
        return any(
            a is not None and a <= n and (r is None or n < r) for a, r in self.spans.get(user, [])
        )


Op = tuple[str, str, str, str | None, str | None]  # actor, action, target, role, history


def sign(state_n: int, prev: bytes, op: Op, signer: str | None = None) -> str:
    actor, action, target, role, history = op
    return membership.make_event(
        IKS[signer or actor],
        room=ROOM,
        n=state_n + 1,
        prev=prev,
        action=action,
        actor=actor,
        target=target,
        role=role,
        consent="c_1" if action == "add" and target == "u_e" else None,
        history=history,
        ts=TS + state_n,
    )


def fields_of(op: Op) -> dict[str, Any]:
    actor, action, target, role, history = op
    if action == "remove":
        role = history = None
    if action == "role":
        history = None
    return {"action": action, "actor": actor, "target": target, "role": role, "history": history}


def valid_op(data: st.DataObject, m: Model) -> Op:
    options: list[Op] = []
    members = sorted(m.roles)
    owners = [u for u in members if m.roles[u] == "owner"]
    for a in owners:
        for t in USERS:
            if t not in m.roles:
                for r in ("owner", "member"):
                    for hist in ("shared", "joined"):
                        options.append((a, "add", t, r, hist))
        for t in members:
            for r in ("owner", "member"):
                if m.allows(a, "role", t, r):
                    options.append((a, "role", t, r, None))
            if m.allows(a, "remove", t, None):
                options.append((a, "remove", t, None, None))
    for u in members:
        if m.allows(u, "remove", u, None):
            options.append((u, "remove", u, None, None))
    return data.draw(st.sampled_from(options))


def random_chain(data: st.DataObject, length: int) -> tuple[list[str], Model]:
    m = Model()
    creator = data.draw(st.sampled_from(USERS))
    policy = data.draw(st.sampled_from(("shared", "joined")))
    wires = [sign(0, b"", (creator, "create", creator, "owner", policy))]
    m.do("create", creator, "owner", policy)
    for _ in range(length - 1):
        op = valid_op(data, m)
        f = fields_of(op)
        wires.append(sign(m.n, membership.event_hash(wires[-1]), op))
        m.do(f["action"], f["target"], f["role"], f["history"])
    return wires, m


PINS = {u: k.public for u, k in IKS.items()}


def verify(wires: list[str], **kw: Any) -> membership.ChainState:
    return membership.verify_chain(ROOM, wires, PINS.get, **kw)


# -- properties ------------------------------------------------------------------------------


@PROPS
@given(st.integers(min_value=1, max_value=14), st.data())
def test_random_valid_chains_match_the_model(length: int, data: st.DataObject) -> None:
    wires, m = random_chain(data, length)
    state = verify(wires)
    assert {u: x.role for u, x in state.members.items()} == m.roles
    assert {u: x.history for u, x in state.members.items()} == {u: m.history[u] for u in m.roles}
    assert {u: x.added_n for u, x in state.members.items()} == {u: m.added[u] for u in m.roles}
    assert state.head_n == len(wires) and state.head_hash == membership.event_hash(wires[-1])
    assert state.policy == json.loads(json.loads(wires[0])["signed"])["history"]
    for u in USERS:
        for n in range(0, len(wires) + 1):
            assert state.member_at(u, n) == m.member_at(u, n), (u, n)
    # Extending a verified prefix gives the same state as verifying from scratch.
    cut = data.draw(st.integers(min_value=0, max_value=len(wires)))
    prefix = verify(wires[:cut])
    assert verify(wires, known=prefix) == state
    assert verify(wires, known_head=(prefix.head_n, prefix.head_hash)) == state
    # The server's append check accepts every step of the chain.
    for k, w in enumerate(wires):
        ev = membership.parse_event(w)
        membership.check_append(
            ROOM,
            wires[k - 1] if k else None,
            w,
            action=ev.action,
            actor=ev.actor,
            target=ev.target,
            role=ev.role,
            consent=ev.consent,
            actor_ik=PINS[ev.actor],
        )


@PROPS
@given(
    st.integers(min_value=1, max_value=8),
    st.data(),
    st.sampled_from(USERS),
    st.sampled_from(("create", "add", "remove", "role")),
    st.sampled_from(USERS),
    st.sampled_from(("owner", "member")),
    st.sampled_from(("shared", "joined")),
)
def test_any_single_operation_is_accepted_iff_the_model_allows_it(
    length: int, data: st.DataObject, actor: str, action: str, target: str, role: str, hist: str
) -> None:
    wires, m = random_chain(data, length)
    state = verify(wires)
    op: Op = (actor, action, target, role, hist)
    f = fields_of(op)
    if action == "create":
        f["role"], f["target"] = role, target
    wire = sign(m.n, state.head_hash, (actor, f["action"], f["target"], f["role"], f["history"]))
    before = state.copy()
    if m.allows(actor, action, f["target"], f["role"]):
        ev = state.apply(wire, PINS[actor])
        m.do(action, f["target"], f["role"], f["history"])
        assert ev.n == m.n and {u: x.role for u, x in state.members.items()} == m.roles
    else:
        with pytest.raises(CryptoError) as err:
            state.apply(wire, PINS[actor])
        assert err.value.code == "chain_invalid"
        assert state == before  # a refused event changes nothing


@PROPS
@given(st.integers(min_value=2, max_value=10), st.data())
def test_deleting_any_event_is_detected(length: int, data: st.DataObject) -> None:
    wires, _ = random_chain(data, length)
    head = (len(wires), membership.event_hash(wires[-1]))
    k = data.draw(st.integers(min_value=0, max_value=len(wires) - 1))
    cut = wires[:k] + wires[k + 1 :]
    with pytest.raises(CryptoError) as err:
        verify(cut, known_head=head)
    assert err.value.code in ("chain_invalid", "chain_forked")
    if k < len(wires) - 1:  # dropping the tail is only visible to who saw it
        with pytest.raises(CryptoError) as err:
            verify(cut)
        assert err.value.code == "chain_invalid"


@PROPS
@given(st.integers(min_value=2, max_value=10), st.data())
def test_swapping_events_is_detected(length: int, data: st.DataObject) -> None:
    wires, _ = random_chain(data, length)
    a = data.draw(st.integers(min_value=0, max_value=len(wires) - 2))
    b = data.draw(st.integers(min_value=a + 1, max_value=len(wires) - 1))
    swapped = list(wires)
    swapped[a], swapped[b] = swapped[b], swapped[a]
    with pytest.raises(CryptoError) as err:
        verify(swapped)
    assert err.value.code == "chain_invalid"


@PROPS
@given(st.integers(min_value=1, max_value=10), st.data(), st.integers(min_value=0))
def test_flipping_any_bit_of_any_event_is_detected(
    length: int, data: st.DataObject, bit: int
) -> None:
    wires, _ = random_chain(data, length)
    k = data.draw(st.integers(min_value=0, max_value=len(wires) - 1))
    edited = list(wires)
    edited[k] = flip_bit(wires[k], bit % (len(wires[k].encode()) * 8))
    with pytest.raises(CryptoError) as err:
        verify(edited)
    assert err.value.code in ("chain_invalid", "bad_signature")
    state = verify(wires)
    with pytest.raises(CryptoError) as err:
        verify(edited, known=state)
    assert err.value.code == "chain_forked"


@PROPS
@given(st.integers(min_value=2, max_value=10), st.data())
def test_resigned_edit_of_an_event_is_detected(length: int, data: st.DataObject) -> None:
    """Even the actor re-signing an edited event cannot rewrite history: the next event's prev
    (or, for the last one, the verified head) no longer matches."""
    wires, _ = random_chain(data, length)
    state = verify(wires)
    k = data.draw(st.integers(min_value=0, max_value=len(wires) - 1))
    ev = membership.parse_event(wires[k])
    new_ts = ev.ts + data.draw(st.integers(min_value=1, max_value=1000))
    edited = list(wires)
    edited[k] = membership.make_event(
        IKS[ev.actor],
        room=ev.room,
        n=ev.n,
        prev=ev.prev,
        action=ev.action,
        actor=ev.actor,
        target=ev.target,
        role=ev.role,
        consent=ev.consent,
        history=ev.history,
        ts=new_ts,
    )
    with pytest.raises(CryptoError) as err:
        verify(edited, known=state)
    assert err.value.code == "chain_forked"
    if k < len(wires) - 1:
        with pytest.raises(CryptoError) as err:
            verify(edited)
        assert err.value.code == "chain_invalid"


def test_known_state_with_a_rewritten_prefix_is_forked() -> None:
    wires = [sign(0, b"", ("u_a", "create", "u_a", "owner", "shared"))]
    for t in ("u_b", "u_c", "u_d"):
        wires.append(
            sign(
                len(wires), membership.event_hash(wires[-1]), ("u_a", "add", t, "member", "shared")
            )
        )
    state = verify(wires)
    # A served chain whose head event is the known one but whose first event was replaced.
    other_first = sign(0, b"", ("u_a", "create", "u_a", "owner", "joined"))
    with pytest.raises(CryptoError) as err:
        verify([other_first, *wires[1:]], known=state)
    assert err.value.code == "chain_forked"
    with pytest.raises(CryptoError) as err:
        verify(wires[:2], known=state)
    assert err.value.code == "chain_forked"
    with pytest.raises(CryptoError) as err:
        membership.verify_chain("r_other", wires, PINS.get, known=state)
    assert err.value.code == "chain_invalid"


def test_check_append_refuses_each_mismatching_field() -> None:
    w1 = sign(0, b"", ("u_a", "create", "u_a", "owner", "shared"))
    w2 = sign(1, membership.event_hash(w1), ("u_a", "add", "u_e", "member", "shared"))
    good: dict[str, Any] = {
        "action": "add",
        "actor": "u_a",
        "target": "u_e",
        "role": "member",
        "consent": "c_1",
    }
    membership.check_append(ROOM, w1, w2, **good, actor_ik=PINS["u_a"])
    for k, v in {**{k: "x_other" for k in good}, "consent": None}.items():
        with pytest.raises(CryptoError) as err:
            membership.check_append(ROOM, w1, w2, **{**good, k: v}, actor_ik=PINS["u_a"])
        assert err.value.code == "chain_invalid", k
    with pytest.raises(CryptoError) as err:
        membership.check_append("r_other", w1, w2, **good, actor_ik=PINS["u_a"])
    assert err.value.code == "chain_invalid"
    with pytest.raises(CryptoError) as err:
        membership.check_append(ROOM, None, w2, **good, actor_ik=PINS["u_a"])
    assert err.value.code == "chain_invalid"
    with pytest.raises(CryptoError) as err:
        membership.check_append(ROOM, w1, w2, **good, actor_ik=PINS["u_b"])
    assert err.value.code == "bad_signature"


def test_make_event_refuses_malformed_fields() -> None:
    base: dict[str, Any] = {
        "room": ROOM,
        "n": 1,
        "prev": b"",
        "action": "create",
        "actor": "u_a",
        "target": "u_a",
        "role": "owner",
        "consent": None,
        "history": "shared",
        "ts": TS,
    }
    membership.make_event(IKS["u_a"], **base)
    for change in (
        {"n": 0},
        {"n": 2},  # prev must then be a 32-byte hash
        {"prev": bytes(32)},  # n = 1 has an empty prev
        {"action": "ban"},
        {"role": "admin"},
        {"history": "all"},
        {"consent": "c_1"},  # consent belongs to add events only
        {"room": ""},
        {"actor": 5},
        {"ts": -1},
        {"ts": 1.5},
        {"history": None},
    ):
        with pytest.raises(CryptoError) as err:
            membership.make_event(IKS["u_a"], **{**base, **change})
        assert err.value.code == "bad_encoding", change


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
EVENT_KEYS = sorted(membership._EVENT_KEYS)


@PROPS
@given(st.sampled_from(EVENT_KEYS), json_values, st.booleans())
def test_any_field_replaced_is_refused_cleanly(key: str, value: Any, resign: bool) -> None:
    w1 = sign(0, b"", ("u_a", "create", "u_a", "owner", "shared"))
    w2 = sign(1, membership.event_hash(w1), ("u_a", "add", "u_b", "member", "shared"))
    obj = json.loads(json.loads(w2)["signed"])
    assume(obj[key] != value or type(obj[key]) is not type(value))
    obj[key] = value
    s = json.dumps(obj)
    key_ = IKS["u_a"].secret if resign else IKS["u_b"].secret
    wire = json.dumps({"signed": s, "sig": b64e(sign_detached(key_, "relais/v1/member", lp(s)))})
    try:
        membership.parse_event(wire)
    except CryptoError as err:
        assert err.code == "bad_encoding"
    if not resign:  # the actor's signature is missing: refused whatever the field says
        with pytest.raises(CryptoError):
            verify([w1, wire])
        return
    try:  # re-signed by the actor: either a valid event or a clean refusal
        state = verify([w1, wire])
    except CryptoError:
        return
    assert state.head_n == 2 and key in ("ts", "consent", "target", "role", "history")


@PROPS
@given(json_values)
def test_random_json_is_refused_cleanly(value: Any) -> None:
    for wire in (
        value,
        json.dumps(value),
        json.dumps({"signed": json.dumps(value), "sig": b64e(bytes(64))}),
    ):
        with pytest.raises(CryptoError):
            membership.parse_event(wire)
        with pytest.raises(CryptoError):
            verify([wire])
