"""Summarise a py-spy raw profile (`py-spy record --threads --idle -f raw`) of a server.

    python -m bench.profile_report FILE [N]

py-spy samples every thread at a fixed rate whether it runs or waits, so a function's share is a
share of wall time of the event-loop thread. `EpollSelector.select` is the loop waiting for I/O
(spare capacity); the aiosqlite worker threads are reported separately. Line numbers are dropped
so that one function is one row.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from typing import Any

_LINE = re.compile(r":\d+\)$")
# Leaves that mean "waiting": the loop in select, aiosqlite's worker on its queue (line 59 of
# aiosqlite/core.py 0.22), an idle thread-pool worker (its wait is in C, so the leaf is _worker).
# The innermost frame of the event loop in a stack: what runs above it is a task or callback.
# asyncio calls each through Handle._run; uvloop calls them from C, under Runner.run.
LOOP_FRAMES = ("Handle._run (asyncio/events.py", "Runner.run (asyncio/runners.py")
IDLE_LEAVES = (
    "EpollSelector.select",
    "_connection_worker_thread (aiosqlite/core.py:59)",
    "_worker (concurrent/futures/thread.py",
    "Condition.wait",
    "Queue.get",
    "SimpleQueue.get",
)


def _fn(frame: str) -> str:
    return _LINE.sub(")", frame.strip())


def summarise(path: str, top: int = 15) -> dict[str, Any]:
    main = 0
    idle = 0
    threads: Counter[str] = Counter()
    busy_threads: Counter[str] = Counter()
    self_c: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    tasks: Counter[str] = Counter()
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip()
            if not line:
                continue
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue  # a sample py-spy could not read whole (a frame changing under it)
            n = int(count)
            frames = stack.split(";")
            thread = re.sub(r"\(\d+\)|\s+", " ", frames[0]).strip()
            name = thread.split(":", 1)[-1].strip().split(" ")[0]
            threads[name] += n
            leaf = _fn(frames[-1])
            is_idle = frames[-1].strip().startswith(IDLE_LEAVES) or leaf.startswith(IDLE_LEAVES)
            if name != "MainThread":
                if not is_idle:
                    busy_threads[name] += n
                continue
            main += n
            if is_idle:
                idle += n
            self_c[leaf] += n
            seen: set[str] = set()
            entry = None
            loop_at = None  # index of the innermost event-loop frame
            for i, fr in enumerate(frames[1:], start=1):
                fn = _fn(fr)
                if fn not in seen:
                    incl[fn] += n
                    seen.add(fn)
                if fn.startswith(LOOP_FRAMES):
                    loop_at = i
            if loop_at is not None and loop_at + 1 < len(frames):
                entry = _fn(frames[loop_at + 1])
            elif loop_at is None and len(frames) > 1 and "_run_module_as_main" not in frames[1]:
                # uvloop runs callbacks from C: py-spy shows them as stacks of their own.
                entry = _fn(frames[1])
            if entry is not None:
                tasks[entry] += n
            elif not is_idle:
                tasks[
                    "(the loop itself: uvloop's C code (I/O, scheduling, waiting), or asyncio's "
                    "internals)"
                ] += n

    def pct(c: Counter[str], floor: float = 100.0) -> list[tuple[str, float]]:
        rows = [(k, 100 * v / main) for k, v in c.most_common()]
        return [r for r in rows if r[1] < floor][:top]

    return {
        "samples": main,
        "idle_pct": 100 * idle / main if main else 0.0,
        "self": pct(self_c),
        "inclusive": pct(incl, 99.0),
        "tasks": pct(tasks),
        "other_threads_busy_pct": {k: 100 * v / main for k, v in busy_threads.items()}
        if main
        else {},
    }


def markdown(s: dict[str, Any], title: str) -> str:
    other = sum(s["other_threads_busy_pct"].values())
    out = [
        f"**{title}** — {s['samples']} samples of the event-loop thread; loop idle (waiting "
        f"in select) {s['idle_pct']:.0f}%; aiosqlite/other threads busy {other:.0f}% "
        "(in units of one thread's wall time)",
        "",
        "Where the loop's time goes, by task/callback entry point:",
        "",
        "| % | entry |",
        "|---:|---|",
    ]
    out += [f"| {v:.1f} | `{k}` |" for k, v in s["tasks"][:8]]
    out += ["", "| self % | function | incl. % | function |", "|---:|---|---:|---|"]
    for (sk, sv), (ik, iv) in zip(s["self"], s["inclusive"], strict=False):
        out.append(f"| {sv:.1f} | `{sk}` | {iv:.1f} | `{ik}` |")
    return "\n".join(out)


if __name__ == "__main__":
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    print(markdown(summarise(sys.argv[1], n), sys.argv[1]))
