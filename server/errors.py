"""Typed errors shared by REST handlers and socket events.

Every refusal leaves the server as `{"error": {"code": ..., "message": ...}}`; clients branch on
`code`, humans read `message`. Messages never echo request content (it may be patient data).
"""

from __future__ import annotations

from typing import Any

# code -> HTTP status. The list is the contract documented in docs/protocol.md.
ERROR_STATUS: dict[str, int] = {
    "bad_request": 400,
    "validation_failed": 422,
    "payload_too_large": 413,
    "unauthorized": 401,
    "invalid_credentials": 401,
    "account_locked": 423,
    "account_disabled": 403,
    "forbidden": 403,
    "consent_required": 403,
    "not_admitted": 403,
    "not_found": 404,
    "conflict": 409,
    "stale_membership": 409,
    "invite_invalid": 410,
    "consultation_ended": 410,
    "bad_sdp": 400,
    "bad_candidate": 400,
    "bad_state": 409,
    "no_media_leg": 409,
    "rate_limited": 429,
    "internal": 500,
    "unavailable": 503,
}


class ApiError(Exception):
    """An expected refusal: carries the error code and a content-free message."""

    def __init__(self, code: str, message: str, *, details: dict[str, Any] | None = None) -> None:
        if code not in ERROR_STATUS:
            raise ValueError(f"unknown error code {code}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    @property
    def status(self) -> int:
        return ERROR_STATUS[self.code]

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            err["details"] = self.details
        return {"error": err}


def not_found(what: str = "room") -> ApiError:
    """The single answer to "does this exist?" for anyone not entitled to know."""
    return ApiError("not_found", f"{what} not found")


def error_body(code: str, message: str) -> dict[str, Any]:
    return ApiError(code, message).body()
