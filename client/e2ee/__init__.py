"""End-to-end encryption for the Python SDK (protocol: docs/crypto.md)."""

from .client import E2EEClient
from .records import DECRYPTED, FAILED, WAITING, MessageRecord
from .state import E2EEError, Policy

__all__ = ["DECRYPTED", "FAILED", "WAITING", "E2EEClient", "E2EEError", "MessageRecord", "Policy"]
