"""Documents encrypted at rest: AES-256-GCM in chunks, with a fresh data key per document
that a master key wraps.

A sealed blob is a header and then records, one per chunk of plaintext:

    header  = MAGIC (4) | chunk size (4, big-endian) | nonce prefix (7)
    record  = AES-GCM(data key, nonce, chunk, aad = header | document id)  (chunk + 16-byte tag)
    nonce   = nonce prefix (7) | record number (4, big-endian) | last flag (1)

This is the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár, "Online
Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance", 2015), as in age and Tink's
streaming AEAD: the record number in the nonce makes a reordered or repeated record fail to
open, and only the last record carries the flag, so a blob cut at a record boundary fails too.
The document id in the associated data ties a blob to its record: blobs swapped between
documents do not open. Every record but the last holds exactly `chunk size` bytes of plaintext;
the last holds the rest (possibly nothing).

The data key is wrapped with the master key (AES-GCM, the document id as associated data) and
stored beside the document's metadata, never beside the blob: a stolen blob directory or a
stolen database alone reveals nothing, and deleting the wrapped key shreds the document even
where a copy of the blob survives in a backup.
"""

from __future__ import annotations

import os
import struct
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"LJD1"
HEADER = struct.Struct(">4sI7s")
CHUNK = 64 * 1024
TAG = 16
PREFIX = 7
MAX_RECORDS = 2**32 - 1
KEY_BYTES = 32
WRAP_NONCE = 12
WRAP_AAD = b"lippejob document key v1:"


class SealError(ValueError):
    """A blob or wrapped key that does not open: tampered with, cut short, or not ours."""


@dataclass(frozen=True)
class MasterKey:
    """The key that wraps every document's data key; `kid` names it in wrapped keys."""

    kid: str
    key: bytes

    def __post_init__(self) -> None:
        if len(self.key) != KEY_BYTES:
            raise ValueError("a master key has 32 bytes")
        if not self.kid or not self.kid.isalnum() or len(self.kid) > 32:
            raise ValueError("a master key id is 1-32 letters and digits")

    def __repr__(self) -> str:  # never the key itself in a log or a traceback
        return f"MasterKey(kid={self.kid!r})"

    @classmethod
    def generate(cls, kid: str) -> MasterKey:
        return cls(kid, AESGCM.generate_key(bit_length=256))


@dataclass(frozen=True)
class WrappedKey:
    """A document's data key, wrapped by the master key `kid`."""

    kid: str
    blob: bytes  # nonce (12) | AES-GCM(master, nonce, data key, aad) (48)


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def wrap(master: MasterKey, data_key: bytes, document_id: str) -> WrappedKey:
    nonce = os.urandom(WRAP_NONCE)
    sealed = AESGCM(master.key).encrypt(nonce, data_key, WRAP_AAD + document_id.encode())
    return WrappedKey(master.kid, nonce + sealed)


def unwrap(master: MasterKey, wrapped: WrappedKey, document_id: str) -> bytes:
    if wrapped.kid != master.kid:
        raise SealError(f"the key is wrapped by master key {wrapped.kid!r}, not {master.kid!r}")
    nonce, sealed = wrapped.blob[:WRAP_NONCE], wrapped.blob[WRAP_NONCE:]
    try:
        key = AESGCM(master.key).decrypt(nonce, sealed, WRAP_AAD + document_id.encode())
    except InvalidTag:
        raise SealError("the wrapped data key does not open") from None
    if len(key) != KEY_BYTES:
        raise SealError("the wrapped data key has the wrong size")
    return key


def rewrap(old: MasterKey, new: MasterKey, wrapped: WrappedKey, document_id: str) -> WrappedKey:
    """The same data key under another master key (rotation): the blob stays as it is."""
    return wrap(new, unwrap(old, wrapped, document_id), document_id)


def _nonce(prefix: bytes, number: int, last: bool) -> bytes:
    if number > MAX_RECORDS:
        raise SealError("too many records for one blob")
    return prefix + struct.pack(">IB", number, 1 if last else 0)


class Sealer:
    """Encrypts one document as it streams in: `feed` plaintext, then `finish` once; each
    returns the sealed bytes to append to the blob (the header comes with the first)."""

    def __init__(self, data_key: bytes, document_id: str, chunk: int = CHUNK) -> None:
        if not 0 < chunk <= 16 * 1024 * 1024:
            raise ValueError("chunk size out of range")
        self._aead = AESGCM(data_key)
        self._chunk = chunk
        self._header = HEADER.pack(MAGIC, chunk, os.urandom(PREFIX))
        self._aad = self._header + document_id.encode()
        self._prefix = self._header[-PREFIX:]
        self._pending = bytearray()
        self._number = 0
        self._started = False
        self._finished = False

    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        return self._header

    def _record(self, plain: bytes, last: bool) -> bytes:
        sealed = self._aead.encrypt(_nonce(self._prefix, self._number, last), plain, self._aad)
        self._number += 1
        return sealed

    def feed(self, data: bytes) -> bytes:
        if self._finished:
            raise ValueError("the blob is finished")
        out = [self._start()]
        self._pending += data
        # Keep at least one byte back: the last record must be sealed as the last one, and
        # only `finish` knows which that is.
        while len(self._pending) > self._chunk:
            out.append(self._record(bytes(self._pending[: self._chunk]), last=False))
            del self._pending[: self._chunk]
        return b"".join(out)

    def finish(self) -> bytes:
        if self._finished:
            raise ValueError("the blob is finished")
        self._finished = True
        head = self._start()
        last = self._record(bytes(self._pending), last=True)
        self._pending.clear()
        return head + last


def seal(data: bytes, data_key: bytes, document_id: str, chunk: int = CHUNK) -> bytes:
    """A whole document at once (small documents and tests)."""
    sealer = Sealer(data_key, document_id, chunk)
    return sealer.feed(data) + sealer.finish()


class Opener:
    """Decrypts a sealed blob as its bytes arrive, in pieces of any size: `feed` returns the
    plaintext of every record completed so far, `finish` checks that the last record came.
    Any failure raises `SealError`; the caller must then discard what it got so far."""

    def __init__(self, data_key: bytes, document_id: str) -> None:
        self._aead = AESGCM(data_key)
        self._doc = document_id.encode()
        self._buffer = bytearray()
        self._header: bytes | None = None
        self._chunk = 0
        self._prefix = b""
        self._number = 0
        self._done = False

    def feed(self, data: bytes) -> bytes:
        if self._done and data:
            raise SealError("bytes after the last record")
        self._buffer += data
        if self._header is None:
            if len(self._buffer) < HEADER.size:
                return b""
            magic, chunk, prefix = HEADER.unpack_from(self._buffer)
            if magic != MAGIC or not 0 < chunk <= 16 * 1024 * 1024:
                raise SealError("not a sealed document")
            self._header = bytes(self._buffer[: HEADER.size])
            self._chunk, self._prefix = chunk, prefix
            del self._buffer[: HEADER.size]
        out: list[bytes] = []
        record = self._chunk + TAG
        # A full-size record is the last one only if nothing follows it: keep one back.
        while len(self._buffer) > record:
            out.append(self._open(bytes(self._buffer[:record]), last=False))
            del self._buffer[:record]
        return b"".join(out)

    def finish(self) -> bytes:
        if self._done:
            return b""
        if self._header is None:
            raise SealError("the blob is cut short")
        if len(self._buffer) < TAG:
            raise SealError("the blob is cut short")
        plain = self._open(bytes(self._buffer), last=True)
        self._buffer.clear()
        self._done = True
        return plain

    def _open(self, sealed: bytes, last: bool) -> bytes:
        assert self._header is not None
        try:
            plain = self._aead.decrypt(
                _nonce(self._prefix, self._number, last), sealed, self._header + self._doc
            )
        except InvalidTag:
            if last:
                raise SealError("the blob is cut short or its last record was changed") from None
            raise SealError(f"record {self._number} was changed or moved") from None
        self._number += 1
        return plain


def open_sealed(blob: bytes, data_key: bytes, document_id: str) -> bytes:
    opener = Opener(data_key, document_id)
    return opener.feed(blob) + opener.finish()


async def open_stream(
    pieces: AsyncIterable[bytes], data_key: bytes, document_id: str
) -> AsyncIterator[bytes]:
    """Plaintext as the sealed pieces arrive. A tampered record raises `SealError` when it is
    reached: callers that must not hand out any byte of a tampered document check the whole
    blob with `verify` first (see `DocumentVault.read`)."""
    opener = Opener(data_key, document_id)
    async for piece in pieces:
        plain = opener.feed(piece)
        if plain:
            yield plain
    last = opener.finish()
    if last:
        yield last


def split(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]
