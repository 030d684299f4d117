"""`ProfileStore` (profiles, space links, device sessions) on SQLite and on a real PostgreSQL,
and appointments listed per profile."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest

from core.clock import FakeClock
from core.model import Appointment, Participant, Profile, SpaceSession
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


def profile(pid: str = "j_1", name: str = "Ayşe Yılmaz", lang: str = "tr") -> Profile:  # noqa: RUF001
    return Profile(id=pid, name=name, lang=lang, created_by="becker", created_at=T0)


def session(
    sh: str, pid: str = "j_1", version: int = 1, expires: float = T0 + 1800
) -> SpaceSession:
    return SpaceSession(sh, pid, T0, T0, expires, version)


async def test_profile_round_trip_and_edit(store: SqlStore) -> None:
    assert await store.get_profile("j_1") is None
    await store.put_profile(dataclasses.replace(profile(), phone="+49 5231 1234"))
    assert await store.get_profile("j_1") == dataclasses.replace(profile(), phone="+49 5231 1234")
    await store.put_profile(dataclasses.replace(profile(), name="Ayşe Demir", lang="de"))
    edited = await store.get_profile("j_1")
    assert edited is not None
    assert (edited.name, edited.lang, edited.phone) == ("Ayşe Demir", "de", None)


async def test_an_edit_does_not_touch_the_space_link(store: SqlStore) -> None:
    await store.put_profile(profile())
    linked = await store.set_space_link("j_1", "hash-1")
    assert linked is not None and linked.space_link_version == 1
    # An edit made from a copy read before the link was issued must not bring it back.
    await store.put_profile(dataclasses.replace(profile(), name="Ayşe Demir"))
    assert await store.get_profile("j_1") == dataclasses.replace(linked, name="Ayşe Demir")


async def test_find_profiles_by_name_substring(store: SqlStore) -> None:
    await store.put_profile(profile("j_1", "Ayşe Yılmaz"))  # noqa: RUF001
    await store.put_profile(profile("j_2", "Herr Lange"))
    await store.put_profile(profile("j_3", "Frau Langer"))
    await store.put_profile(profile("j_4", "100%_Percent"))
    assert [p.id for p in await store.find_profiles("lange")] == ["j_3", "j_2"]  # by name
    assert [p.id for p in await store.find_profiles("LANGER")] == ["j_3"]
    assert [p.id for p in await store.find_profiles("Ayşe")] == ["j_1"]
    # LIKE's wildcards are searched for literally.
    assert [p.id for p in await store.find_profiles("%_")] == ["j_4"]
    assert [p.id for p in await store.find_profiles("_")] == ["j_4"]
    assert [p.id for p in await store.find_profiles()] == ["j_4", "j_1", "j_3", "j_2"]
    assert len(await store.find_profiles(limit=2)) == 2
    assert await store.find_profiles("nobody") == []


async def test_space_link_issue_reissue_revoke(store: SqlStore) -> None:
    assert await store.set_space_link("j_missing", "h") is None
    await store.put_profile(profile())
    await store.set_space_link("j_1", "hash-1")
    found = await store.profile_for_link("hash-1")
    assert found is not None and found.id == "j_1"
    reissued = await store.set_space_link("j_1", "hash-2")
    assert reissued is not None and reissued.space_link_version == 2
    assert await store.profile_for_link("hash-1") is None
    assert await store.profile_for_link("hash-2") is not None
    revoked = await store.set_space_link("j_1", None)
    assert revoked is not None and revoked.space_link_version == 3
    assert revoked.space_link_hash is None
    assert await store.profile_for_link("hash-2") is None


async def test_space_session_lives_until_idle_expiry(store: SqlStore, clock: FakeClock) -> None:
    await store.put_profile(profile())
    await store.set_space_link("j_1", "hash-1")
    await store.put_space_session(session("s1"))
    assert await store.get_space_session("s1") == session("s1")
    clock.advance(1000)
    await store.touch_space_session("s1", clock.now() + 1800)
    clock.advance(1500)  # past the first expiry, within the moved one
    live = await store.get_space_session("s1")
    assert live is not None and live.last_seen == T0 + 1000
    clock.advance(400)
    assert await store.get_space_session("s1") is None
    clock.set(T0)
    assert await store.get_space_session("s1") is None  # deleted when found dead


async def test_reissue_and_revoke_end_every_device_session(store: SqlStore) -> None:
    await store.put_profile(profile())
    await store.put_profile(profile("j_2", "Herr Lange", "de"))
    await store.set_space_link("j_1", "hash-1")
    await store.set_space_link("j_2", "hash-x")
    await store.put_space_session(session("tablet"))
    await store.put_space_session(session("phone"))
    await store.put_space_session(session("other", "j_2"))
    await store.set_space_link("j_1", "hash-2")
    assert await store.get_space_session("tablet") is None
    assert await store.get_space_session("phone") is None
    assert await store.get_space_session("other") is not None  # another profile's
    # A session written with the old version after the reissue (a slow request) is void too.
    await store.put_space_session(session("late", version=1))
    assert await store.get_space_session("late") is None
    await store.put_space_session(session("new", version=2))
    assert await store.get_space_session("new") is not None
    await store.set_space_link("j_1", None)
    assert await store.get_space_session("new") is None
    # Revoked: even a session claiming the current version is void without a link.
    await store.put_space_session(session("after", version=3))
    assert await store.get_space_session("after") is None


async def test_sign_out_and_purge(store: SqlStore, clock: FakeClock) -> None:
    await store.put_profile(profile())
    await store.set_space_link("j_1", "hash-1")
    await store.put_space_session(session("a"))
    await store.put_space_session(session("b", expires=T0 + 10))
    await store.delete_space_session("a")
    assert await store.get_space_session("a") is None
    clock.advance(60)
    assert await store.purge_space_sessions() == 1
    assert await store.purge_space_sessions() == 0


def _appointment(aid: str, start: float, profile_id: str | None) -> Appointment:
    people = (
        Participant("cw", "caseworker", "Frau Becker", "de", f"h-{aid}-cw"),
        Participant("js", "jobseeker", "Ayşe", "tr", f"h-{aid}-js", profile_id=profile_id),
    )
    return Appointment(aid, "Beratung", start, start + 1800, True, people, "becker", T0)


async def test_appointments_listed_per_profile(store: SqlStore) -> None:
    await store.put_appointment(_appointment("a2", T0 + 7200, "j_1"))
    await store.put_appointment(_appointment("a1", T0 + 3600, "j_1"))
    await store.put_appointment(_appointment("b", T0 + 3600, "j_2"))
    await store.put_appointment(_appointment("c", T0 + 3600, None))
    mine = await store.list_appointments(profile_id="j_1")
    assert [a.id for a in mine] == ["a1", "a2"]
    assert mine[0].participants[1].profile_id == "j_1"
    assert mine[0].participants[0].profile_id is None
    later = await store.list_appointments(profile_id="j_1", starts_after=T0 + 5000)
    assert [a.id for a in later] == ["a2"]
    assert len(await store.list_appointments()) == 4


async def test_update_changes_only_an_existing_profile_and_delete_takes_its_sessions(
    store: SqlStore,
) -> None:
    assert await store.update_profile(profile()) is None  # no such profile: nothing made
    assert await store.get_profile("j_1") is None
    await store.put_profile(profile())
    await store.put_profile(profile("j_2", "Herr Lange", "de"))
    linked = await store.set_space_link("j_1", "hash-1")
    assert linked is not None
    edited = await store.update_profile(dataclasses.replace(profile(), phone="0521 999"))
    assert edited == dataclasses.replace(linked, phone="0521 999")  # the link stays
    await store.put_space_session(session("s1"))
    await store.put_space_session(session("s2", "j_2", version=0))

    assert await store.delete_profile("j_1") is True
    assert await store.get_profile("j_1") is None
    assert await store.get_space_session("s1") is None
    assert await store.profile_for_link("hash-1") is None
    assert await store.delete_profile("j_1") is False
    # An edit that arrives after the deletion does not bring the profile (or its link) back.
    assert await store.update_profile(edited) is None
    assert await store.get_profile("j_1") is None
    assert await store.get_profile("j_2") is not None  # the other profile is untouched
