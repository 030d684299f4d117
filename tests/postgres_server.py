"""A pytest plugin that runs one real PostgreSQL cluster on loopback for the test session.

Register it from `tests/conftest.py` (`pytest_plugins`). Tests that need PostgreSQL take
`postgres_url` (the session's migrated database, emptied before each test) and carry
`pytest.mark.postgres`. Missing binaries fail those tests (CI installs them); they never skip.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from core.db.engine import create_engine
from core.db.migrate import upgrade
from core.db.tables import metadata
from testsupport.postgres_process import (
    PostgresNotStarted,
    PostgresServer,
    find_bin_dir,
    start_postgres,
    stop_postgres,
)

DATABASE = "lj_test"  # migrated once per session, emptied before each test


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster with a migrated database."""
    if find_bin_dir() is None:
        pytest.fail(
            "PostgreSQL binaries (initdb, postgres) not found: the `postgres` tests need a real "
            "PostgreSQL (Debian/Ubuntu: apt-get install postgresql; or set LIPPEJOB_PG_BIN)",
            pytrace=False,
        )
    try:
        server = start_postgres()
    except PostgresNotStarted as exc:
        pytest.fail(f"PostgreSQL did not start: {exc}", pytrace=False)
    try:
        server.psql(f"CREATE DATABASE {DATABASE}")
        # Its own thread and loop: a session fixture may be set up while a test's loop runs.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, _migrate(server.url(DATABASE))).result()
        yield server
    finally:
        stop_postgres(server)


@pytest.fixture
async def postgres_url(postgres_server: PostgresServer) -> str:
    """The session's PostgreSQL database with the current schema, its tables emptied for this
    test (faster than a new database per test, which PostgreSQL writes in full)."""
    url = postgres_server.url(DATABASE)
    engine = create_engine(url, poolclass=NullPool)
    try:
        await upgrade(engine)  # a no-op unless a test left the schema downgraded
        tables = ", ".join(t.name for t in metadata.sorted_tables)
        async with engine.begin() as conn:
            await conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()
    return url
