"""One suite for the durable store (`SqlStore`) on SQLite and on a real PostgreSQL: the
records, their semantics as `AppointmentStore` and `AccountStore` document them, and the
migrations that make the schema."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from core.clock import FakeClock
from core.db.engine import create_engine, sqlite_url
from core.db.migrate import SchemaError, check_schema, current_revision, head_revision, upgrade
from core.db.tables import metadata
from core.model import Appointment, AppointmentStatus, AttendanceEvent, Participant, StaffUser
from core.store.base import MAX_ATTENDANCE
from core.store.sql import SqlStore

T0 = 1_800_000_000.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
async def store(url: str, clock: FakeClock) -> AsyncIterator[SqlStore]:
    s = SqlStore.from_url(url, clock)
    yield s
    await s.close()


def participant(pid: str, role: str = "jobseeker") -> Participant:
    return Participant(id=pid, role=role, name=f"Name {pid}", lang="de", invite_hash=f"h-{pid}")


def appointment(
    aid: str = "a1", starts_at: float = T0 + 3600, participants: tuple[str, ...] = ("cw", "js")
) -> Appointment:
    people = tuple(participant(p, "caseworker" if p == "cw" else "jobseeker") for p in participants)
    return Appointment(
        id=aid,
        title=f"Termin {aid}",
        starts_at=starts_at,
        ends_at=starts_at + 1800,
        waiting_room=True,
        participants=tuple(dataclasses.replace(p, invite_hash=f"h-{aid}-{p.id}") for p in people),
        created_by="cw-user",
        created_at=T0,
    )


async def test_appointment_round_trip(store: SqlStore) -> None:
    appt = appointment()
    await store.put_appointment(appt)
    assert await store.get_appointment("a1") == appt
    assert await store.get_appointment("nope") is None


async def test_many_appointments_in_one_read(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the hub's sweep reads: those that exist, by id, with their participants in
    order, also past one statement's worth of ids and for one without participants."""
    import core.store.sql as sql

    monkeypatch.setattr(sql, "_IDS_PER_STATEMENT", 2)
    made = [
        appointment("a1"),
        appointment("a2", participants=("cw", "js", "emp")),
        appointment("a3", participants=()),
        appointment("a4", participants=("js", "cw")),
    ]
    for appt in made:
        await store.put_appointment(appt)
    found = await store.get_appointments(["a4", "gone", "a1", "a3", "a2", "a1"])
    assert found == {appt.id: appt for appt in made}
    assert [p.id for p in found["a4"].participants] == ["js", "cw"]
    assert await store.get_appointments([]) == {}
    assert await store.get_appointments(["gone"]) == {}


async def test_put_appointment_replaces(store: SqlStore) -> None:
    await store.put_appointment(appointment())
    ended = dataclasses.replace(appointment(), status="ended", ended_at=T0 + 4000)
    await store.put_appointment(ended)
    assert await store.get_appointment("a1") == ended
    assert [a.id for a in await store.list_appointments()] == ["a1"]


async def test_find_invite(store: SqlStore) -> None:
    await store.put_appointment(appointment("a1"))
    await store.put_appointment(appointment("a2", participants=("cw", "js", "emp")))
    assert await store.find_invite("h-a1-js") == ("a1", "js")
    assert await store.find_invite("h-a1-cw") == ("a1", "cw")
    assert await store.find_invite("h-a2-emp") == ("a2", "emp")
    assert await store.find_invite("h-unknown") is None


async def test_removed_participant_invite_stops_resolving(store: SqlStore) -> None:
    await store.put_appointment(appointment(participants=("cw", "js", "emp")))
    await store.put_appointment(appointment(participants=("cw", "js")))
    assert await store.find_invite("h-a1-emp") is None
    assert await store.find_invite("h-a1-js") == ("a1", "js")


async def test_reissued_invite_replaces_the_old_one(store: SqlStore) -> None:
    appt = appointment()
    js = dataclasses.replace(appt.participants[1], invite_hash="h-new")
    await store.put_appointment(appt)
    await store.put_appointment(dataclasses.replace(appt, participants=(appt.participants[0], js)))
    assert await store.find_invite("h-a1-js") is None
    assert await store.find_invite("h-new") == ("a1", "js")
    assert await store.find_invite("h-a1-cw") == ("a1", "cw")


async def test_list_appointments_ordered_and_filtered(store: SqlStore) -> None:
    for aid, start in [("c", T0 + 300), ("a", T0 + 100), ("b2", T0 + 200), ("b1", T0 + 200)]:
        await store.put_appointment(appointment(aid, starts_at=start))
    assert [a.id for a in await store.list_appointments()] == ["a", "b1", "b2", "c"]
    # [after, before): the lower bound is inclusive, the upper exclusive.
    found = await store.list_appointments(starts_after=T0 + 200, starts_before=T0 + 300)
    assert [a.id for a in found] == ["b1", "b2"]
    assert [a.id for a in await store.list_appointments(starts_after=T0 + 150)] == [
        "b1",
        "b2",
        "c",
    ]
    assert [a.id for a in await store.list_appointments(starts_before=T0 + 200)] == ["a"]
    assert await store.list_appointments(starts_after=T0 + 1000) == []
    assert await store.list_appointments(starts_after=T0 + 200, starts_before=T0 + 200) == []


async def test_moving_an_appointment_reorders_it(store: SqlStore) -> None:
    await store.put_appointment(appointment("a", starts_at=T0 + 100))
    await store.put_appointment(appointment("b", starts_at=T0 + 200))
    await store.put_appointment(appointment("a", starts_at=T0 + 300))
    assert [a.id for a in await store.list_appointments()] == ["b", "a"]


async def test_list_appointments_empty(store: SqlStore) -> None:
    assert await store.list_appointments() == []


async def test_staff(store: SqlStore) -> None:
    user = StaffUser("anna", "Anna Berger", "$argon2id$fake", T0)
    await store.put_staff(user)
    assert await store.get_staff("anna") == user
    assert await store.get_staff("bob") is None
    renamed = dataclasses.replace(user, display_name="Anna Meier")
    await store.put_staff(renamed)
    assert await store.get_staff("anna") == renamed


async def test_session_expires_on_the_clock(store: SqlStore, clock: FakeClock) -> None:
    await store.put_session("s1", "anna", T0 + 60)
    assert await store.get_session("s1") == "anna"
    clock.advance(59.9)
    assert await store.get_session("s1") == "anna"
    clock.advance(0.1)  # expires_at itself is already past
    assert await store.get_session("s1") is None
    assert await store.get_session("unknown") is None


async def test_session_delete_and_replace(store: SqlStore) -> None:
    await store.put_session("s1", "anna", T0 + 60)
    await store.put_session("s1", "bob", T0 + 120)
    assert await store.get_session("s1") == "bob"
    await store.delete_session("s1")
    assert await store.get_session("s1") is None
    await store.delete_session("s1")  # idempotent


async def test_attendance_keeps_order_per_appointment(store: SqlStore) -> None:
    events = [
        AttendanceEvent("a1", "js", "waiting", T0 + 1),
        AttendanceEvent("a1", "js", "consent", T0 + 2),
        AttendanceEvent("a2", "cw", "joined", T0 + 2),
        AttendanceEvent("a1", "js", "admitted", T0 + 3),
        AttendanceEvent("a1", "cw", "ended", T0 + 3),
    ]
    for e in events:
        await store.add_attendance(e)
    assert await store.list_attendance("a1") == [e for e in events if e.appointment_id == "a1"]
    assert await store.list_attendance("a2") == [events[2]]
    assert await store.list_attendance("a9") == []


async def test_attendance_is_bounded(store: SqlStore) -> None:
    for i in range(MAX_ATTENDANCE + 20):
        await store.add_attendance(AttendanceEvent("a", "p", "consent", float(i)))
    events = await store.list_attendance("a")
    assert len(events) == MAX_ATTENDANCE and events[0].at == 0.0


async def test_close_is_idempotent(store: SqlStore) -> None:
    await store.close()
    await store.close()


async def test_purge_deletes_old_appointments_with_everything_they_hold(store: SqlStore) -> None:
    old = appointment("old", starts_at=1000.0)  # ends at 2800
    recent = dataclasses.replace(appointment("recent", starts_at=1500.0), ends_at=5000.0)
    for a in (old, recent):
        await store.put_appointment(a)
        await store.add_attendance(AttendanceEvent(a.id, "p1", "joined", 1600.0))
        await store.add_attendance(AttendanceEvent(a.id, "p1", "consent", 1601.0))
    assert await store.purge_appointments(ended_before=3000.0) == ["old"]
    assert await store.get_appointment("old") is None
    assert await store.list_attendance("old") == []
    assert await store.find_invite(old.participants[0].invite_hash) is None
    assert [a.id for a in await store.list_appointments()] == ["recent"]
    assert len(await store.list_attendance("recent")) == 2
    assert await store.find_invite(recent.participants[0].invite_hash) == ("recent", "cw")
    assert await store.purge_appointments(ended_before=3000.0) == []


async def test_records_round_trip_exactly(store: SqlStore) -> None:
    """Floats keep every bit, None stays None, participants keep their order, text its
    characters."""
    people = (
        Participant("z", "employer", "Herr Wolf", "de", "h-z", not_before=T0 + 0.1),
        Participant("a", "jobseeker", "Ayşe Yılmaz ☕", "tr", "h-a"),  # noqa: RUF001
        Participant("m", "caseworker", "Frau Becker", "de", "h-m", not_before=1e-7),
    )
    appt = Appointment(
        id="x" * 32,
        title="Beratung \u2013 Ü ß 日本",  # an en dash
        starts_at=1_800_000_000.123456789,
        ends_at=1_800_003_600.987654321,
        waiting_room=False,
        participants=people,
        created_by="becker",
        created_at=0.1 + 0.2,
        status="ended",
        ended_at=1_800_003_000.000001,
    )
    await store.put_appointment(appt)
    assert await store.get_appointment(appt.id) == appt
    assert (await store.list_appointments()) == [appt]
    assert dataclasses.replace(appt, ended_at=None) != appt
    await store.put_appointment(dataclasses.replace(appt, ended_at=None, waiting_room=True))
    again = await store.get_appointment(appt.id)
    assert again is not None and again.ended_at is None and again.waiting_room is True
    event = AttendanceEvent(appt.id, "a", "consent", 1_800_000_000.000123)
    await store.add_attendance(event)
    assert await store.list_attendance(appt.id) == [event]
    user = StaffUser("becker", "Frau Bécker", "scrypt$x$y", 0.1 + 0.7)
    await store.put_staff(user)
    assert await store.get_staff("becker") == user


async def test_an_appointment_without_participants(store: SqlStore) -> None:
    appt = appointment(participants=())
    await store.put_appointment(appt)
    assert await store.get_appointment("a1") == appt
    assert await store.list_appointments() == [appt]


async def test_concurrent_replaces_of_one_appointment_leave_one_whole_version(
    store: SqlStore,
) -> None:
    versions = [
        dataclasses.replace(
            appointment(),
            title=f"v{n}",
            participants=tuple(
                dataclasses.replace(p, invite_hash=f"h-v{n}-{p.id}")
                for p in appointment().participants
            ),
        )
        for n in range(8)
    ]
    await asyncio.gather(*(store.put_appointment(v) for v in versions))
    stored = await store.get_appointment("a1")
    assert stored in versions
    assert stored is not None
    n = stored.title[1:]
    for version in versions:  # only the winner's links resolve
        for p in version.participants:
            expected = ("a1", p.id) if version.title == f"v{n}" else None
            assert await store.find_invite(p.invite_hash) == expected


async def test_two_stores_on_one_database_share_records(url: str, clock: FakeClock) -> None:
    a, b = SqlStore.from_url(url, clock), SqlStore.from_url(url, clock)
    try:
        await a.put_appointment(appointment())
        await a.put_session("s1", "anna", T0 + 60)
        assert await b.get_appointment("a1") == appointment()
        assert await b.find_invite("h-a1-js") == ("a1", "js")
        assert await b.get_session("s1") == "anna"
        await asyncio.gather(
            *(
                s.add_attendance(AttendanceEvent("a1", "js", "joined", T0 + i))
                for i, s in enumerate([a, b] * 10)
            )
        )
        assert len(await a.list_attendance("a1")) == 20
    finally:
        await a.close()
        await b.close()


class Monotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_recent_read_will_do_where_asked_and_a_write_here_is_seen_at_once(
    url: str, clock: FakeClock
) -> None:
    """`max_age`: the copy read a moment ago, unless this store wrote since; another store's
    (another node's) write shows once the copy is older than `max_age`."""
    mono = Monotonic()
    here = SqlStore(create_engine(url), clock, monotonic=mono)
    there = SqlStore.from_url(url, clock)
    reads = 0

    def counted(*_: object) -> None:
        nonlocal reads
        reads += 1

    sa.event.listen(here.engine.sync_engine, "before_cursor_execute", counted)
    try:
        await there.put_appointment(appointment())
        first = await here.get_appointment("a1", max_age=1.0)
        assert first == appointment() and reads == 1
        renamed = dataclasses.replace(appointment(), title="Neuer Titel")
        await there.put_appointment(renamed)
        assert await here.get_appointment("a1", max_age=1.0) == first and reads == 1
        assert await here.get_appointment("a1") == renamed and reads == 2  # fresh: the database
        mono.now += 1.0
        assert await here.get_appointment("a1", max_age=1.0) == renamed and reads == 3
        ended = dataclasses.replace(renamed, status=AppointmentStatus.ENDED)
        await here.put_appointment(ended)  # this store's own write: no stale copy after it
        assert await here.get_appointment("a1", max_age=1.0) == ended
        # Overlapping reads of one appointment share one database read.
        before = reads
        got = await asyncio.gather(*(here.get_appointment("a1", max_age=5.0) for _ in range(20)))
        assert all(g == ended for g in got) and reads - before <= 1
        # A purge forgets what it deleted.
        assert await here.purge_appointments(ended_before=T0 + 10_000) == ["a1"]
        assert await here.get_appointment("a1", max_age=5.0) is None
        assert await here.get_appointment("nope", max_age=5.0) is None
    finally:
        await here.close()
        await there.close()


async def test_a_read_that_overlaps_a_write_is_not_kept(url: str, clock: FakeClock) -> None:
    mono = Monotonic()
    store = SqlStore(create_engine(url), clock, monotonic=mono)
    try:
        await store.put_appointment(appointment())
        renamed = dataclasses.replace(appointment(), title="Neuer Titel")
        # The read starts, then the write; whatever the read saw, it is not kept.
        read = asyncio.ensure_future(store.get_appointment("a1", max_age=5.0))
        await asyncio.sleep(0)
        await store.put_appointment(renamed)
        await read
        assert await store.get_appointment("a1", max_age=5.0) == renamed
    finally:
        await store.close()


async def test_attendance_bound_counts_per_appointment(store: SqlStore) -> None:
    for i in range(MAX_ATTENDANCE):
        await store.add_attendance(AttendanceEvent("full", "p", "joined", float(i)))
    await store.add_attendance(AttendanceEvent("full", "p", "left", 9999.0))
    await store.add_attendance(AttendanceEvent("other", "p", "joined", 1.0))
    assert (await store.list_attendance("full"))[-1].at == MAX_ATTENDANCE - 1
    assert await store.list_attendance("other") == [AttendanceEvent("other", "p", "joined", 1.0)]


# schema and migrations


def _schema_diff(connection: Connection) -> list[object]:
    diff: list[object] = compare_metadata(MigrationContext.configure(connection), metadata)
    return diff


async def test_migrations_make_exactly_the_declared_schema(url: str) -> None:
    engine = create_engine(url)
    try:
        assert await current_revision(engine) == head_revision()
        assert await check_schema(engine) == head_revision()
        async with engine.connect() as conn:
            assert await conn.run_sync(_schema_diff) == []
    finally:
        await engine.dispose()


async def test_upgrade_is_idempotent(url: str) -> None:
    engine = create_engine(url)
    try:
        assert await upgrade(engine) == (head_revision(), head_revision())
    finally:
        await engine.dispose()


async def test_an_empty_database_is_refused_then_upgraded(tmp_path: Path) -> None:
    engine = create_engine(sqlite_url(tmp_path / "empty.db"))
    try:
        with pytest.raises(SchemaError, match="lippejob db upgrade"):
            await check_schema(engine)
        assert await upgrade(engine) == (None, head_revision())
        assert await check_schema(engine) == head_revision()
    finally:
        await engine.dispose()
    assert (tmp_path / "empty.db").stat().st_mode & 0o077 == 0  # names and password hashes


async def test_unknown_and_outdated_revisions_are_refused(tmp_path: Path) -> None:
    engine = create_engine(sqlite_url(tmp_path / "db.db"))
    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            await conn.execute(sa.text("UPDATE alembic_version SET version_num = 'ffff'"))
        with pytest.raises(SchemaError, match="newer than this version"):
            await check_schema(engine)
    finally:
        await engine.dispose()


async def test_downgrade_then_upgrade_round_trips(url: str) -> None:
    """The initial migration's downgrade removes every table it made (so later migrations
    can be tried forwards and back)."""
    from alembic import command

    from core.db.migrate import alembic_config

    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: command.downgrade(alembic_config(c), "base"))
        assert await current_revision(engine) is None
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
        assert tables <= {"alembic_version"}
        await upgrade(engine)
        assert await check_schema(engine) == head_revision()
    finally:
        await engine.dispose()
