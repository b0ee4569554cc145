"""Relais Python SDK."""

from .sdk import Inbox, RelaisClient, RelaisError

__all__ = ["Inbox", "RelaisClient", "RelaisError"]
