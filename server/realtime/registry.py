"""Socket event declarations: payload schema, handler, and the typed-error ack contract.

Every event is validated against its pydantic model before the handler runs; every refusal is
acked as `{"error": {"code", "message"}}`; an unexpected exception is logged (without payload)
and acked as `internal` — it never reaches python-socketio, so it never drops the connection.
The table of declared events is what docs/protocol.md documents and the authorisation matrix
test walks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from server.audit.denials import record_denial
from server.db.outage import is_outage, outage_error
from server.errors import ApiError
from server.ops import metrics
from server.validation import reject_nul

if TYPE_CHECKING:
    from server.services import Services

    from .connections import Connection

log = logging.getLogger("relais.events")

EventHandler = Callable[["Services", "Connection", Any], Awaitable[Any]]


@dataclass
class EventSpec:
    name: str
    model: type[BaseModel] | None
    handler: EventHandler
    summary: str
    rate_cost: float = 1.0


EVENTS: dict[str, EventSpec] = {}


def on(
    name: str, model: type[BaseModel] | None, *, summary: str, rate_cost: float = 1.0
) -> Callable[[EventHandler], EventHandler]:
    def deco(fn: EventHandler) -> EventHandler:
        if name in EVENTS:
            raise RuntimeError(f"event {name} declared twice")
        EVENTS[name] = EventSpec(name, model, fn, summary, rate_cost)
        return fn

    return deco


def _validation_error(exc: ValidationError) -> ApiError:
    problems = [
        {"loc": ".".join(str(p) for p in e["loc"]), "type": e["type"]} for e in exc.errors()
    ][:20]
    return ApiError(
        "validation_failed", "payload does not match the schema", details={"problems": problems}
    )


async def dispatch(svc: Services, conn: Connection | None, name: str, data: Any) -> Any:
    started = time.perf_counter()
    outcome = "ok"
    try:
        spec = EVENTS.get(name)
        if spec is None:
            raise ApiError("bad_request", "unknown event")
        if conn is None:
            raise ApiError("unauthorized", "connection is not authenticated")
        svc.limits.check_user(conn.principal.user_id, spec.rate_cost)
        payload: Any = None
        reject_nul(data)
        if spec.model is not None:
            try:
                payload = spec.model.model_validate(data if data is not None else {})
            except ValidationError as exc:
                raise _validation_error(exc) from None
        result = await spec.handler(svc, conn, payload)
        return {} if result is None else result
    except ApiError as err:
        outcome = err.code
        if conn is not None and isinstance(data, dict) and isinstance(data.get("room_id"), str):
            await record_denial(svc, conn.principal, data["room_id"], name, err.code)
        return err.body()
    except Exception as exc:
        if is_outage(exc):
            outcome = "unavailable"
            log.warning("storage unreachable", extra={"event": name, "reason": type(exc).__name__})
            return outage_error().body()
        outcome = "internal"
        log.exception("event handler failed", extra={"event": name})
        return ApiError("internal", "internal error").body()
    finally:
        metrics.EVENTS.labels(name if name in EVENTS else "unknown", outcome).inc()
        metrics.ACK_LATENCY.labels(name if name in EVENTS else "unknown").observe(
            time.perf_counter() - started
        )
