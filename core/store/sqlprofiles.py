"""Jobseeker profiles, their space links and device sessions in the relational database.

`SqlProfiles` is the `ProfileStore` half of `core.store.sql.SqlStore` (which mixes it in): it
runs on the store's engine and clock.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.clock import Clock
from core.db.engine import writing
from core.db.tables import profiles, space_sessions
from core.model import Profile, SpaceSession

# What `put_profile` may change on an existing profile: the link goes through set_space_link,
# so an edit racing a reissue cannot bring an old link back.
_EDITABLE = ("name", "lang", "phone")


def _profile(row: sa.Row[Any]) -> Profile:
    return Profile(
        id=row.id,
        name=row.name,
        lang=row.lang,
        created_by=row.created_by,
        created_at=row.created_at,
        phone=row.phone,
        space_link_hash=row.space_link_hash,
        space_link_version=row.space_link_version,
    )


def _session(row: sa.Row[Any]) -> SpaceSession:
    return SpaceSession(
        session_hash=row.session_hash,
        profile_id=row.profile_id,
        created_at=row.created_at,
        last_seen=row.last_seen,
        expires_at=row.expires_at,
        link_version=row.link_version,
    )


def _insert(conn: AsyncConnection, table: sa.Table) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


class SqlProfiles:
    """`ProfileStore` on SQLite or PostgreSQL; session expiry follows the injected clock."""

    _engine: AsyncEngine
    _clock: Clock

    async def put_profile(self, profile: Profile) -> None:
        values = {
            "id": profile.id,
            "name": profile.name,
            "lang": profile.lang,
            "phone": profile.phone,
            "created_by": profile.created_by,
            "created_at": profile.created_at,
            "space_link_hash": profile.space_link_hash,
            "space_link_version": profile.space_link_version,
        }
        async with writing(self._engine) as conn:
            stmt = _insert(conn, profiles).values(values)
            await conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["id"], set_={k: stmt.excluded[k] for k in _EDITABLE}
                )
            )

    async def update_profile(self, profile: Profile) -> Profile | None:
        async with writing(self._engine) as conn:
            row = (
                await conn.execute(
                    profiles.update()
                    .where(profiles.c.id == profile.id)
                    .values({k: getattr(profile, k) for k in _EDITABLE})
                    .returning(*profiles.c)
                )
            ).first()
        return None if row is None else _profile(row)

    async def get_profile(self, profile_id: str) -> Profile | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(sa.select(profiles).where(profiles.c.id == profile_id))
            ).first()
        return None if row is None else _profile(row)

    async def find_profiles(self, query: str = "", limit: int = 50) -> list[Profile]:
        """Profiles whose name contains `query`, ignoring case (on SQLite: ASCII case only,
        its lower() knows no other), ordered by name then id."""
        select = sa.select(profiles).order_by(profiles.c.name, profiles.c.id).limit(limit)
        if query:
            select = select.where(
                sa.func.lower(profiles.c.name).contains(query.lower(), autoescape=True)
            )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select)).all()
        return [_profile(row) for row in rows]

    async def profile_for_link(self, link_hash: str) -> Profile | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(profiles).where(profiles.c.space_link_hash == link_hash)
                )
            ).first()
        return None if row is None else _profile(row)

    async def set_space_link(self, profile_id: str, link_hash: str | None) -> Profile | None:
        async with writing(self._engine) as conn:
            # The update comes first: it locks the profile's row, so two reissues take turns.
            row = (
                await conn.execute(
                    profiles.update()
                    .where(profiles.c.id == profile_id)
                    .values(
                        space_link_hash=link_hash,
                        space_link_version=profiles.c.space_link_version + 1,
                    )
                    .returning(*profiles.c)
                )
            ).first()
            if row is None:
                return None
            await conn.execute(
                space_sessions.delete().where(space_sessions.c.profile_id == profile_id)
            )
        return _profile(row)

    async def delete_profile(self, profile_id: str) -> bool:
        async with writing(self._engine) as conn:
            await conn.execute(
                space_sessions.delete().where(space_sessions.c.profile_id == profile_id)
            )
            gone = await conn.execute(profiles.delete().where(profiles.c.id == profile_id))
        return bool(gone.rowcount)

    async def put_space_session(self, session: SpaceSession) -> None:
        async with writing(self._engine) as conn:
            await conn.execute(
                space_sessions.insert().values(
                    session_hash=session.session_hash,
                    profile_id=session.profile_id,
                    created_at=session.created_at,
                    last_seen=session.last_seen,
                    expires_at=session.expires_at,
                    link_version=session.link_version,
                )
            )

    async def get_space_session(self, session_hash: str) -> SpaceSession | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(
                        space_sessions,
                        profiles.c.space_link_hash,
                        profiles.c.space_link_version,
                    )
                    .join(profiles, profiles.c.id == space_sessions.c.profile_id)
                    .where(space_sessions.c.session_hash == session_hash)
                )
            ).first()
        if row is None:
            return None
        live = (
            row.expires_at > self._clock.now()
            and row.space_link_hash is not None
            and row.link_version == row.space_link_version
        )
        if live:
            return _session(row)
        await self.delete_space_session(session_hash)
        return None

    async def touch_space_session(self, session_hash: str, expires_at: float) -> None:
        async with writing(self._engine) as conn:
            await conn.execute(
                space_sessions.update()
                .where(space_sessions.c.session_hash == session_hash)
                .values(last_seen=self._clock.now(), expires_at=expires_at)
            )

    async def delete_space_session(self, session_hash: str) -> None:
        async with writing(self._engine) as conn:
            await conn.execute(
                space_sessions.delete().where(space_sessions.c.session_hash == session_hash)
            )

    async def purge_space_sessions(self) -> int:
        async with writing(self._engine) as conn:
            gone = await conn.execute(
                space_sessions.delete().where(space_sessions.c.expires_at <= self._clock.now())
            )
        return int(gone.rowcount)
