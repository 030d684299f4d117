"""Helpers for work that must not stop half-way: clean-up that outlives a cancellation, and
background loops that stop between two pieces of work."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def finish(work: Awaitable[T]) -> T:
    """Run `work` to its end even if the caller is cancelled meanwhile; the cancellation goes
    on once the work is done. For clean-up such as a socket's last writes (its stay, its
    attendance): SQLAlchemy tears down a database connection whose query was cancelled, and
    with aiosqlite that teardown can wait for ever on a worker thread that already stopped."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():
                raise  # the work itself was cancelled
            cancelled = True
            continue
        break
    if cancelled:
        raise asyncio.CancelledError
    return result


class Lifetime:
    """When long-lived background work should stop, without cutting any of it off half-way.

    Loops and timers (reconnect graces, the sweeper, the node and media watches, retention)
    sleep through `pause`, which ends early once `end()` is called; the work between two
    pauses runs to its end. Cancelling such a task instead can cut a database write in
    flight, with the teardown trouble `finish` describes (seen as a hung test teardown in 3
    runs of 15 under load)."""

    def __init__(self) -> None:
        self._over = asyncio.Event()

    @property
    def over(self) -> bool:
        return self._over.is_set()

    def end(self) -> None:
        self._over.set()

    async def pause(self, seconds: float) -> bool:
        """Wait `seconds`, or less if the lifetime ends meanwhile: whether to go on."""
        if self._over.is_set():
            return False
        try:
            async with asyncio.timeout(seconds):
                await self._over.wait()
        except TimeoutError:
            return True
        return False
