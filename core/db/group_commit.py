"""Group commit: writes that arrive while a transaction is being written wait, and share the
next transaction.

Every admission, join and leave writes an attendance event and an audit entry. One
transaction each costs a connection, three hops to the database's thread and, on SQLite, a
turn at its single write lock: a burst of two hundred admissions made eight hundred of them
queue up behind each other. With a group commit the burst costs a few transactions, however
many callers there are, and each caller still returns only once its own row is committed (or
with the error that kept it out).

One bad row (a constraint it breaks) must not take the others down with it: when a batch
fails with such an error, its rows are written again one by one, so only the bad one fails.
Any other error (the database is away) is every caller's error, without retrying one by one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from sqlalchemy.exc import DataError, IntegrityError

T = TypeVar("T")
R = TypeVar("R")

MAX_BATCH = 500  # rows in one transaction at most
ROW_ERRORS: tuple[type[Exception], ...] = (IntegrityError, DataError)  # a row's own fault


class GroupCommit(Generic[T, R]):
    """Submitted items are written by `write` in batches, in the order they were submitted.

    `write` gets a batch and returns one result per item, in order, committed together. At
    most one `write` runs at a time, so it may rely on the previous batch being done (the audit
    log chains onto the entry it wrote last)."""

    def __init__(
        self,
        write: Callable[[Sequence[T]], Awaitable[Sequence[R]]],
        name: str,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._write = write
        self._name = name
        self._max_batch = max_batch
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        """Write `item` with whatever else is waiting; returns once it is committed."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._run(), name=self._name)
        # A caller that is cancelled does not take its item back: it is written all the same.
        return await asyncio.shield(future)

    async def drain(self) -> None:
        """Wait until everything submitted so far is written (or has failed)."""
        while self._writer is not None and not self._writer.done():
            await asyncio.wait([self._writer])

    async def _run(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            await self._commit(batch)

    async def _commit(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._write([item for item, _ in batch])
        except ROW_ERRORS as exc:
            if len(batch) == 1:
                _settle(batch, exc)
                return
            for one in batch:  # find the bad row: the others go in without it
                await self._commit([one])
            return
        except Exception as exc:
            _settle(batch, exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)


def _settle(batch: list[tuple[T, asyncio.Future[R]]], exc: Exception) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)
