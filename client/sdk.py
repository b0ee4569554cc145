"""Python SDK: a real Relais client over REST and socket.io.

Used by the tests, the benchmarks, bots and the quickstart. It keeps the per-room sync position
itself, retries sends with the same client_msg_id (the server makes that idempotent), and
delivers each message to the application exactly once even when it arrives both live and
through `sync`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import socketio

log = logging.getLogger(__name__)

# The server closes an idle keep-alive connection after `http_keepalive_s` (15 s by default). A
# pooled connection kept as long may be written to as the server closes it, and the request
# fails with "connection reset" (seen on a starved 20 kbit/s link, where the server's FIN is
# late). Ours are dropped sooner, and a request that failed before any response is sent again
# on a fresh connection when that is safe: an idempotent method, or a read sent as POST.
# A request sent again is also given a bound: on a link that starved for a while, a TCP
# connection may sit in retransmission backoff for a minute, where a fresh one gets through.
HTTP_KEEPALIVE_S = 5.0
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE"})
HTTP_TRIES = 3
HTTP_TRY_TIMEOUT = aiohttp.ClientTimeout(total=20, sock_connect=10)
# Other requests (uploads may take minutes on 2G) only bound the connection's set-up.
HTTP_ONCE_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=30)
# How long an idempotent socket call (a send) waits for a dropped socket to come back before it
# gives up: a starved rural link keeps it down for tens of seconds, and tries spent against a
# socket that is down cannot reach the server anyway.
OFFLINE_WAIT_S = 300.0


class RelaisError(Exception):
    def __init__(
        self, code: str, message: str, status: int | None = None, details: Any = None
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.details = details


def _raise_if_error(data: Any, status: int | None = None) -> Any:
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        err = data["error"]
        raise RelaisError(str(err.get("code")), str(err.get("message")), status, err.get("details"))
    return data


@dataclass
class Inbox:
    """What the client has received, deduplicated by message id, per room in seq order.

    `since[room]` only moves over a contiguous run of seqs: a live message that arrives while a
    paged `sync` is still fetching older ones must not make the next page skip the gap.
    """

    since: dict[str, int] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    ahead: dict[str, set[int]] = field(default_factory=dict)

    def accept(self, msg: dict[str, Any]) -> bool:
        """Record the message's position (even a duplicate's: a re-fetch must move forward) and
        say whether it is new to the application."""
        room = msg["room_id"]
        seq = int(msg["seq"])
        pos = self.since.get(room, 0)
        if seq > pos:
            ahead = self.ahead.setdefault(room, set())
            ahead.add(seq)
            while pos + 1 in ahead:
                pos += 1
                ahead.discard(pos)
            self.since[room] = pos
        if msg["id"] in self.seen:
            return False
        self.seen.add(msg["id"])
        self.messages.setdefault(room, []).append(msg)
        return True


class RelaisClient:
    def __init__(
        self,
        base_url: str,
        *,
        transports: list[str] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.transports = transports or ["websocket"]
        # For a server whose certificate the system does not trust (a private CA, a test
        # proxy): REST and the socket both verify against this context.
        self.ssl_context = ssl_context
        self.token: str | None = None
        self.user_id: str | None = None
        self.device_id: str | None = None
        self._http: aiohttp.ClientSession | None = None
        self.sio: socketio.AsyncClient | None = None
        self.inbox = Inbox()
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.on_message: Callable[[dict[str, Any]], Awaitable[None] | None] | None = None
        # Called with to-device entries (a live one, or a sync page before it is acked) and with
        # every other server event; the E2EE layer (client/e2ee.py) plugs in here.
        self.on_to_device: Callable[[list[dict[str, Any]]], Awaitable[None]] | None = None
        self.on_event: Callable[[str, Any], Awaitable[None] | None] | None = None
        self.to_device: list[dict[str, Any]] = []
        # Run on each automatic reconnection, alongside the sync of what was missed (e.g. a
        # consultation's rejoin); see `_after_reconnect`.
        self.reconnect_hooks: list[Callable[[], Awaitable[None]]] = []
        self._connected_once = False
        # Set while the socket is connected: sends wait on it instead of spending their tries.
        self._online = asyncio.Event()
        # The server refused the socket's reconnection for good (the session was revoked or
        # expired): waiting sends fail with it instead of waiting out their time.
        self._refused: RelaisError | None = None
        self._background: set[asyncio.Task[None]] = set()

    # -- REST ---------------------------------------------------------------------------------
    async def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            connector = aiohttp.TCPConnector(
                ssl=self.ssl_context if self.ssl_context else True,
                keepalive_timeout=HTTP_KEEPALIVE_S,
            )
            self._http = aiohttp.ClientSession(connector=connector)
        return self._http

    async def request(
        self,
        method: str,
        path: str,
        json: Any = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
        *,
        resend: bool | None = None,
    ) -> Any:
        """`resend` (default: for idempotent methods) sends the request again, on a fresh
        connection, when it failed before any response; never with a streamed body."""
        http = await self._session()
        hdrs = dict(headers or {})
        if self.token:
            hdrs["Authorization"] = f"Bearer {self.token}"
        if resend is None:
            resend = method in IDEMPOTENT
        tries = HTTP_TRIES if resend and (data is None or isinstance(data, bytes)) else 1
        timeout = HTTP_TRY_TIMEOUT if tries > 1 else HTTP_ONCE_TIMEOUT
        for attempt in range(tries):
            try:
                async with http.request(
                    method,
                    self.base_url + path,
                    json=json,
                    data=data,
                    headers=hdrs,
                    timeout=timeout,
                ) as resp:
                    if resp.content_type == "application/json":
                        body = await resp.json()
                    else:
                        body = await resp.read()
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, TimeoutError):
                if attempt == tries - 1:
                    raise
                await asyncio.sleep(0.1 * (attempt + 1))
                continue
            if resp.status >= 400:
                _raise_if_error(body, resp.status)
                raise RelaisError("http_error", f"HTTP {resp.status}", resp.status)
            return body
        raise AssertionError("unreachable")

    async def login(
        self,
        username: str,
        password: str,
        *,
        totp: str | None = None,
        device_name: str = "python-sdk",
        device_id: str | None = None,
    ) -> Any:
        body: dict[str, Any] = {
            "username": username,
            "password": password,
            "device_name": device_name,
        }
        if totp:
            body["totp"] = totp
        if device_id:
            body["device_id"] = device_id
        res = await self.request("POST", "/api/v1/auth/login", json=body)
        self.use_session(res["token"], res["user_id"], res["device_id"])
        return res

    def use_session(self, token: str, user_id: str, device_id: str) -> None:
        self.token, self.user_id, self.device_id = token, user_id, device_id

    async def create_room(
        self,
        patient_user_id: str | None = None,
        encrypted_meta: str | None = None,
        *,
        room_id: str | None = None,
        signed_event: str | None = None,
        patient_signed_event: str | None = None,
    ) -> str:
        body: dict[str, Any] = {
            "patient_user_id": patient_user_id,
            "encrypted_meta": encrypted_meta,
        }
        for key, value in (
            ("room_id", room_id),
            ("signed_event", signed_event),
            ("patient_signed_event", patient_signed_event),
        ):
            if value is not None:
                body[key] = value
        res = await self.request("POST", "/api/v1/rooms", json=body)
        return str(res["room_id"])

    async def add_member(
        self,
        room_id: str,
        user_id: str,
        *,
        room_role: str = "member",
        consent_id: str | None = None,
        signed_event: str | None = None,
    ) -> Any:
        body: dict[str, Any] = {
            "user_id": user_id,
            "room_role": room_role,
            "consent_id": consent_id,
        }
        if signed_event is not None:
            body["signed_event"] = signed_event
        return await self.request("POST", f"/api/v1/rooms/{room_id}/members", json=body)

    async def remove_member(
        self, room_id: str, user_id: str, *, signed_event: str | None = None
    ) -> Any:
        body = {"signed_event": signed_event} if signed_event is not None else {}
        return await self.request("DELETE", f"/api/v1/rooms/{room_id}/members/{user_id}", json=body)

    async def sign_chain_create(self, room_id: str, signed_event: str) -> Any:
        return await self.request(
            "POST", f"/api/v1/rooms/{room_id}/chain", json={"signed_event": signed_event}
        )

    async def membership_events(self, room_id: str) -> list[dict[str, Any]]:
        res = await self.request("GET", f"/api/v1/rooms/{room_id}/membership-events")
        return list(res["events"])

    # -- keys (public material and encrypted backup; see docs/crypto.md) -------------------------
    async def publish_device_list(
        self, identity_key: str, signed_device_list: str, version: int | None = None
    ) -> Any:
        """With `version`, the list joins the server's log (it must be the next version)."""
        body: dict[str, Any] = {
            "identity_key": identity_key,
            "signed_device_list": signed_device_list,
        }
        if version is not None:
            body["version"] = version
        return await self.request("PUT", "/api/v1/keys/device-list", json=body)

    async def publish_device_keys(self, public_keys: str) -> Any:
        return await self.request("PUT", "/api/v1/keys/device", json={"public_keys": public_keys})

    async def query_keys(
        self, user_ids: list[str], since: dict[str, int] | None = None
    ) -> dict[str, Any]:
        """`since` asks, per user, for the logged device lists after that version as well."""
        body: dict[str, Any] = {"user_ids": user_ids}
        if since:
            body["since"] = since
        res = await self.request("POST", "/api/v1/keys/query", json=body, resend=True)
        return dict(res["users"])

    async def revoke_device(self, device_id: str) -> Any:
        return await self.request("DELETE", f"/api/v1/devices/{device_id}")

    async def get_backup(self) -> dict[str, Any] | None:
        res = await self.request("GET", "/api/v1/keys/backup")
        backup: dict[str, Any] | None = res.get("backup")
        return backup

    async def put_backup(self, version: int, info: str) -> Any:
        return await self.request(
            "PUT", "/api/v1/keys/backup", json={"version": version, "info": info}
        )

    async def put_backup_entries(self, version: int, entries: list[dict[str, str]]) -> Any:
        return await self.request(
            "PUT", "/api/v1/keys/backup/entries", json={"version": version, "entries": entries}
        )

    async def backup_entries(self) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        after: str | None = None
        while True:
            path = "/api/v1/keys/backup/entries?limit=1000" + (f"&after={after}" if after else "")
            res = await self.request("GET", path)
            out.extend(res["entries"])
            after = res.get("next")
            if not after:
                return out

    # -- socket ---------------------------------------------------------------------------------
    async def connect(self, *, wait_timeout: float = 10) -> None:
        options: dict[str, Any] = {}
        if self.ssl_context is not None:
            # engine.io then makes its requests and WebSockets through our session.
            options["http_session"] = await self._session()
        sio = socketio.AsyncClient(
            reconnection=True, reconnection_delay=0.2, reconnection_delay_max=2, **options
        )
        self.sio = sio

        @sio.on("message.new")
        async def _on_new(msg: dict[str, Any]) -> None:
            await self._deliver(msg)

        @sio.on("connect")
        async def _on_connect() -> None:
            # Not awaited here: this runs inside the socket's read loop, which must keep
            # running for the sync's own acks to arrive.
            if self._connected_once:
                task = asyncio.create_task(self._after_reconnect())
                self._background.add(task)
                task.add_done_callback(self._background.discard)
            self._connected_once = True
            self._refused = None
            self._online.set()

        @sio.on("disconnect")
        async def _on_disconnect(*_reason: Any) -> None:
            self._online.clear()

        @sio.on("connect_error")
        async def _on_connect_error(data: Any = None) -> None:
            refusal = _refusal(data)
            if refusal is not None and refusal.code == "unauthorized":
                self._refused = refusal

        @sio.on("*")
        async def _on_any(event: str, data: Any = None) -> None:
            if event == "todevice.new":
                self.to_device.append(data)
                if self.on_to_device is not None:
                    await self.on_to_device([data])
            elif self.on_event is not None:
                res = self.on_event(event, data)
                if asyncio.iscoroutine(res):
                    await res
            await self.events.put((event, data))

        await sio.connect(
            self.base_url,
            auth={"token": self.token},
            transports=self.transports,
            wait_timeout=wait_timeout,
        )

    async def _deliver(self, msg: dict[str, Any]) -> None:
        if self.inbox.accept(msg) and self.on_message is not None:
            res = self.on_message(msg)
            if asyncio.iscoroutine(res):
                await res

    async def call(self, event: str, data: Any = None, timeout: float = 10) -> Any:
        if self.sio is None:
            raise RelaisError("not_connected", "call connect() first")
        res = await self.sio.call(event, data, timeout=timeout)
        return _raise_if_error(res)

    async def _call_until_acked(
        self,
        event: str,
        payload: dict[str, Any],
        retries: int,
        timeout: float,
        offline_s: float = OFFLINE_WAIT_S,
    ) -> dict[str, Any]:
        """Repeat an idempotent call (its client_msg_id makes a retry store nothing twice)
        through timeouts and transient server errors (`retries` tries that reached the
        socket), and through a dropped socket: while it is down (a starved link drops it for
        seconds or minutes; it reconnects by itself) the call waits for it, up to `offline_s`
        from the first try, without spending tries."""
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + offline_s
        last: Exception | None = None
        attempt = 0
        while attempt < retries:
            if self.sio is None:
                raise RelaisError("not_connected", "the client is closed")
            if "/" not in self.sio.namespaces:
                # Not (or no longer) connected whatever the handlers said last: a packet sent
                # now would be dropped and the call would sit out its whole timeout. (`connected`
                # is no guide: a reconnection sets it only after the connect handler ran.)
                self._online.clear()
            if not self._online.is_set():
                if self._refused is not None:
                    raise self._refused
                if not self.sio.reconnection:
                    raise RelaisError("not_connected", "the socket is down and does not reconnect")
                left = give_up_at - loop.time()
                if left <= 0:
                    raise RelaisError(
                        "send_failed", f"the socket stayed down for {offline_s:.0f} s: {last}"
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._online.wait(), min(left, 1.0))
                continue
            try:
                ack: dict[str, Any] = await self.call(event, payload, timeout=timeout)
                return ack
            except socketio.exceptions.BadNamespaceError as err:
                # Gone between the check above and the call: the loop's check now sees it down
                # and waits for it, no try spent.
                last = err
                continue
            except RelaisError as err:
                if err.code not in ("unavailable", "internal"):
                    raise
                last = err
            except (TimeoutError, socketio.exceptions.SocketIOError) as err:
                last = err
            attempt += 1
            await asyncio.sleep(min(0.1 * attempt, 1.0))
        raise RelaisError("send_failed", f"gave up after {retries} tries: {last}")

    async def send(
        self,
        room_id: str,
        envelope: dict[str, Any],
        *,
        client_msg_id: str | None = None,
        retries: int = 20,
        timeout: float = 10,
        offline_s: float = OFFLINE_WAIT_S,
    ) -> dict[str, Any]:
        """Send until acked; the same client_msg_id on every try makes retries safe."""
        cmid = client_msg_id or secrets.token_urlsafe(12)
        payload = {"room_id": room_id, "client_msg_id": cmid, "envelope": envelope}
        return await self._call_until_acked("message.send", payload, retries, timeout, offline_s)

    async def _after_reconnect(self) -> None:
        """Messages and to-device entries emitted while the socket was down (a starved 2G link
        drops it for seconds) reach nobody live: fetch them. The hooks run alongside, not after:
        on a starved link the sync can take seconds, and a consultation's rejoin must reach the
        server before its disconnect grace ends."""

        async def catch_up() -> None:
            try:
                await self.sync()
            except (RelaisError, TimeoutError, socketio.exceptions.SocketIOError) as err:
                # The next reconnection, or the application's own sync, catches up.
                log.warning("sync after reconnect failed: %s", getattr(err, "code", err))

        async def run(hook: Callable[[], Awaitable[None]]) -> None:
            try:
                await hook()
            except Exception:
                log.exception("reconnect hook failed")

        await asyncio.gather(catch_up(), *(run(h) for h in list(self.reconnect_hooks)))

    async def sync(self) -> int:
        """Fetch everything missed (all pages); returns how many new messages were delivered."""
        delivered = 0
        while True:
            res = await self.call("sync", {"since": dict(self.inbox.since)})
            for room in res["rooms"]:
                self.inbox.since.setdefault(room["room_id"], 0)
                for msg in room["messages"]:
                    before = len(self.inbox.seen)
                    await self._deliver(msg)
                    delivered += len(self.inbox.seen) - before
            pending = res.get("to_device") or []
            if pending:
                self.to_device.extend(pending)
                if self.on_to_device is not None:
                    await self.on_to_device(pending)
                await self.call("todevice.ack", {"up_to": pending[-1]["id"]})
            if not res.get("more"):
                return delivered

    async def send_to_device(
        self, messages: list[dict[str, Any]], *, client_msg_id: str | None = None
    ) -> dict[str, Any]:
        """Queue payloads for devices: messages = [{device_id, type, payload}]. Retrying with
        the same client_msg_id stores nothing twice."""
        cmid = client_msg_id or secrets.token_urlsafe(12)
        payload = {"messages": messages, "client_msg_id": cmid}
        return await self._call_until_acked("todevice.send", payload, retries=20, timeout=10)

    async def upload_attachment(self, room_id: str, data: Any) -> dict[str, Any]:
        """Upload already-encrypted bytes (or an async iterator of byte chunks, sent chunked);
        returns {attachment_id, room_id, size, sha256, created_at}."""
        res: dict[str, Any] = await self.request(
            "POST",
            f"/api/v1/rooms/{room_id}/attachments",
            data=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        return res

    async def download_attachment(self, attachment_id: str) -> bytes:
        res = await self.request("GET", f"/api/v1/attachments/{attachment_id}")
        return bytes(res)

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self.sio is not None:
            # `shutdown`, not `disconnect`: a socket caught between two reconnection attempts
            # would otherwise keep reconnecting after its client was closed.
            await self.sio.shutdown()
            # A reconnection attempt that failed (the link still down) leaves engine.io's own
            # HTTP session open: only a connection that was up gets it closed.
            eio = self.sio.eio
            if not eio.external_http and eio.http is not None and not eio.http.closed:
                await eio.http.close()
            self.sio = None
        if self._http is not None:
            await self._http.close()
            self._http = None


def _refusal(data: Any) -> RelaisError | None:
    """The server's typed refusal of a socket connection (CONNECT_ERROR: {"message", "data":
    {"error": {code, message}}}, or its `data` alone), None for a transport failure."""
    if isinstance(data, dict) and isinstance(data.get("data"), dict):
        data = data["data"]
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict) or not isinstance(err.get("code"), str):
        return None
    return RelaisError(err["code"], str(err.get("message", "")))
