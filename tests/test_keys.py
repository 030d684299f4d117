"""Signing-key generation, rotation, loading and the refusal of unsafe key files."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from core.clock import FakeClock
from signalling.auth.keys import (
    KEYRING_FILE,
    KeyRingError,
    ensure_keyring,
    generate_key,
    key_id,
    load_keyring,
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _state(keys_dir: Path) -> dict[str, object]:
    data = json.loads((keys_dir / KEYRING_FILE).read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    return tmp_path / "var" / "keys"


def test_generate_writes_private_files(keys_dir: Path, clock: FakeClock) -> None:
    kid = generate_key(keys_dir, clock)

    assert _mode(keys_dir) == 0o700
    assert _mode(keys_dir / f"{kid}.key") == 0o600
    assert _mode(keys_dir / KEYRING_FILE) == 0o600
    state = _state(keys_dir)
    assert state["current"] == kid
    assert state["previous"] is None
    assert state["created_at"] == {kid: int(clock.now())}


def test_kid_is_derived_from_the_public_key(keys_dir: Path, clock: FakeClock) -> None:
    kid = generate_key(keys_dir, clock)
    ring = load_keyring(keys_dir)

    raw = ring.private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert kid == ring.current_kid == key_id(ring.private_key.public_key())
    assert kid == hashlib.sha256(raw).hexdigest()[:16]
    assert list(ring.public_keys) == [kid]


def test_rotation_keeps_previous_public_key_and_prunes_older(
    keys_dir: Path, clock: FakeClock
) -> None:
    first = generate_key(keys_dir, clock)
    clock.advance(86400)
    second = generate_key(keys_dir, clock)

    ring = load_keyring(keys_dir)
    assert ring.current_kid == second
    assert set(ring.public_keys) == {first, second}
    # Nobody signs with a demoted key again, so its private half is gone.
    assert not (keys_dir / f"{first}.key").exists()
    assert (keys_dir / f"{first}.pub").exists()

    third = generate_key(keys_dir, clock)
    ring = load_keyring(keys_dir)
    assert ring.current_kid == third
    assert set(ring.public_keys) == {second, third}
    assert not list(keys_dir.glob(f"{first}.*"))
    assert sorted(p.name for p in keys_dir.glob("*.key")) == [f"{third}.key"]
    assert len({first, second, third}) == 3


def test_ensure_keyring_generates_once(keys_dir: Path, clock: FakeClock) -> None:
    ring = ensure_keyring(keys_dir, clock)
    again = ensure_keyring(keys_dir, clock)

    assert again.current_kid == ring.current_kid
    assert list(again.public_keys) == [ring.current_kid]


def test_missing_keyring_is_refused(keys_dir: Path) -> None:
    with pytest.raises(KeyRingError, match="lippejob keys generate"):
        load_keyring(keys_dir)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o610])
def test_private_key_accessible_by_others_is_refused(
    keys_dir: Path, clock: FakeClock, mode: int
) -> None:
    kid = generate_key(keys_dir, clock)
    (keys_dir / f"{kid}.key").chmod(mode)

    with pytest.raises(KeyRingError, match="group or others"):
        load_keyring(keys_dir)
    # ensure_keyring must not paper over it by generating a fresh key.
    with pytest.raises(KeyRingError, match="group or others"):
        ensure_keyring(keys_dir, clock)
    # Nor may a rotation start from a ring it would refuse to load.
    with pytest.raises(KeyRingError, match="group or others"):
        generate_key(keys_dir, clock)


def test_owner_only_modes_are_accepted(keys_dir: Path, clock: FakeClock) -> None:
    kid = generate_key(keys_dir, clock)
    (keys_dir / f"{kid}.key").chmod(0o400)

    assert load_keyring(keys_dir).current_kid == kid


def test_key_dir_writable_by_others_is_refused(keys_dir: Path, clock: FakeClock) -> None:
    generate_key(keys_dir, clock)
    keys_dir.chmod(0o770)

    with pytest.raises(KeyRingError, match="writable by group or others"):
        load_keyring(keys_dir)


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[]",
        '{"version": 2, "current": "0123456789abcdef", "previous": null}',
        '{"version": 1, "current": "../../etc/passwd", "previous": null}',
        '{"version": 1, "current": 7, "previous": null}',
        '{"version": 1, "current": "0123456789abcdef", "previous": "nope"}',
    ],
)
def test_corrupt_keyring_file_is_refused(keys_dir: Path, clock: FakeClock, content: str) -> None:
    generate_key(keys_dir, clock)
    (keys_dir / KEYRING_FILE).write_text(content)

    with pytest.raises(KeyRingError):
        load_keyring(keys_dir)
    with pytest.raises(KeyRingError):
        ensure_keyring(keys_dir, clock)


def test_missing_private_key_is_refused(keys_dir: Path, clock: FakeClock) -> None:
    kid = generate_key(keys_dir, clock)
    (keys_dir / f"{kid}.key").unlink()

    with pytest.raises(KeyRingError, match="missing"):
        load_keyring(keys_dir)


def test_missing_previous_public_key_is_refused(keys_dir: Path, clock: FakeClock) -> None:
    first = generate_key(keys_dir, clock)
    generate_key(keys_dir, clock)
    (keys_dir / f"{first}.pub").unlink()

    with pytest.raises(KeyRingError, match="missing"):
        load_keyring(keys_dir)


def test_garbage_private_key_is_refused(keys_dir: Path, clock: FakeClock) -> None:
    kid = generate_key(keys_dir, clock)
    (keys_dir / f"{kid}.key").write_bytes(b"-----BEGIN PRIVATE KEY-----\nAAAA\n")

    with pytest.raises(KeyRingError, match="not an unencrypted PEM private key"):
        load_keyring(keys_dir)


def test_non_ed25519_key_is_refused(keys_dir: Path, clock: FakeClock) -> None:
    kid = generate_key(keys_dir, clock)
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (keys_dir / f"{kid}.key").write_bytes(pem)

    with pytest.raises(KeyRingError, match="not an Ed25519 key"):
        load_keyring(keys_dir)


def test_key_swapped_under_another_kid_is_refused(tmp_path: Path, clock: FakeClock) -> None:
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    kid = generate_key(ours, clock)
    other = generate_key(theirs, clock)
    (ours / f"{kid}.key").write_bytes((theirs / f"{other}.key").read_bytes())

    with pytest.raises(KeyRingError, match="does not hold the key"):
        load_keyring(ours)


def test_keyring_error_is_a_value_error() -> None:
    assert issubclass(KeyRingError, ValueError)


def test_keyring_repr_hides_the_private_key(keys_dir: Path, clock: FakeClock) -> None:
    ring = ensure_keyring(keys_dir, clock)

    assert "private_key" not in repr(ring)
