"""The signed membership chain of a room (docs/crypto.md §5).

Who may receive room keys is decided from events signed by members' identity keys and linked by
hash, not from what the server says: the server can refuse or withhold changes, but it cannot add
a member, drop one event from the middle or reorder events without every client noticing.
"""

from __future__ import annotations

import copy as _copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .encoding import (
    b64d,
    b64e,
    h,
    loads_object,
    lp,
    make_signed,
    req_id,
    req_int,
    split_signed,
    verify_detached,
)
from .errors import CryptoError
from .keys import SigningKey

EVENT_TYPE = "relais.member.v1"
L_MEMBER = "relais/v1/member"
L_HASH = "relais/v1/member-hash"
ZERO_HASH = bytes(32)
ACTIONS = ("create", "add", "remove", "role")
ROLES = ("owner", "member")
HISTORIES = ("shared", "joined")
_EVENT_KEYS = frozenset(
    {"t", "room", "n", "prev", "action", "actor", "target", "role", "consent", "history", "ts"}
)


@dataclass(frozen=True)
class ChainEvent:
    n: int
    prev: bytes
    room: str
    action: str
    actor: str
    target: str
    role: str | None
    consent: str | None
    history: str | None
    ts: int
    wire: str
    hash: bytes


def _hash_parts(s: str, sig: bytes) -> bytes:
    return h(32, lp(L_HASH, s, sig))


def event_hash(wire: str) -> bytes:
    s, sig = split_signed(wire)
    return _hash_parts(s, sig)


def _opt_id(obj: dict[str, Any], key: str) -> str | None:
    return None if obj.get(key) is None else req_id(obj, key)


def _parse(wire: Any) -> tuple[ChainEvent, str, bytes]:
    s, sig = split_signed(wire)
    obj = loads_object(s)
    if set(obj) != _EVENT_KEYS or obj["t"] != EVENT_TYPE:
        raise CryptoError("bad_encoding", "not a relais.member.v1 event")
    n = req_int(obj, "n")
    if n < 1:
        raise CryptoError("bad_encoding", "n starts at 1")
    prev_text = obj["prev"]
    if n == 1:
        if prev_text != "":
            raise CryptoError("bad_encoding", "the first event has an empty prev")
        prev = b""
    else:
        prev = b64d(prev_text, 32)
    action = obj["action"]
    if action not in ACTIONS:
        raise CryptoError("bad_encoding", "unknown action")
    role, consent, history = obj["role"], _opt_id(obj, "consent"), obj["history"]
    # What each action carries is fixed, so one change has exactly one meaning.
    if action in ("create", "add"):
        ok = role in ROLES and history in HISTORIES
    elif action == "remove":
        ok = role is None and history is None
    else:
        ok = role in ROLES and history is None
    if not ok or (consent is not None and action != "add"):
        raise CryptoError("bad_encoding", f"role/history/consent do not fit a {action} event")
    ev = ChainEvent(
        n=n,
        prev=prev,
        room=req_id(obj, "room"),
        action=action,
        actor=req_id(obj, "actor"),
        target=req_id(obj, "target"),
        role=role,
        consent=consent,
        history=history,
        ts=req_int(obj, "ts"),
        wire=wire,
        hash=_hash_parts(s, sig),
    )
    return ev, s, sig


def parse_event(wire: str) -> ChainEvent:
    """Structure only: the caller still has to verify the signature under the actor's key."""
    return _parse(wire)[0]


def make_event(
    ik: SigningKey,
    *,
    room: str,
    n: int,
    prev: bytes,
    action: str,
    actor: str,
    target: str,
    role: str | None,
    consent: str | None,
    history: str | None,
    ts: int,
) -> str:
    """The wire form; refused (bad_encoding) if it would not parse, so a bug surfaces here rather
    than as a chain every other member rejects."""
    if not isinstance(prev, bytes):
        raise CryptoError("bad_encoding", "prev must be bytes")
    obj = {
        "t": EVENT_TYPE,
        "room": room,
        "n": n,
        "prev": b64e(prev),
        "action": action,
        "actor": actor,
        "target": target,
        "role": role,
        "consent": consent,
        "history": history,
        "ts": ts,
    }
    wire = make_signed(ik.secret, L_MEMBER, obj)
    parse_event(wire)
    return wire


@dataclass
class Member:
    role: str
    history: str
    added_n: int


@dataclass
class ChainState:
    """The member list after `head_n` verified events.

    `intervals` keeps, per user who was ever a member, the (added_n, removed_n or None) spans, so
    "was X a member when session S was created" (§6.2) needs no replay of the chain.
    """

    room: str
    members: dict[str, Member]
    policy: str | None
    head_n: int
    head_hash: bytes
    intervals: dict[str, list[tuple[int, int | None]]] = field(default_factory=dict)

    @classmethod
    def empty(cls, room: str) -> ChainState:
        return cls(room=room, members={}, policy=None, head_n=0, head_hash=ZERO_HASH)

    def copy(self) -> ChainState:
        return _copy.deepcopy(self)

    def owners(self) -> list[str]:
        return sorted(u for u, m in self.members.items() if m.role == "owner")

    def member_at(self, user: str, n: int) -> bool:
        return any(a <= n and (r is None or n < r) for a, r in self.intervals.get(user, ()))

    def apply(self, wire: str, actor_ik: bytes) -> ChainEvent:
        """Verify one event against this state and, only if every check passes, apply it.

        Raises `bad_signature` for a signature that does not verify under `actor_ik`, and
        `chain_invalid` for everything else (including a malformed event): to a client both mean
        this chain cannot be trusted.
        """
        try:
            ev, s, sig = _parse(wire)
        except CryptoError as err:
            raise CryptoError("chain_invalid", f"malformed event ({err})") from err
        if not isinstance(actor_ik, bytes):
            raise CryptoError("bad_signature", "no identity key")
        verify_detached(actor_ik, L_MEMBER, lp(s), sig)
        self._check_rules(ev)
        self._commit(ev)
        return ev

    def _check_rules(self, ev: ChainEvent) -> None:
        def bad(why: str) -> CryptoError:
            return CryptoError("chain_invalid", f"event {ev.n}: {why}")

        if ev.room != self.room:
            raise bad("belongs to another room")
        if ev.n != self.head_n + 1:
            raise bad(f"expected event {self.head_n + 1}")
        expected_prev = b"" if self.head_n == 0 else self.head_hash
        if ev.prev != expected_prev:
            raise bad("prev is not the hash of the previous event")
        if (ev.action == "create") != (self.head_n == 0):
            raise bad("create is the first event and only the first")
        actor = self.members.get(ev.actor)
        target = self.members.get(ev.target)
        if ev.action == "create":
            if ev.actor != ev.target or ev.role != "owner":
                raise bad("the creator makes themself owner")
            return
        if ev.action == "add":
            if actor is None or actor.role != "owner":
                raise bad("only an owner adds")
            if target is not None:
                raise bad("target is already a member")
            return
        if target is None:
            raise bad("target is not a member")
        if ev.action == "remove":
            if ev.actor != ev.target and (actor is None or actor.role != "owner"):
                raise bad("only an owner removes others")
            if target.role == "owner" and len(self.owners()) == 1:
                raise bad("the last owner cannot be removed")
            return
        # role
        if actor is None or actor.role != "owner":
            raise bad("only an owner changes roles")
        if target.role == "owner" and ev.role != "owner" and len(self.owners()) == 1:
            raise bad("the last owner cannot be demoted")

    def _commit(self, ev: ChainEvent) -> None:
        if ev.action in ("create", "add"):
            assert ev.role is not None and ev.history is not None
            self.members[ev.target] = Member(ev.role, ev.history, ev.n)
            self.intervals.setdefault(ev.target, []).append((ev.n, None))
            if ev.action == "create":
                self.policy = ev.history
        elif ev.action == "remove":
            del self.members[ev.target]
            spans = self.intervals[ev.target]
            spans[-1] = (spans[-1][0], ev.n)
        else:
            assert ev.role is not None
            self.members[ev.target].role = ev.role
        self.head_n, self.head_hash = ev.n, ev.hash


def _check_heads(wires: Sequence[str], heads: list[tuple[int, bytes]]) -> None:
    for n, want in heads:
        if n == 0:
            continue
        if n > len(wires):
            raise CryptoError("chain_forked", f"served chain is shorter than the verified head {n}")
        try:
            got = event_hash(wires[n - 1])
        except CryptoError as err:
            raise CryptoError("chain_forked", f"event {n} is not the verified head") from err
        if got != want:
            raise CryptoError("chain_forked", f"event {n} differs from the verified head")


def verify_chain(
    room: str,
    wires: Sequence[str],
    identity_key_of: Callable[[str], bytes | None],
    *,
    known: ChainState | None = None,
    known_head: tuple[int, bytes] | None = None,
) -> ChainState:
    """The member list the served chain proves, which must extend every head verified before.

    With `known`, the prefix up to its head is checked by hash links only (its signatures were
    verified when `known` was computed, and matching hashes mean the same bytes); the events after
    it are verified in full. `identity_key_of` returns the pinned identity key of a user, or None
    (an actor whose key is not pinned cannot sign anything we accept: `chain_invalid`).
    """
    heads: list[tuple[int, bytes]] = []
    if known is not None:
        if known.room != room:
            raise CryptoError("chain_invalid", "known state is for another room")
        heads.append((known.head_n, known.head_hash))
    if known_head is not None:
        if (
            not isinstance(known_head, tuple)
            or len(known_head) != 2
            or type(known_head[0]) is not int
            or known_head[0] < 0
            or not isinstance(known_head[1], bytes)
        ):
            raise CryptoError("bad_encoding", "known_head must be (n, hash)")
        heads.append(known_head)
    _check_heads(wires, heads)

    state = ChainState.empty(room)
    start = 0
    if known is not None and known.head_n > 0:
        prev = b""
        for k in range(known.head_n):
            try:
                ev = parse_event(wires[k])
            except CryptoError as err:
                raise CryptoError("chain_forked", f"event {k + 1} is malformed") from err
            if ev.n != k + 1 or ev.prev != prev or ev.room != room:
                raise CryptoError("chain_forked", f"event {k + 1} does not link to the head")
            prev = ev.hash
        state, start = known.copy(), known.head_n

    for wire in wires[start:]:
        try:
            actor = parse_event(wire).actor
        except CryptoError as err:
            raise CryptoError("chain_invalid", f"malformed event ({err})") from err
        ik = identity_key_of(actor)
        if ik is None:
            raise CryptoError("chain_invalid", f"no pinned identity key for {actor}")
        state.apply(wire, ik)
    return state


def replay_unverified(room: str, wires: Sequence[str]) -> ChainState:
    """The state a stored chain describes, with every rule of §5.2 applied but no signature
    checked: the server's view (it pins no identity keys). It lets the server refuse an event that
    every client would reject, such as removing someone the chain never added, which would
    otherwise freeze the room for everyone."""
    state = ChainState.empty(room)
    for wire in wires:
        ev = parse_event(wire)
        state._check_rules(ev)
        state._commit(ev)
    return state


def check_append(
    room: str,
    last_wire: str | None,
    new_wire: str,
    *,
    action: str,
    actor: str,
    target: str,
    role: str | None,
    consent: str | None,
    actor_ik: bytes | None,
    chain: Sequence[str] | None = None,
) -> ChainEvent:
    """The server's check that a signed event describes the change it is about to make and extends
    the stored chain. With the whole stored `chain`, the member rules of §5.2 are applied too (on
    the unverified replay); signatures other than the new event's stay the clients' business."""
    if chain is not None:
        state = replay_unverified(room, chain)
        state._check_rules(parse_event(new_wire))
        last_wire = chain[-1] if chain else None
    new = parse_event(new_wire)
    got = (new.room, new.action, new.actor, new.target, new.role, new.consent)
    want = (room, action, actor, target, role, consent)
    if got != want:
        fields = ("room", "action", "actor", "target", "role", "consent")
        diff = [f for f, a, b in zip(fields, got, want, strict=True) if a != b]
        raise CryptoError("chain_invalid", f"event does not describe this change: {diff}")
    if last_wire is None:
        if new.n != 1:
            raise CryptoError("chain_invalid", "the first signed event must have n = 1")
    else:
        last = parse_event(last_wire)
        if new.n != last.n + 1 or new.prev != last.hash:
            raise CryptoError("chain_invalid", f"event does not extend event {last.n}")
    if (new.action == "create") != (new.n == 1):
        raise CryptoError("chain_invalid", "create is the first event and only the first")
    if actor_ik is not None:
        s, sig = split_signed(new_wire)
        verify_detached(actor_ik, L_MEMBER, lp(s), sig)
    return new
