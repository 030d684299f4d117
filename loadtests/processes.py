"""The real processes a benchmark measures: a throwaway redis-server, a throwaway PostgreSQL
cluster, a signalling node (`python -m lippejob.cli serve`) and a media worker
(`python -m mediaserver.worker`), with their CPU time and memory read from /proc (no psutil).

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

from testsupport.postgres_process import PostgresNotStarted, start_postgres, stop_postgres
from testsupport.redis_process import RedisNotStarted, free_port, start_redis, stop_redis

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")
STAFF_USER = "bench"
NODE_START_TIMEOUT = 60.0  # seconds until /readyz answers 200 (imports, migrations)
BENCH_DATABASE = "lj_bench"  # the database of the throwaway PostgreSQL cluster
CLI = [sys.executable, "-m", "lippejob.cli"]


def _stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name: field N of proc(5) is at index N - 3."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc/<pid>/stat."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / TICKS


@dataclass(frozen=True)
class TreeSample:
    """The CPU time of a process and its children at one moment (see `tree_cpu_between`)."""

    live: dict[tuple[int, int], float]  # (pid, start time) -> own user+system seconds
    reaped: float  # the root's cutime + cstime: its children that exited and were waited for


def tree_sample(root: int) -> TreeSample:
    """`root` and its live children (every /proc/*/stat with ppid == root), keyed by pid and
    start time so that a pid used again by a new child is a new process."""
    fields = _stat_fields(root)
    live = {(root, int(fields[19])): (int(fields[11]) + int(fields[12])) / TICKS}
    reaped = (int(fields[13]) + int(fields[14])) / TICKS
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == root:
            continue
        try:
            child = _stat_fields(int(entry.name))
        except (OSError, ValueError):  # gone between the listing and the read
            continue
        if int(child[1]) == root:
            live[(int(entry.name), int(child[19]))] = (int(child[11]) + int(child[12])) / TICKS
    return TreeSample(live, reaped)


def tree_cpu_between(before: TreeSample, after: TreeSample) -> float:
    """CPU seconds the process tree spent between two samples: the growth of every process
    alive at both, the whole time of those that started after `before`, and for those that
    exited in between their time after `before` (a reaped child's whole time lands in its
    parent's cutime/cstime; what it had spent before `before` is taken off). Exact to the clock
    tick for a parent that waits for its children (the postmaster does); a child still to be
    waited for at `after` counts as live."""
    spent = after.reaped - before.reaped
    for key, seconds in after.live.items():
        spent += seconds - before.live.get(key, 0.0)
    spent -= sum(s for key, s in before.live.items() if key not in after.live)
    return max(spent, 0.0)


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


@asynccontextmanager
async def postgres_server() -> AsyncIterator[tuple[str, int]]:
    """(URL, postmaster pid): a throwaway PostgreSQL cluster
    (testsupport.postgres_process: fsync off, loopback only) with a database migrated by
    `lippejob db upgrade`, as production does; stopped and removed at the end."""
    try:
        server = await asyncio.to_thread(start_postgres)
    except PostgresNotStarted as exc:
        raise SystemExit(f"PostgreSQL did not start: {exc}") from None
    try:
        await asyncio.to_thread(server.psql, f"CREATE DATABASE {BENCH_DATABASE}")
        url = server.url(BENCH_DATABASE)
        upgraded = await asyncio.to_thread(
            subprocess.run,
            [*CLI, "db", "upgrade"],
            cwd=ROOT,
            env=node_environment({"database_url": url}),
            capture_output=True,
            check=False,
        )
        if upgraded.returncode != 0:
            raise RuntimeError(f"lippejob db upgrade failed: {upgraded.stderr.decode()[-1000:]}")
        yield url, server.proc.pid
    finally:
        await asyncio.to_thread(stop_postgres, server)


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
    fresh data directory and one staff account; Redis for presence and bus if `redis_url`,
    else the embedded (in-memory) default. Records in the database of `settings`'
    `database_url` (migrated already; `staff add` writes there too), else in the data
    directory's SQLite file."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-node-"))
    password = f"bench-{os.urandom(12).hex()}"
    env = node_environment(settings)
    dirs = ["--data-dir", str(workdir / "data"), "--keys-dir", str(workdir / "keys")]
    cli = [*CLI, "--log-level", "info"]
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
