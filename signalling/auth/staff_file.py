"""Staff accounts kept in a JSON file beside the keys, so the embedded (memory) store keeps
them across restarts; `serve` loads them into whichever store it runs on."""

from __future__ import annotations

import json
import os
from pathlib import Path

from core.model import StaffUser


def read_staff(path: Path) -> list[StaffUser]:
    if not path.exists():
        return []
    data = json.loads(path.read_text())
    if not isinstance(data, list):
        raise ValueError(f"{path} must hold a JSON list")
    return [StaffUser.from_dict(item) for item in data]


def write_staff(path: Path, users: list[StaffUser]) -> None:
    """Write atomically, readable by the owner only (it holds password hashes)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump([u.to_dict() for u in users], f, indent=1)
    os.replace(tmp, path)


def upsert_staff(path: Path, user: StaffUser) -> None:
    users = [u for u in read_staff(path) if u.username != user.username]
    write_staff(path, [*users, user])
