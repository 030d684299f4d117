"""Calls the way the tablets make them: invite code -> `POST /api/join` -> room token -> `/ws`
(`auth`, waiting room, admit) -> publisher offer and subscriber re-offers over the socket, with
real aiortc peers decoding each other's media through the SFU.

In process (memory store and bus, an in-process MediaWorker) and across processes (real Redis,
the media worker as `python -m lippejob.cli media`, one or two signalling apps). Join latency
(from `POST /api/join` to the first decoded remote frame) is measured and printed, not asserted
tightly: it depends on the machine.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp.test_utils import TestClient

from core.bus.memory import MemoryBus
from core.clock import SystemClock
from core.db.engine import create_engine
from core.model import AttendanceEvent, Grants
from core.store.base import RegistryStore, Stores
from core.store.memory import MemoryStore
from core.store.sql import SqlStore
from mediaserver.config import MediaConfig
from mediaserver.worker import MediaWorker
from signalling.app import create_app
from signalling.auth.tokens import ALGORITHM
from signalling.context import Services
from tests.harness import appointment_body, login, make_backend, make_services, schedule
from testsupport.client import wait_for
from testsupport.wait import wait_for as wait_until
from testsupport.ws_client import WsClient

pytestmark = [pytest.mark.media]

ROOT = Path(__file__).resolve().parents[2]
LOOPBACK_CONFIG = MediaConfig(announce_ips=("127.0.0.1",), heartbeat=0.2, ttl=2.0)
ROLES = ("caseworker", "jobseeker", "employer")
AV = ("audio", "video")

Client = TestClient[Any, Any]


# --- helpers --------------------------------------------------------------------------------


def base_url(client: Client) -> str:
    return str(client.server.make_url("")).rstrip("/")


async def schedule_call(client: Client, waiting_room: bool = True) -> dict[str, Any]:
    """An appointment starting now; {"appointment", "codes": {role: code}, "ids": {role: id}}."""
    csrf = await login(client)
    return await schedule(client, csrf, appointment_body(time.time(), waiting_room=waiting_room))


async def admitted_join(host: WsClient, guest: WsClient) -> None:
    """`guest` joins, lands in the waiting room, `host` sees it in the lobby and admits it.
    The guest publishes as soon as `hello` arrives, as the web client does."""
    joining = asyncio.create_task(guest.join(publish=True), name=f"join:{guest.label}")
    try:
        await wait_for(lambda: guest.status == "waiting" or joining.done(), f"{guest.label} waits")
        assert guest.status == "waiting", f"{guest.label} was not kept waiting"
        await wait_for(
            lambda: any(w["participant"] == guest.id for w in host.lobby),
            f"{guest.label} in {host.label}'s lobby",
        )
        await host.admit(guest.id)
        await asyncio.wait_for(joining, 15)
    finally:
        if not joining.done():
            joining.cancel()


async def all_decode_each_other(clients: list[WsClient], count: int = 3) -> None:
    for me in clients:
        for other in clients:
            if other is not me:
                await me.wait_frames(other.id, AV, count=count, within=15)
    for me in clients:
        assert {k for k in me.received if k[0] in {c.id for c in clients}} >= {
            (o.id, s) for o in clients if o is not me for s in AV
        }
        for (_, source), stats in me.received.items():
            if source == "video":
                assert stats.sizes == {(160, 120)}, stats.sizes  # really decoded


async def host_and_admit(clients: list[WsClient]) -> None:
    """The first client (the caseworker) goes straight in and admits the others one by one
    from the waiting room; then everyone decodes everyone else."""
    host, *guests = clients
    await host.join()
    for guest in guests:
        await admitted_join(host, guest)
    await all_decode_each_other(clients)


def report(capsys: pytest.CaptureFixture[str], what: str, clients: list[WsClient]) -> None:
    """Print each client's join latency: from `POST /api/join` (or the reconnect) to its first
    decoded remote frame (any source, then video), and the part of it after `hello`."""
    parts = []
    for c in clients:
        first, hello = c.first_remote_at, c.hello_at
        videos = [s.first_at for (_, src), s in c.received.items() if src == "video" and s.first_at]
        if first is None or hello is None:
            continue
        line = f"{c.label} {(first - c.requested_at) * 1000:.0f} ms"
        if videos:
            line += f" (video {(min(videos) - c.requested_at) * 1000:.0f} ms)"
        parts.append(f"{line}, {(first - hello) * 1000:.0f} ms after hello")
    with capsys.disabled():
        print(f"\n[join latency] {what}: " + "; ".join(parts))


async def close_all(clients: list[WsClient]) -> None:
    await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


# --- in process -----------------------------------------------------------------------------


@dataclass
class InProcess:
    client: Client
    services: Services
    worker: MediaWorker

    @property
    def url(self) -> str:
        return base_url(self.client)


async def start_in_process(
    tmp_path: Path, aiohttp_client: Any, records: SqlStore
) -> tuple[InProcess, MediaWorker]:
    """The signalling app (which closes the stores and bus) on `records` and a memory store,
    and a started MediaWorker ("w1") on that memory store and one memory bus, media on
    loopback."""
    clock = SystemClock()
    bus = MemoryBus()
    store = MemoryStore(clock)
    services = await make_services(tmp_path, clock, Stores.of(records, store), bus)
    worker = MediaWorker("w1", store, bus, clock, LOOPBACK_CONFIG)
    await worker.start()
    try:
        client = await aiohttp_client(create_app(services, with_pages=False, close_services=True))
    except BaseException:
        await worker.close()
        raise
    return InProcess(client, services, worker), worker


@pytest.fixture
async def in_process(
    tmp_path: Path, aiohttp_client: Any, database_url: str
) -> AsyncIterator[InProcess]:
    records = SqlStore.from_url(database_url, SystemClock())
    env, worker = await start_in_process(tmp_path, aiohttp_client, records)
    try:
        yield env
    finally:
        await worker.close()  # before the app (and with it the bus) closes


@pytest.mark.timeout(40)
async def test_in_process_call_leave_and_reconnect(
    in_process: InProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    env = in_process
    call = await schedule_call(env.client)
    aid, ids = call["appointment"]["id"], call["ids"]
    cw, js, em = (WsClient(env.url, call["codes"][r], label=r) for r in ROLES)
    clients = [cw, js, em]
    try:
        # The caseworker goes straight in; the others wait until admitted.
        await cw.join()
        assert cw.hello is not None and cw.hello["grants"]["admit"] is True
        assert cw.join_response["ice_servers"] == []
        await admitted_join(cw, js)
        await admitted_join(cw, em)
        await all_decode_each_other(clients)
        report(capsys, "in process, after admit", [js, em])
        room = env.worker.rooms[aid]
        assert set(room.participants) == set(ids.values())
        assert room.published_streams == 6 and room.forwarded_streams == 12

        # The employer leaves: the others are re-offered a subscriber connection without it.
        offers = {c.label: len(c.sub_offers) for c in (cw, js)}
        await em.leave()
        for c in (cw, js):

            def reoffered(c: WsClient = c) -> bool:
                return len(c.sub_offers) > offers[c.label] and all(
                    t["participant"] != em.id for t in c.tracks.values()
                )

            await wait_for(reoffered, f"{c.label}'s re-offer without the employer", within=5)
            await c.expect("presence", participant=em.id, state="left")
            assert {t["participant"] for t in c.tracks.values()} == {
                o.id for o in (cw, js) if o is not c
            }
        frames = cw.frames(js.id, "video")
        await wait_for(lambda: cw.frames(js.id, "video") > frames + 3, "media to go on")

        # The jobseeker's socket drops (no leave) and it comes back with the same token.
        mark = len(cw.presence)
        token = js.token
        await js.drop()
        await wait_for(
            lambda: (js.id, "reconnecting") in cw.presence[mark:], "presence reconnecting"
        )
        await wait_for(
            lambda: all(t["participant"] != js.id for t in cw.tracks.values()),
            "the caseworker's re-offer without the dropped jobseeker",
        )
        cw.reset_received()
        await js.rejoin()
        assert js.token == token  # no new invite exchange
        assert js.hello is not None
        states = {p["id"]: p["state"] for p in js.hello["participants"]}
        assert states[cw.id] == "joined" and states[em.id] == "absent"
        await wait_for(
            lambda: [s for p, s in cw.presence[mark:] if p == js.id] == ["reconnecting", "joined"],
            "presence reconnecting, then joined",
        )
        await cw.wait_frames(js.id, AV, count=3)
        await js.wait_frames(cw.id, AV, count=3)
        report(capsys, "in process, rejoin after a dropped socket", [js])
        assert (js.id, "left") not in cw.presence
        assert [s for p, s in cw.presence if p == js.id] == ["joined", "reconnecting", "joined"]
        assert not [e for c in clients for e in c.errors], [c.errors for c in clients]
    finally:
        await close_all(clients)


@pytest.mark.timeout(30)
async def test_token_without_a_publish_grant_cannot_publish(in_process: InProcess) -> None:
    """No role lacks a publish grant today, so the API never hands out such a token: this one
    is minted with the server's own signing key for the employer, with `publish: ["audio"]`,
    and then goes the real way (room socket, media worker)."""
    env = in_process
    call = await schedule_call(env.client, waiting_room=False)
    aid, ids = call["appointment"]["id"], call["ids"]
    services = env.services
    appointment = await services.appointments.get_appointment(aid)
    assert appointment is not None
    employer = appointment.participant(ids["employer"])
    assert employer is not None
    _, claims = services.issuer.mint(aid, employer, appointment.ends_at)
    limited = dataclasses.replace(
        claims, grants=Grants(publish=("audio",)), jti=secrets.token_urlsafe(16)
    )
    token = jwt.encode(
        limited.to_jwt_payload(),
        services.keyring.private_key,
        algorithm=ALGORITHM,
        headers={"kid": services.keyring.current_kid},
    )
    cw = WsClient(env.url, call["codes"]["caseworker"], label="caseworker")
    em = WsClient(env.url, label="employer")
    try:
        await cw.join()
        await em.connect(token)
        await em.wait_admitted()
        assert em.hello is not None and em.hello["grants"]["publish"] == ["audio"]
        await em.publish(AV)  # offers video anyway
        await cw.wait_frames(em.id, ("audio",), count=5)
        await em.wait_frames(cw.id, AV, count=3)  # it may still receive
        error = await em.expect("error", code="publish_not_allowed")
        assert "video" in error["message"]
        await asyncio.sleep(0.5)
        assert cw.frames(em.id, "video") == 0
        assert {"participant": em.id, "source": "video"} not in cw.tracks.values()
        published = env.worker.rooms[aid].participants[em.id].publications.values()
        assert {p.source for p in published} == {"audio"}
    finally:
        await close_all([cw, em])


class SlowAttendanceStore(SqlStore):
    """A store whose attendance writes take a while, as a remote store's may."""

    async def add_attendance(self, event: AttendanceEvent) -> None:
        await asyncio.sleep(0.15)
        await super().add_attendance(event)


@pytest.mark.timeout(30)
async def test_offer_right_after_admit_hello_is_answered(
    tmp_path: Path, aiohttp_client: Any, database_url: str
) -> None:
    """A slow store write after `hello` must not let the client's offer overtake the media
    `join` (over Redis this raced on every run before the join moved ahead of `hello`)."""
    env, worker = await start_in_process(
        tmp_path,
        aiohttp_client,
        SlowAttendanceStore(create_engine(database_url), SystemClock()),
    )
    call = await schedule_call(env.client)
    cw = WsClient(env.url, call["codes"]["caseworker"], label="caseworker")
    js = WsClient(env.url, call["codes"]["jobseeker"], label="jobseeker", answer_timeout=3.0)
    try:
        await cw.join()
        await admitted_join(cw, js)  # publishes on hello, as the web client does
        await cw.wait_frames(js.id, AV, count=1)
    finally:
        await close_all([cw, js])
        await worker.close()


# --- across processes -----------------------------------------------------------------------


@dataclass
class WorkerProcess:
    proc: subprocess.Popen[bytes]
    log: Path

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


StartWorker = Callable[[], WorkerProcess]


@pytest.fixture
def media_processes(redis_url: str, tmp_path: Path) -> Iterator[StartWorker]:
    """Starts `python -m lippejob.cli media --redis URL` processes, announcing 127.0.0.1,
    draining for at most 2 s; SIGTERM (then, if need be, SIGKILL) at the end."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIPPEJOB_")}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "LIPPEJOB_MEDIA_ANNOUNCE_IPS": json.dumps(["127.0.0.1"]),
            "LIPPEJOB_MEDIA_HEARTBEAT": "0.3",
            "LIPPEJOB_MEDIA_WORKER_TTL": "3",
            "LIPPEJOB_MEDIA_DRAIN_TIMEOUT": "2",
        }
    )
    started: list[WorkerProcess] = []

    def start() -> WorkerProcess:
        log = tmp_path / f"media-worker-{len(started)}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "lippejob.cli", "media", "--redis", redis_url],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        started.append(WorkerProcess(proc, log))
        return started[-1]

    yield start
    for worker in started:
        if worker.proc.poll() is None:
            worker.proc.send_signal(signal.SIGTERM)
    for worker in started:
        try:
            worker.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.proc.kill()
            worker.proc.wait()


@pytest.fixture
def media_process(media_processes: StartWorker) -> WorkerProcess:
    """One media worker process."""
    return media_processes()


async def wait_registered(store: RegistryStore, worker: WorkerProcess) -> str:
    """The id of the one worker in the registry, once the process has registered."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert worker.proc.poll() is None, f"the media worker died:\n{worker.tail()}"
        workers = await store.list_workers()
        if workers:
            assert len(workers) == 1
            return workers[0].id
        await asyncio.sleep(0.1)
    raise TimeoutError(f"the media worker never registered:\n{worker.tail()}")


Node = tuple[Client, Services]
NodeFactory = Callable[[str], Awaitable[Node]]


@pytest.fixture
def redis_nodes(
    redis_url: str, database_url: str, tmp_path: Path, aiohttp_client: Any
) -> NodeFactory:
    """Signalling apps on the Redis store and bus and one database (closed with the app),
    sharing one key directory."""

    async def make(node_id: str) -> Node:
        clock = SystemClock()
        store, bus = await make_backend("redis", clock, redis_url, database_url)
        services = await make_services(tmp_path, clock, store, bus, node_id=node_id)
        app = create_app(services, with_pages=False, close_services=True)
        return await aiohttp_client(app), services

    return make


@pytest.mark.redis
@pytest.mark.timeout(40)
async def test_call_through_a_media_worker_process(
    media_process: WorkerProcess,
    redis_nodes: NodeFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client, services = await redis_nodes("sig-a")
    worker_id = await wait_registered(services.registry, media_process)
    call = await schedule_call(client)
    aid = call["appointment"]["id"]
    url = base_url(client)
    cw, js, em = (WsClient(url, call["codes"][r], label=r) for r in ROLES)
    clients = [cw, js, em]
    try:
        await host_and_admit(clients)
        report(capsys, "media worker process over Redis", [js, em])
        assert await services.registry.get_room_worker(aid) == worker_id
        assert not [e for c in clients for e in c.errors], [c.errors for c in clients]
        await em.leave()
        await cw.expect("presence", participant=em.id, state="left")
        await wait_for(
            lambda: all(t["participant"] != em.id for t in js.tracks.values()),
            "the jobseeker's re-offer without the employer",
        )
    finally:
        await close_all(clients)
    assert media_process.proc.poll() is None, media_process.tail()


@pytest.mark.redis
@pytest.mark.timeout(40)
async def test_two_signalling_nodes_one_media_worker(
    media_process: WorkerProcess,
    redis_nodes: NodeFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (a, services_a), (b, services_b) = await redis_nodes("sig-a"), await redis_nodes("sig-b")
    worker_id = await wait_registered(services_a.registry, media_process)
    call = await schedule_call(a)
    aid = call["appointment"]["id"]
    # The caseworker and the employer on node A, the jobseeker on node B.
    cw = WsClient(base_url(a), call["codes"]["caseworker"], label="caseworker@a")
    js = WsClient(base_url(b), call["codes"]["jobseeker"], label="jobseeker@b")
    em = WsClient(base_url(a), call["codes"]["employer"], label="employer@a")
    clients = [cw, js, em]
    try:
        # The jobseeker waits on node B and is admitted from node A.
        await host_and_admit(clients)
        report(capsys, "two signalling nodes, one media worker process", [js, em])
        # One placement, seen alike by both nodes.
        assert await services_a.registry.get_room_worker(aid) == worker_id
        assert await services_b.registry.get_room_worker(aid) == worker_id
        assert [w.id for w in await services_b.registry.list_workers()] == [worker_id]
        assert not [e for c in clients for e in c.errors], [c.errors for c in clients]
    finally:
        await close_all(clients)
    assert media_process.proc.poll() is None, media_process.tail()


async def wait_workers(store: RegistryStore, workers: list[WorkerProcess], count: int) -> list[str]:
    """The ids of the live workers, once `count` of them have registered."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for worker in workers:
            assert worker.proc.poll() is None, f"a media worker died:\n{worker.tail()}"
        ids = [w.id for w in await store.list_workers()]
        if len(ids) == count:
            return ids
        await asyncio.sleep(0.1)
    raise TimeoutError("the media workers never registered")


@pytest.mark.redis
@pytest.mark.timeout(60)
async def test_a_draining_media_worker_moves_its_calls_to_another(
    media_processes: StartWorker, redis_nodes: NodeFactory
) -> None:
    """SIGTERM on the worker hosting a call (an update at 11:00): it takes no new rooms, and
    when the call has not ended within the drain time, the clients are told to reconnect and
    the call goes on, on the other worker, without anyone being shown as having left."""
    workers = [media_processes(), media_processes()]
    client, services = await redis_nodes("sig-a")
    store = services.registry
    await wait_workers(store, workers, 2)
    call = await schedule_call(client)
    aid = call["appointment"]["id"]
    cw, js = (WsClient(base_url(client), call["codes"][r], label=r) for r in ROLES[:2])
    try:
        await host_and_admit([cw, js])
        before = {c.label: c.hello_at for c in (cw, js)}  # their hellos before the move
        first = await store.get_room_worker(aid)
        assert first is not None
        # Each worker logs its id (worker_started ... "worker": "<id>").
        draining = next(w for w in workers if first in w.log.read_text(errors="replace"))
        draining.proc.send_signal(signal.SIGTERM)

        # At once: still registered (its call goes on) but marked, so no new room lands there.
        async def marked() -> bool:
            return any(w.id == first and w.draining for w in await store.list_workers())

        await wait_until(marked, "the worker to say it is draining")
        other = await schedule_call(client)
        newcomer = WsClient(base_url(client), other["codes"]["caseworker"], label="newcomer")
        try:
            await newcomer.join()
            second_room = await store.get_room_worker(other["appointment"]["id"])
            assert second_room is not None and second_room != first
        finally:
            await newcomer.leave()

        # After the drain time the call moves: both clients reconnect on their own. Back
        # means a hello after the move (right after `media_moved` a client is still shown
        # as admitted until its rejoin has closed the old socket).
        await wait_for(lambda: cw.moves == 1 and js.moves == 1, "the move", within=15)
        await wait_for(
            lambda: all(c.status == "admitted" and c.hello_at != before[c.label] for c in (cw, js)),
            "both back",
            within=15,
        )
        moved_to = await store.get_room_worker(aid)
        assert moved_to is not None and moved_to != first
        await all_decode_each_other([cw, js])
        assert draining.proc.wait(timeout=15) == 0, draining.tail()
        assert "worker_moved_rooms" in draining.log.read_text(errors="replace")
        assert first not in [w.id for w in await store.list_workers()]
        # The others saw a reconnect, never a leave.
        assert (js.id, "left") not in cw.presence and (cw.id, "left") not in js.presence
        # The last word each got about the other, if any, is "joined". One of them may have
        # none: it was admitted after the other (who came in its hello), and when both sockets
        # moved, the other may have been back before it (then it is in the new hello again).
        for me, other in ((cw, js), (js, cw)):
            about = [state for who, state in me.presence if who == other.id]
            assert not about or about[-1] == "joined", (me.label, me.presence)
        assert any(who == js.id for who, _state in cw.presence)  # js came after cw: an event
        assert not [e for c in (cw, js) for e in c.errors], [
            (c.label, c.errors, [(m.get("type"), m.get("pc"), m.get("code")) for m in c.messages])
            for c in (cw, js)
        ]
    finally:
        await close_all([cw, js])
