"""The document vault: seals documents into the blob store and opens them again, with the
master keys that wrap their data keys. Plaintext exists only in memory, one document at a
time (documents are at most a few MB, see `intake.MAX_FILE`)."""

from __future__ import annotations

import base64
import json
import os
import secrets
import stat
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from core.documents.blobs import BlobStore
from core.documents.sealing import (
    MasterKey,
    Opener,
    Sealer,
    SealError,
    WrappedKey,
    new_data_key,
    unwrap,
    wrap,
)

KEY_FILE = "documents.json"
KEY_ENV = "LIPPEJOB_DOCUMENTS_KEY"  # "<kid>:<base64 of 32 bytes>", instead of the file


class MasterKeyError(ValueError):
    """The master key is missing, malformed or kept too openly."""


@dataclass(frozen=True)
class MasterKeys:
    """The current master key (new documents, rewraps) and older ones still able to open
    keys wrapped before a rotation, until `lippejob documents rewrap` moved them all."""

    current: MasterKey
    older: Mapping[str, MasterKey]

    def get(self, kid: str) -> MasterKey:
        if kid == self.current.kid:
            return self.current
        try:
            return self.older[kid]
        except KeyError:
            raise SealError(f"no master key {kid!r}: it was retired or never here") from None

    def __repr__(self) -> str:
        return f"MasterKeys(current={self.current.kid!r}, older={sorted(self.older)!r})"


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise MasterKeyError("a master key is not base64") from None


def load_master_keys(keys_dir: Path, environ: Mapping[str, str] | None = None) -> MasterKeys:
    """From `LIPPEJOB_DOCUMENTS_KEY` when set, else from `<keys_dir>/documents.json`."""
    env = os.environ if environ is None else environ
    if raw := env.get(KEY_ENV):
        kid, _, key = raw.partition(":")
        try:
            return MasterKeys(MasterKey(kid, _unb64(key)), {})
        except ValueError as exc:
            raise MasterKeyError(f"{KEY_ENV}: {exc}") from None
    path = keys_dir / KEY_FILE
    try:
        mode = path.stat().st_mode
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise MasterKeyError(
            f"no document master key: run `lippejob documents keygen` or set {KEY_ENV}"
        ) from None
    except ValueError:
        raise MasterKeyError(f"{path} is not valid JSON") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise MasterKeyError(f"{path} may be read by others: chmod 600 it")
    try:
        keys = {kid: MasterKey(kid, _unb64(key)) for kid, key in data["keys"].items()}
        current = keys.pop(data["current"])
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise MasterKeyError(f"{path} is malformed: {exc}") from None
    return MasterKeys(current, keys)


def ensure_master_keys(keys_dir: Path, environ: Mapping[str, str] | None = None) -> MasterKeys:
    """The master keys, made on first use where neither the file nor the variable exists
    (as the token signing keys are): a fresh install needs no extra step."""
    env = os.environ if environ is None else environ
    if env.get(KEY_ENV) or (keys_dir / KEY_FILE).exists():
        return load_master_keys(keys_dir, env)
    return rotate_master_keys(keys_dir)


def write_master_keys(keys_dir: Path, keys: MasterKeys) -> None:
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = keys_dir / KEY_FILE
    data = {
        "current": keys.current.kid,
        "keys": {k.kid: _b64(k.key) for k in (keys.current, *keys.older.values())},
    }
    temp = keys_dir / f".{KEY_FILE}.{secrets.token_hex(4)}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)
    os.replace(temp, path)


def rotate_master_keys(keys_dir: Path) -> MasterKeys:
    """A new current master key; the old ones stay until a rewrap retires them."""
    try:
        old = load_master_keys(keys_dir, environ={})
        older = {**old.older, old.current.kid: old.current}
    except MasterKeyError:
        older = {}
    keys = MasterKeys(MasterKey.generate(f"m{secrets.token_hex(4)}"), older)
    write_master_keys(keys_dir, keys)
    return keys


def retire_older(keys_dir: Path) -> MasterKeys:
    """Forget the older master keys (after every wrapped key was moved to the current one)."""
    keys = MasterKeys(load_master_keys(keys_dir, environ={}).current, {})
    write_master_keys(keys_dir, keys)
    return keys


async def _chunks(pieces: AsyncIterable[bytes], sealer: Sealer) -> AsyncIterator[bytes]:
    async for piece in pieces:
        sealed = sealer.feed(piece)
        if sealed:
            yield sealed
    yield sealer.finish()


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


class DocumentVault:
    def __init__(self, blobs: BlobStore, keys: MasterKeys) -> None:
        self.blobs = blobs
        self.keys = keys

    async def put(self, document_id: str, plaintext: bytes | AsyncIterable[bytes]) -> WrappedKey:
        """Seal and store a document; returns its wrapped data key, which the caller keeps
        with the document's record (not with the blob)."""
        data_key = new_data_key()
        pieces = _one(plaintext) if isinstance(plaintext, bytes) else plaintext
        await self.blobs.put(document_id, _chunks(pieces, Sealer(data_key, document_id)))
        return wrap(self.keys.current, data_key, document_id)

    async def read(self, document_id: str, wrapped: WrappedKey) -> bytes:
        """The whole plaintext, checked to the last record before any of it is returned: a
        changed, moved or missing byte raises `SealError` and nothing is served."""
        opener = Opener(unwrap(self.keys.get(wrapped.kid), wrapped, document_id), document_id)
        parts = [opener.feed(piece) async for piece in self.blobs.get(document_id)]
        parts.append(opener.finish())
        return b"".join(parts)

    def rewrap(self, document_id: str, wrapped: WrappedKey) -> WrappedKey:
        """The data key under the current master key (the blob does not change)."""
        if wrapped.kid == self.keys.current.kid:
            return wrapped
        data_key = unwrap(self.keys.get(wrapped.kid), wrapped, document_id)
        return wrap(self.keys.current, data_key, document_id)

    async def shred(self, document_id: str) -> bool:
        """Remove the blob. The caller deletes the wrapped key with the record: without it,
        any copy of the blob left in a backup stays unreadable."""
        return await self.blobs.delete(document_id)
