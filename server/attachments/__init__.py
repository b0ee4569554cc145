"""Attachments: ciphertext blobs uploaded and downloaded by room members only."""
