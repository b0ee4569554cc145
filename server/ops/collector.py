"""Python's cycle collector, tuned for a server holding thousands of live sockets.

Measured on a reconnection storm (docs/performance.md §16): with CPython's default thresholds
(a young collection every 700 net allocations), the ~1 million objects of 5,000 connections were
walked by a full collection every few seconds, about a second each — 19 s of a 5,000-client
storm's CPU went to the collector. Two changes, both what large Python services do: objects that
exist once the node has started (modules, settings, the app) are frozen out of every later walk,
and a young collection waits for `YOUNG_THRESHOLD` allocations, which makes every generation's
collections rarer in proportion. Garbage without cycles is still freed at once by reference
counting; only cyclic garbage waits a little longer. The time spent collecting is exported as
`relais_gc_pause_seconds_total`, so an operator sees this cost instead of guessing it.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from . import metrics

# Young-generation threshold; the older ones keep CPython's ratios (10 young per middle, 10
# middle per full collection, and a full one only once a quarter of the heap is new).
YOUNG_THRESHOLD = 50_000

_started: list[float] = []


def _time_pauses(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started.append(time.perf_counter())
    elif _started:
        metrics.GC_PAUSE.labels(str(info.get("generation", "?"))).inc(
            time.perf_counter() - _started.pop()
        )


def tune_collector() -> None:
    """Call once the node has started (its long-lived objects exist). Idempotent."""
    gc.collect()
    gc.freeze()
    _, middle, full = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, full)
    if _time_pauses not in gc.callbacks:
        gc.callbacks.append(_time_pauses)
