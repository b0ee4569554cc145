"""Participants' IP addresses (aioice logs every candidate pair at INFO) and SDPs with ICE
passwords (aiortc at DEBUG) must never reach the logs, whatever the configured level."""

from __future__ import annotations

import logging

from server.ops.logging import QUIET_LOGGERS, configure_logging


def test_media_libraries_log_warnings_only_even_at_debug() -> None:
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    try:
        configure_logging("DEBUG", "n1")
        for name in ("aioice.ice", "aiortc.rtcpeerconnection", "av"):
            assert not logging.getLogger(name).isEnabledFor(logging.INFO), name
        assert set(QUIET_LOGGERS) >= {"aioice", "aiortc"}
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)
