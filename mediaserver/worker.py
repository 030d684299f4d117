"""A media worker: takes room requests from its bus channel, hosts the rooms, and registers
itself (with its load) in the store's node registry.

Run as a process with `python -m mediaserver.worker` (settings from LIPPEJOB_* variables, e.g.
LIPPEJOB_REDIS_URL) or through `run_worker(settings)` (what `lippejob media` calls).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import uuid
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

import structlog

from core.bus.base import Bus, Message, Subscription, media_channel, room_channel
from core.clock import Clock, SystemClock
from core.contracts import media as protocol
from core.contracts.errors import ErrorCode
from core.heap import settle
from core.logs import configure_logging
from core.model import WorkerInfo
from core.settings import Settings, load_settings
from core.store.base import RegistryStore
from mediaserver import metrics, network
from mediaserver.config import MediaConfig
from mediaserver.room import Room
from mediaserver.rtp import wire

log = structlog.get_logger(__name__)

# Relative CPU cost of a received stream against a forwarded one: SFU-NOTES measured about
# 140-240 us per received packet and 80-95 us per forwarded packet.
RECEIVE_WEIGHT = 2.0
# After telling a moved room's clients to reconnect, its peer connections stay open this long,
# so that the clients leave them before the server closes them.
MOVE_GRACE = 1.0


def _moved_message() -> dict[str, Any]:
    return protocol.error_message(
        ErrorCode.MEDIA_MOVED, "the media server is restarting: reconnect to move on"
    )


def worker_load(published: int, forwarded: int) -> float:
    """The load a worker reports: forwarded streams, plus received ones at their cost."""
    return forwarded + RECEIVE_WEIGHT * published


class MediaWorker:
    def __init__(
        self, worker_id: str, store: RegistryStore, bus: Bus, clock: Clock, config: MediaConfig
    ) -> None:
        self.id = worker_id
        self.rooms: dict[str, Room] = {}
        self.stats = metrics.MediaStats()  # read by metrics.WorkerCollector
        self._store = store
        self._bus = bus
        self._clock = clock
        self._config = config
        self._plan = network.HostPlan.from_config(config)
        self._retiring: set[Room] = set()
        # Rooms placed here (also emptied ones: their placement stays for rejoins); released
        # in the store on close so signalling moves them at once. Ids only.
        self._hosted: set[str] = set()
        self._subscription: Subscription | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._closed = False
        self._draining = False
        self._moving = False  # draining is over: the calls still here are being moved
        self._no_rooms = asyncio.Event()  # set while no room is hosted here
        self._no_rooms.set()
        self._log = log.bind(worker=worker_id)

    async def start(self) -> None:
        """Listen on the worker's channel and register in the store."""
        self._subscription = await self._bus.subscribe(media_channel(self.id), self._on_message)
        await self._register()
        self._heartbeat = asyncio.create_task(self._heartbeat_loop(), name=f"heartbeat:{self.id}")
        compiled = wire.use_compiled(self._config.compiled_wire)
        self._log.info(
            "worker_started",
            bind=list(self._plan.bind),
            announce=self._plan.announce or None,
            wire="c" if compiled else "python",
        )

    # --- requests -------------------------------------------------------------------------

    async def _on_message(self, message: Message) -> None:
        try:
            op = protocol.parse_op(message)
        except protocol.ProtocolError as exc:
            self._log.warning("media_request_invalid", error=str(exc), op=message.get("op"))
            await self._reply_error(message, ErrorCode.BAD_REQUEST, str(exc))
            return
        if isinstance(op, protocol.Join) and (
            self._closed or self._moving or (self._draining and op.room not in self.rooms)
        ):
            await self._turn_away(op)
            return
        if self._closed:
            return
        if isinstance(op, protocol.CloseRoom):
            room = self.rooms.pop(op.room, None)
            self._hosted.discard(op.room)
            self._rooms_changed()
            if room is not None:
                await room.close()
            return
        room = self.rooms.get(op.room)
        if room is None:
            if not isinstance(op, protocol.Join):
                return  # a late message for a room that is gone
            if len(self.rooms) >= self._config.max_rooms:
                self._log.warning("worker_full", appointment=op.room)
                await self._send(
                    op.room,
                    op.participant,
                    op.conn,
                    protocol.error_message(ErrorCode.MEDIA_UNAVAILABLE, "no media capacity"),
                )
                return
            with metrics.counting_into(self.stats):  # the room's task counts into ours
                room = Room(
                    op.room,
                    self._config,
                    self._plan,
                    self._room_sender(op.room),
                    self._on_room_empty,
                )
            self.rooms[op.room] = room
            self._hosted.add(op.room)
            self._rooms_changed()
        room.submit(op)

    async def _reply_error(self, message: Message, code: ErrorCode, text: str) -> None:
        """Tell the sender of an invalid request why, when it names a participant's connection."""
        if self._closed or not isinstance(message, dict):
            return
        room, participant, conn = (message.get(k) for k in ("room", "participant", "conn"))
        if not all(isinstance(v, str) and v and len(v) <= 200 for v in (room, participant, conn)):
            return
        await self._send(str(room), str(participant), str(conn), protocol.error_message(code, text))

    async def _turn_away(self, join: protocol.Join) -> None:
        """A join this worker will not serve (draining and not hosting the room, or moving
        its calls away): give up the room's placement and tell the client to come back, so
        that signalling places it on another worker."""
        await self._release_placements([join.room])
        self._log.info("join_turned_away", appointment=join.room, participant=join.participant)
        await self._send(join.room, join.participant, join.conn, _moved_message())

    def _room_sender(self, room_id: str) -> Any:
        async def send(participant: str, conn: str, msg: dict[str, Any]) -> None:
            await self._send(room_id, participant, conn, msg)

        return send

    async def _send(self, room_id: str, participant: str, conn: str, msg: dict[str, Any]) -> None:
        try:
            await self._bus.publish(
                room_channel(room_id), protocol.media_event(participant, conn, msg)
            )
        except Exception:
            self._log.exception("media_publish_failed", appointment=room_id)

    def _rooms_changed(self) -> None:
        if self.rooms:
            self._no_rooms.clear()
        else:
            self._no_rooms.set()

    def _on_room_empty(self, room: Room) -> None:
        if self.rooms.get(room.id) is room:
            del self.rooms[room.id]
            self._rooms_changed()
        self._retiring.add(room)  # until its task has shut it down
        room.when_closed(lambda: self._retiring.discard(room))

    # --- registry -------------------------------------------------------------------------

    @property
    def load(self) -> float:
        rooms = list(self.rooms.values())
        return worker_load(
            sum(r.published_streams for r in rooms), sum(r.forwarded_streams for r in rooms)
        )

    async def _register(self) -> None:
        info = WorkerInfo(
            id=self.id,
            load=self.load,
            rooms=len(self.rooms),
            heartbeat_at=self._clock.now(),
            draining=self._draining,
        )
        await self._store.register_worker(info, self._config.ttl)

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self._config.heartbeat)
            try:
                await self._register()
            except Exception:
                self._log.exception("worker_heartbeat_failed")

    # --- teardown -------------------------------------------------------------------------

    @property
    def draining(self) -> bool:
        return self._draining

    async def drain(self, grace: float | None = None, hurry: asyncio.Event | None = None) -> int:
        """Shut down without dropping calls: take no new rooms (the registry says so at once),
        let the rooms here end on their own for `grace` seconds (default: the configured
        `drain_timeout`; `hurry` cuts the wait short), then move the calls still going. Moving
        releases their placements, leaves the registry and tells every participant
        `media_moved`: its client reconnects, and signalling places the room on another live
        worker. Returns how many participants were moved; `close` comes next."""
        if self._closed:
            return 0
        self._draining = True
        wait = self._config.drain_timeout if grace is None else grace
        self._log.info("worker_draining", rooms=len(self.rooms), grace=wait)
        with contextlib.suppress(Exception):
            await self._register()
        # Rooms that emptied keep their placement for rejoins; a rejoin now goes elsewhere.
        await self._release_placements(self._hosted - self.rooms.keys())
        waiters = [asyncio.ensure_future(self._no_rooms.wait())]
        if hurry is not None:
            waiters.append(asyncio.ensure_future(hurry.wait()))
        try:
            await asyncio.wait(waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        rooms = list(self.rooms.values())
        if not rooms:
            self._log.info("worker_drained")
            return 0
        # Out of the registry and the placements first, so the clients' rejoins go elsewhere;
        # joins that still arrive are turned away the same way.
        self._moving = True
        await self._stop_heartbeat()
        with contextlib.suppress(Exception):
            await self._store.remove_worker(self.id)
        await self._release_placements()
        told: set[tuple[str, str, str]] = set()

        async def tell_everyone() -> None:
            for room in rooms:
                for member in list(room.participants.values()):
                    if (room.id, member.id, member.conn) not in told:
                        told.add((room.id, member.id, member.conn))
                        await self._send(room.id, member.id, member.conn, _moved_message())

        await tell_everyone()
        self._log.info("worker_moved_rooms", rooms=len(rooms), participants=len(told))
        # The clients leave first; a join that was still queued in a room is told as well.
        await asyncio.sleep(MOVE_GRACE)
        await tell_everyone()
        return len(told)

    async def _stop_heartbeat(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat
            self._heartbeat = None

    async def _release_placements(self, room_ids: Iterable[str] | None = None) -> None:
        """Give up the placements of `room_ids` (default: every room placed here), so that
        signalling places those rooms anew."""
        for room_id in sorted(self._hosted if room_ids is None else set(room_ids)):
            self._hosted.discard(room_id)
            with contextlib.suppress(Exception):
                await self._store.release_room(room_id, self.id)

    async def close(self) -> None:
        """Close every room, stop listening and leave the registry; idempotent."""
        if self._closed:
            return
        self._closed = True
        await self._stop_heartbeat()
        if self._subscription is not None:
            await self._subscription.close()
        rooms = list(self.rooms.values()) + list(self._retiring)
        self.rooms.clear()
        for room in rooms:
            await room.close()
        self._retiring.clear()
        await self._release_placements()
        with contextlib.suppress(Exception):
            await self._store.remove_worker(self.id)
        self._log.info("worker_closed")


async def run_worker(
    settings: Settings, worker_id: str | None = None, stop: asyncio.Event | None = None
) -> None:
    """Run one media worker against the Redis in `settings` until SIGTERM/SIGINT (or `stop`),
    then drain it (a second signal moves the remaining calls at once)."""
    from core.bus.redisbus import RedisBus
    from core.store.redis_client import RedisOptions
    from core.store.redisstore import RedisStore

    if not settings.redis_url:
        raise ValueError("a media worker process needs --redis (settings.redis_url)")
    clock = SystemClock()
    options = RedisOptions.from_settings(settings)
    store = await RedisStore.from_url(settings.redis_url, clock, options=options)
    bus = await RedisBus.from_url(settings.redis_url, options)
    worker = MediaWorker(
        worker_id or f"media-{uuid.uuid4().hex[:8]}",
        store,
        bus,
        clock,
        MediaConfig.from_settings(settings),
    )
    stop = stop or asyncio.Event()
    hurry = asyncio.Event()

    def on_signal() -> None:
        (hurry if stop.is_set() else stop).set()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, on_signal)
    exporter = None
    try:
        await worker.start()
        settle(settings.gc_young_threshold)  # start-up is over: see core/heap.py
        if settings.media_metrics_port:
            exporter = await metrics.serve_metrics(
                worker, settings.host, settings.media_metrics_port
            )
        await stop.wait()
        await worker.drain(hurry=hurry)
    finally:
        if exporter is not None:
            await exporter.cleanup()
        await worker.close()
        await bus.close()
        await store.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mediaserver.worker")
    parser.add_argument("--redis", help="Redis URL (else LIPPEJOB_REDIS_URL)")
    parser.add_argument("--id", help="worker id (default: random)")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    configure_logging(args.log_level)  # the JSON, redacting logs of `lippejob media`
    settings = load_settings(redis_url=args.redis)
    set_nice(settings.media_nice)
    run_in_loop(run_worker(settings, worker_id=args.id), settings.media_uvloop)


def set_nice(nice: int) -> int:
    """Set this process's nice value (setting `media_nice`) before it starts threads, which
    inherit it; returns the value in force (the old one where the system refused)."""
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if nice == 0 or nice == current:
        return current
    try:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    except OSError as exc:
        log.warning("media_nice_refused", wanted=nice, nice=current, error=exc.strerror)
        return current
    log.info("media_nice", nice=nice)
    return nice


def run_in_loop(main: Coroutine[Any, Any, None], use_uvloop: bool) -> None:
    """Run a media worker's main coroutine, on uvloop where it is wanted and installed (its
    datagram callbacks and sends cost less per packet than asyncio's selector loop)."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            log.warning("uvloop_missing")
        else:
            factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main)


if __name__ == "__main__":
    main()
