"""A media worker in its own process, reached over a real Redis (bus and registry)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from core.bus.redisbus import RedisBus
from core.clock import SystemClock
from core.store.redisstore import RedisStore
from testsupport.client import SyntheticClient
from testsupport.wait import wait_for

pytestmark = [pytest.mark.media, pytest.mark.redis, pytest.mark.timeout(60)]

ROOT = Path(__file__).resolve().parents[2]
NICER = 3  # the worker process is started nicer than the test by this much (media_nice)


def thread_nice_values(pid: int) -> set[int]:
    """The nice value of every thread of process `pid` (field 19 of /proc/<pid>/task/*/stat)."""
    values = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        stat = (task / "stat").read_text()
        values.add(int(stat.rsplit(")", 1)[1].split()[16]))
    return values


@pytest.fixture
async def redis_parts(redis_url: str) -> AsyncIterator[tuple[RedisBus, RedisStore]]:
    bus = await RedisBus.from_url(redis_url)
    store = await RedisStore.from_url(redis_url, SystemClock())
    try:
        yield bus, store
    finally:
        await bus.close()
        await store.close()


@pytest.fixture
def worker_process(redis_url: str) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m mediaserver.worker` as worker "w-proc" on loopback; stopped with SIGTERM."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "LIPPEJOB_MEDIA_ANNOUNCE_IPS": json.dumps(["127.0.0.1"]),
        "LIPPEJOB_MEDIA_HEARTBEAT": "0.3",
        "LIPPEJOB_MEDIA_NICE": str(os.getpriority(os.PRIO_PROCESS, 0) + NICER),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "mediaserver.worker", "--redis", redis_url, "--id", "w-proc"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


async def test_worker_process_serves_a_call_over_redis(
    worker_process: subprocess.Popen[bytes], redis_parts: tuple[RedisBus, RedisStore]
) -> None:
    proc = worker_process
    bus, store = redis_parts
    alice = SyntheticClient(bus, "w-proc", "room-x", "alice")
    bob = SyntheticClient(bus, "w-proc", "room-x", "bob")
    try:

        async def registered() -> list[str]:
            return [w.id for w in await store.list_workers()]

        async def alive_and_registered() -> bool:
            assert proc.poll() is None, "the worker process died"
            return "w-proc" in await registered()

        await wait_for(alive_and_registered, "the worker process to register")
        assert await store.assign_room("room-x", "w-proc", 60) == "w-proc"
        await asyncio.gather(alice.join(), bob.join())
        await wait_for(
            lambda: (
                alice.frames("bob", "video") >= 5
                and bob.frames("alice", "video") >= 5
                and bob.frames("alice", "audio") >= 5
            ),
            "media across the worker",
        )

        async def load() -> float:
            return next(w.load for w in await store.list_workers() if w.id == "w-proc")

        await wait_for(lambda: load(), "the worker to report its load", within=3)
        info = next(w for w in await store.list_workers() if w.id == "w-proc")
        assert info.rooms == 1 and info.load == 12.0  # 4 forwarded + 2 x 4 received streams
        # media_nice was set before any thread started: every thread has it.
        assert thread_nice_values(proc.pid) == {os.getpriority(os.PRIO_PROCESS, 0) + NICER}
    finally:
        await asyncio.gather(alice.leave(), bob.leave())
        proc.send_signal(signal.SIGTERM)
        await wait_for(lambda: proc.poll() is not None, "the worker to exit on SIGTERM")
    assert proc.returncode == 0
    assert "w-proc" not in [w.id for w in await store.list_workers()]
    assert await store.get_room_worker("room-x") is None  # released on shutdown


def test_a_refused_nice_value_leaves_the_worker_as_it_was(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mediaserver import worker

    def refuse(which: int, who: int, value: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(worker.os, "setpriority", refuse)
    current = os.getpriority(os.PRIO_PROCESS, 0)
    assert worker.set_nice(current - 5) == current
    assert worker.set_nice(0) == current  # 0: left as it is, nothing asked
    assert os.getpriority(os.PRIO_PROCESS, 0) == current
