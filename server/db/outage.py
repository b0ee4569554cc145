"""Telling "the database is unreachable" apart from a bug.

While PostgreSQL restarts, fails over or is cut off, any read or write raises a driver error; a
client should hear the typed `unavailable` (retry later) on every route and event, not
`internal`, and the log should say "storage unreachable" rather than carry a traceback per
request. The message writer already answers so; this is the same rule at the two dispatchers.
"""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

from server.errors import ApiError


def is_outage(err: BaseException) -> bool:
    """A lost or refused database connection, or a pool with no connection to give."""
    if isinstance(err, sa_exc.DBAPIError):
        return err.connection_invalidated or isinstance(
            err, sa_exc.OperationalError | sa_exc.InterfaceError
        )
    return isinstance(err, sa_exc.DisconnectionError | sa_exc.TimeoutError | ConnectionError)


def outage_error() -> ApiError:
    return ApiError("unavailable", "storage unreachable, retry later")
