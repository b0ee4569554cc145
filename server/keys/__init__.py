"""E2EE key storage: the public key directory and the encrypted key backup (all opaque here)."""
