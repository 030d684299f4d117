"""Shared fixtures: a real Redis (tests.redis_server) and PostgreSQL (tests.postgres_server),
a migrated SQLite database per test, a movable clock, a signalling app."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from core.clock import FakeClock
from signalling.app import create_app
from signalling.context import Services
from tests.harness import SHARED_DATABASE_DIRS, make_backend, make_services, migrated_sqlite

pytest_plugins = ["tests.redis_server", "tests.postgres_server"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: needs real PostgreSQL binaries (initdb)")


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (`scripts/test` runs two workers, `--dist loadgroup`), the browser
    tests run one after another in one worker: two calls of three browser pages each at
    once are too much for a two-core machine. The other tests share the other worker."""
    browser_dir = Path(__file__).parent / "browser"
    for item in items:
        if item.path.is_relative_to(browser_dir):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.xdist_group("browser"))


@pytest.fixture(scope="session", autouse=True)
def _remove_shared_databases() -> Iterator[None]:
    """The SQLite files that signalling nodes of one test shared go at the session's end."""
    yield
    for directory in SHARED_DATABASE_DIRS:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite database migrated once per session; tests get copies of it."""
    path = tmp_path_factory.mktemp("db") / "template.db"
    # Its own thread and loop: a session fixture may be set up while a test's loop runs.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, migrated_sqlite(path)).result()
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest) -> str:
    """A new, migrated database: an SQLite file, or a database on the session's PostgreSQL.
    Store suites that take it run on both."""
    name = "database_url" if request.param == "sqlite" else "postgres_url"
    value: str = request.getfixturevalue(name)
    return value


@pytest.fixture
async def staff(services: Services, aiohttp_client: Any) -> TestClient[Any, Any]:
    """The caseworker's client of the app with its pages (space links open a page)."""
    result: TestClient[Any, Any] = await aiohttp_client(create_app(services, reconnect_grace=0.5))
    return result


@pytest.fixture
async def database_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A new SQLite database file with the current schema, for this test."""
    return await migrated_sqlite(tmp_path / "lippejob.db", sqlite_template)


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock(start=float(int(time.time())))


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def backend_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def services(
    tmp_path: Path,
    fake_clock: FakeClock,
    backend_kind: str,
    database_url: str,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Services]:
    """Services on SQLite records and memory or Redis ephemeral state (`backend_kind`)."""
    redis_url = request.getfixturevalue("redis_url") if backend_kind == "redis" else None
    stores, bus = await make_backend(backend_kind, fake_clock, redis_url, database_url)
    yield await make_services(tmp_path, fake_clock, stores, bus)
    await bus.close()
    await stores.close()


AppClient = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def client(services: Services, aiohttp_client: Any) -> TestClient[Any, Any]:
    """A test client of the signalling app (no media worker, no pages)."""
    result: TestClient[Any, Any] = await aiohttp_client(
        create_app(services, reconnect_grace=0.5, with_pages=False)
    )
    return result


@pytest.fixture
async def nodes(
    tmp_path: Path, fake_clock: FakeClock, redis_url: str, aiohttp_client: Any
) -> AsyncIterator[tuple[TestClient[Any, Any], TestClient[Any, Any]]]:
    """Two signalling nodes sharing one real Redis: two apps, each with its own Redis
    connections and node id."""
    clients = []
    backends = []
    for node in ("sig-a", "sig-b"):
        store, bus = await make_backend("redis", fake_clock, redis_url)
        backends.append((store, bus))
        services = await make_services(tmp_path, fake_clock, store, bus, node_id=node)
        clients.append(await aiohttp_client(create_app(services, with_pages=False)))
    yield clients[0], clients[1]
    for client in clients:  # the apps (and their background tasks) stop before their stores
        await client.close()
    for store, bus in backends:
        await bus.close()
        await store.close()
