"""The bus over Redis pub/sub, for several signalling processes and media workers.

Implements `core.bus.base.Bus`. One bus holds one pub/sub connection and one reader task; the
reader hands each message to the local `QueuedSubscription`s of its channel, so a slow handler
stalls neither the reader nor the other subscribers. A channel is SUBSCRIBEd when its first local
handler appears and UNSUBSCRIBEd when its last one closes. Delivery is at most once: messages
published while the connection is down are lost, as with any Redis pub/sub.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from typing import Any

import redis.asyncio as redis
import structlog

from core.bus.base import Handler, Message, QueuedSubscription, Subscription
from core.store.redis_client import RedisOptions, redis_client
from core.store.redisstore import redis_text as _text

log = structlog.get_logger(__name__)


class _RedisSubscription:
    """What `RedisBus.subscribe` hands out: closing it may UNSUBSCRIBE the channel."""

    def __init__(self, bus: RedisBus, sub: QueuedSubscription) -> None:
        self._bus = bus
        self._sub = sub

    async def close(self) -> None:
        """Stop delivering; idempotent."""
        await self._bus._drop(self._sub)


class RedisBus:
    """The shared bus: a message published by any process reaches every subscriber."""

    CONFIRM_TIMEOUT = 5.0  # seconds Redis has to confirm a SUBSCRIBE
    RETRY_DELAY_MAX = 5.0  # the reader's back-off ceiling while Redis is unreachable

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._pubsub = client.pubsub()
        self._subs: dict[str, set[QueuedSubscription]] = {}
        # Channels we asked Redis to deliver (SUBSCRIBE sent, UNSUBSCRIBE not sent since).
        self._subscribed: set[str] = set()
        # SUBSCRIBEs waiting for Redis's confirmation, resolved by the reader.
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        # Serialises SUBSCRIBE/UNSUBSCRIBE so each brings Redis in line with the local handlers.
        self._lock = asyncio.Lock()
        self._reader: asyncio.Task[None] | None = None
        self._closed = False

    @classmethod
    async def from_url(cls, url: str, options: RedisOptions | None = None) -> RedisBus:
        """A bus with its own connections to `url` (closed by `close`)."""
        client = redis_client(url, options or RedisOptions())
        try:
            await client.ping()  # fail at start, not on the first publish
        except BaseException:
            await client.aclose()
            raise
        return cls(client)

    async def publish(self, channel: str, message: Message) -> None:
        if self._closed:
            raise RuntimeError("bus is closed")
        await self._client.publish(channel, json.dumps(message, separators=(",", ":")))

    async def publish_many(self, messages: Sequence[tuple[str, Message]]) -> None:
        """One pipeline (not a transaction): Redis runs the PUBLISHes in order."""
        if self._closed:
            raise RuntimeError("bus is closed")
        if not messages:
            return
        async with self._client.pipeline(transaction=False) as pipe:
            for channel, message in messages:
                pipe.publish(channel, json.dumps(message, separators=(",", ":")))
            await pipe.execute()

    async def subscribe(self, channel: str, handler: Handler) -> Subscription:
        """Deliver every later message on `channel` to `handler`, in order.

        Returns once Redis has confirmed the subscription, so a message published after this
        returns (from any process) is delivered.
        """
        if self._closed:
            raise RuntimeError("bus is closed")
        sub = QueuedSubscription(channel, handler, self._forget)
        self._subs.setdefault(channel, set()).add(sub)
        try:
            await self._sync(channel)
        except BaseException:
            await self._drop(sub)
            raise
        return _RedisSubscription(self, sub)

    def _forget(self, sub: QueuedSubscription) -> None:
        subs = self._subs.get(sub.channel)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.channel]

    async def _drop(self, sub: QueuedSubscription) -> None:
        await sub.close()  # runs _forget
        if not self._closed:
            await self._sync(sub.channel)

    async def _sync(self, channel: str) -> None:
        """SUBSCRIBE or UNSUBSCRIBE `channel` so Redis matches whether anyone here listens."""
        async with self._lock:
            wanted = bool(self._subs.get(channel))
            if wanted and channel not in self._subscribed:
                confirmed = asyncio.get_running_loop().create_future()
                self._confirmations[channel] = confirmed
                try:
                    await self._pubsub.subscribe(channel)
                    self._subscribed.add(channel)
                    self._start_reader()
                    async with asyncio.timeout(self.CONFIRM_TIMEOUT):
                        await confirmed
                finally:
                    self._confirmations.pop(channel, None)
            elif not wanted and channel in self._subscribed:
                self._subscribed.discard(channel)
                await self._pubsub.unsubscribe(channel)

    def _start_reader(self) -> None:
        # Started after the first SUBSCRIBE: only then does the pub/sub connection exist.
        if self._reader is None:
            self._reader = asyncio.create_task(self._read(), name="redis-bus-reader")

    async def _read(self) -> None:
        delay = 0.1
        while True:
            try:
                message = await self._pubsub.get_message(timeout=None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # redis-py reconnects and re-subscribes on the next read; back off meanwhile.
                log.warning("bus_reader_error", error=type(exc).__name__, retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.RETRY_DELAY_MAX)
                continue
            delay = 0.1
            if message is not None:
                try:
                    self._dispatch(message)
                except Exception:
                    log.exception("bus_dispatch_failed")

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = _text(message["type"])
        if message["channel"] is None:
            return
        channel = _text(message["channel"])
        if kind == "subscribe":
            confirmed = self._confirmations.get(channel)
            if confirmed is not None and not confirmed.done():
                confirmed.set_result(None)
            return
        if kind != "message":
            return
        subs = self._subs.get(channel)
        if not subs:
            return
        for sub in list(subs):
            # One decode per subscriber: no mutable object is shared between handlers.
            try:
                decoded = json.loads(message["data"])
            except ValueError:
                decoded = None
            if not isinstance(decoded, dict):
                # Never the contents: they may carry tokens or names.
                log.warning("bus_message_invalid", channel=channel)
                return
            sub.deliver(decoded)

    async def close(self) -> None:
        """Stop the reader, every subscription and the connections; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        for subs in list(self._subs.values()):
            for sub in list(subs):
                await sub.close()
        for confirmed in self._confirmations.values():
            if not confirmed.done():
                confirmed.set_exception(RuntimeError("bus is closed"))
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]  # untyped in redis-py
        await self._client.aclose()
