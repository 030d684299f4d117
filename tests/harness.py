"""Helpers for functional tests: a real signalling app on real stores (SQLite for the records,
memory or Redis for the ephemeral state) and bus, staff login, scheduling, and a room-socket
client that waits for the message it expects."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from core.bus.base import Bus
from core.bus.memory import MemoryBus
from core.clock import Clock
from core.db.engine import create_engine, sqlite_url
from core.db.migrate import upgrade
from core.model import StaffUser
from core.settings import Settings
from core.store.base import EphemeralStore, Stores
from core.store.memory import MemoryStore
from core.store.sql import SqlStore
from signalling.app import build_services
from signalling.auth.keys import ensure_keyring
from signalling.auth.staff import SESSION_COOKIE, hash_password
from signalling.context import Services
from signalling.metrics import METRICS, metrics_app

STAFF_USER = "becker"
STAFF_PASSWORD = "correct horse battery"
_STAFF_HASH = hash_password(STAFF_PASSWORD)  # scrypt is slow on purpose: hash once


async def migrated_sqlite(path: Path, template: Path | None = None) -> str:
    """The URL of a new SQLite database at `path` with the current schema: a copy of
    `template` (a migrated database file; fast) or migrated here (Alembic, ~50 ms)."""
    if template is not None:
        shutil.copyfile(template, path)
        return sqlite_url(path)
    engine = create_engine(sqlite_url(path))
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    return sqlite_url(path)


# Names the SQLite file that the nodes of one test share (see `shared_database`).
SHARED_DATABASE_KEY = "lj-test:database"
# The directories `shared_database` made; the session removes them at its end (conftest).
SHARED_DATABASE_DIRS: list[Path] = []


async def shared_database(redis_url: str) -> str:
    """The database that the signalling nodes of one test share, as they share its Redis:
    the first node to ask creates it and names it in Redis (flushed before every test)."""
    import redis.asyncio as redis

    client = redis.Redis.from_url(redis_url)
    try:
        path = Path(tempfile.mkdtemp(prefix="lippejob-test-db-")) / "lippejob.db"
        SHARED_DATABASE_DIRS.append(path.parent)
        url = await migrated_sqlite(path)
        if await client.set(SHARED_DATABASE_KEY, url, nx=True):
            return url
        shutil.rmtree(path.parent)
        SHARED_DATABASE_DIRS.remove(path.parent)
        named = await client.get(SHARED_DATABASE_KEY)
        assert named is not None
        return str(named.decode())
    finally:
        await client.aclose()


async def make_backend(
    kind: str, clock: Clock, redis_url: str | None, database_url: str | None = None
) -> tuple[Stores, Bus]:
    """Records in the database at `database_url` (default, with Redis: the test's shared one);
    presence, registry and bus in memory (`kind` "memory") or Redis ("redis")."""
    if database_url is None:
        assert redis_url is not None, "a memory backend needs a database_url"
        database_url = await shared_database(redis_url)
    durable = SqlStore.from_url(database_url, clock)
    ephemeral: EphemeralStore
    bus: Bus
    if kind == "memory":
        ephemeral, bus = MemoryStore(clock), MemoryBus()
    else:
        from core.bus.redisbus import RedisBus
        from core.store.redisstore import RedisStore

        assert redis_url is not None
        ephemeral, bus = (
            await RedisStore.from_url(redis_url, clock),
            await RedisBus.from_url(redis_url),
        )
    return Stores.of(durable, ephemeral), bus


async def make_services(
    tmp_path: Path, clock: Clock, stores: Stores, bus: Bus, **settings: Any
) -> Services:
    defaults: dict[str, Any] = {
        "http": True,
        "keys_dir": tmp_path / "keys",
        "data_dir": tmp_path / "data",
        "ws_auth_timeout": 2.0,
    }
    config = Settings(**{**defaults, **settings}).validate()
    keyring = ensure_keyring(config.keys_dir, clock)
    services = build_services(config, clock, stores, bus, keyring)
    await stores.accounts.put_staff(StaffUser(STAFF_USER, "Frau Becker", _STAFF_HASH, clock.now()))
    return services


async def login(client: TestClient[Any, Any]) -> str:
    """Log the client in as staff; returns the CSRF token."""
    resp = await client.post(
        "/api/login", json={"username": STAFF_USER, "password": STAFF_PASSWORD}
    )
    assert resp.status == 200, await resp.text()
    csrf: str = (await resp.json())["csrf"]
    # The cookie is `Secure`, which aiohttp's jar will not send over the test's plain HTTP
    # (browsers do, on localhost): put its value back into the jar without the flag.
    morsel = resp.cookies[SESSION_COOKIE]
    assert morsel["secure"] and morsel["httponly"] and morsel["samesite"] == "Strict"
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: morsel.value})
    return csrf


def appointment_body(now: float, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Beratung",
        "starts_at": now,
        "ends_at": now + 1800,
        "waiting_room": True,
        "participants": [
            {"role": "caseworker", "name": "Frau Becker", "lang": "de"},
            {"role": "jobseeker", "name": "Ayşe Yılmaz", "lang": "tr"},  # noqa: RUF001
            {"role": "employer", "name": "Herr Wolf", "lang": "de"},
        ],
    }
    body.update(overrides)
    return body


async def schedule(client: TestClient[Any, Any], csrf: str, body: dict[str, Any]) -> dict[str, Any]:
    """Create an appointment; returns {"appointment", "codes": {role: code}, "ids": {role: id}}."""
    resp = await client.post("/api/appointments", json=body, headers={"X-CSRF-Token": csrf})
    assert resp.status == 201, await resp.text()
    data: dict[str, Any] = await resp.json()
    codes = {u["role"]: u["url"].rsplit("/j/", 1)[1] for u in data["join_urls"]}
    ids = {u["role"]: u["participant"] for u in data["join_urls"]}
    return {"appointment": data["appointment"], "codes": codes, "ids": ids}


async def schedule_now(
    client: TestClient[Any, Any], now: float, **overrides: Any
) -> dict[str, Any]:
    """Log in and schedule an appointment starting `now`; the result also carries `csrf`."""
    csrf = await login(client)
    created = await schedule(client, csrf, appointment_body(now, **overrides))
    created["csrf"] = csrf
    return created


async def join_token(client: TestClient[Any, Any], code: str) -> str:
    resp = await client.post("/api/join", json={"code": code, "consent": True})
    assert resp.status == 200, await resp.text()
    token: str = (await resp.json())["token"]
    return token


async def metrics_get(client: TestClient[Any, Any], accept: str = "") -> aiohttp.ClientResponse:
    """GET /metrics of the client's app, from its own listener (the public app has none)."""
    headers = {"Accept": accept} if accept else {}
    async with TestClient(TestServer(metrics_app(client.app[METRICS]))) as internal:
        resp = await internal.get("/metrics", headers=headers)
        await resp.read()
        return resp


class RoomClient:
    """A room-socket client that keeps every message and waits for the one it needs."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.received: list[dict[str, Any]] = []
        self._taken: set[int] = set()  # indexes of messages an expect() has returned
        self.close_reason = ""

    @classmethod
    async def connect(cls, client: TestClient[Any, Any], token: str | None = None) -> RoomClient:
        room = cls(await client.ws_connect("/ws"))
        if token is not None:
            await room.send({"type": "auth", "token": token})
        return room

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(message))

    async def expect(self, kind: str, timeout: float = 5.0, **fields: Any) -> dict[str, Any]:
        """The oldest not yet expected message of `kind` (with the given fields), waiting for it
        if need be; fails saying what it waited for."""
        deadline = time.monotonic() + timeout
        while True:
            for index, msg in enumerate(self.received):
                if index in self._taken:
                    continue
                if msg.get("type") == kind and all(msg.get(k) == v for k, v in fields.items()):
                    self._taken.add(index)
                    return msg
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [m.get("type") for m in self.received]
                raise AssertionError(f"no {kind!r} message {fields} within {timeout}s; saw {seen}")
            try:
                raw = await self.ws.receive(timeout=remaining)
            except TimeoutError:
                continue
            if raw.type == aiohttp.WSMsgType.TEXT:
                self.received.append(json.loads(raw.data))
            elif raw.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSED,
                aiohttp.WSMsgType.CLOSING,
            ):
                seen = [m.get("type") for m in self.received]
                raise AssertionError(
                    f"socket closed ({self.ws.close_code}) while waiting for {kind!r}; saw {seen}"
                )

    async def closed(self, timeout: float = 5.0) -> int | None:
        """Read until the server closes the socket; returns the close code."""
        deadline = time.monotonic() + timeout
        while not self.ws.closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("the server did not close the socket")
            raw = await self.ws.receive(timeout=remaining)
            if raw.type == aiohttp.WSMsgType.TEXT:
                self.received.append(json.loads(raw.data))
            elif raw.type == aiohttp.WSMsgType.CLOSE:
                # The code the server sent; close_code may later say 1006 if the server
                # drops the TCP connection before our close reply reaches it.
                self.close_reason = str(raw.extra or "")
                return int(raw.data)
        return self.ws.close_code

    async def close(self) -> None:
        await self.ws.close()
