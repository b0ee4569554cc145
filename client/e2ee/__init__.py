"""End-to-end encryption for the Python SDK (protocol: docs/crypto.md)."""

from .client import E2EEClient, E2EEError, Policy
from .records import DECRYPTED, FAILED, WAITING, MessageRecord

__all__ = ["DECRYPTED", "FAILED", "WAITING", "E2EEClient", "E2EEError", "MessageRecord", "Policy"]
