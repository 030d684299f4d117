"""Load test: many people waiting on one signalling node, admitted at a steady rate.

Starts one real signalling node (`python -m lippejob.cli serve --http`, its media worker in
process) per scenario: `redis` on a throwaway redis-server, `embedded` on the default (no
Redis: presence and bus in memory), records in the node's SQLite file for both; and, asked for
with `--scenarios`, `postgres`, the production shape: Redis for presence and bus and a
throwaway PostgreSQL cluster (migrated with `lippejob db upgrade`) for the records.

For each run it schedules appointments through the staff API (a caseworker and
`--guests-per-room` guests each), takes every room token with `POST /api/join`, opens the
caseworkers' room sockets (in the call at once) and the guests' (each answered `waiting`),
holds them all open, then the caseworkers' sockets send `admit` at `--rate` a second, round
robin over the rooms. For each guest it measures admit sent -> `hello` received; an admitted
guest without `hello` within `--hello-timeout` is an error, as is any error message or closed
socket. It reads the node's (and Redis's, and PostgreSQL's: the postmaster and its backends)
CPU time from /proc over the admission window. Writes loadtests/reports/admission.md and
admission.json.

    python -m loadtests.admission --guests 500 --rate 200 --runs 3
    python -m loadtests.admission --guests 500 --rate 200 --runs 3 --scenarios redis,postgres

The load generator is a single address (127.0.0.1): the node's per-address limits are raised
for it through LIPPEJOB_* settings (see `node_settings`); the defaults are left alone.
Everything stays on loopback. Not part of the test suite (a small smoke run is:
tests/test_loadtests_smoke.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from loadtests.admission_report import RunResult, loadavg, write_reports
from loadtests.processes import (
    ROOT,
    Node,
    TreeSample,
    cpu_seconds,
    own_cpu_seconds,
    postgres_server,
    raise_fd_limit,
    redis_server,
    signalling_node,
    tree_cpu_between,
    tree_sample,
)

REPORTS = ROOT / "loadtests" / "reports"
SESSION_COOKIE = "lj_session"  # signalling.auth.staff.SESSION_COOKIE
GUEST_ROLES = ("jobseeker", "employer")
# Told after `hello` when the call's media cannot start (e.g. the in-process media worker's
# room cap, mediaserver.config.MediaConfig.max_rooms): the admission itself went through, so
# these are counted apart from the errors.
MEDIA_NOTICES = frozenset({"media_unavailable"})
SCENARIOS = ("redis", "embedded", "postgres")
# Run when --scenarios is not given: postgres would add a third node (half as long again) and
# needs PostgreSQL binaries, so it is asked for by name.
DEFAULT_SCENARIOS = ("redis", "embedded")
SETTLE = 5.0  # seconds between runs: the node lets the last run's sockets go
OPEN_TIMEOUT = 60.0  # seconds for a socket to be answered `hello` or `waiting` while setting up


@dataclass(frozen=True)
class Options:
    guests: int = 500
    rate: float = 200.0  # admissions a second, over all rooms
    # A caseworker and three guests per appointment: 500 guests make 167 rooms, within the
    # in-process media worker's 200 (more rooms would be refused media, not admission).
    guests_per_room: int = 3
    runs: int = 3
    hold: float = 5.0  # seconds every guest waits, all sockets open, before the first admit
    hello_timeout: float = 120.0  # after the last admit: late is slow, missing is an error
    scenarios: tuple[str, ...] = DEFAULT_SCENARIOS
    redis: str | None = None  # an existing Redis (default: start one)
    media: bool = True  # the node's in-process media worker (`serve --no-media` without)
    out_dir: Path = REPORTS
    concurrency: int = 50  # requests / socket openings in flight while setting up


async def staff_headers(session: aiohttp.ClientSession, node: Node) -> dict[str, str]:
    """Staff headers (session cookie and CSRF token) for `node`'s staff API."""
    body = {"username": node.staff_user, "password": node.staff_password}
    async with session.post(f"{node.base_url}/api/login", json=body) as resp:
        if resp.status != 200:
            raise RuntimeError(f"login answered {resp.status}: {await resp.text()}")
        csrf = str((await resp.json())["csrf"])
        # The cookie is Secure; sent by hand over the benchmark's plain HTTP.
        cookie = resp.cookies[SESSION_COOKIE].value
    return {"Cookie": f"{SESSION_COOKIE}={cookie}", "X-CSRF-Token": csrf}


def node_settings(options: Options) -> dict[str, str]:
    """The node's settings for the benchmark: only limits that one loopback address running
    every client would hit are raised; each is named in the report."""
    rooms = -(-options.guests // options.guests_per_room)
    sockets = options.guests + rooms
    return {
        # POST /api/join per address (default 2/s, bursts of 20): all joins come from here.
        "join_rate": "100000",
        "join_burst": str(sockets + 100),
        # Open connections per address (default 200) and in total (default 2000).
        "max_connections_per_address": str(sockets + 100),
        "max_connections": str(max(2000, sockets + 100)),
        # The in-process media worker announces loopback only (nothing is sent anyway).
        "media_announce_ips": '["127.0.0.1"]',
    }


@dataclass
class Socket:
    """One room socket of the load generator and what it was told."""

    pid: str
    room: str
    token: str
    ws: aiohttp.ClientWebSocketResponse | None = None
    reader: asyncio.Task[None] | None = None
    waiting: asyncio.Event = field(default_factory=asyncio.Event)
    admitted: asyncio.Event = field(default_factory=asyncio.Event)
    admit_sent: float | None = None
    hello_at: float | None = None
    errors: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    close_code: int | None = None
    closed_by_us: bool = False

    async def read(self) -> None:
        assert self.ws is not None
        async for raw in self.ws:
            if raw.type != aiohttp.WSMsgType.TEXT:
                continue
            msg = json.loads(raw.data)
            kind = msg.get("type")
            if kind == "waiting":
                self.waiting.set()
            elif kind == "hello":
                self.hello_at = time.monotonic()
                self.admitted.set()
            elif kind == "error":
                code = str(msg.get("code"))
                (self.notices if code in MEDIA_NOTICES else self.errors).append(code)
            elif kind in ("denied", "ended", "replaced"):
                self.errors.append(kind)
        self.close_code = self.ws.close_code
        if not self.closed_by_us:
            self.errors.append(f"closed {self.close_code}")
        self.waiting.set()  # nobody waits for a closed socket
        self.admitted.set()


async def bounded(limit: int, jobs: Iterable[Awaitable[Any]]) -> list[Any]:
    """Run `jobs` with at most `limit` in flight, results in order."""
    semaphore = asyncio.Semaphore(limit)

    async def one(job: Awaitable[Any]) -> Any:
        async with semaphore:
            return await job

    return list(await asyncio.gather(*(one(j) for j in jobs)))


class Load:
    """The clients of one run against one node."""

    def __init__(self, node: Node, session: aiohttp.ClientSession, options: Options) -> None:
        self.node = node
        self.session = session
        self.options = options
        self.base = node.base_url
        self.caseworkers: dict[str, Socket] = {}  # room -> socket
        self.guests: list[Socket] = []

    async def login(self) -> dict[str, str]:
        return await staff_headers(self.session, self.node)

    async def schedule(self, headers: dict[str, str], guests: int) -> list[tuple[str, str]]:
        """One appointment starting now: (participant id, invite code) pairs, the
        caseworker's first."""
        now = time.time()
        people = [{"role": "caseworker", "name": "Bench Caseworker", "lang": "de"}]
        people += [
            {"role": GUEST_ROLES[i % len(GUEST_ROLES)], "name": f"Bench Guest {i}", "lang": "de"}
            for i in range(guests)
        ]
        body = {
            "title": "Admission load test",
            "starts_at": now,
            "ends_at": now + 3600,
            "waiting_room": True,
            "participants": people,
        }
        async with self.session.post(
            f"{self.base}/api/appointments", json=body, headers=headers
        ) as resp:
            if resp.status != 201:
                raise RuntimeError(f"scheduling answered {resp.status}: {await resp.text()}")
            data = await resp.json()
        urls = sorted(data["join_urls"], key=lambda u: u["role"] != "caseworker")
        return [(u["participant"], u["url"].rsplit("/j/", 1)[1]) for u in urls]

    async def token(self, room: str, pid: str, code: str) -> Socket:
        body = {"code": code, "consent": True}
        async with self.session.post(f"{self.base}/api/join", json=body) as resp:
            if resp.status != 200:
                raise RuntimeError(f"/api/join answered {resp.status}: {await resp.text()}")
            return Socket(pid, room, str((await resp.json())["token"]))

    async def open(self, sock: Socket, until: asyncio.Event) -> None:
        """Open and authenticate a room socket; wait for `until` (hello or waiting)."""
        sock.ws = await self.session.ws_connect(f"{self.base.replace('http', 'ws', 1)}/ws")
        sock.reader = asyncio.create_task(sock.read())
        await sock.ws.send_str(json.dumps({"type": "auth", "token": sock.token}))
        try:
            await asyncio.wait_for(until.wait(), OPEN_TIMEOUT)
        except TimeoutError:  # an error of the run, not the end of the benchmark
            sock.errors.append(f"not answered within {OPEN_TIMEOUT:.0f} s of auth")

    async def set_up(self) -> None:
        """Appointments, tokens, the caseworkers in their calls, the guests waiting."""
        opts = self.options
        headers = await self.login()
        sizes = [opts.guests_per_room] * (opts.guests // opts.guests_per_room)
        if opts.guests % opts.guests_per_room:
            sizes.append(opts.guests % opts.guests_per_room)
        rooms = await bounded(opts.concurrency, (self.schedule(headers, n) for n in sizes))
        people = [(f"room-{i}", pid, code) for i, room in enumerate(rooms) for pid, code in room]
        sockets = await bounded(opts.concurrency, (self.token(*p) for p in people))
        firsts = {sum(len(r) for r in rooms[:i]) for i in range(len(rooms))}
        caseworkers = [s for i, s in enumerate(sockets) if i in firsts]
        guests = [s for i, s in enumerate(sockets) if i not in firsts]
        self.caseworkers = {c.room: c for c in caseworkers}
        # Admission order: round robin over the rooms (each room's first guest, then second).
        by_room: dict[str, list[Socket]] = {}
        for guest in guests:
            by_room.setdefault(guest.room, []).append(guest)
        self.guests = [
            by_room[room][i]
            for i in range(opts.guests_per_room)
            for room in by_room
            if i < len(by_room[room])
        ]
        await bounded(opts.concurrency, (self.open(c, c.admitted) for c in caseworkers))
        await bounded(opts.concurrency, (self.open(g, g.waiting) for g in self.guests))

    async def admit_all(self) -> None:
        """Send `admit` for every guest at the target rate, each from its room's caseworker."""
        start = time.monotonic()
        for index, guest in enumerate(self.guests):
            delay = start + index / self.options.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            caseworker = self.caseworkers[guest.room]
            assert caseworker.ws is not None
            guest.admit_sent = time.monotonic()
            try:
                await caseworker.ws.send_str(
                    json.dumps({"type": "admit", "participant": guest.pid})
                )
            except (ConnectionError, RuntimeError):  # the node closed it: counted, go on
                guest.errors.append("admit not sent: the caseworker's socket is closed")
                guest.admitted.set()

    async def close(self) -> None:
        """Leave and close every socket (the node lets them go at once, without a grace)."""

        async def leave(sock: Socket) -> None:
            sock.closed_by_us = True
            if sock.ws is not None and not sock.ws.closed:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await sock.ws.send_str(json.dumps({"type": "leave"}))
                await sock.ws.close()
            if sock.reader is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(sock.reader, 5)

        await bounded(self.options.concurrency, (leave(s) for s in self.everyone()))

    def everyone(self) -> list[Socket]:
        return [*self.caseworkers.values(), *self.guests]


@dataclass(frozen=True)
class Servers:
    """The pids of the servers a scenario's node uses, to read their CPU time (None: not used,
    or an existing server whose pid is not known)."""

    redis: int | None = None
    postgres: int | None = None  # the postmaster


async def one_run(
    node: Node, scenario: str, run: int, options: Options, servers: Servers
) -> RunResult:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        load = Load(node, session, options)
        try:
            set_up_started = time.monotonic()
            await load.set_up()
            set_up_took = time.monotonic() - set_up_started
            _progress(
                f"{scenario} run {run}: {len(load.caseworkers)} caseworkers in their calls, "
                f"{len(load.guests)} guests waiting ({set_up_took:.1f} s)"
            )
            await asyncio.sleep(options.hold)
            not_waiting = [g for g in load.guests if g.close_code is not None or g.errors]
            # Before the generator's own CPU is read: the /proc scan is not the load's work.
            postgres_before = _tree(servers.postgres)
            node_cpu, redis_cpu, own_cpu = node.cpu(), _cpu(servers.redis), own_cpu_seconds()
            started = time.monotonic()
            await load.admit_all()
            sent_span = time.monotonic() - started
            _progress(f"{len(load.guests)} admits sent in {sent_span:.1f} s")
            pending = [g.admitted.wait() for g in load.guests]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*pending), options.hello_timeout)
            hellos = [g.hello_at for g in load.guests if g.hello_at is not None]
            _progress(f"{len(hellos)} hellos after {time.monotonic() - started:.1f} s")
            window = (max(hellos) if hellos else time.monotonic()) - started
            node_cpu = node.cpu() - node_cpu
            redis_cpu = _cpu(servers.redis) - redis_cpu
            own_cpu = own_cpu_seconds() - own_cpu
            postgres_after = _tree(servers.postgres)
            postgres_cpu = (
                tree_cpu_between(postgres_before, postgres_after)
                if postgres_before is not None and postgres_after is not None
                else None
            )
            result = RunResult(
                scenario=scenario,
                run=run,
                guests=len(load.guests),
                rooms=len(load.caseworkers),
                target_rate=options.rate,
                set_up_seconds=set_up_took,
                held_seconds=options.hold,
                not_waiting_at_admit=len(not_waiting),
                latencies=sorted(
                    g.hello_at - g.admit_sent
                    for g in load.guests
                    if g.hello_at is not None and g.admit_sent is not None
                ),
                errors=_errors(load),
                notices=[n for s in load.everyone() for n in s.notices],
                sent_seconds=sent_span,
                window_seconds=window,
                node_cpu=node_cpu,
                redis_cpu=redis_cpu if servers.redis is not None else None,
                postgres_cpu=postgres_cpu,
                generator_cpu=own_cpu,
            )
        finally:
            await load.close()
    print(result.summary(), flush=True)
    return result


def _progress(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {text}", flush=True)


def _cpu(pid: int | None) -> float:
    return cpu_seconds(pid) if pid is not None else 0.0


def _tree(pid: int | None) -> TreeSample | None:
    return tree_sample(pid) if pid is not None else None


def _errors(load: Load) -> list[str]:
    """One line per problem: a guest without hello, any error message, a closed socket."""
    errors = []
    for index, guest in enumerate(load.guests):
        if guest.hello_at is None:
            errors.append(f"guest {index}: no hello")
        errors += [f"guest {index}: {e}" for e in guest.errors]
    for index, caseworker in enumerate(load.caseworkers.values()):
        errors += [f"caseworker {index}: {e}" for e in caseworker.errors]
    return errors


async def run_scenario(scenario: str, options: Options, done: Callable[[RunResult], None]) -> None:
    """The runs of one scenario on one node; `done` gets each run's result."""
    settings = node_settings(options)
    async with contextlib.AsyncExitStack() as stack:
        url, redis_pid, postgres_pid = None, None, None
        if scenario in ("redis", "postgres"):
            url, redis_pid = await stack.enter_async_context(redis_server(options.redis))
        if scenario == "postgres":
            # Only the node's settings: the report's list stays the limits raised.
            database_url, postgres_pid = await stack.enter_async_context(postgres_server())
            settings = {**settings, "database_url": database_url}
        node = await stack.enter_async_context(signalling_node(settings, url, media=options.media))
        servers = Servers(redis=redis_pid, postgres=postgres_pid)
        for run in range(1, options.runs + 1):
            if run > 1:
                await asyncio.sleep(SETTLE)
            done(await one_run(node, scenario, run, options, servers))


async def benchmark(options: Options, command: str = "") -> dict[str, Any]:
    """Every scenario's runs; rewrites the reports after each run (a long benchmark that is
    stopped keeps what it measured); returns what admission.json holds."""
    fd_limit = raise_fd_limit()
    load_before = loadavg()
    results: list[RunResult] = []
    summary: dict[str, Any] = {}

    def done(result: RunResult) -> None:
        nonlocal summary
        results.append(result)
        summary = write_reports(
            options.out_dir,
            results,
            node_settings(options),
            fd_limit=fd_limit,
            command=command,
            load_before=load_before,
            media=options.media,
        )

    for scenario in options.scenarios:
        await run_scenario(scenario, options, done)
    return summary


def parse_options(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m loadtests.admission", description=__doc__)
    parser.add_argument("--guests", type=int, default=Options.guests)
    parser.add_argument("--rate", type=float, default=Options.rate)
    parser.add_argument("--guests-per-room", type=int, default=Options.guests_per_room)
    parser.add_argument("--runs", type=int, default=Options.runs)
    parser.add_argument("--hold", type=float, default=Options.hold)
    parser.add_argument("--hello-timeout", type=float, default=Options.hello_timeout)
    parser.add_argument(
        "--scenarios",
        default=",".join(DEFAULT_SCENARIOS),
        help="comma-separated, run in this order, from: redis (Redis, SQLite records), "
        "embedded (no Redis, SQLite), postgres (Redis and a throwaway PostgreSQL cluster: "
        f"the production shape). Default {','.join(DEFAULT_SCENARIOS)}: postgres is asked "
        "for by name, since it adds a third node's runs and needs PostgreSQL binaries "
        "(initdb; Debian: apt-get install postgresql, or LIPPEJOB_PG_BIN)",
    )
    parser.add_argument(
        "--redis", help="an existing Redis URL for redis and postgres (default: start one)"
    )
    parser.add_argument(
        "--no-media",
        action="store_true",
        help="run the node without its in-process media worker (signalling cost alone)",
    )
    parser.add_argument("--out-dir", type=Path, default=REPORTS)
    args = parser.parse_args(argv)
    scenarios = tuple(s for s in args.scenarios.split(",") if s)
    if not scenarios or set(scenarios) - set(SCENARIOS):
        parser.error(f"--scenarios: choose from {', '.join(SCENARIOS)}")
    if args.guests < 1 or args.rate <= 0 or args.runs < 1:
        parser.error("need --guests >= 1, --rate > 0, --runs >= 1")
    if not 1 <= args.guests_per_room <= 7:  # a caseworker and at most 7 (max_participants 8)
        parser.error("--guests-per-room must be between 1 and 7")
    return Options(
        guests=args.guests,
        rate=args.rate,
        guests_per_room=args.guests_per_room,
        runs=args.runs,
        hold=args.hold,
        hello_timeout=args.hello_timeout,
        scenarios=scenarios,
        redis=args.redis,
        media=not args.no_media,
        out_dir=args.out_dir,
    )


def main(argv: list[str] | None = None) -> None:
    import sys

    options = parse_options(argv)
    command = " ".join(["python -m loadtests.admission", *(argv or sys.argv[1:])])
    summary = asyncio.run(benchmark(options, command))
    print((options.out_dir / "admission.md").read_text())
    if summary["errors"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
