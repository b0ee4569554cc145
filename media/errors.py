"""The one error type `media/` raises at its signalling seam."""

from __future__ import annotations


class MediaError(Exception):
    """A participant's signalling input was refused; `code` is the typed error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
