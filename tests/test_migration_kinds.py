"""Migration 0010 (appointment kinds) on SQLite and PostgreSQL: what was stored before it is a
video appointment after it."""

from __future__ import annotations

import sqlalchemy as sa

from core.clock import FakeClock


async def test_migration_0010_makes_earlier_appointments_video(url: str) -> None:
    """An appointment stored before 0010 is a video appointment after it (SQLite, PostgreSQL)."""
    from alembic import command

    from core.db.engine import create_engine
    from core.db.migrate import alembic_config, upgrade
    from core.store.sql import SqlStore

    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "0009"))
            await conn.execute(
                sa.text(
                    "INSERT INTO appointments (id, title, starts_at, ends_at, waiting_room,"
                    " created_by, created_at, status, notes) VALUES ('a_old', 'Alt', 1, 2,"
                    " true, 'becker', 0, 'scheduled', '')"
                )
            )
        await upgrade(engine)
        old = await SqlStore(engine, FakeClock()).get_appointment("a_old")
        assert old is not None and old.is_video
        assert (old.kind, old.place, old.address, old.bring) == ("video", "", "", "")
    finally:
        await engine.dispose()
