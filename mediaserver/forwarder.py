"""Fan-out of one published track to its subscribers, as encoded packets (never decoded).

A `Forwarder` reads `av.Packet`s from a publisher's remote track (see `passthrough`) and pushes
the same packet object to every attached `SubscriberTrack`. A `SubscriberTrack` is what a
subscriber's `RTCRtpSender` reads: a bounded queue that holds video back until a keyframe and,
when the subscriber falls behind, drops what is queued and waits for the next keyframe (asking
for one). Subscriber tracks outlive forwarders: a subscriber's m-line is reused for the next
track of the same kind and codec, so re-offers do not grow without bound.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from mediaserver.metrics import MediaStats

log = structlog.get_logger(__name__)

KeyframeSender = Callable[[], Awaitable[None]]


class SubscriberTrack(MediaStreamTrack):  # type: ignore[misc]
    """One subscriber's view of whatever forwarder it is attached to."""

    def __init__(self, kind: str, limit: int, stats: MediaStats | None = None) -> None:
        super().__init__()
        self._stats = stats or MediaStats()  # the worker's counters
        self.kind = kind
        self._limit = limit
        self._queue: collections.deque[Any] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self.forwarder: Forwarder | None = None
        # Held: attached, but the subscriber has not yet accepted the offer naming the source
        # (its m-line may still be inactive, and it could not tell whose media this is).
        self.held = True
        self.waiting_keyframe = kind == "video"
        self.waiting_since = time.monotonic()
        self.estimate: tuple[int, float] | None = None  # (REMB bits/s, monotonic time)
        self.forwarded = 0
        self.dropped = 0

    # called by the forwarder, per packet: keep it lean, no logging
    def push(self, packet: Any) -> None:
        if self.held:
            return
        if self.waiting_keyframe:
            if not packet.is_keyframe:
                return
            self.waiting_keyframe = False
        queue = self._queue
        if len(queue) >= self._limit:
            if self.kind == "video":
                # A video stream cannot skip frames: drop the backlog, resume at a keyframe.
                self.dropped += len(queue)
                self._stats.dropped += len(queue)
                queue.clear()
                self._await_keyframe()
                return
            queue.popleft()
            self.dropped += 1
            self._stats.dropped += 1
        queue.append(packet)
        self.forwarded += 1
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _await_keyframe(self) -> None:
        self.waiting_keyframe = True
        self.waiting_since = time.monotonic()
        if self.forwarder is not None:
            self.forwarder.want_keyframe()

    async def recv(self) -> Any:
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        self._stats.forwarded += 1
        return self._queue.popleft()

    def attach(self, forwarder: Forwarder | None) -> None:
        """Switch to another source (or none), held until `release`."""
        self._queue.clear()
        if self.forwarder is not None:
            self.forwarder.detach(self)
        self.forwarder = forwarder
        self.held = True
        if forwarder is not None:
            forwarder.attach(self)

    def release(self) -> None:
        """Start forwarding (video from the next keyframe, which is asked for)."""
        self.held = False
        self._queue.clear()
        if self.kind == "video":
            self._await_keyframe()

    # feedback from the subscriber (see passthrough.watch_sender)
    def on_keyframe_request(self) -> None:
        if self.forwarder is not None:
            self.forwarder.want_keyframe()

    def on_bitrate(self, bitrate: int) -> None:
        self.estimate = (bitrate, time.monotonic())

    def stop(self) -> None:
        self.attach(None)
        super().stop()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class Forwarder:
    """Reads one publisher track and hands every packet to the attached subscriber tracks."""

    def __init__(
        self,
        track: MediaStreamTrack,
        *,
        kind: str,
        send_keyframe_request: KeyframeSender,
        min_keyframe_interval: float,
        keyframe_retry: float,
        log_context: dict[str, str],
        stats: MediaStats | None = None,
    ) -> None:
        self.kind = kind
        self._stats = stats or MediaStats()  # the worker's counters
        self.muted = False
        self.packets = 0
        self.keyframe_requests = 0
        self._track = track
        self._slots: list[SubscriberTrack] = []
        self._send_keyframe_request = send_keyframe_request
        self._min_interval = min_keyframe_interval
        self._retry = keyframe_retry
        self._log = log.bind(**log_context)
        self._keyframe_wanted = asyncio.Event()
        self._last_request = 0.0
        self._closed = False
        self._tasks = [asyncio.create_task(self._run(), name="forwarder")]
        if kind == "video":
            self._tasks.append(asyncio.create_task(self._keyframes(), name="forwarder-pli"))

    @property
    def slots(self) -> list[SubscriberTrack]:
        return list(self._slots)

    def attach(self, slot: SubscriberTrack) -> None:
        if slot not in self._slots:
            self._slots.append(slot)

    def detach(self, slot: SubscriberTrack) -> None:
        if slot in self._slots:
            self._slots.remove(slot)

    def set_muted(self, muted: bool) -> None:
        self.muted = muted
        if not muted:
            for slot in self._slots:
                if slot.kind == "video":
                    slot.waiting_keyframe = True
            self.want_keyframe()

    def want_keyframe(self) -> None:
        """Ask the publisher for a keyframe; requests are coalesced and rate-limited."""
        if self.kind == "video" and not self._closed:
            self._keyframe_wanted.set()

    async def _keyframes(self) -> None:
        while True:
            await self._keyframe_wanted.wait()
            self._keyframe_wanted.clear()
            self._last_request = time.monotonic()
            self.keyframe_requests += 1
            with contextlib.suppress(ConnectionError):
                await self._send_keyframe_request()
            await asyncio.sleep(self._min_interval)

    async def _run(self) -> None:
        track, stats = self._track, self._stats
        try:
            while True:
                packet = await track.recv()
                self.packets += 1
                stats.received += 1
                if self.muted:
                    continue
                for slot in self._slots:
                    slot.push(packet)
                if self.kind == "video" and not packet.is_keyframe:
                    self._retry_keyframe()
        except MediaStreamError:
            self._log.info("publisher_track_ended")

    def _retry_keyframe(self) -> None:
        # A subscriber still waiting (e.g. the keyframe got lost) asks again after a while.
        now = time.monotonic()
        if now - self._last_request < self._retry:
            return
        if any(
            s.waiting_keyframe and not s.held and now - s.waiting_since >= self._retry
            for s in self._slots
        ):
            self.want_keyframe()

    async def close(self) -> None:
        """Stop reading and let go of the subscribers; idempotent."""
        if self._closed:
            return
        self._closed = True
        for slot in list(self._slots):
            slot.attach(None)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
