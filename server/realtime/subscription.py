"""A Redis pub/sub subscription that outlives Redis restarts.

Redis forgets every subscription when it restarts, and a subscriber's connection can also be cut
(its output buffer limit, a network blip). The bus between workers (redis_fanout.py) and the
media-home RPC (consultations/media_homes.py) each keep one channel this way: subscribe, hand
every message on, and on any failure subscribe again after a pause that grows to 5 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("relais.bus")

FIRST_PAUSE_S = 0.2
LONGEST_PAUSE_S = 5.0


async def subscribe_forever(
    redis: Any,
    channel: str,
    on_message: Callable[[bytes], Awaitable[None] | None],
    *,
    what: str,
    on_subscribed: Callable[[], None] | None = None,
) -> None:
    """Run until cancelled. `on_message` gets each message's data (a coroutine is awaited, so
    messages are handled in order); `what` names the channel in the log."""
    pause = FIRST_PAUSE_S
    while True:
        pubsub = redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(channel)
            if on_subscribed is not None:
                on_subscribed()
            pause = FIRST_PAUSE_S
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    handled = on_message(message["data"])
                    if handled is not None:
                        await handled
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("%s: subscription lost (%s), subscribing again", what, type(exc).__name__)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
        await asyncio.sleep(pause)
        pause = min(pause * 2, LONGEST_PAUSE_S)
