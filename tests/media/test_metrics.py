"""A media worker's metrics: counters fed by a real call, read at scrape time; the worker
processes' JSON logs and /metrics; the in-process SFU's numbers on the signalling /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from core.bus.base import media_channel
from core.bus.redisbus import RedisBus
from core.clock import SystemClock
from core.store.redisstore import RedisStore
from mediaserver.metrics import MediaStats, WorkerCollector, counting_into, current_stats
from mediaserver.rtp import wire
from tests.media.conftest import Sfu
from testsupport.client import SyntheticClient, wait_for

pytestmark = [pytest.mark.media, pytest.mark.timeout(60)]

ROOT = Path(__file__).resolve().parents[2]


def samples(text: str) -> dict[str, float]:
    """Unlabelled samples of an exposition, by name."""
    return {
        s.name: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if not s.labels
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_stats_follow_the_context_they_were_created_in() -> None:
    mine = MediaStats()
    with counting_into(mine):
        assert current_stats() is mine
    assert current_stats() is not mine  # outside a worker: a throwaway


async def test_forwarded_packets_grow_during_a_call(sfu: Sfu) -> None:
    registry = CollectorRegistry()
    registry.register(WorkerCollector(sfu.worker))

    def scrape() -> dict[str, float]:
        return samples(generate_latest(registry).decode())

    before = scrape()
    assert before["lippejob_media_packets_forwarded_total"] == 0
    assert before["lippejob_media_rooms"] == 0
    alice = SyntheticClient(sfu.bus, "w1", "room", "alice")
    bob = SyntheticClient(sfu.bus, "w1", "room", "bob")
    try:
        await asyncio.gather(alice.join(), bob.join())
        await wait_for(
            lambda: alice.frames("bob", "video") >= 5 and bob.frames("alice", "video") >= 5,
            "video both ways",
        )
        first = scrape()
        assert first["lippejob_media_rooms"] == 1
        assert first["lippejob_media_participants"] == 2
        assert first["lippejob_media_published_streams"] == 4
        assert first["lippejob_media_forwarded_streams"] == 4
        assert first["lippejob_media_packets_forwarded_total"] > 0
        assert first["lippejob_media_packets_received_total"] > 0
        assert first["lippejob_media_keyframe_requests_total"] >= 2  # one per video subscriber
        await wait_for(
            lambda: (
                scrape()["lippejob_media_packets_forwarded_total"]
                > first["lippejob_media_packets_forwarded_total"] + 20
            ),
            "the forwarded-packets counter to grow",
        )
    finally:
        await asyncio.gather(alice.leave(), bob.leave())
    last = scrape()
    await wait_for(lambda: scrape()["lippejob_media_participants"] == 0, "everyone gone")
    # Counters keep what the gone participants' forwarders counted.
    assert (
        scrape()["lippejob_media_packets_forwarded_total"]
        >= last["lippejob_media_packets_forwarded_total"]
    )
    assert sfu.worker.stats.forwarded == scrape()["lippejob_media_packets_forwarded_total"]


# --- worker processes -------------------------------------------------------------------------


@pytest.fixture(params=["module", "cli"])
def worker_process(
    request: pytest.FixtureRequest, redis_url: str
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """`python -m mediaserver.worker` (metrics port from the environment) or `lippejob media
    --metrics-port`, on loopback; yields the process and its metrics port."""
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "LIPPEJOB_MEDIA_ANNOUNCE_IPS": json.dumps(["127.0.0.1"]),
    }
    if request.param == "module":
        command = [sys.executable, "-m", "mediaserver.worker", "--redis", redis_url]
        env["LIPPEJOB_MEDIA_METRICS_PORT"] = str(port)
    else:
        command = [
            *(sys.executable, "-m", "lippejob.cli", "media", "--redis", redis_url),
            *("--metrics-port", str(port)),
        ]
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.fixture
def serve_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, int]]:
    """`lippejob serve --http` with its in-process SFU; yields the process, its port and
    its metrics port."""
    port, metrics_port = _free_port(), _free_port()
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "lippejob.cli", "serve", "--http", "--host", "127.0.0.1"),
            *("--port", str(port), "--data-dir", str(tmp_path / "var")),
            *("--keys-dir", str(tmp_path / "keys")),
            *("--metrics-port", str(metrics_port)),
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield proc, port, metrics_port
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


async def _scrape_when_up(proc: subprocess.Popen[bytes], url: str) -> str:
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            with contextlib.suppress(aiohttp.ClientConnectionError):
                async with http.get(url) as resp:
                    if resp.status == 200:
                        return await resp.text()
            assert proc.poll() is None, "the process died"
            await asyncio.sleep(0.1)
    raise TimeoutError(f"nothing served {url}")


@pytest.mark.redis
async def test_worker_process_logs_json_and_serves_metrics(
    worker_process: tuple[subprocess.Popen[bytes], int], redis_url: str
) -> None:
    proc, port = worker_process
    bus = await RedisBus.from_url(redis_url)
    store = await RedisStore.from_url(redis_url, SystemClock())
    try:
        values = samples(await _scrape_when_up(proc, f"http://127.0.0.1:{port}/metrics"))
        assert values["lippejob_media_rooms"] == 0
        assert values["lippejob_media_packets_forwarded_total"] == 0
        [worker] = await store.list_workers()
        # An invalid request whose error names an address: the log line must not.
        bad_msg = {"type": "x 192.0.2.77"}
        await bus.publish(
            media_channel(worker.id),
            {"op": "signal", "room": "r", "participant": "p", "conn": "c", "msg": bad_msg},
        )
        await asyncio.sleep(0.5)
    finally:
        await bus.close()
        await store.close()
    proc.send_signal(signal.SIGTERM)
    out, err = await asyncio.to_thread(proc.communicate, timeout=30)
    log = (out + err).decode()
    assert proc.returncode == 0, log[-2000:]
    events = [json.loads(line) for line in log.splitlines() if line.strip()]  # all JSON
    assert all("timestamp" in e and "level" in e for e in events)
    names = [e["event"] for e in events]
    assert "worker_started" in names and "worker_closed" in names
    [started] = [e for e in events if e["event"] == "worker_started"]
    assert started["wire"] == ("c" if wire.BUILT else "python")  # the compiled edge, if built
    [invalid] = [e for e in events if e["event"] == "media_request_invalid"]
    assert "[ip]" in invalid["error"] and "192.0.2.77" not in log
    assert not any(e.get("logger", "").startswith(("aioice", "aiortc")) for e in events)


async def test_serve_shows_its_media_worker_on_metrics(
    serve_process: tuple[subprocess.Popen[bytes], int, int],
) -> None:
    """`lippejob serve` (in-process SFU): the worker's numbers are on the signalling /metrics,
    which is served on the metrics port only."""
    proc, port, metrics_port = serve_process
    values = samples(await _scrape_when_up(proc, f"http://127.0.0.1:{metrics_port}/metrics"))
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/metrics") as resp,
    ):
        assert resp.status == 404
    assert values["lippejob_media_rooms"] == 0
    assert values["lippejob_media_packets_forwarded_total"] == 0
    assert values["lippejob_ws_connections"] == 0  # the signalling app's own, same registry
