"""The signalling process's Prometheus metrics: counters, gauges read when scraped, and join
latency histograms; no labels with ids or names.

Each app has a registry of its own (several apps run in one test process; the global default
registry would mix them). The in-process media worker of `lippejob serve` registers its
collector into the same registry (`register`).
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

# Seconds; a join waits for the store and the media worker's join, so most fall in 0.01-1 s.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The metrics of one signalling app, with a method per thing that happens."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        # `kind` is the label name the hand-written exposition used; dashboards query it.
        self._messages = Counter(
            "lippejob_ws_messages", "room socket messages by type", ["kind"], registry=registry
        )
        self._rejected = Counter(
            "lippejob_ws_rejected",
            "room socket authentications refused, by reason",
            ["kind"],
            registry=registry,
        )
        self._tokens = Counter(
            "lippejob_tokens_issued", "room tokens issued for invite codes", registry=registry
        )
        self._join_to_hello = Histogram(
            "lippejob_join_to_hello_seconds",
            "from a socket's auth message to its hello, for those who go straight in",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._admit_to_hello = Histogram(
            "lippejob_admit_to_hello_seconds",
            "from an admit out of the waiting room to the admitted person's hello",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def watch_rooms(self, connections: Callable[[], float], rooms: Callable[[], float]) -> None:
        """Gauges of this process's room sockets and rooms, read when scraped."""
        Gauge(
            "lippejob_ws_connections", "room sockets on this process", registry=self.registry
        ).set_function(connections)
        Gauge(
            "lippejob_rooms", "rooms with a socket on this process", registry=self.registry
        ).set_function(rooms)

    def message(self, kind: str) -> None:
        """A valid room socket message of type `kind` (types are a closed set)."""
        self._messages.labels(kind).inc()

    def rejected(self, reason: str) -> None:
        """A room socket authentication refused (token expired, revoked, ...)."""
        self._rejected.labels(reason).inc()

    def token_issued(self) -> None:
        self._tokens.inc()

    def observe_join_to_hello(self, seconds: float) -> None:
        self._join_to_hello.observe(max(seconds, 0.0))

    def observe_admit_to_hello(self, seconds: float) -> None:
        # Wall clocks of two nodes (admit on one, hello on another) may differ a little.
        self._admit_to_hello.observe(max(seconds, 0.0))

    def register(self, collector: Collector) -> None:
        """Expose another collector (the in-process media worker's) on this app's /metrics."""
        self.registry.register(collector)

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition for an `Accept` header (Prometheus text, or OpenMetrics if asked)."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type


METRICS = web.AppKey("metrics", Metrics)


async def metrics_endpoint(request: web.Request) -> web.Response:
    body, content_type = request.app[METRICS].render(request.headers.get("Accept", ""))
    return web.Response(body=body, headers={"Content-Type": content_type})


def metrics_app(metrics: Metrics) -> web.Application:
    """/metrics of a signalling app, for a listener of its own: the public port has none."""
    app = web.Application()
    app[METRICS] = metrics
    app.router.add_get("/metrics", metrics_endpoint)
    return app


async def serve_metrics(metrics: Metrics, host: str, port: int) -> web.AppRunner:
    """Serve `metrics` on `host:port` until the returned runner is cleaned up."""
    runner = web.AppRunner(metrics_app(metrics), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
