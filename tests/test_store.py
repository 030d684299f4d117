"""One suite for both ephemeral stores (presence and registry): `MemoryStore` and `RedisStore`
(real redis-server). The durable records have their own suite: tests/test_store_sql.py."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from core.clock import FakeClock
from core.model import (
    Grants,
    LobbyNote,
    Member,
    ShownDocument,
    ShownSection,
    WorkerInfo,
    grants_for,
)
from core.store.base import EphemeralStore as Store
from core.store.memory import MemoryStore
from core.store.redisstore import RedisStore

T0 = 1_800_000_000.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest) -> str | None:
    """None for the memory store, else the URL of a flushed Redis."""
    if request.param == "redis":
        url: str = request.getfixturevalue("redis_url")
        return url
    return None


@pytest.fixture
async def store(backend: str | None, clock: FakeClock) -> AsyncIterator[Store]:
    s: Store = MemoryStore(clock) if backend is None else await RedisStore.from_url(backend, clock)
    yield s
    await s.close()


# token revocation


async def test_revocation_expires_on_the_clock(store: Store, clock: FakeClock) -> None:
    assert not await store.is_revoked("j1")
    await store.revoke("j1", T0 + 600)
    assert await store.is_revoked("j1")
    assert not await store.is_revoked("j2")
    clock.advance(600)
    assert not await store.is_revoked("j1")


async def test_revocation_is_never_shortened(store: Store, clock: FakeClock) -> None:
    await store.revoke("j1", T0 + 600)
    await store.revoke("j1", T0 + 10)
    clock.advance(300)
    assert await store.is_revoked("j1")
    await store.revoke("j1", T0 + 900)  # but lengthened
    clock.advance(400)
    assert await store.is_revoked("j1")
    clock.advance(200)
    assert not await store.is_revoked("j1")


async def test_revoking_in_the_past_is_not_revoked(store: Store) -> None:
    await store.revoke("j1", T0 - 1)
    assert not await store.is_revoked("j1")


# room presence


def member(pid: str, status: str = "waiting", conn: str = "c1") -> Member:
    extra = {"lang": "tr", "grants": grants_for("jobseeker").to_dict()}
    return Member(pid, status, node="node-1", conn=conn, since=T0, extra=extra)


async def test_members(store: Store) -> None:
    assert await store.get_members("a1") == {}
    await store.set_member("a1", member("js"))
    await store.set_member("a1", member("cw", "admitted"))
    await store.set_member("a2", member("emp"))
    assert await store.get_members("a1") == {
        "js": member("js"),
        "cw": member("cw", "admitted"),
    }
    await store.set_member("a1", member("js", "admitted", conn="c2"))  # a newer connection
    js = (await store.get_members("a1"))["js"]
    assert js == member("js", "admitted", conn="c2")
    assert Grants.from_dict(js.extra["grants"]) == grants_for("jobseeker")
    await store.delete_member("a1", "js")
    await store.delete_member("a1", "nobody")
    await store.delete_member("a9", "nobody")
    assert await store.get_members("a1") == {"cw": member("cw", "admitted")}
    await store.delete_member("a1", "cw")
    assert await store.get_members("a1") == {}
    assert await store.get_members("a2") == {"emp": member("emp")}


async def test_clear_members(store: Store) -> None:
    await store.set_member("a1", member("js"))
    await store.set_member("a1", member("cw"))
    await store.set_member("a2", member("emp"))
    await store.clear_members("a1")
    await store.clear_members("a9")
    assert await store.get_members("a1") == {}
    assert list(await store.get_members("a2")) == ["emp"]


async def test_a_rooms_panel_is_kept_until_closed_ended_or_over(
    store: Store, clock: FakeClock
) -> None:
    shown = ShownDocument("d_1", 2, 1.25, 3, "cw", asked=True)
    assert await store.get_panel("a1") is None
    await store.set_panel("a1", shown, T0 + 600)
    await store.set_panel("a2", dataclasses.replace(shown, page=1), T0 + 600)
    assert await store.get_panel("a1") == shown
    await store.set_panel("a1", None, T0 + 600)  # closed
    assert await store.get_panel("a1") is None
    await store.set_panel("a1", shown, T0 + 600)
    await store.clear_members("a1")  # the call ended
    assert await store.get_panel("a1") is None
    assert await store.get_panel("a2") == dataclasses.replace(shown, page=1)
    clock.advance(600)  # the appointment is over
    assert await store.get_panel("a2") is None


async def test_a_panel_shows_a_document_or_a_course_section(store: Store) -> None:
    section = ShownSection("cv-five-steps", "quiz", "cw")
    await store.set_panel("a1", ShownDocument("d_1", 1, 1.0, 2, "cw"), T0 + 600)
    await store.set_panel("a1", section, T0 + 600)  # the one panel now shows the section
    assert await store.get_panel("a1") == section
    await store.set_panel("a1", ShownDocument("d_1", 2, 1.0, 2, "cw"), T0 + 600)
    assert await store.get_panel("a1") == ShownDocument("d_1", 2, 1.0, 2, "cw")


async def test_the_latest_lobby_note_is_kept_until_ended_or_over(
    store: Store, clock: FakeClock
) -> None:
    assert await store.get_lobby_note("a1") is None
    await store.set_lobby_note("a1", LobbyNote("5 Minuten später", T0, "cw"), T0 + 600)
    await store.set_lobby_note("a1", LobbyNote("Gleich da", T0 + 1, "cw"), T0 + 600)
    await store.set_lobby_note("a2", LobbyNote("Bin da", T0, "cw"), T0 + 600)
    await store.set_lobby_note("a3", LobbyNote("zu spät", T0, "cw"), T0)  # already over
    assert await store.get_lobby_note("a1") == LobbyNote("Gleich da", T0 + 1, "cw")
    assert await store.get_lobby_note("a3") is None
    await store.clear_members("a1")  # the call ended
    assert await store.get_lobby_note("a1") is None
    assert await store.get_lobby_note("a2") == LobbyNote("Bin da", T0, "cw")
    clock.advance(600)  # the appointment is over
    assert await store.get_lobby_note("a2") is None


# media worker registry and room placement


def worker(wid: str, load: float = 0.0, rooms: int = 0) -> WorkerInfo:
    return WorkerInfo(wid, load=load, rooms=rooms, heartbeat_at=T0)


async def test_workers_live_sorted_and_expiring(store: Store, clock: FakeClock) -> None:
    assert await store.list_workers() == []
    await store.register_worker(worker("w2", 0.5, 1), ttl=10)
    await store.register_worker(worker("w1"), ttl=30)
    assert await store.list_workers() == [worker("w1"), worker("w2", 0.5, 1)]
    clock.advance(10)
    assert await store.list_workers() == [worker("w1")]
    await store.register_worker(worker("w2", 0.25, 2), ttl=30)  # a heartbeat brings it back
    assert await store.list_workers() == [worker("w1"), worker("w2", 0.25, 2)]
    clock.advance(20)
    assert await store.list_workers() == [worker("w2", 0.25, 2)]
    draining = WorkerInfo("w2", 0.25, 2, T0, draining=True)
    await store.register_worker(draining, ttl=30)  # the flag survives the round trip
    assert await store.list_workers() == [draining]


async def test_remove_worker(store: Store) -> None:
    await store.register_worker(worker("w1"), ttl=30)
    await store.register_worker(worker("w2"), ttl=30)
    await store.remove_worker("w1")
    await store.remove_worker("w-unknown")
    assert await store.list_workers() == [worker("w2")]


async def test_assign_room_first_wins(store: Store) -> None:
    assert await store.get_room_worker("a1") is None
    assert await store.assign_room("a1", "w1", ttl=30) == "w1"
    assert await store.assign_room("a1", "w2", ttl=30) == "w1"
    assert await store.get_room_worker("a1") == "w1"
    assert await store.assign_room("a2", "w2", ttl=30) == "w2"


async def test_assign_room_contention_has_one_winner(store: Store) -> None:
    for n in range(10):
        room = f"a{n}"
        results = await asyncio.gather(
            store.assign_room(room, "w1", ttl=30), store.assign_room(room, "w2", ttl=30)
        )
        assert results[0] == results[1]
        assert await store.get_room_worker(room) == results[0]


async def test_placement_expires_on_the_clock(store: Store, clock: FakeClock) -> None:
    await store.assign_room("a1", "w1", ttl=30)
    clock.advance(29)
    assert await store.get_room_worker("a1") == "w1"
    assert await store.assign_room("a1", "w2", ttl=30) == "w1"
    clock.advance(1)
    assert await store.get_room_worker("a1") is None
    assert await store.assign_room("a1", "w2", ttl=30) == "w2"
    assert await store.get_room_worker("a1") == "w2"


async def test_release_room_is_compare_and_delete(store: Store) -> None:
    await store.assign_room("a1", "w1", ttl=30)
    await store.release_room("a1", "w2")  # not the holder: nothing happens
    assert await store.get_room_worker("a1") == "w1"
    await store.release_room("a1", "w1")
    assert await store.get_room_worker("a1") is None
    await store.release_room("a1", "w1")  # idempotent
    assert await store.assign_room("a1", "w2", ttl=30) == "w2"


async def test_placements_of_many_rooms_at_once(store: Store, clock: FakeClock) -> None:
    await store.assign_room("a1", "w1", ttl=30)
    await store.assign_room("a2", "w2", ttl=10)
    assert await store.room_workers([]) == {}
    assert await store.room_workers(["a1", "a2", "a9"]) == {"a1": "w1", "a2": "w2"}
    clock.advance(10)  # a2's placement expired
    assert await store.room_workers(["a1", "a2"]) == {"a1": "w1"}


async def test_live_room_worker_needs_a_placement_and_a_live_registration(
    store: Store, clock: FakeClock
) -> None:
    assert await store.live_room_worker("a1") is None  # not placed
    await store.assign_room("a1", "w1", ttl=60)
    assert await store.live_room_worker("a1") is None  # w1 never registered
    await store.register_worker(worker("w1"), ttl=10)
    assert await store.live_room_worker("a1") == "w1"
    clock.advance(10)  # the registration lapsed (kill -9: no more heartbeats)
    assert await store.live_room_worker("a1") is None
    await store.register_worker(worker("w1"), ttl=30)
    assert await store.live_room_worker("a1") == "w1"
    await store.remove_worker("w1")  # drained away
    assert await store.live_room_worker("a1") is None
    await store.register_worker(worker("w1"), ttl=300)
    clock.advance(60)  # the placement expired, the worker lives on
    assert await store.live_room_worker("a1") is None


async def test_close_is_idempotent(store: Store) -> None:
    await store.close()
    await store.close()


# Redis only: several processes, TTLs


@pytest.mark.redis
async def test_two_redis_stores_share_state(redis_url: str, clock: FakeClock) -> None:
    a = await RedisStore.from_url(redis_url, clock)
    b = await RedisStore.from_url(redis_url, clock)
    try:
        await a.set_member("a1", member("js"))
        assert await b.get_members("a1") == {"js": member("js")}
        await b.revoke("j1", T0 + 60)
        assert await a.is_revoked("j1")
        await a.register_worker(worker("w1"), ttl=30)
        assert await b.list_workers() == [worker("w1")]
        for n in range(10):
            room = f"r{n}"
            results = await asyncio.gather(
                a.assign_room(room, "w1", ttl=30), b.assign_room(room, "w2", ttl=30)
            )
            assert results[0] == results[1]
            assert await a.get_room_worker(room) == await b.get_room_worker(room) == results[0]
    finally:
        await a.close()
        await b.close()


@pytest.mark.redis
async def test_prefixes_keep_deployments_apart(redis_url: str, clock: FakeClock) -> None:
    a = await RedisStore.from_url(redis_url, clock, prefix="one:")
    b = await RedisStore.from_url(redis_url, clock, prefix="two:")
    try:
        await a.set_member("a1", member("js"))
        await a.register_worker(worker("w1"), ttl=30)
        assert await b.get_members("a1") == {}
        assert await b.list_workers() == []
    finally:
        await a.close()
        await b.close()


@pytest.mark.redis
async def test_expiring_keys_carry_redis_ttls(redis_url: str, clock: FakeClock) -> None:
    store = await RedisStore.from_url(redis_url, clock)
    client = redis.Redis.from_url(redis_url)
    try:
        await store.revoke("j1", T0 + 600)
        await store.register_worker(worker("w1"), ttl=15)
        await store.assign_room("a1", "w1", ttl=30)
        await store.register_node("sig-a", 20)
        await store.register_node("sig-z", 1)
        await store.set_member("a1", member("js"))
        clock.advance(1)  # sig-z lapses (on the clock) and is claimed
        assert await store.claim_node("sig-z", "sig-a", 8)
        expected = {
            "lj:node:sig-a": 20_000,
            "lj:node_claim:sig-z": 8_000,
            "lj:revoked:j1": 600_000,
            "lj:worker:w1": 15_000,
            "lj:room:a1:worker": 30_000,
        }
        for key, ttl_ms in expected.items():
            assert ttl_ms - 2000 < await client.pttl(key) <= ttl_ms, key
        assert await client.pttl("lj:room:a1:members") == -1  # presence is cleared, not expired
        # A deadline already past on the clock still gets Redis's smallest TTL.
        await store.revoke("j2", T0 - 5)
        assert 0 < await client.pttl("lj:revoked:j2") <= 1000
    finally:
        await client.aclose()
        await store.close()


@pytest.mark.redis
async def test_worker_index_pruned_when_redis_expires_a_worker(
    redis_url: str, clock: FakeClock
) -> None:
    store = await RedisStore.from_url(redis_url, clock)
    client = redis.Redis.from_url(redis_url)
    try:
        await store.register_worker(worker("w1"), ttl=30)
        await store.register_worker(worker("w2"), ttl=30)
        await client.delete("lj:worker:w1")  # as Redis does when the TTL runs out
        assert await store.list_workers() == [worker("w2")]
        assert await client.smembers("lj:workers") == {b"w2"}
    finally:
        await client.aclose()
        await store.close()


async def test_nodes_live_until_their_heartbeat_lapses(store: Store, clock: FakeClock) -> None:
    assert await store.live_nodes() == set()
    await store.register_node("sig-a", 30)
    await store.register_node("sig-b", 10)
    assert await store.live_nodes() == {"sig-a", "sig-b"}
    clock.advance(10)
    assert await store.live_nodes() == {"sig-a"}
    await store.register_node("sig-b", 30)  # it beat again
    assert await store.live_nodes() == {"sig-a", "sig-b"}


async def test_present_members_are_those_of_live_nodes(store: Store, clock: FakeClock) -> None:
    assert await store.present_members("a1") == {}
    await store.register_node("sig-a", 30)
    await store.register_node("sig-b", 10)
    on_a = dataclasses.replace(member("p1"), node="sig-a")
    on_b = dataclasses.replace(member("p2", "admitted"), node="sig-b")
    nowhere = dataclasses.replace(member("p3"), node="sig-x")  # never registered
    for m in (on_a, on_b, nowhere):
        await store.set_member("a1", m)
    assert await store.present_members("a1") == {"p1": on_a, "p2": on_b}
    assert await store.present_members("a2") == {}
    clock.advance(10)  # sig-b lapses: its member is not shown, though still stored
    assert await store.present_members("a1") == {"p1": on_a}
    assert set(await store.get_members("a1")) == {"p1", "p2", "p3"}


async def test_swap_then_present_in_one_step(store: Store) -> None:
    """An admission's compare and set and the lobby list after it: the members of live
    nodes as they stand after the swap, or None (and nothing changed) if it did not swap."""
    await store.register_node("sig-a", 30)
    waiting = dataclasses.replace(member("p1"), node="sig-a")
    other = dataclasses.replace(member("p2"), node="sig-a")
    gone = dataclasses.replace(member("p3"), node="sig-x")  # a node that never registered
    for m in (waiting, other, gone):
        await store.set_member("a1", m)
    admitted = dataclasses.replace(waiting, status="admitted")
    assert await store.swap_member_present("a1", waiting, admitted) == {
        "p1": admitted,
        "p2": other,
    }
    assert await store.swap_member_present("a1", waiting, admitted) is None  # moved on
    assert (await store.get_members("a1"))["p1"] == admitted
    stale = dataclasses.replace(other, conn="c-old")
    assert await store.swap_member_present("a1", stale, None) is None  # another socket's
    assert await store.swap_member_present("a1", other, None) == {"p1": admitted}
    assert await store.swap_member_present("a1", admitted, None) == {}
    assert await store.swap_member_present("a9", waiting, admitted) is None


async def test_register_node_says_whether_it_was_live(store: Store, clock: FakeClock) -> None:
    assert not await store.register_node("sig-a", 4)  # the first registration
    clock.advance(3)
    assert await store.register_node("sig-a", 4)
    clock.advance(4)
    assert not await store.register_node("sig-a", 4)  # it had lapsed meanwhile


async def test_a_lapsed_node_is_claimed_once_then_forgotten(store: Store, clock: FakeClock) -> None:
    await store.register_node("sig-a", 4)
    await store.register_node("sig-b", 10)
    assert await store.lapsed_nodes() == set()
    assert not await store.claim_node("sig-a", "sig-b", 8)  # live: nobody takes it over
    clock.advance(4)
    assert await store.lapsed_nodes() == {"sig-a"}
    assert await store.claim_node("sig-a", "sig-b", 8)
    assert await store.live_nodes() == {"sig-b"}  # a claim is not a node
    assert await store.node_claimed("sig-a")
    assert not await store.claim_node("sig-a", "sig-c", 8)  # exactly one survivor acts
    await store.forget_node("sig-a", "sig-c")  # not its claim: the claim stays
    assert await store.node_claimed("sig-a")
    await store.forget_node("sig-a", "sig-b")
    assert not await store.node_claimed("sig-a")
    assert await store.lapsed_nodes() == set()


async def test_a_claim_lapses_and_a_node_back_stays_known(store: Store, clock: FakeClock) -> None:
    await store.register_node("sig-a", 4)
    clock.advance(4)
    assert await store.claim_node("sig-a", "sig-b", 8)
    clock.advance(8)  # the claimant died during the takeover: another survivor may act
    assert not await store.node_claimed("sig-a")
    assert await store.claim_node("sig-a", "sig-c", 8)
    assert not await store.register_node("sig-a", 4)  # it was only stalled, and is back
    await store.forget_node("sig-a", "sig-c")
    clock.advance(4)
    assert await store.lapsed_nodes() == {"sig-a"}  # still known: it can lapse again


async def test_rooms_with_members(store: Store) -> None:
    assert await store.rooms_with_members() == []
    await store.set_member("a1", member("js"))
    await store.set_member("a2", member("cw"))
    await store.register_worker(worker("w1"), ttl=15)
    await store.assign_room("a3", "w1", ttl=30)  # a placement is not presence
    assert sorted(await store.rooms_with_members()) == ["a1", "a2"]
    await store.delete_member("a1", "js")
    assert await store.rooms_with_members() == ["a2"]


async def test_swap_member_is_compare_and_set(store: Store) -> None:
    waiting = Member("p1", "waiting", "n", "c1", 1.0)
    await store.set_member("a", waiting)
    admitted = dataclasses.replace(waiting, status="admitted")
    assert await store.swap_member("a", waiting, admitted)
    assert not await store.swap_member("a", waiting, admitted)  # status moved on
    newer = Member("p1", "admitted", "n", "c2", 2.0)
    await store.set_member("a", newer)  # a newer connection took over
    assert not await store.swap_member("a", admitted, None)
    assert (await store.get_members("a"))["p1"].conn == "c2"
    assert await store.swap_member("a", newer, None)
    assert await store.get_members("a") == {}
    assert not await store.swap_member("a", newer, None)  # nothing there
