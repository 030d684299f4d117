"""A pytest plugin that runs one real `redis-server` on loopback for the test session.

Register it from `tests/conftest.py` with `pytest_plugins = ["tests.redis_server"]`. Tests that
need Redis take `redis_url` (a flushed database per test) and carry `pytest.mark.redis`.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from testsupport.redis_process import (
    REDIS_BINARY,
    START_ATTEMPTS,
    RedisNotStarted,
    start_redis,
    stop_redis,
)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start a throwaway redis-server on a free loopback port; yield its URL."""
    if shutil.which(REDIS_BINARY) is None:
        pytest.fail(
            f"{REDIS_BINARY} not found on PATH: the `redis` tests need a real Redis "
            "(Debian/Ubuntu: apt-get install redis-server)",
            pytrace=False,
        )
    workdir: Path = tmp_path_factory.mktemp("redis")
    log_path = workdir / "redis.log"
    try:
        proc, url = start_redis(workdir, log_path, attempts=START_ATTEMPTS)
    except RedisNotStarted:
        pytest.fail(
            f"redis-server did not start after {START_ATTEMPTS} attempts; "
            f"see {log_path}:\n{log_path.read_text(errors='replace')[-2000:]}",
            pytrace=False,
        )
    try:
        yield url
    finally:
        stop_redis(proc)


@pytest.fixture
def redis_url(redis_server: str) -> Iterator[str]:
    """The session's Redis, emptied (FLUSHALL) before this test."""
    client = redis.Redis.from_url(redis_server)
    try:
        client.flushall()
    finally:
        client.close()
    yield redis_server
