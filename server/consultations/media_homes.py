"""Where each consultation's media lives when Relais runs as several workers or nodes.

A consultation's media legs relay frames to each other inside one process (media/call.py), so
all of them must live in the worker that holds its call: its **home**. The participants' sockets
may reach any worker; their signalling (`consult.offer`, `consult.ice`, `consult.hangup`,
`consult.set_mode`) and the lifecycle's news (left, ended, disconnected, rejoined) go to the home
over Redis. Media events go out from the home as every emit does, through the socket.io bus.

State in Redis (`<prefix>:media:...`):
- `nodes`: a sorted set of live workers, scored by the deadline their heartbeat pushes forward;
- `home:<consultation>`: the worker holding the call;
- `held:<worker>`: the consultations a worker is home of, for whoever reaps it.

The first signalling of a consultation with no home, or whose home's deadline has passed, makes
the worker it reached the home (one Lua script: claim and check in one step). A worker that dies
takes its legs with it; the first worker whose heartbeat finds it dead removes its homes and
sends every admitted participant `consult.leg` `failed` (cause `media_node_lost`), which makes
their clients offer a fresh leg, and that offer claims a new home. Text never depended on any of
this. A worker that finds, at its heartbeat, that another holds a consultation it has a call for
(it was taken for dead during a Redis outage) closes that call the same way, so a consultation
never has two homes for long.

Without Redis (one process) every call is local and nothing here runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import secrets
from typing import TYPE_CHECKING, Any

from media.errors import MediaError
from media.policy import Mode
from server.db.models import now_ms
from server.errors import ApiError
from server.ops import metrics
from server.realtime.subscription import subscribe_forever

from .emit import emit_to_consultation
from .store import Participant

if TYPE_CHECKING:
    from server.services import Services

    from .media_bridge import MediaBridge

log = logging.getLogger("relais.consultations.media_homes")

HEARTBEAT_S = 1.0
NODE_TTL_S = 4.0  # a worker missing this long is dead: its consultations get a new home
OFFER_TIMEOUT_S = 20.0  # the home answers an offer once aiortc has gathered its candidates
CALL_TIMEOUT_S = 8.0
LOST = "media_node_lost"
NEWS = (
    "participant_left",
    "consultation_ended",
    "participant_disconnected",
    "participant_rejoined",
)

# KEYS: home, nodes, my held set. ARGV: me, now (ms), consultation id. Returns the home.
_CLAIM = """
local home = redis.call('GET', KEYS[1])
if home then
  if home == ARGV[1] then return home end
  local deadline = redis.call('ZSCORE', KEYS[2], home)
  if deadline and tonumber(deadline) >= tonumber(ARGV[2]) then return home end
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[3])
return ARGV[1]
"""
# KEYS: home, held set. ARGV: worker, consultation id. Removes the home only if it is `worker`.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('SREM', KEYS[2], ARGV[2])
return 1
"""


class MediaHomes:
    """Routes a consultation's media signalling to its home, here or over Redis."""

    def __init__(self, svc: Services, bridge: MediaBridge) -> None:
        self.svc = svc
        self.bridge = bridge
        self.redis = svc.redis
        base = svc.settings.node_id or str(os.getpid())
        self.me = f"{base}-{secrets.token_hex(4)}"
        prefix = f"{svc.settings.redis_prefix}:media"
        self._prefix = prefix
        self.nodes_key = f"{prefix}:nodes"
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._heartbeat: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        if self.redis is not None:
            self._claim = self.redis.register_script(_CLAIM)
            self._release = self.redis.register_script(_RELEASE)
            bridge.call_ended = self.release

    @property
    def shared(self) -> bool:
        return self.redis is not None

    def _home_key(self, consultation_id: str) -> str:
        return f"{self._prefix}:home:{consultation_id}"

    def _held_key(self, worker: str) -> str:
        return f"{self._prefix}:held:{worker}"

    def _channel(self, worker: str) -> str:
        return f"{self._prefix}:rpc:{worker}"

    # -- start, stop ----------------------------------------------------------------------
    async def start(self) -> None:
        if not self.shared:
            return
        await self._beat()
        self._listener = asyncio.create_task(self._listen(), name="relais-media-homes-rpc")
        self._heartbeat = asyncio.create_task(self._beats(), name="relais-media-homes-beat")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), 5)

    async def close(self) -> None:
        """Leave: our calls end with this process, so their participants are told to offer
        again now (another worker becomes home), rather than after our deadline passes."""
        if not self.shared:
            return
        for task in (self._heartbeat, self._listener):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        try:
            held = list(self.bridge.calls)
            await self.redis.zrem(self.nodes_key, self.me)
            for cid in held:
                await self._release(
                    keys=[self._home_key(cid), self._held_key(self.me)], args=[self.me, cid]
                )
            await self.redis.delete(self._held_key(self.me))
            for cid in held:
                await self._tell_lost(cid)
        except Exception:
            log.warning("could not hand this worker's consultations over")
        for fut in self._pending.values():
            fut.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- where a consultation lives -------------------------------------------------------
    async def home(self, consultation_id: str) -> str:
        """Its home, claimed here if it has none or its home is dead."""
        try:
            found = await self._claim(
                keys=[self._home_key(consultation_id), self.nodes_key, self._held_key(self.me)],
                args=[self.me, now_ms(), consultation_id],
            )
        except Exception as exc:
            log.warning("media home unknown: Redis unreachable (%s)", type(exc).__name__)
            raise ApiError("unavailable", "media routing is unavailable, retry") from None
        return found.decode() if isinstance(found, bytes) else str(found)

    async def current(self, consultation_id: str) -> str | None:
        """Its home if it has one (lifecycle news never creates a home)."""
        try:
            found = await self.redis.get(self._home_key(consultation_id))
        except Exception:
            return None
        if found is None:
            return None
        return found.decode() if isinstance(found, bytes) else str(found)

    async def release(self, consultation_id: str) -> None:
        if not self.shared:
            return
        try:
            await self._release(
                keys=[self._home_key(consultation_id), self._held_key(self.me)],
                args=[self.me, consultation_id],
            )
        except Exception:
            log.warning("could not release a media home (it expires with this worker)")

    # -- signalling: here or at the home --------------------------------------------------
    async def offer(self, participant: Participant, sdp: str) -> str:
        where = await self._where(participant.consultation_id, claim=True)
        if where is None:
            return await self.bridge.offer(participant, sdp)
        answer = await self._call(
            where, "offer", {"participant": _wire(participant), "sdp": sdp}, OFFER_TIMEOUT_S
        )
        return str(answer)

    async def candidate(self, participant: Participant, candidate: dict[str, Any] | None) -> None:
        where = await self._where(participant.consultation_id, claim=False)
        if where is None:
            await self.bridge.candidate(participant, candidate)
            return
        await self._call(
            where, "candidate", {"participant": _wire(participant), "candidate": candidate}
        )

    async def hangup(self, participant: Participant) -> None:
        where = await self._where(participant.consultation_id, claim=False)
        if where is None:
            await self.bridge.hangup(participant)
            return
        await self._call(where, "hangup", {"participant": _wire(participant)})

    async def set_mode(
        self, consultation_id: str, participant_id: str, cap: Mode | None, by: str
    ) -> None:
        where = await self._where(consultation_id, claim=True)
        if where is None:
            await self.bridge.set_mode(consultation_id, participant_id, cap, by)
            return
        args = {
            "consultation_id": consultation_id,
            "participant_id": participant_id,
            "cap": cap.value if cap else None,
            "by": by,
        }
        await self._call(where, "set_mode", args)

    async def _where(self, consultation_id: str, *, claim: bool) -> str | None:
        """None: handle here. Else the worker to forward to. Without a home and without a
        claim (an ICE candidate, a hang-up) the call, if any, can only be local."""
        if not self.shared:
            return None
        home = await (self.home(consultation_id) if claim else self.current(consultation_id))
        return None if home is None or home == self.me else home

    # -- lifecycle news (ConsultationListener), sent where the call is --------------------
    async def participant_left(self, consultation_id: str, participant_id: str) -> None:
        await self._news("participant_left", consultation_id, participant_id)

    async def consultation_ended(self, consultation_id: str) -> None:
        await self._news("consultation_ended", consultation_id)

    async def participant_disconnected(self, consultation_id: str, participant_id: str) -> None:
        await self._news("participant_disconnected", consultation_id, participant_id)

    async def participant_rejoined(self, consultation_id: str, participant_id: str) -> None:
        await self._news("participant_rejoined", consultation_id, participant_id)

    async def _news(self, what: str, *args: str) -> None:
        where = await self._where(args[0], claim=False)
        if where is None:
            await getattr(self.bridge, what)(*args)
            return
        await self._publish(where, {"op": what, "args": list(args)})

    # -- RPC over Redis pub/sub -----------------------------------------------------------
    async def _call(
        self, worker: str, op: str, args: dict[str, Any], timeout: float = CALL_TIMEOUT_S
    ) -> Any:
        rid = secrets.token_hex(8)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        metrics.MEDIA_FORWARDED.labels(op).inc()
        try:
            await self._publish(worker, {"op": op, "id": rid, "from": self.me, "args": args})
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise ApiError(
                "unavailable", "the consultation's media worker did not answer"
            ) from None
        finally:
            self._pending.pop(rid, None)

    async def _publish(self, worker: str, message: dict[str, Any]) -> None:
        try:
            await self.redis.publish(self._channel(worker), json.dumps(message))
        except Exception:
            raise ApiError("unavailable", "media routing is unavailable, retry") from None

    async def _listen(self) -> None:
        """Our channel: requests to serve and answers to our own requests."""
        await subscribe_forever(
            self.redis,
            self._channel(self.me),
            self._receive,
            what="media RPC",
            on_subscribed=self._subscribed.set,
        )

    def _receive(self, data: bytes | str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            return
        if "reply" in message:
            fut = self._pending.get(str(message["reply"]))
            if fut is not None and not fut.done():
                if "error" in message:
                    err = message["error"]
                    fut.set_exception(ApiError(str(err["code"]), str(err["message"])))
                else:
                    fut.set_result(message.get("result"))
            return
        task = asyncio.create_task(self._serve(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, message: dict[str, Any]) -> None:
        op, args = message.get("op"), message.get("args")
        reply: dict[str, Any] = {"reply": message.get("id")}
        try:
            reply["result"] = await self._run(str(op), args)
        except MediaError as exc:
            reply["error"] = {"code": exc.code, "message": exc.message}
        except ApiError as exc:
            reply["error"] = {"code": exc.code, "message": exc.message}
        except Exception:
            log.exception("forwarded media request failed", extra={"event": str(op)})
            reply["error"] = {"code": "internal", "message": "internal error"}
        if message.get("id") is not None and message.get("from"):
            with contextlib.suppress(ApiError):
                await self._publish(str(message["from"]), reply)

    async def _run(self, op: str, args: Any) -> Any:
        bridge = self.bridge
        if isinstance(args, list):  # lifecycle news
            if op in NEWS:
                await getattr(bridge, op)(*[str(a) for a in args])
            return None
        if op == "offer":
            return await bridge.offer(_participant(args["participant"]), str(args["sdp"]))
        if op == "candidate":
            await bridge.candidate(_participant(args["participant"]), args["candidate"])
        elif op == "hangup":
            await bridge.hangup(_participant(args["participant"]))
        elif op == "set_mode":
            cap = Mode(args["cap"]) if args["cap"] else None
            await bridge.set_mode(args["consultation_id"], args["participant_id"], cap, args["by"])
        else:
            raise ApiError("bad_request", "unknown media request")
        return None

    # -- liveness ------------------------------------------------------------------------
    async def _beats(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                await self._beat()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("media homes heartbeat failed (%s)", type(exc).__name__)

    async def _beat(self) -> None:
        now = now_ms()
        await self.redis.zadd(self.nodes_key, {self.me: now + int(NODE_TTL_S * 1000)})
        # Still home of every call we hold? (After a Redis restart this re-creates the homes.)
        for cid in list(self.bridge.calls):
            if await self.home(cid) != self.me:
                log.warning("a consultation's media moved to another worker: closing ours")
                await self.bridge.consultation_ended(cid)
                await self._tell_lost(cid)
        for raw in await self.redis.zrangebyscore(self.nodes_key, "-inf", now - 1):
            dead = raw.decode() if isinstance(raw, bytes) else str(raw)
            if dead == self.me or not await self.redis.zrem(self.nodes_key, dead):
                continue  # another worker reaps it
            await self._reap(dead)

    async def _reap(self, dead: str) -> None:
        held_key = self._held_key(dead)
        cids = [
            c.decode() if isinstance(c, bytes) else str(c)
            for c in await self.redis.smembers(held_key)
        ]
        for cid in cids:
            await self._release(keys=[self._home_key(cid), held_key], args=[dead, cid])
        await self.redis.delete(held_key)
        if cids:
            log.warning(
                "a media worker died: its consultations renegotiate", extra={"count": len(cids)}
            )
        for cid in cids:
            await self._tell_lost(cid)

    async def _tell_lost(self, consultation_id: str) -> None:
        """Every admitted participant offers a fresh leg (their clients do so on `failed`)."""
        try:
            await emit_to_consultation(
                self.svc, consultation_id, "consult.leg", {"state": "failed", "cause": LOST}
            )
        except Exception:
            log.warning("could not tell a consultation its media moved")


def _wire(participant: Participant) -> dict[str, Any]:
    return dataclasses.asdict(participant)


def _participant(data: dict[str, Any]) -> Participant:
    return Participant(**{f.name: data[f.name] for f in dataclasses.fields(Participant)})
