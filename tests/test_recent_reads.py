"""core/store/recent.py on its own: a copy within its age is shared, a failed or cancelled
read is not kept, the number of copies is bounded. (With the SQL store: test_store_sql.py.)"""

from __future__ import annotations

import asyncio

import pytest

from core.store import recent
from core.store.recent import RecentReads


class Clock:
    def __init__(self) -> None:
        self.now = 10.0

    def __call__(self) -> float:
        return self.now


class Source:
    def __init__(self) -> None:
        self.reads = 0
        self.fail = False
        self.gate: asyncio.Event | None = None

    async def read(self, key: str) -> str:
        self.reads += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise ConnectionError("database away")
        return f"{key}#{self.reads}"


async def test_a_copy_is_shared_within_its_age_and_read_again_after() -> None:
    clock, source = Clock(), Source()
    reads = RecentReads[str](clock)
    assert await reads.get("a", 1.0, source.read) == "a#1"
    clock.now += 0.9
    assert await reads.get("a", 1.0, source.read) == "a#1"
    assert await reads.get("a", 0.5, source.read) == "a#2"  # the caller's own max age
    clock.now += 1.0
    assert await reads.get("a", 1.0, source.read) == "a#3"
    reads.forget("a")
    assert await reads.get("a", 1.0, source.read) == "a#4"


async def test_a_failed_read_is_not_kept() -> None:
    clock, source = Clock(), Source()
    reads = RecentReads[str](clock)
    source.fail = True
    with pytest.raises(ConnectionError):
        await reads.get("a", 5.0, source.read)
    source.fail = False
    assert await reads.get("a", 5.0, source.read) == "a#2"


async def test_a_cancelled_caller_does_not_cancel_the_shared_read() -> None:
    clock, source = Clock(), Source()
    reads = RecentReads[str](clock)
    source.gate = asyncio.Event()
    first = asyncio.create_task(reads.get("a", 5.0, source.read))
    second = asyncio.create_task(reads.get("a", 5.0, source.read))
    await asyncio.sleep(0)
    first.cancel()
    source.gate.set()
    assert await second == "a#1" and source.reads == 1
    assert await reads.get("a", 5.0, source.read) == "a#1"


async def test_copies_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recent, "MAX_KEPT", 3)
    clock, source = Clock(), Source()
    reads = RecentReads[str](clock)
    for key in "abcd":
        await reads.get(key, 5.0, source.read)
    assert source.reads == 4
    await reads.get("a", 5.0, source.read)  # the oldest went first: read again
    assert source.reads == 5
    await reads.get("d", 5.0, source.read)
    assert source.reads == 5
