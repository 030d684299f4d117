"""The embedded bus: delivers within one process."""

from __future__ import annotations

import json
from collections.abc import Sequence

from core.bus.base import Handler, Message, QueuedSubscription, Subscription


class MemoryBus:
    """The embedded bus: delivers within one process."""

    def __init__(self) -> None:
        self._subs: dict[str, set[QueuedSubscription]] = {}
        self._closed = False

    async def publish(self, channel: str, message: Message) -> None:
        if self._closed:
            raise RuntimeError("bus is closed")
        # A JSON round trip, as over Redis: no shared mutable objects, no unserialisable values.
        wire = json.dumps(message, separators=(",", ":"))
        for sub in list(self._subs.get(channel, ())):
            sub.deliver(json.loads(wire))

    async def publish_many(self, messages: Sequence[tuple[str, Message]]) -> None:
        for channel, message in messages:
            await self.publish(channel, message)

    async def subscribe(self, channel: str, handler: Handler) -> Subscription:
        if self._closed:
            raise RuntimeError("bus is closed")
        sub = QueuedSubscription(channel, handler, self._forget)
        self._subs.setdefault(channel, set()).add(sub)
        return sub

    def _forget(self, sub: QueuedSubscription) -> None:
        subs = self._subs.get(sub.channel)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.channel]

    async def close(self) -> None:
        self._closed = True
        for subs in list(self._subs.values()):
            for sub in list(subs):
                await sub.close()
