"""Where sealed document blobs live: a small interface, and a directory behind it (shared
between signalling nodes in a multi-node set-up, e.g. over NFS). Blobs are already encrypted
(see `sealing`); this layer only keeps bytes under a name."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import Protocol

# Blob names are ours (document ids), never a user's file name: nothing to traverse with.
NAME = re.compile(r"^[a-z]{1,8}_[0-9a-f]{16,64}$")
READ_SIZE = 64 * 1024


class BlobError(ValueError):
    """A blob name that is not one of ours, or a blob that is missing."""


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise BlobError("not a blob name")
    return name


class BlobStore(Protocol):
    async def put(self, name: str, pieces: AsyncIterable[bytes]) -> int:
        """Store the pieces under `name` (replacing nothing: a name is written once);
        returns the number of bytes. Nothing is left behind when it fails."""
        ...

    def get(self, name: str) -> AsyncIterator[bytes]:
        """The blob's bytes in pieces; `BlobError` when there is none."""
        ...

    async def delete(self, name: str) -> bool:
        """Remove the blob; False when there was none."""
        ...

    async def exists(self, name: str) -> bool: ...


class DirectoryBlobs:
    """Blobs as files `<root>/<first two hex digits>/<name>`, written to a temporary file
    and renamed into place, so a reader never sees half a blob."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, name: str) -> Path:
        check_name(name)
        digits = name.split("_", 1)[1]
        return self.root / digits[:2] / name

    async def put(self, name: str, pieces: AsyncIterable[bytes]) -> int:
        path = self._path(name)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True, mode=0o700)
        if await asyncio.to_thread(path.exists):
            raise BlobError("a blob of that name exists")
        temp = path.parent / f".{name}.{secrets.token_hex(4)}.part"
        size = 0
        handle = await asyncio.to_thread(os.open, temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            async for piece in pieces:
                await asyncio.to_thread(os.write, handle, piece)
                size += len(piece)
            await asyncio.to_thread(os.fsync, handle)
        except BaseException:
            os.close(handle)
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
            raise
        os.close(handle)
        await asyncio.to_thread(os.replace, temp, path)
        return size

    async def get(self, name: str) -> AsyncIterator[bytes]:
        path = self._path(name)
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError:
            raise BlobError("no such blob") from None
        try:
            while piece := await asyncio.to_thread(handle.read, READ_SIZE):
                yield piece
        finally:
            handle.close()

    async def delete(self, name: str) -> bool:
        path = self._path(name)
        try:
            await asyncio.to_thread(path.unlink)
        except FileNotFoundError:
            return False
        return True

    async def exists(self, name: str) -> bool:
        return await asyncio.to_thread(self._path(name).exists)
