"""Watching the media workers of this node's rooms: when the worker hosting a call stops
heartbeating (killed, frozen, cut off), the call's clients on this node are told
`media_moved`, as a draining worker would tell them; they reconnect, and the next join places
the room on a live worker. Each node tells only its own sockets, once per dead worker."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from core.tasks import Lifetime
from signalling.room.media_router import MediaRouter

log = structlog.get_logger(__name__)

STALL = 0.5  # seconds a watch tick may come late before it does not count


class MediaWatch:
    def __init__(
        self,
        router: MediaRouter,
        rooms: Callable[[], list[str]],
        moved: Callable[[str], Awaitable[None]],
        interval: float,
    ) -> None:
        self._router = router
        self._rooms = rooms  # the rooms with a socket on this node
        self._moved = moved  # tells a room's local sockets to reconnect
        self._interval = interval
        self._told: dict[str, str] = {}  # room -> the dead worker its sockets were told about

    async def run(self, lifetime: Lifetime) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            if not await lifetime.pause(self._interval):
                return
            late = loop.time() - before - self._interval
            if late > STALL:
                # This process's event loop was stalled (a saturated machine): so, perhaps,
                # was a worker's heartbeat. Look again when time runs normally, instead of
                # moving calls off a worker that is only slow.
                log.info("media_watch_skipped", late=round(late, 2))
                continue
            try:
                await self.check_once()
            except Exception:  # the store may be briefly away; look again next time
                log.exception("media_watch_failed")

    async def check_once(self) -> None:
        rooms = self._rooms()
        for room in set(self._told) - set(rooms):
            del self._told[room]
        dead = await self._router.dead_placements(rooms)
        for room, worker in dead.items():
            if self._told.get(room) == worker:
                continue  # told already; the reconnects will move it
            self._told[room] = worker
            log.warning("media_worker_lost", appointment=room, worker=worker)
            await self._moved(room)
