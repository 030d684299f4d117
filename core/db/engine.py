"""Engines for the two supported databases, set up the same way for every caller."""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")

# How long an SQLite writer waits for another connection's write to finish before failing
# ("database is locked"): several processes or pooled connections may share the file.
SQLITE_BUSY_TIMEOUT = 30.0


class DatabaseUrlError(ValueError):
    """The database URL names no supported driver."""


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def _sqlite_path(url: str) -> Path | None:
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine for `url`; an SQLite file is created owner-only (it holds names and
    password hashes) with its directory, and runs in WAL mode with foreign keys on."""
    driver = make_url(url).drivername
    if driver not in SUPPORTED_DRIVERS:
        raise DatabaseUrlError(
            f"unsupported database URL scheme {driver!r}; use one of "
            + ", ".join(f"{d}://" for d in SUPPORTED_DRIVERS)
        )
    if driver.startswith("sqlite"):
        path = _sqlite_path(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not path.exists():
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        connect_args = {"timeout": SQLITE_BUSY_TIMEOUT, **kwargs.pop("connect_args", {})}
        engine = create_async_engine(url, connect_args=connect_args, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            if path is not None:
                # WAL: readers do not wait for the writer. synchronous=NORMAL: a commit does
                # not wait for the disk; a crash of the process loses nothing, a power cut at
                # most the last commits, never the file's integrity (SQLite's advice for WAL).
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


# One lock per SQLite engine, for its write transactions (see `writing`).
_SQLITE_WRITERS: weakref.WeakKeyDictionary[Engine, asyncio.Lock] = weakref.WeakKeyDictionary()


@asynccontextmanager
async def writing(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A write transaction (`engine.begin()`), committed when the block ends.

    SQLite has one writer at a time. Pooled connections of one process that write at once
    meet in SQLite's busy handler, which sleeps 1, 2, 5, 10, ... 100 ms in the database
    thread before it looks again: under a burst of admissions those sleeps, not the work,
    were what a write took. So this process's writers take turns on an asyncio lock and
    only ever wait for each other as long as the write takes. Another process on the same
    file still meets the busy handler (`SQLITE_BUSY_TIMEOUT`). PostgreSQL locks rows, not
    the database: its writers run at once."""
    if engine.dialect.name != "sqlite":
        async with engine.begin() as conn:
            yield conn
        return
    lock = _SQLITE_WRITERS.get(engine.sync_engine)
    if lock is None:
        lock = _SQLITE_WRITERS[engine.sync_engine] = asyncio.Lock()
    async with lock, engine.begin() as conn:
        yield conn


def describe(url: str) -> str:
    """The URL without its password, for logs and messages."""
    return make_url(url).render_as_string(hide_password=True)
