"""Recent reads: a record as this process read it a moment ago, for callers that can take a
copy up to `max_age` seconds old.

An admission reads its appointment on the node that admits (for the lobby list) and again on
the node that holds the admitted socket (for `hello`); a burst of admissions into a few calls
reads the same appointments over and over. Appointments change rarely and through this
process's store on a single node, which forgets its copy when it writes; another node's write
shows within `max_age`. Reads of one key that overlap share one database read (single
flight). A read that overlapped any `forget` is handed to its callers but not kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

V = TypeVar("V")

MAX_KEPT = 4096  # copies kept at most; the oldest go first


class RecentReads(Generic[V]):
    def __init__(self, monotonic: Callable[[], float]) -> None:
        self._now = monotonic
        self._kept: dict[str, tuple[float, asyncio.Future[V]]] = {}
        self._forgets = 0  # how many `forget`s so far

    async def get(self, key: str, max_age: float, read: Callable[[str], Awaitable[V]]) -> V:
        now = self._now()
        kept = self._kept.get(key)
        if kept is not None:
            at, future = kept
            failed = future.done() and (future.cancelled() or future.exception() is not None)
            if now - at < max_age and not failed:
                return await asyncio.shield(future)
        future = asyncio.ensure_future(read(key))
        self._kept[key] = (now, future)
        forgets = self._forgets
        future.add_done_callback(lambda done: self._settled(key, done, forgets))
        if len(self._kept) > MAX_KEPT:
            del self._kept[next(iter(self._kept))]
        return await asyncio.shield(future)

    def _settled(self, key: str, future: asyncio.Future[V], forgets: int) -> None:
        kept = self._kept.get(key)
        if kept is None or kept[1] is not future:
            return
        if future.cancelled() or future.exception() is not None:
            del self._kept[key]  # the next caller reads again
        elif self._forgets != forgets:
            del self._kept[key]  # something was written meanwhile: this copy may predate it

    def forget(self, key: str) -> None:
        """This process changes the record: later reads go to the database."""
        self._kept.pop(key, None)
        self._forgets += 1
