"""A throwaway `redis-server` on a free loopback port (no persistence), for the benchmarks and
the test suite's Redis fixture (`tests/redis_server.py`)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

REDIS_BINARY = "redis-server"
START_TIMEOUT = 10.0  # seconds until the server must answer PING
START_ATTEMPTS = 3  # a free port can be taken between probing and binding it


class RedisNotStarted(RuntimeError):
    """No `redis-server` on PATH, or it did not come up."""


def free_port() -> int:
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


def stop_redis(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def start_redis(
    workdir: Path,
    log_path: Path | None = None,
    *,
    attempts: int = START_ATTEMPTS,
    timeout: float = START_TIMEOUT,
    port: int | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """Start `redis-server` on a free 127.0.0.1 port with `workdir` as its directory, once it
    answers PING: (process, "redis://127.0.0.1:PORT/0"). Its output goes to `log_path`
    (appended) or nowhere. Raises `RedisNotStarted` if there is no binary or it never started.
    `port` pins the port (a restart at the same address); otherwise a free one is picked.
    """
    binary = shutil.which(REDIS_BINARY)
    if binary is None:
        raise RedisNotStarted(f"{REDIS_BINARY} not found on PATH")
    for _ in range(attempts):
        chosen = free_port() if port is None else port
        url = f"redis://127.0.0.1:{chosen}/0"
        command = [
            binary,
            "--port",
            str(chosen),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ]
        if log_path is None:
            proc = subprocess.Popen(
                command, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        else:
            with log_path.open("ab") as log_file:
                proc = subprocess.Popen(
                    command, cwd=workdir, stdout=log_file, stderr=subprocess.STDOUT
                )
        try:
            started = _wait_for_ping(proc, url, timeout)
        except BaseException:
            stop_redis(proc)
            raise
        if started:
            return proc, url
        stop_redis(proc)
    raise RedisNotStarted(f"{REDIS_BINARY} did not start after {attempts} attempts")
