"""Loggers handed to python-socketio and python-engineio.

Left to themselves (`logger=False`) both libraries attach a plain StreamHandler to stderr, so
their errors bypassed the JSON log as raw tracebacks, and their messages interpolate packet
data, session ids and namespaces. Ours go through the root JSON handler, at WARNING at least,
with the arguments dropped: the line keeps the library's fixed text, never what a client sent.
"""

from __future__ import annotations

import logging

SOCKETIO_LOGGER = "relais.lib.socketio"
ENGINEIO_LOGGER = "relais.lib.engineio"


class DropArguments(logging.Filter):
    """Keep the format string, drop what would be interpolated into it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.args = None
        return True


def library_logger(name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    if logger.level == logging.NOTSET or logger.level < logging.WARNING:
        logger.setLevel(logging.WARNING)
    if not any(isinstance(f, DropArguments) for f in logger.filters):
        logger.addFilter(DropArguments())
    return logger
