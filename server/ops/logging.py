"""Structured JSON logs on stderr.

Records carry event names, ids and sizes, never tokens, envelopes or other request bodies: the
formatter drops any `extra` key that is not on an allow-list, so a careless call site cannot
leak content into the logs.
"""

from __future__ import annotations

import json
import logging
import sys
import time

ALLOWED_EXTRA = frozenset(
    {
        "event",
        "route",
        "status",
        "code",
        "user_id",
        "device_id",
        "room_id",
        "batch",
        "node",
        "duration_ms",
        "sid",
        "count",
        "url",
        "reason",
    }
)
_STD = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, node: str) -> None:
        super().__init__()
        self.node = node

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": round(time.time(), 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "node": self.node,
        }
        for key, value in vars(record).items():
            if key not in _STD and key in ALLOWED_EXTRA:
                out[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            # Type and location only: exception messages can carry request data.
            etype, _, tb = record.exc_info
            frames = []
            while tb is not None:
                frames.append(f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}")
                tb = tb.tb_next
            out["exc_type"] = etype.__name__
            out["exc_where"] = frames[-3:]
        return json.dumps(out, separators=(",", ":"))


QUIET_LOGGERS = ("aioice", "aiortc", "av")


def configure_logging(level: str, node: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(node))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp's access log would print query strings (invite tokens): keep it off.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # aioice logs every candidate pair (participants' IP addresses) at INFO, aiortc whole SDPs
    # (ICE passwords included) at DEBUG: neither may reach the logs, whatever the level.
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
