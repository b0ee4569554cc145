"""The Relais end-to-end encryption protocol on PyNaCl (specification: docs/crypto.md).

Pure functions and small state objects, no I/O: the client SDK (client/e2ee.py) decides when to
fetch keys and what to send; the server imports only the membership-chain checks.
"""
