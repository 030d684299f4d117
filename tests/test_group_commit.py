"""Group commit (core/db/group_commit.py): a burst of writes shares a few transactions, in the
order the writes were asked for; one bad row fails alone; a cancelled caller's row is written
all the same. The attendance of a burst of admissions, on SQLite and a real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError

from core.clock import FakeClock
from core.db.group_commit import GroupCommit
from core.model import AttendanceEvent
from core.store.base import MAX_ATTENDANCE
from core.store.sql import SqlStore

T0 = 1_800_000_000.0


class Table:
    """Rows written in batches, as a database would take them: all of a batch or none."""

    def __init__(self) -> None:
        self.rows: list[str] = []
        self.batches: list[list[str]] = []
        self.down = False

    async def write(self, items: Sequence[str]) -> list[int]:
        await asyncio.sleep(0.005)  # the transaction takes a while: more callers arrive
        if self.down:
            raise OperationalError("INSERT", {}, Exception("database is away"))
        if any(item.startswith("bad") for item in items):
            raise IntegrityError("INSERT", {}, Exception("constraint failed"))
        self.batches.append(list(items))
        self.rows.extend(items)
        return [len(self.rows) - len(items) + i for i in range(len(items))]


async def test_a_burst_shares_transactions_in_the_order_of_the_calls() -> None:
    table = Table()
    group = GroupCommit(table.write, "test")
    got = await asyncio.gather(*(group.submit(f"row{i}") for i in range(100)))
    assert got == list(range(100))
    assert table.rows == [f"row{i}" for i in range(100)]
    assert len(table.batches) <= 3  # the first alone, then the rest that waited for it


async def test_a_bad_row_fails_alone() -> None:
    table = Table()
    group = GroupCommit(table.write, "test")
    items = [f"row{i}" for i in range(10)]
    items[4] = "bad4"
    results = await asyncio.gather(*(group.submit(i) for i in items), return_exceptions=True)
    assert isinstance(results[4], IntegrityError)
    assert table.rows == [i for i in items if i != "bad4"]
    assert all(isinstance(r, int) for n, r in enumerate(results) if n != 4)


async def test_a_database_that_is_away_fails_every_caller_of_the_batch_and_the_next_works() -> None:
    table = Table()
    group = GroupCommit(table.write, "test")
    table.down = True
    results = await asyncio.gather(
        *(group.submit(f"r{i}") for i in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, OperationalError) for r in results)
    assert len(table.batches) == 0  # not retried one by one: they would all fail alike
    table.down = False
    assert await group.submit("after") == 0


async def test_a_cancelled_caller_still_has_its_row_written() -> None:
    table = Table()
    group = GroupCommit(table.write, "test")
    first = asyncio.create_task(group.submit("first"))
    await asyncio.sleep(0)
    second = asyncio.create_task(group.submit("second"))
    await asyncio.sleep(0)
    second.cancel()
    assert await first == 0
    await group.drain()
    assert table.rows == ["first", "second"]


@pytest.fixture
async def store(url: str) -> SqlStore:
    return SqlStore.from_url(url, FakeClock(T0))


async def test_a_burst_of_attendance_is_kept_in_order_and_bounded(store: SqlStore) -> None:
    commits = 0

    def counted(_conn: object) -> None:
        nonlocal commits
        commits += 1

    sa.event.listen(store.engine.sync_engine, "commit", counted)
    try:
        burst = [
            AttendanceEvent("a1" if i % 4 else "a2", f"p{i}", "admitted", T0 + i)
            for i in range(200)
        ]
        await asyncio.gather(*(store.add_attendance(e) for e in burst))
        assert await store.list_attendance("a1") == [e for e in burst if e.appointment_id == "a1"]
        assert await store.list_attendance("a2") == [e for e in burst if e.appointment_id == "a2"]
        assert commits <= 3, commits
        # The bound holds inside one batch too: the first MAX_ATTENDANCE are kept.
        full = [AttendanceEvent("a3", "p", "joined", float(i)) for i in range(MAX_ATTENDANCE + 5)]
        await asyncio.gather(*(store.add_attendance(e) for e in full))
        assert await store.list_attendance("a3") == full[:MAX_ATTENDANCE]
    finally:
        await store.close()
