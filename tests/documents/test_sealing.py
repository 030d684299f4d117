"""Documents at rest: what is on disk is not the document, and a changed, moved, cut or
swapped byte is refused, never served."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.documents import sealing
from core.documents.blobs import BlobError, DirectoryBlobs
from core.documents.sealing import MasterKey, Opener, Sealer, SealError, WrappedKey
from core.documents.vault import (
    KEY_ENV,
    DocumentVault,
    MasterKeyError,
    MasterKeys,
    load_master_keys,
    retire_older,
    rotate_master_keys,
)

DOC = "d_" + "ab" * 16
OTHER = "d_" + "cd" * 16
KEY = bytes(range(32))


def chunks_of(blob: bytes, chunk: int) -> list[bytes]:
    """The header and the records of a blob sealed with records of `chunk` bytes."""
    header, rest = blob[: sealing.HEADER.size], blob[sealing.HEADER.size :]
    size = chunk + sealing.TAG
    return [header, *(rest[i : i + size] for i in range(0, len(rest), size))]


@pytest.mark.parametrize("length", [0, 1, 99, 100, 101, 250, 1000])
@pytest.mark.parametrize("piece", [1, 7, 100, 4096])
def test_round_trip_in_pieces_of_any_size(length: int, piece: int) -> None:
    data = os.urandom(length)
    sealer = Sealer(KEY, DOC, chunk=100)
    blob = b"".join(sealer.feed(p) for p in sealing.split(data, piece)) + sealer.finish()
    assert length < 16 or data not in blob  # (a byte or two may occur by chance)
    opener = Opener(KEY, DOC)
    plain = b"".join(opener.feed(p) for p in sealing.split(blob, piece)) + opener.finish()
    assert plain == data
    records = len(chunks_of(blob, 100)) - 1
    assert records == max(1, -(-length // 100))  # the last record may be full, or empty


def test_every_single_flipped_bit_is_refused() -> None:
    blob = sealing.seal(os.urandom(300), KEY, DOC, chunk=100)
    for position in range(0, len(blob), 7):
        for bit in (0x01, 0x80):
            bad = bytearray(blob)
            bad[position] ^= bit
            with pytest.raises(SealError):
                sealing.open_sealed(bytes(bad), KEY, DOC)


def test_cut_reordered_repeated_and_swapped_blobs_are_refused() -> None:
    data = os.urandom(350)
    blob = sealing.seal(data, KEY, DOC, chunk=100)
    header, *records = chunks_of(blob, 100)
    assert len(records) == 4
    tampered = {
        "cut at a record boundary": header + b"".join(records[:3]),
        "cut inside a record": blob[:-5],
        "cut to the header": header,
        "cut inside the header": blob[:5],
        "records swapped": header + records[1] + records[0] + records[2] + records[3],
        "a record repeated": header
        + records[0]
        + records[0]
        + records[1]
        + records[2]
        + records[3],
        "a record left out": header + records[0] + records[2] + records[3],
        "bytes appended": blob + b"x",
        "another header": sealing.seal(data, KEY, DOC, chunk=100)[: len(header)]
        + b"".join(records),
    }
    for what, bad in tampered.items():
        with pytest.raises(SealError):
            sealing.open_sealed(bad, KEY, DOC)
            pytest.fail(what)
    with pytest.raises(SealError):  # the blob of another document
        sealing.open_sealed(blob, KEY, OTHER)
    with pytest.raises(SealError):  # another key
        sealing.open_sealed(blob, bytes(32), DOC)


def test_wrapped_keys_open_only_with_their_master_key_and_document() -> None:
    master, other = MasterKey.generate("m1"), MasterKey.generate("m2")
    data_key = sealing.new_data_key()
    wrapped = sealing.wrap(master, data_key, DOC)
    assert data_key not in wrapped.blob
    assert sealing.unwrap(master, wrapped, DOC) == data_key
    with pytest.raises(SealError):
        sealing.unwrap(master, wrapped, OTHER)
    with pytest.raises(SealError):
        sealing.unwrap(MasterKey("m1", other.key), wrapped, DOC)
    with pytest.raises(SealError):
        sealing.unwrap(other, wrapped, DOC)
    flipped = WrappedKey("m1", wrapped.blob[:-1] + bytes([wrapped.blob[-1] ^ 1]))
    with pytest.raises(SealError):
        sealing.unwrap(master, flipped, DOC)
    moved = sealing.rewrap(master, other, wrapped, DOC)
    assert moved.kid == "m2" and sealing.unwrap(other, moved, DOC) == data_key
    assert "key=" not in repr(master) and master.key.hex() not in repr(master)


async def pieces(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for piece in sealing.split(data, size):
        yield piece


@pytest.fixture
def vault(tmp_path: Path) -> DocumentVault:
    return DocumentVault(
        DirectoryBlobs(tmp_path / "blobs"), MasterKeys(MasterKey.generate("m1"), {})
    )


async def test_the_bytes_on_disk_are_not_the_document(vault: DocumentVault, tmp_path: Path) -> None:
    document = b"%PDF-1.7 Lebenslauf Frau Becker " * 5000
    wrapped = await vault.put(DOC, pieces(document))
    files = [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]
    assert len(files) == 1 and files[0].name == DOC
    on_disk = files[0].read_bytes()
    assert b"Lebenslauf" not in on_disk and b"%PDF" not in on_disk
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert await vault.read(DOC, wrapped) == document


async def test_a_flipped_or_truncated_blob_is_refused_whole(
    vault: DocumentVault, tmp_path: Path
) -> None:
    document = os.urandom(300_000)  # several records
    wrapped = await vault.put(DOC, document)
    (path,) = [p for p in (tmp_path / "blobs").rglob(DOC)]
    good = path.read_bytes()
    path.write_bytes(good[:100] + bytes([good[100] ^ 0x10]) + good[101:])
    with pytest.raises(SealError):
        await vault.read(DOC, wrapped)
    path.write_bytes(good[: sealing.HEADER.size + sealing.CHUNK + sealing.TAG])  # one record
    with pytest.raises(SealError):
        await vault.read(DOC, wrapped)
    path.write_bytes(good)
    assert await vault.read(DOC, wrapped) == document


async def test_shredding_removes_the_blob(vault: DocumentVault) -> None:
    wrapped = await vault.put(DOC, b"certificate")
    assert await vault.shred(DOC)
    assert not await vault.shred(DOC)
    with pytest.raises(BlobError):
        await vault.read(DOC, wrapped)


async def test_blob_names_cannot_traverse(tmp_path: Path) -> None:
    blobs = DirectoryBlobs(tmp_path / "blobs")
    for name in ("../etc/passwd", "d_../../x", "D_" + "ab" * 16, "d_" + "ab" * 16 + "/x", ""):
        with pytest.raises(BlobError):
            await blobs.put(name, pieces(b"x"))
        with pytest.raises(BlobError):
            await blobs.delete(name)
    assert not any((tmp_path / "blobs").rglob("*")) if (tmp_path / "blobs").exists() else True


async def test_a_failed_upload_leaves_nothing(tmp_path: Path) -> None:
    blobs = DirectoryBlobs(tmp_path / "blobs")

    async def broken() -> AsyncIterator[bytes]:
        yield b"first"
        raise ConnectionResetError("the tablet went away")

    with pytest.raises(ConnectionResetError):
        await blobs.put(DOC, broken())
    assert not [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]
    assert not await blobs.exists(DOC)


async def test_master_key_rotation_and_rewrap(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    with pytest.raises(MasterKeyError, match="keygen"):
        load_master_keys(keys_dir, environ={})
    first = rotate_master_keys(keys_dir)
    assert stat.S_IMODE((keys_dir / "documents.json").stat().st_mode) == 0o600
    blobs = DirectoryBlobs(tmp_path / "blobs")
    old_vault = DocumentVault(blobs, load_master_keys(keys_dir, environ={}))
    wrapped = await old_vault.put(DOC, b"Zeugnis")
    second = rotate_master_keys(keys_dir)
    assert second.current.kid != first.current.kid and first.current.kid in second.older
    vault = DocumentVault(blobs, load_master_keys(keys_dir, environ={}))
    assert await vault.read(DOC, wrapped) == b"Zeugnis"  # older keys still open
    moved = vault.rewrap(DOC, wrapped)
    assert moved.kid == second.current.kid
    retire_older(keys_dir)
    retired = DocumentVault(blobs, load_master_keys(keys_dir, environ={}))
    assert await retired.read(DOC, moved) == b"Zeugnis"
    with pytest.raises(SealError, match="retired"):
        await retired.read(DOC, wrapped)


def test_master_key_from_the_environment_and_refusals(tmp_path: Path) -> None:
    key = MasterKey.generate("env1")
    import base64

    env = {KEY_ENV: "env1:" + base64.b64encode(key.key).decode()}
    assert load_master_keys(tmp_path, environ=env).current == key
    for bad in ("env1:" + "A" * 10, "env1:not base64!", ":" + base64.b64encode(key.key).decode()):
        with pytest.raises(MasterKeyError):
            load_master_keys(tmp_path, environ={KEY_ENV: bad})
    rotate_master_keys(tmp_path)
    (tmp_path / "documents.json").chmod(0o644)
    with pytest.raises(MasterKeyError, match="chmod"):
        load_master_keys(tmp_path, environ={})
