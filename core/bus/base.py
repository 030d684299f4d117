"""Messages between processes: one protocol, a memory and a Redis implementation.

Channels (see `room_channel`, `media_channel`): every signalling node that holds a socket of a
room listens on the room's channel; each media worker listens on its own channel. Messages are
JSON-serialisable dicts. Delivery is at most once and, per subscription, in publish order.
Implementations: `core.bus.memory.MemoryBus` (one process), `core.bus.redisbus.RedisBus`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import structlog

Message = dict[str, Any]
Handler = Callable[[Message], Awaitable[None]]

log = structlog.get_logger(__name__)


def room_channel(appointment_id: str) -> str:
    """Events for the sockets of one room, on whichever signalling node holds them."""
    return f"room:{appointment_id}"


def media_channel(worker_id: str) -> str:
    """Requests for one media worker (join, leave, SDP, candidates) of the rooms it hosts."""
    return f"media:{worker_id}"


class Subscription(Protocol):
    async def close(self) -> None:
        """Stop delivering; idempotent."""
        ...


class Bus(Protocol):
    async def publish(self, channel: str, message: Message) -> None: ...

    async def publish_many(self, messages: Sequence[tuple[str, Message]]) -> None:
        """Publish each (channel, message) in order, as `publish` one after the other would,
        in one round trip where the bus has them."""
        ...

    async def subscribe(self, channel: str, handler: Handler) -> Subscription:
        """Deliver every later message on `channel` to `handler`, in order."""
        ...

    async def close(self) -> None: ...


class QueuedSubscription:
    """One subscriber: a bounded queue drained by its own task, so a slow handler cannot stall
    the publisher or the other subscribers, and messages keep their order."""

    MAX_QUEUE = 10_000
    CLOSE_WAIT = 5.0  # seconds a handler at work gets to finish when the subscription closes

    def __init__(
        self, channel: str, handler: Handler, on_close: Callable[[QueuedSubscription], None]
    ) -> None:
        self.channel = channel
        self._handler = handler
        self._on_close = on_close
        self._queue: asyncio.Queue[Message] = asyncio.Queue(self.MAX_QUEUE)
        self._task = asyncio.create_task(self._run(), name=f"bus-sub:{channel}")
        self._closed = False
        self._busy = False

    def deliver(self, message: Message) -> None:
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            log.warning("bus_queue_full", channel=self.channel)

    async def _run(self) -> None:
        while not self._closed:
            message = await self._queue.get()
            self._busy = True
            try:
                await self._handler(message)
            except asyncio.CancelledError:
                raise
            except Exception:
                # A listener's error is logged, never allowed to kill the bus.
                log.exception("bus_handler_failed", channel=self.channel)
            finally:
                self._busy = False

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._on_close(self)
        if asyncio.current_task() is self._task:
            # Closed by its own handler (the last socket of a room left): let the handler
            # finish its work; the loop ends when it returns.
            return
        if self._busy:
            # A handler at work (a database read, a send) finishes first: cancelled half-way
            # it could leave a database connection torn down mid-query. The loop then ends.
            await asyncio.wait({self._task}, timeout=self.CLOSE_WAIT)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
