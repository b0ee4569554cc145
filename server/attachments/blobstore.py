"""Ciphertext blobs on disk: streamed in, hashed on the way, renamed into place atomically.

The event loop never touches the file: every open, write, fsync, rename and unlink runs in a
worker thread, in batches of chunks so a large upload costs a few thread hops, not one per
network read. File names are server-made attachment ids (never a client-chosen path), sharded
into sub-directories so a directory never grows without bound. A blob exists under its final
name only once it is complete and flushed; an interrupted upload leaves at most a temp file,
which is removed on the spot (or, a day later, by a start if the process died).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from server.errors import ApiError

ID_PATTERN = re.compile(r"^a_[A-Za-z0-9_\-]{8,32}$")
FLUSH_BYTES = 1024 * 1024
STALE_TMP_S = 24 * 3600


@dataclass
class StagedBlob:
    tmp_path: Path
    size: int
    sha256: str


def _write_batch(f: IO[bytes], digest: hashlib._Hash, parts: list[bytes]) -> None:
    for part in parts:
        digest.update(part)
        f.write(part)


def _finish(f: IO[bytes]) -> None:
    f.flush()
    os.fsync(f.fileno())
    f.close()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp_dir = root / "tmp"

    async def prepare(self) -> None:
        def _mk() -> None:
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
            # Other nodes may share this directory and be mid-upload: only old leftovers go.
            cutoff = time.time() - STALE_TMP_S
            for stale in self.tmp_dir.iterdir():
                with contextlib.suppress(FileNotFoundError):
                    if stale.stat().st_mtime < cutoff:
                        stale.unlink()

        await asyncio.to_thread(_mk)

    def path_for(self, attachment_id: str) -> Path:
        if not ID_PATTERN.match(attachment_id):
            raise ValueError("not an attachment id")
        return self.root / attachment_id[2:4] / attachment_id

    async def stage(self, chunks: AsyncIterator[bytes], limit: int) -> StagedBlob:
        """Stream into a temp file; refuse with payload_too_large as soon as `limit` is passed."""
        tmp = self.tmp_dir / f"up-{secrets.token_hex(12)}"
        digest = hashlib.sha256()
        f = await asyncio.to_thread(open, tmp, "xb")
        size, pending, pending_bytes = 0, [], 0
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise ApiError("payload_too_large", f"attachment larger than {limit} bytes")
                pending.append(chunk)
                pending_bytes += len(chunk)
                if pending_bytes >= FLUSH_BYTES:
                    await asyncio.to_thread(_write_batch, f, digest, pending)
                    pending, pending_bytes = [], 0
            if pending:
                await asyncio.to_thread(_write_batch, f, digest, pending)
            await asyncio.to_thread(_finish, f)
        except BaseException:
            await asyncio.to_thread(f.close)
            await asyncio.to_thread(tmp.unlink, True)
            raise
        return StagedBlob(tmp, size, digest.hexdigest())

    async def commit(self, staged: StagedBlob, attachment_id: str) -> Path:
        final = self.path_for(attachment_id)

        def _move() -> None:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged.tmp_path, final)
            _fsync_dir(final.parent)

        await asyncio.to_thread(_move)
        return final

    async def discard(self, staged: StagedBlob) -> None:
        await asyncio.to_thread(staged.tmp_path.unlink, True)

    async def remove(self, attachment_id: str) -> None:
        await asyncio.to_thread(self.path_for(attachment_id).unlink, True)

    async def exists(self, attachment_id: str) -> bool:
        return await asyncio.to_thread(self.path_for(attachment_id).is_file)
