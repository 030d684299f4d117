"""Alembic migrations, run from code: the scripts live in this package (no alembic.ini)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"


class SchemaError(RuntimeError):
    """The database has no schema, an outdated one, or one newer than this version knows."""


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection  # read by migrations/env.py
    return config


def head_revision() -> str:
    """The newest revision this version of the code ships."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations found"
    return head


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None when it has no schema yet."""

    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as conn:
        return await conn.run_sync(read)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> tuple[str | None, str]:
    """Apply the migrations up to `revision` in one transaction; (before, after)."""
    before = await current_revision(engine)

    def run(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)
    after = await current_revision(engine)
    assert after is not None
    return before, after


async def check_schema(engine: AsyncEngine) -> str:
    """The current revision if it is the newest this code knows; else SchemaError."""
    current, head = await current_revision(engine), head_revision()
    if current == head:
        return current
    if current is None:
        raise SchemaError("the database has no schema yet: run `lippejob db upgrade`")
    try:
        known = ScriptDirectory.from_config(alembic_config()).get_revision(current) is not None
    except CommandError:
        known = False
    if not known:
        raise SchemaError(
            f"the database schema ({current}) is newer than this version of lippejob knows "
            f"({head}): upgrade lippejob"
        )
    raise SchemaError(
        f"the database schema ({current}) is outdated (this version needs {head}): "
        "run `lippejob db upgrade`"
    )
