"""Faults against real processes: a redis-server of the test's own (never the session's shared
one) that the test freezes (SIGSTOP), thaws, stops and starts again at the same address."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from core.bus.base import Bus
from core.clock import FakeClock
from core.store.base import Stores
from signalling.app import create_app
from tests.harness import make_backend, make_services
from testsupport.redis_process import start_redis, stop_redis


@dataclass
class OwnRedis:
    """A redis-server that only this test uses."""

    workdir: Path
    proc: subprocess.Popen[bytes]
    url: str
    port: int
    frozen: bool = False

    def freeze(self) -> None:
        """SIGSTOP: the port still accepts connections, nothing answers."""
        os.kill(self.proc.pid, signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)
        self.frozen = False

    def stop(self) -> None:
        """Terminate the server: connections are refused, its data (no persistence) is gone."""
        if self.frozen:
            self.thaw()
        stop_redis(self.proc)

    def start(self) -> None:
        """Start a fresh server at the same address."""
        self.proc, url = start_redis(self.workdir, self.workdir / "redis.log", port=self.port)
        assert url == self.url


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    workdir = tmp_path / "redis"
    workdir.mkdir()
    proc, url = start_redis(workdir, workdir / "redis.log")
    server = OwnRedis(workdir, proc, url, int(url.rsplit(":", 1)[1].split("/")[0]))
    yield server
    server.stop()


@dataclass
class Node:
    """One signalling app on the test's own Redis."""

    client: TestClient[Any, Any]
    stores: Stores
    bus: Bus


@pytest.fixture
async def redis_node(
    tmp_path: Path,
    fake_clock: FakeClock,
    database_url: str,
    own_redis: OwnRedis,
    aiohttp_client: Any,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Node]:
    """A signalling app with presence and bus on `own_redis`; settings from the test's
    `node_settings` marker."""
    marker = request.node.get_closest_marker("node_settings")
    settings: dict[str, Any] = dict(marker.kwargs) if marker else {}
    stores, bus = await make_backend("redis", fake_clock, own_redis.url, database_url)
    services = await make_services(tmp_path, fake_clock, stores, bus, **settings)
    client = await aiohttp_client(create_app(services, with_pages=False))
    yield Node(client, stores, bus)
    if own_redis.frozen:
        own_redis.thaw()
    await client.close()
    await bus.close()
    await stores.close()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "node_settings(**kw): settings of the redis_node fixture")
