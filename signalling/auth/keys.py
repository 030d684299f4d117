"""Ed25519 signing keys for room tokens: generation, rotation and loading.

Layout of the key directory (mode 0700):

- `keyring.json`: `{"version": 1, "current": KID, "previous": KID | null, "created_at": {...}}`
- `<kid>.key`: PKCS#8 PEM private key of the current key only (mode 0600)
- `<kid>.pub`: SubjectPublicKeyInfo PEM public key of the current and the previous key

A rotation makes a new current key, demotes the old current key to previous (its private half is
deleted: nobody signs with it again, verifiers only need the public half) and prunes the rest.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from core.clock import Clock

KEYRING_FILE = "keyring.json"
LOCK_FILE = ".lock"
KEYRING_VERSION = 1
# A kid is also a file name: a strict pattern keeps "../" and friends out of paths.
_KID_RE = re.compile(r"[0-9a-f]{16}")
_MAX_FILE_BYTES = 64 * 1024  # a PEM key is a few hundred bytes; anything huge is not ours


class KeyRingError(ValueError):
    """The key directory is missing, corrupt or unsafe; the server refuses to start."""


@dataclass(frozen=True)
class KeyRing:
    """The key that signs room tokens and the public keys verifiers accept."""

    current_kid: str
    private_key: Ed25519PrivateKey = field(repr=False)
    public_keys: Mapping[str, Ed25519PublicKey]  # current and previous (rotation)


def key_id(public_key: Ed25519PublicKey) -> str:
    """Short stable id of a public key: the first 16 hex digits of SHA-256 of its raw bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def generate_key(keys_dir: Path, clock: Clock) -> str:
    """Make a new current key, keep the old current one as previous, prune the rest."""
    _make_private_dir(keys_dir)
    with _locked(keys_dir):
        return _rotate(keys_dir, clock)


def load_keyring(keys_dir: Path) -> KeyRing:
    """Load and check the key ring; raise KeyRingError if it is missing, corrupt or unsafe."""
    state = _read_state(keys_dir)
    _check_dir(keys_dir)
    current: str = state["current"]
    private_key = _read_private_key(keys_dir / f"{current}.key")
    if key_id(private_key.public_key()) != current:
        raise KeyRingError(f"{keys_dir / f'{current}.key'} does not hold the key {current}")
    public_keys: dict[str, Ed25519PublicKey] = {current: private_key.public_key()}
    previous: str | None = state["previous"]
    if previous is not None:
        public_keys[previous] = _read_public_key(keys_dir / f"{previous}.pub", previous)
    return KeyRing(
        current_kid=current, private_key=private_key, public_keys=MappingProxyType(public_keys)
    )


def ensure_keyring(keys_dir: Path, clock: Clock) -> KeyRing:
    """Dev convenience: generate a key on first run, then load the ring.

    An existing but broken ring is reported, never silently replaced: replacing it would
    invalidate every token in flight and hide whatever broke it.
    """
    _make_private_dir(keys_dir)
    with _locked(keys_dir):
        if not (keys_dir / KEYRING_FILE).exists():
            _rotate(keys_dir, clock)
        return load_keyring(keys_dir)


# --- internals ---------------------------------------------------------------------------------


def _rotate(keys_dir: Path, clock: Clock) -> str:
    """Rotation proper; the caller holds the directory lock."""
    previous: str | None = None
    created_at: dict[str, int] = {}
    if (keys_dir / KEYRING_FILE).exists():
        # Rotating a broken ring would make it worse: refuse, as loading does.
        old_ring = load_keyring(keys_dir)
        previous = old_ring.current_kid
        old_created = _read_state(keys_dir).get("created_at", {})
        if isinstance(old_created.get(previous), int):
            created_at[previous] = old_created[previous]

    private_key = Ed25519PrivateKey.generate()
    kid = key_id(private_key.public_key())
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # Key files first, the ring file last (atomically): a crash in between leaves the old ring
    # intact plus orphan files that the next rotation prunes.
    _write_new(keys_dir / f"{kid}.key", private_pem, 0o600)
    _write_new(keys_dir / f"{kid}.pub", public_pem, 0o644)
    created_at[kid] = int(clock.now())
    state = {
        "version": KEYRING_VERSION,
        "current": kid,
        "previous": previous,
        "created_at": created_at,
    }
    _write_atomic(keys_dir / KEYRING_FILE, (json.dumps(state, indent=2) + "\n").encode(), 0o600)
    _prune(keys_dir, current=kid, previous=previous)
    return kid


def _prune(keys_dir: Path, *, current: str, previous: str | None) -> None:
    """Delete every private key but the current one and every public key not in the ring."""
    keep_public = {current, previous}
    for path in keys_dir.iterdir():
        if not _KID_RE.fullmatch(path.stem):
            continue
        if (path.suffix == ".key" and path.stem != current) or (
            path.suffix == ".pub" and path.stem not in keep_public
        ):
            path.unlink(missing_ok=True)


def _read_state(keys_dir: Path) -> dict[str, Any]:
    path = keys_dir / KEYRING_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise KeyRingError(f"no signing keys in {keys_dir}; run `lippejob keys generate`") from None
    except OSError as exc:
        raise KeyRingError(f"cannot read {path}: {exc.strerror}") from None
    try:
        state = json.loads(raw)
    except ValueError:
        raise KeyRingError(f"{path} is not valid JSON") from None
    if not isinstance(state, dict) or state.get("version") != KEYRING_VERSION:
        raise KeyRingError(f"{path} is not a version {KEYRING_VERSION} key ring")
    current, previous = state.get("current"), state.get("previous")
    if not isinstance(current, str) or not _KID_RE.fullmatch(current):
        raise KeyRingError(f"{path} names no valid current key")
    if previous is not None and (
        not isinstance(previous, str) or not _KID_RE.fullmatch(previous) or previous == current
    ):
        raise KeyRingError(f"{path} names an invalid previous key")
    if not isinstance(state.get("created_at", {}), dict):
        raise KeyRingError(f"{path} has an invalid created_at")
    return state


def _check_dir(keys_dir: Path) -> None:
    """Refuse a key directory others may write to: they could swap the keys."""
    mode = keys_dir.stat().st_mode
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise KeyRingError(
            f"{keys_dir} is writable by group or others (mode {stat.S_IMODE(mode):o}); "
            f"run `chmod 700 {keys_dir}`"
        )


def _read_private_key(path: Path) -> Ed25519PrivateKey:
    data = _read_file(path, private=True)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyRingError(f"{path} is not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyRingError(f"{path} is not an Ed25519 key")
    return key


def _read_public_key(path: Path, kid: str) -> Ed25519PublicKey:
    data = _read_file(path, private=False)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise KeyRingError(f"{path} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyRingError(f"{path} is not an Ed25519 key")
    if key_id(key) != kid:
        raise KeyRingError(f"{path} does not hold the key {kid}")
    return key


def _read_file(path: Path, *, private: bool) -> bytes:
    """Read a key file; for private keys, refuse any access bits for group or others.

    The mode is checked on the opened descriptor, so the file checked is the file read.
    Symlinks are followed on purpose: secret mounts (e.g. Kubernetes) are made of them.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise KeyRingError(f"key file {path} is missing") from None
    except OSError as exc:
        raise KeyRingError(f"cannot open {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise KeyRingError(f"{path} is not a regular file")
        if private and info.st_mode & 0o077:
            raise KeyRingError(
                f"{path} is accessible by group or others (mode {stat.S_IMODE(info.st_mode):o});"
                f" refusing to use it; run `chmod 600 {path}`"
            )
        data = file.read(_MAX_FILE_BYTES + 1)
    if len(data) > _MAX_FILE_BYTES:
        raise KeyRingError(f"{path} is too large to be a key")
    return data


def _make_private_dir(path: Path) -> None:
    if not path.exists():
        path.mkdir(mode=0o700, parents=True)
        # mkdir's mode passes through the umask; set it explicitly.
        path.chmod(0o700)


@contextlib.contextmanager
def _locked(keys_dir: Path) -> Iterator[None]:
    """Serialise generation between processes started together (e.g. several dev servers)."""
    fd = os.open(keys_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create `path` with `mode` from the start, so a key is never readable even briefly."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as file:
        os.fchmod(file.fileno(), mode)  # the umask may have taken bits off; set exactly
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        _write_new(tmp, data, mode)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
