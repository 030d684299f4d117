"""The real processes a benchmark measures: a throwaway redis-server, a signalling node
(`python -m lippejob.cli serve`) and a media worker (`python -m mediaserver.worker`), with their
CPU time and memory read from /proc (no psutil).

Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from testsupport.redis_process import RedisNotStarted, free_port, start_redis, stop_redis

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")
STAFF_USER = "bench"
NODE_START_TIMEOUT = 60.0  # seconds until /readyz answers 200 (imports, migrations)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_bytes(pid: int) -> int:
    """Resident set size of a process (VmRSS in /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def start_worker(
    redis_url: str,
    worker_id: str,
    extra_env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
    args: Sequence[str] = (),
) -> subprocess.Popen[bytes]:
    """`python -m mediaserver.worker [args]` announcing 127.0.0.1, with this process's
    environment passed through (so LIPPEJOB_* settings given to the benchmark reach the worker)
    plus `extra_env`; its output goes to `log_path` (default: nowhere)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "LIPPEJOB_MEDIA_ANNOUNCE_IPS": json.dumps(["127.0.0.1"]),
        "LIPPEJOB_MAX_PARTICIPANTS": "64",  # the room limit is a policy, not a bench limit
        **(extra_env or {}),
    }
    command = [
        sys.executable,
        "-m",
        "mediaserver.worker",
        "--redis",
        redis_url,
        "--id",
        worker_id,
        *args,
    ]
    if log_path is not None:
        return _spawn(command, env, log_path)
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def own_cpu_seconds() -> float:
    """User + system CPU time of this process."""
    times = os.times()
    return times.user + times.system


def raise_fd_limit() -> int:
    """Lift this process's open-file soft limit to the hard limit (children inherit it): a
    load generator holds a socket per client, the node one per client too. Returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


@asynccontextmanager
async def redis_server(url: str | None = None) -> AsyncIterator[tuple[str, int | None]]:
    """(URL, pid): `url` if given (pid unknown), else a throwaway redis-server of our own."""
    if url:
        yield url, None
        return
    workdir = tempfile.mkdtemp(prefix="bench-redis-")
    try:
        proc, local_url = await asyncio.to_thread(start_redis, Path(workdir))
    except RedisNotStarted as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        raise SystemExit(f"{exc}; pass --redis URL") from None
    try:
        yield local_url, proc.pid
    finally:
        await asyncio.to_thread(stop_redis, proc)
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class Node:
    """A running signalling node: its process, its base URL, and the staff login."""

    proc: subprocess.Popen[bytes]
    base_url: str
    staff_user: str
    staff_password: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def log_tail(self, chars: int = 2000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


def node_environment(settings: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without its LIPPEJOB_* variables, plus `settings` as
    LIPPEJOB_<NAME> (the node reads nothing else of ours)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIPPEJOB_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update({f"LIPPEJOB_{name.upper()}": value for name, value in settings.items()})
    return env


@asynccontextmanager
async def signalling_node(
    settings: Mapping[str, str], redis_url: str | None, *, media: bool = True
) -> AsyncIterator[Node]:
    """`lippejob serve --http` on a free loopback port with its in-process media worker (none
    with `media=False`: every `hello` is then followed by `media_unavailable`), a
    fresh data directory (the embedded SQLite database) and one staff account; Redis for
    presence and bus if `redis_url`, else the embedded (in-memory) default."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-node-"))
    password = f"bench-{os.urandom(12).hex()}"
    env = node_environment(settings)
    dirs = ["--data-dir", str(workdir / "data"), "--keys-dir", str(workdir / "keys")]
    cli = [sys.executable, "-m", "lippejob.cli", "--log-level", "info"]
    log_path = workdir / "node.log"
    proc: subprocess.Popen[bytes] | None = None
    try:
        added = await asyncio.to_thread(
            subprocess.run,
            [*cli, "staff", "add", STAFF_USER, *dirs],
            cwd=ROOT,
            env={**env, "LIPPEJOB_STAFF_PASSWORD": password},
            capture_output=True,
            check=False,
        )
        if added.returncode != 0:
            raise RuntimeError(f"lippejob staff add failed: {added.stderr.decode()[-1000:]}")
        port = free_port()
        serve = [*cli, "serve", "--http", "--host", "127.0.0.1", "--port", str(port), *dirs]
        if redis_url:
            serve += ["--redis", redis_url]
        if not media:
            serve.append("--no-media")
        proc = _spawn(serve, env, log_path)
        node = Node(proc, f"http://127.0.0.1:{port}", STAFF_USER, password, log_path)
        await _wait_ready(node)
        yield node
    finally:
        if proc is not None:
            await asyncio.to_thread(_stop, proc)
        shutil.rmtree(workdir, ignore_errors=True)


def _spawn(command: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log_file:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log_file, stderr=log_file)


async def _wait_ready(node: Node) -> None:
    deadline = time.monotonic() + NODE_START_TIMEOUT
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if node.proc.poll() is not None:
                raise RuntimeError(f"the node exited at start:\n{node.log_tail()}")
            with suppress(aiohttp.ClientError):
                async with session.get(f"{node.base_url}/readyz") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise TimeoutError(f"the node was not ready within {NODE_START_TIMEOUT:.0f}s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT: the node stops at once, without draining its calls."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
