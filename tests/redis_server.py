"""A pytest plugin that runs one real `redis-server` on loopback for the test session.

Register it from `tests/conftest.py` with `pytest_plugins = ["tests.redis_server"]`. Tests that
need Redis take `redis_url` (a flushed database per test) and carry `pytest.mark.redis`.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

REDIS_BINARY = "redis-server"
START_TIMEOUT = 10.0  # seconds until the server must answer PING
START_ATTEMPTS = 3  # a free port can be taken between probing and binding it


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_ping(proc: subprocess.Popen[bytes], url: str, timeout: float) -> bool:
    """Poll until the server answers PING; False if the process died first (port taken)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            if client.ping():
                return True
        except redis.ConnectionError:
            pass
        finally:
            client.close()
        time.sleep(0.05)
    raise TimeoutError(f"redis-server at {url} did not answer PING within {timeout:.0f}s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start a throwaway redis-server on a free loopback port; yield its URL."""
    binary = shutil.which(REDIS_BINARY)
    if binary is None:
        pytest.fail(
            f"{REDIS_BINARY} not found on PATH: the `redis` tests need a real Redis "
            "(Debian/Ubuntu: apt-get install redis-server)",
            pytrace=False,
        )
    workdir: Path = tmp_path_factory.mktemp("redis")
    log_path = workdir / "redis.log"
    for _ in range(START_ATTEMPTS):
        port = _free_port()
        url = f"redis://127.0.0.1:{port}/0"
        with log_path.open("ab") as log_file:
            proc = subprocess.Popen(
                [
                    binary,
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(workdir),
                ],
                cwd=workdir,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        try:
            started = _wait_for_ping(proc, url, START_TIMEOUT)
        except BaseException:
            _stop(proc)
            raise
        if started:
            break
        _stop(proc)
    else:
        pytest.fail(
            f"redis-server did not start after {START_ATTEMPTS} attempts; "
            f"see {log_path}:\n{log_path.read_text(errors='replace')[-2000:]}",
            pytrace=False,
        )
    try:
        yield url
    finally:
        _stop(proc)


@pytest.fixture
def redis_url(redis_server: str) -> Iterator[str]:
    """The session's Redis, emptied (FLUSHALL) before this test."""
    client = redis.Redis.from_url(redis_server)
    try:
        client.flushall()
    finally:
        client.close()
    yield redis_server
