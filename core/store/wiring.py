"""Which stores a process runs on, from the settings: durable records always in the database
(`SqlStore`), ephemeral state in Redis when a URL is given, else in memory."""

from __future__ import annotations

import structlog

from core.clock import Clock
from core.db.engine import describe
from core.db.migrate import check_schema, upgrade
from core.settings import Settings
from core.store.base import EphemeralStore, Stores
from core.store.memory import MemoryStore
from core.store.sql import SqlStore

log = structlog.get_logger(__name__)


async def open_durable(settings: Settings, clock: Clock) -> SqlStore:
    """The SQL store on the configured database, its schema checked (SchemaError if it is
    missing or outdated). The embedded default (an SQLite file in the data directory that no
    setting named) is brought up to date instead: nobody else shares that file, and the
    first `lippejob serve --demo` on a fresh machine needs no extra step."""
    store = SqlStore.from_url(settings.database(), clock)
    try:
        if settings.embedded_database():
            before, after = await upgrade(store.engine)
            if before != after:
                log.info(
                    "database_upgraded",
                    database=describe(settings.database()),
                    before=before,
                    after=after,
                )
        else:
            await check_schema(store.engine)
    except BaseException:
        await store.close()
        raise
    return store


async def open_ephemeral(settings: Settings, clock: Clock) -> EphemeralStore:
    """Redis when a URL is given (shared between processes), else memory (one process)."""
    if not settings.redis_url:
        return MemoryStore(clock)
    from core.store.redis_client import RedisOptions
    from core.store.redisstore import RedisStore

    return await RedisStore.from_url(
        settings.redis_url, clock, options=RedisOptions.from_settings(settings)
    )


async def open_stores(settings: Settings, clock: Clock) -> Stores:
    """The stores of a signalling process; `Stores.close` closes them."""
    durable = await open_durable(settings, clock)
    try:
        ephemeral = await open_ephemeral(settings, clock)
    except BaseException:
        await durable.close()
        raise
    return Stores.of(durable, ephemeral)
