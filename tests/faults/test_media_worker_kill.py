"""Issue 10, item 1: `kill -9` of the media worker hosting a call.

Two real `lippejob media` processes on the default heartbeat and registration ttl, one
signalling node, a caseworker and a jobseeker in a call with real aiortc media. The worker
hosting the call is killed with SIGKILL (no drain, no goodbye): signalling notices that its
registration lapsed, tells both clients `media_moved`, they reconnect, and the call goes on on
the other worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import Settings
from tests.media.test_ws_call import (
    ROLES,
    NodeFactory,
    WorkerProcess,
    all_decode_each_other,
    base_url,
    close_all,
    host_and_admit,
    redis_nodes,
    schedule_call,
    wait_workers,
)
from testsupport.wait import wait_for
from testsupport.ws_client import WsClient

__all__ = ["redis_nodes"]  # a fixture, used by name

pytestmark = [pytest.mark.media, pytest.mark.redis, pytest.mark.timeout(90)]

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = Settings()
# The last heartbeat came at most media_heartbeat before the kill; the registration lapses
# media_worker_ttl after it; signalling looks every media_heartbeat.
NOTICE_BOUND = DEFAULTS.media_worker_ttl + DEFAULTS.media_heartbeat + 0.5


def test_defaults_notice_a_dead_worker_within_about_two_seconds() -> None:
    assert DEFAULTS.media_worker_ttl + DEFAULTS.media_heartbeat <= 2.5


@pytest.fixture
def two_workers(redis_url: str, tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    """Two `lippejob media` processes with the default heartbeat and ttl."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIPPEJOB_")}
    env.update({"PYTHONPATH": str(ROOT), "LIPPEJOB_MEDIA_ANNOUNCE_IPS": json.dumps(["127.0.0.1"])})
    workers = []
    for index in range(2):
        log = tmp_path / f"media-worker-{index}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "lippejob.cli", "media", "--redis", redis_url],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        workers.append(WorkerProcess(proc, log))
    yield workers
    for worker in workers:
        if worker.proc.poll() is None:
            worker.proc.kill()
        worker.proc.wait()


async def test_a_killed_media_worker_moves_its_call(
    two_workers: list[WorkerProcess], redis_nodes: NodeFactory
) -> None:
    client, services = await redis_nodes("sig-a")
    store = services.registry
    await wait_workers(store, two_workers, 2)
    call = await schedule_call(client)
    aid = call["appointment"]["id"]
    cw, js = (WsClient(base_url(client), call["codes"][r], label=r) for r in ROLES[:2])
    try:
        await host_and_admit([cw, js])
        await all_decode_each_other([cw, js])
        first = await store.get_room_worker(aid)
        assert first is not None
        hosting = next(w for w in two_workers if first in w.log.read_text(errors="replace"))
        hosting.proc.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()

        await wait_for(
            lambda: cw.moves == 1 and js.moves == 1, "both clients told to move", within=15
        )
        noticed = time.monotonic() - killed_at
        # Only frames decoded from here on count: the ones from before the kill would make
        # the call look back at once (and the placement read below could still be the old one).
        for peer in (cw, js):
            peer.reset_received()

        async def placed_elsewhere() -> bool:
            return await store.get_room_worker(aid) not in (None, first)

        await wait_for(placed_elsewhere, "the room placed on the other worker", within=15)
        await wait_for(
            lambda: cw.status == "admitted" and js.status == "admitted", "both back", within=15
        )
        await all_decode_each_other([cw, js])
        back = time.monotonic() - killed_at
        print(f"media_moved {noticed:.2f}s after the kill; media again after {back:.2f}s")
        assert noticed <= NOTICE_BOUND, f"noticed only after {noticed:.1f}s"
        moved_to = await store.get_room_worker(aid)
        assert moved_to is not None and moved_to != first
        # The others saw a reconnect, never a leave.
        assert (js.id, "left") not in cw.presence and (cw.id, "left") not in js.presence
    finally:
        await close_all([cw, js])
