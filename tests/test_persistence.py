"""The point of durable records: a restart of everything, Redis started empty (as compose
ran it before, without persistence), loses no appointment, link, consent, attendance record or
staff login. Ephemeral state is all Redis held, and it held nothing durable."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest
import redis.asyncio as redis
from aiohttp.test_utils import TestClient, TestServer

from core.bus.redisbus import RedisBus
from core.clock import SystemClock
from core.model import StaffUser
from core.settings import Settings
from core.store.wiring import open_stores
from signalling.app import build_services, create_app
from signalling.auth.keys import ensure_keyring
from signalling.auth.staff import SESSION_COOKIE, hash_password
from signalling.context import SERVICES
from tests.harness import (
    STAFF_PASSWORD,
    STAFF_USER,
    RoomClient,
    appointment_body,
    join_token,
    login,
    schedule,
)
from testsupport.redis_process import RedisNotStarted, start_redis, stop_redis

pytestmark = pytest.mark.redis

# What the ephemeral store may keep in Redis (after the "lj:" prefix): presence, node
# heartbeats, revocations, the worker registry and placements. Nothing else.
# What Redis may hold: presence, registries, revocations, and the rate limits shared by the
# nodes (token buckets, login failures), all of which may be lost.
EPHEMERAL_KEYS = (
    "node:",
    "nodes",
    "room:",
    "revoked:",
    "worker:",
    "workers",
    "ratelimit:",
    "login:",
)

Client = TestClient[Any, Any]


@pytest.fixture
def redis_factory(tmp_path: Path) -> Iterator[list[Any]]:
    """Start redis-server processes (each empty, no persistence); all stopped at the end."""
    procs: list[Any] = []
    yield procs
    for proc in procs:
        stop_redis(proc)


def start_fresh_redis(workdir: Path, procs: list[Any]) -> str:
    workdir.mkdir()
    try:
        proc, url = start_redis(workdir)
    except RedisNotStarted as exc:
        pytest.fail(f"{exc} (Debian/Ubuntu: apt-get install redis-server)", pytrace=False)
    procs.append(proc)
    return url


@asynccontextmanager
async def server(settings: Settings) -> AsyncIterator[Client]:
    """A signalling app wired as `lippejob serve` wires it (records in the database from the
    settings, everything else in Redis), closed with its stores at the end."""
    clock = SystemClock()
    stores = await open_stores(settings, clock)
    assert settings.redis_url is not None
    bus = await RedisBus.from_url(settings.redis_url)
    keyring = ensure_keyring(settings.keys_dir, clock)
    services = build_services(settings, clock, stores, bus, keyring)
    app = create_app(services, with_pages=False, close_services=True)
    client: Client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


async def test_records_survive_a_restart_with_an_empty_redis(
    tmp_path: Path, redis_factory: list[Any]
) -> None:
    settings = Settings(
        http=True,
        keys_dir=tmp_path / "keys",
        data_dir=tmp_path / "data",  # the embedded default database: data/lippejob.db
        redis_url=start_fresh_redis(tmp_path / "redis-1", redis_factory),
    ).validate()
    now = SystemClock().now()

    async with server(settings) as first:
        clock = SystemClock()
        await first.server.app[SERVICES].accounts.put_staff(
            StaffUser(STAFF_USER, "Frau Becker", hash_password(STAFF_PASSWORD), clock.now())
        )
        csrf = await login(first)
        session = first.session.cookie_jar.filter_cookies(first.make_url("/"))[SESSION_COOKIE]
        call = await schedule(first, csrf, appointment_body(now))
        aid, codes, ids = call["appointment"]["id"], call["codes"], call["ids"]
        token = await join_token(first, codes["caseworker"])  # consents, as the page does
        room = await RoomClient.connect(first, token)
        await room.expect("hello")
        await room.close()
        before = await (await first.get(f"/api/appointments/{aid}")).json()
        assert {"consent", "joined"} <= {e["event"] for e in before["attendance"]}
        # Redis held only ephemeral state.
        client = redis.Redis.from_url(settings.redis_url or "")
        try:
            keys = [k.decode() async for k in client.scan_iter("*")]
        finally:
            await client.aclose()
        assert keys and all(k.startswith(tuple(f"lj:{p}" for p in EPHEMERAL_KEYS)) for k in keys)

    for proc in redis_factory:  # stop everything: Redis too, which kept nothing on disk
        stop_redis(proc)
    restarted = Settings(
        http=True,
        keys_dir=settings.keys_dir,
        data_dir=settings.data_dir,
        redis_url=start_fresh_redis(tmp_path / "redis-2", redis_factory),
    ).validate()

    async with server(restarted) as second:
        # The console session made before the restart still holds.
        second.session.cookie_jar.update_cookies({SESSION_COOKIE: session.value})
        resp = await second.get(f"/api/appointments/{aid}")
        assert resp.status == 200, await resp.text()
        after = await resp.json()
        # The record is whole; only presence (who was in the room) went with Redis.
        live_before, live_after = (
            before["appointment"].pop("live"),
            after["appointment"].pop("live"),
        )
        assert after["appointment"] == before["appointment"]
        assert live_after["consents"] == live_before["consents"] == {ids["caseworker"]: ANY}
        assert live_before["members"] and not live_after["members"]
        assert after["attendance"] == before["attendance"]  # consent and attendance
        consents = [e for e in after["attendance"] if e["event"] == "consent"]
        assert [e["participant"] for e in consents] == [ids["caseworker"]]
        # A new login works too: the staff account is in the database.
        second.session.cookie_jar.clear()
        await login(second)
        listed = await (await second.get("/api/appointments")).json()
        assert [a["id"] for a in listed["appointments"]] == [aid]
        # The invite links still work.
        for role in ("caseworker", "jobseeker", "employer"):
            resp = await second.post("/api/join", json={"code": codes[role], "consent": True})
            assert resp.status == 200, (role, await resp.text())
        js = await RoomClient.connect(second, await join_token(second, codes["jobseeker"]))
        await js.expect("waiting")
        await js.close()
