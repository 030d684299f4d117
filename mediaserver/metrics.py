"""A media worker's Prometheus metrics: packets received, forwarded and dropped, keyframe
requests, and the rooms, participants and streams it hosts.

The per-packet paths only do `stats.x += 1` on a plain object (one event loop, no locks, no
prometheus-client call); `WorkerCollector` reads the numbers when scraped. `lippejob media`
serves them on its own small app (`serve_metrics`); `lippejob serve` registers the collector of
its in-process worker into the signalling app's registry.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from mediaserver.worker import MediaWorker


class MediaStats:
    """Counters of one worker since it started; they only grow."""

    __slots__ = (
        "dropped",
        "forwarded",
        "keyframe_requests",
        "nacked",
        "received",
        "retransmitted",
    )

    def __init__(self) -> None:
        self.received = 0  # RTP packets from publishers
        self.forwarded = 0  # ... sent to subscribers (retransmissions not counted)
        self.dropped = 0  # ... that could not be sent (socket or SRTP errors)
        self.keyframe_requests = 0  # PLIs sent to publishers
        self.nacked = 0  # packets subscribers reported lost (NACK)
        self.retransmitted = 0  # ... of those sent again (from the history)


# The stats of the worker a room belongs to. Rooms are built by the worker (`counting_into`)
# and everything in a room (participants, forwarders, subscriber tracks) is created in the
# room's task, which inherits this; so the worker's stats reach them without being handed
# through every constructor on the way.
_STATS: ContextVar[MediaStats | None] = ContextVar("media_stats", default=None)


@contextlib.contextmanager
def counting_into(stats: MediaStats) -> Iterator[None]:
    """Tasks created inside count into `stats` (the worker wraps a room's creation in it)."""
    token = _STATS.set(stats)
    try:
        yield
    finally:
        _STATS.reset(token)


def current_stats() -> MediaStats:
    """The stats of the worker whose room this runs in (a throwaway outside a worker)."""
    return _STATS.get() or MediaStats()


class WorkerCollector(Collector):
    """Reads one worker's stats and rooms at scrape time."""

    def __init__(self, worker: MediaWorker) -> None:
        self._worker = worker

    def collect(self) -> Iterable[Metric]:
        worker = self._worker
        stats = worker.stats
        for name, help_text, value in (
            ("packets_received", "RTP packets received from publishers", stats.received),
            ("packets_forwarded", "media packets handed to subscribers", stats.forwarded),
            ("packets_dropped", "media packets that could not be sent", stats.dropped),
            (
                "keyframe_requests",
                "keyframe requests (PLI) sent to publishers",
                stats.keyframe_requests,
            ),
            ("packets_nacked", "packets subscribers reported lost (NACK)", stats.nacked),
            (
                "packets_retransmitted",
                "packets sent again to subscribers that reported them lost",
                stats.retransmitted,
            ),
        ):
            yield CounterMetricFamily(f"lippejob_media_{name}", help_text, value=value)
        rooms = list(worker.rooms.values())
        for name, help_text, gauge in (
            ("rooms", "rooms on this media worker", len(rooms)),
            (
                "participants",
                "participants on this media worker",
                sum(len(r.participants) for r in rooms),
            ),
            (
                "published_streams",
                "tracks received from publishers",
                sum(r.published_streams for r in rooms),
            ),
            (
                "forwarded_streams",
                "tracks sent to subscribers",
                sum(r.forwarded_streams for r in rooms),
            ),
            ("draining", "1 while the worker drains (takes no new rooms)", int(worker.draining)),
        ):
            yield GaugeMetricFamily(f"lippejob_media_{name}", help_text, value=gauge)


def _handler(registry: CollectorRegistry) -> Handler:
    async def metrics(request: web.Request) -> web.Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encoder(registry), headers={"Content-Type": content_type})

    return metrics


async def serve_metrics(worker: MediaWorker, host: str, port: int) -> web.AppRunner:
    """Serve the worker's /metrics on `host:port` until the returned runner is cleaned up."""
    registry = CollectorRegistry()
    registry.register(WorkerCollector(worker))
    app = web.Application()
    app.router.add_get("/metrics", _handler(registry))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
