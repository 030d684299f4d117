"""The durable store over a relational database (SQLite or PostgreSQL, SQLAlchemy Core).

Implements `AppointmentStore` and `AccountStore`, and `ProfileStore`, `DocumentStore`,
`HelpStore` and `LearningStore` through the mixed-in `SqlProfiles`, `SqlDocuments`, `SqlHelp`
and `SqlLearning`, with `MemoryStore`'s semantics. A write that touches several rows runs in
one transaction. Each write transaction starts with a write, so that SQLite takes its lock
before reading (a read first would fail with "database is locked" when another connection
wrote meanwhile, instead of waiting).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.clock import Clock
from core.db.engine import create_engine, writing
from core.db.group_commit import GroupCommit
from core.db.tables import appointments, attendance, participants, staff_accounts, staff_sessions
from core.model import Appointment, AttendanceEvent, Participant, StaffUser
from core.store.base import MAX_ATTENDANCE
from core.store.recent import RecentReads
from core.store.sqldocuments import SqlDocuments
from core.store.sqlhelp import SqlHelp
from core.store.sqllearning import SqlLearning
from core.store.sqlprofiles import SqlProfiles

_APPOINTMENT_COLUMNS = (
    "id",
    "title",
    "starts_at",
    "ends_at",
    "waiting_room",
    "created_by",
    "created_at",
    "status",
    "ended_at",
    "notes",
    "kind",
    "place",
    "address",
    "bring",
)


# Statements run at every admission and join, built once (not per call): an appointment with
# its participants (one row per participant, outer-joined; participant columns as "p_<name>"),
# and an attendance event added unless the appointment holds MAX_ATTENDANCE already.
_WITH_PARTICIPANTS = sa.select(
    appointments, *(c.label(f"p_{c.name}") for c in participants.c)
).select_from(
    appointments.outerjoin(participants, participants.c.appointment_id == appointments.c.id)
)
_GET_APPOINTMENT = _WITH_PARTICIPANTS.where(
    appointments.c.id == sa.bindparam("appointment_id", type_=sa.String)
).order_by(participants.c.position)
_GET_APPOINTMENTS = _WITH_PARTICIPANTS.where(
    appointments.c.id.in_(sa.bindparam("appointment_ids", expanding=True))
).order_by(appointments.c.id, participants.c.position)
_IDS_PER_STATEMENT = 500  # well below SQLite's and asyncpg's limits on bound parameters
_ADD_ATTENDANCE = attendance.insert().from_select(
    ["appointment_id", "participant_id", "event", "at"],
    sa.select(
        sa.bindparam("appointment_id", type_=sa.String),
        sa.bindparam("participant_id", type_=sa.String),
        sa.bindparam("event", type_=sa.String),
        sa.bindparam("at", type_=sa.Double),
    ).where(
        sa.select(sa.func.count())
        .select_from(attendance)
        .where(attendance.c.appointment_id == sa.bindparam("appointment_id", type_=sa.String))
        .scalar_subquery()
        < MAX_ATTENDANCE
    ),
)


async def _upsert(
    conn: AsyncConnection, table: sa.Table, values: dict[str, Any], key: Sequence[str]
) -> None:
    """Insert a row, or update it where its key exists (one statement, no read first)."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(table).values(values)
    elif dialect == "sqlite":
        stmt = sqlite.insert(table).values(values)
    else:  # pragma: no cover - create_engine accepts only these two
        raise RuntimeError(f"unsupported dialect {dialect}")
    update = {k: stmt.excluded[k] for k in values if k not in key}
    await conn.execute(stmt.on_conflict_do_update(index_elements=list(key), set_=update))


def _participant(row: sa.Row[Any]) -> Participant:
    return Participant(
        id=row.id,
        role=row.role,
        name=row.name,
        lang=row.lang,
        invite_hash=row.invite_hash,
        not_before=row.not_before,
        profile_id=row.profile_id,
    )


def _with_participants(rows: Sequence[sa.Row[Any]]) -> Appointment:
    """An appointment from its row joined with each of its participants' (one row with
    empty participant columns if it has none)."""
    found = [
        Participant(
            id=r.p_id,
            role=r.p_role,
            name=r.p_name,
            lang=r.p_lang,
            invite_hash=r.p_invite_hash,
            not_before=r.p_not_before,
            profile_id=r.p_profile_id,
        )
        for r in rows
        if r.p_id is not None
    ]
    return _appointment(rows[0], found)


def _appointment(row: sa.Row[Any], people: Iterable[Participant]) -> Appointment:
    return Appointment(
        id=row.id,
        title=row.title,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        waiting_room=bool(row.waiting_room),
        participants=tuple(people),
        created_by=row.created_by,
        created_at=row.created_at,
        status=row.status,
        ended_at=row.ended_at,
        notes=row.notes,
        kind=row.kind,
        place=row.place,
        address=row.address,
        bring=row.bring,
    )


class SqlStore(SqlProfiles, SqlDocuments, SqlHelp, SqlLearning):
    """Durable records in SQLite or PostgreSQL. Session expiry follows the injected clock."""

    def __init__(
        self, engine: AsyncEngine, clock: Clock, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._closed = False
        self._recent = RecentReads[Appointment | None](monotonic)
        # Every admission, join and leave adds one: a burst shares a few transactions.
        self._attendance = GroupCommit(self._add_attendances, "attendance-adds")

    @classmethod
    def from_url(cls, url: str, clock: Clock) -> SqlStore:
        """A store with its own engine (disposed by `close`); the schema is not checked here."""
        return cls(create_engine(url), clock)

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    # appointments and invites

    async def put_appointment(self, appointment: Appointment) -> None:
        """Create or replace an appointment and index its participants' invite hashes.

        The participants are replaced as a whole, so the invite hash of a removed participant
        or a reissued link stops resolving in the same transaction.
        """
        row = {name: getattr(appointment, name) for name in _APPOINTMENT_COLUMNS}
        self._recent.forget(appointment.id)
        async with writing(self._engine) as conn:
            # The upsert comes first: it locks the appointment's row, so concurrent replaces
            # of one appointment run one after the other.
            await _upsert(conn, appointments, row, ["id"])
            await conn.execute(
                participants.delete().where(participants.c.appointment_id == appointment.id)
            )
            if appointment.participants:
                await conn.execute(
                    participants.insert(),
                    [
                        {
                            "appointment_id": appointment.id,
                            "id": p.id,
                            "position": position,
                            "role": p.role,
                            "name": p.name,
                            "lang": p.lang,
                            "invite_hash": p.invite_hash,
                            "not_before": p.not_before,
                            "profile_id": p.profile_id,
                        }
                        for position, p in enumerate(appointment.participants)
                    ],
                )
        self._recent.forget(appointment.id)  # and a read that began during the write

    async def get_appointment(
        self, appointment_id: str, *, max_age: float = 0.0
    ) -> Appointment | None:
        if max_age > 0:
            return await self._recent.get(appointment_id, max_age, self._read_appointment)
        return await self._read_appointment(appointment_id)

    async def _read_appointment(self, appointment_id: str) -> Appointment | None:
        # Read at every admission, join and room event: one statement (the appointment's row
        # once per participant, outer-joined), where a list takes two.
        async with self._engine.connect() as conn:
            rows = (await conn.execute(_GET_APPOINTMENT, {"appointment_id": appointment_id})).all()
        return _with_participants(rows) if rows else None

    async def get_appointments(self, appointment_ids: Collection[str]) -> dict[str, Appointment]:
        ids = sorted(set(appointment_ids))
        found: dict[str, Appointment] = {}
        async with self._engine.connect() as conn:
            for start in range(0, len(ids), _IDS_PER_STATEMENT):
                chunk = ids[start : start + _IDS_PER_STATEMENT]
                rows = (await conn.execute(_GET_APPOINTMENTS, {"appointment_ids": chunk})).all()
                for _, group in itertools.groupby(rows, key=lambda r: r.id):
                    appointment = _with_participants(list(group))
                    found[appointment.id] = appointment
        return found

    async def list_appointments(
        self,
        *,
        starts_after: float | None = None,
        starts_before: float | None = None,
        profile_id: str | None = None,
    ) -> list[Appointment]:
        """Appointments ordered by start time (then id), optionally within [after, before)
        and only those with a participant standing for `profile_id`."""
        conditions: list[sa.ColumnElement[bool]] = []
        if profile_id is not None:
            conditions.append(
                appointments.c.id.in_(
                    sa.select(participants.c.appointment_id).where(
                        participants.c.profile_id == profile_id
                    )
                )
            )
        if starts_after is not None:
            conditions.append(appointments.c.starts_at >= starts_after)
        if starts_before is not None:
            conditions.append(appointments.c.starts_at < starts_before)
        return await self._select_appointments(*conditions)

    async def _select_appointments(self, *conditions: sa.ColumnElement[bool]) -> list[Appointment]:
        where = sa.and_(sa.true(), *conditions)
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(appointments)
                    .where(where)
                    .order_by(appointments.c.starts_at, appointments.c.id)
                )
            ).all()
            if not rows:
                return []
            people = (
                await conn.execute(
                    sa.select(participants)
                    .join(appointments, appointments.c.id == participants.c.appointment_id)
                    .where(where)
                    .order_by(participants.c.appointment_id, participants.c.position)
                )
            ).all()
        by_appointment: dict[str, list[Participant]] = {}
        for p in people:
            by_appointment.setdefault(p.appointment_id, []).append(_participant(p))
        return [_appointment(row, by_appointment.get(row.id, ())) for row in rows]

    async def find_invite(self, invite_hash: str) -> tuple[str, str] | None:
        """(appointment id, participant id) for an invite hash, or None."""
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(participants.c.appointment_id, participants.c.id).where(
                        participants.c.invite_hash == invite_hash
                    )
                )
            ).first()
        return None if row is None else (row.appointment_id, row.id)

    # attendance

    async def add_attendance(self, event: AttendanceEvent) -> None:
        """Record an event unless the appointment already holds MAX_ATTENDANCE of them (the
        first ones are kept). The count and the insert are one statement: exact on SQLite,
        which runs one writer at a time; on PostgreSQL, writers racing at the bound may each
        add one more (the bound is against growth without end, not an exact quota)."""
        await self._attendance.submit(event)

    async def _add_attendances(self, events: Sequence[AttendanceEvent]) -> list[None]:
        rows = [
            {
                "appointment_id": event.appointment_id,
                "participant_id": event.participant_id,
                "event": str(event.event),
                "at": event.at,
            }
            for event in events
        ]
        async with writing(self._engine) as conn:
            await conn.execute(_ADD_ATTENDANCE, rows)
        return [None] * len(events)

    async def list_attendance(self, appointment_id: str) -> list[AttendanceEvent]:
        async with self._engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(attendance)
                    .where(attendance.c.appointment_id == appointment_id)
                    .order_by(attendance.c.seq)
                )
            ).all()
        return [AttendanceEvent(r.appointment_id, r.participant_id, r.event, r.at) for r in rows]

    async def purge_appointments(self, ended_before: float) -> list[str]:
        """Delete appointments whose window ended before the given time, with their
        participants (and so their invites) and attendance; returns the ids that went."""
        old = sa.select(appointments.c.id).where(appointments.c.ends_at < ended_before)
        async with writing(self._engine) as conn:
            await conn.execute(participants.delete().where(participants.c.appointment_id.in_(old)))
            await conn.execute(attendance.delete().where(attendance.c.appointment_id.in_(old)))
            gone = await conn.execute(
                appointments.delete()
                .where(appointments.c.ends_at < ended_before)
                .returning(appointments.c.id)
            )
            ids = sorted(gone.scalars())
        for appointment_id in ids:
            self._recent.forget(appointment_id)
        return ids

    # staff and console sessions

    async def put_staff(self, user: StaffUser) -> None:
        async with writing(self._engine) as conn:
            await _upsert(conn, staff_accounts, user.to_dict(), ["username"])

    async def get_staff(self, username: str) -> StaffUser | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(staff_accounts).where(staff_accounts.c.username == username)
                )
            ).first()
        return None if row is None else StaffUser(**row._asdict())

    async def put_session(self, session_hash: str, username: str, expires_at: float) -> None:
        async with writing(self._engine) as conn:
            await _upsert(
                conn,
                staff_sessions,
                {"session_hash": session_hash, "username": username, "expires_at": expires_at},
                ["session_hash"],
            )

    async def get_session(self, session_hash: str) -> str | None:
        """The username of a live session, or None when unknown or expired (an expired one
        is deleted on the way)."""
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(staff_sessions).where(staff_sessions.c.session_hash == session_hash)
                )
            ).first()
        if row is None:
            return None
        if row.expires_at <= self._clock.now():
            async with writing(self._engine) as conn:
                await conn.execute(
                    staff_sessions.delete().where(
                        staff_sessions.c.session_hash == session_hash,
                        staff_sessions.c.expires_at == row.expires_at,  # not a renewed one
                    )
                )
            return None
        username: str = row.username
        return username

    async def delete_session(self, session_hash: str) -> None:
        async with writing(self._engine) as conn:
            await conn.execute(
                staff_sessions.delete().where(staff_sessions.c.session_hash == session_hash)
            )

    async def close(self) -> None:
        """Dispose of the engine's connections; idempotent."""
        if self._closed:
            return
        self._closed = True
        await self._attendance.drain()
        if self._audit_log is not None:
            await self._audit_log.drain()
        await self._engine.dispose()
