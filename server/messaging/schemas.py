"""Wire schemas of the messaging events."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# Every integer that reaches a BIGINT column is bounded by it.
MAX_INT64 = 2**63 - 1

Id = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_\-]+$")]
ClientMsgId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-.:]+$")
]
EnvelopeValue = Annotated[str, StringConstraints(max_length=1_000_000)] | int


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Envelope(BaseModel):
    """Opaque to the server beyond its shape: `v`, `alg`, `ct` plus up to 13 more scalar fields
    (the E2EE spec, docs/crypto.md, says what they hold)."""

    model_config = ConfigDict(extra="allow", strict=True)
    v: Annotated[int, Field(ge=1, le=1000)]
    alg: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    ct: Annotated[str, StringConstraints(min_length=1)]

    def extras_ok(self) -> bool:
        extra = self.model_extra or {}
        if len(extra) > 13:
            return False
        return all(
            isinstance(k, str)
            and len(k) <= 32
            and isinstance(v, str | int)
            and not isinstance(v, bool)
            for k, v in extra.items()
        )


class MessageSend(Strict):
    room_id: Id
    client_msg_id: ClientMsgId
    envelope: Envelope


class Sync(Strict):
    since: Annotated[
        dict[Id, Annotated[int, Field(ge=0, le=MAX_INT64)]], Field(max_length=10_000)
    ] = {}
    limit: Annotated[int, Field(ge=1, le=1000)] | None = None


class History(Strict):
    room_id: Id
    before_seq: Annotated[int, Field(ge=1, le=MAX_INT64)] | None = None
    limit: Annotated[int, Field(ge=1, le=500)] = 100
