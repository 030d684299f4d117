"""The node watch on its own (memory store, moved clock), and a hub taking a lapsed node's
members over (two apps on one shared memory store and bus, in one process). The real thing,
two `lippejob serve` processes and a `kill -9`, is tests/faults/test_node_kill.py."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from core.bus.memory import MemoryBus
from core.clock import FakeClock
from core.contracts.client import CloseCode
from core.store.base import Stores
from core.store.memory import MemoryStore
from core.store.sql import SqlStore
from signalling.app import create_app
from signalling.room.node_watch import NodeWatch
from signalling.room.ws import HUB
from tests.harness import RoomClient, join_token, make_services, schedule_now

TTL, BEAT = 4.0, 0.05


def _watch(
    store: MemoryStore, node: str, taken: list[tuple[str, str]], recovered: list[str]
) -> NodeWatch:
    async def take_over(lapsed: str) -> int:
        taken.append((node, lapsed))
        return 0

    async def recover() -> None:
        recovered.append(node)

    return NodeWatch(store, node, BEAT, TTL, take_over, recover)


async def test_one_survivor_takes_a_lapsed_node_over_once() -> None:
    clock = FakeClock()
    store = MemoryStore(clock)
    taken: list[tuple[str, str]] = []
    a, b, c = (_watch(store, n, taken, []) for n in ("sig-a", "sig-b", "sig-c"))
    for watch in (a, b, c):
        await watch.beat()
    await b.check_once()
    assert taken == []
    clock.advance(TTL)  # a is gone; b and c beat on
    await b.beat()
    await c.beat()
    await b.check_once()
    await c.check_once()
    assert taken == []  # seen lapsed once: it gets one more beat
    await b.check_once()
    await c.check_once()
    await b.check_once()
    assert taken == [("sig-b", "sig-a")]
    assert await store.lapsed_nodes() == set()  # forgotten once taken over


async def test_a_node_that_beats_again_is_not_taken_over() -> None:
    """A clock that jumped (or a beat in flight) lapses every node for a moment."""
    clock = FakeClock()
    store = MemoryStore(clock)
    taken: list[tuple[str, str]] = []
    a, b = (_watch(store, n, taken, []) for n in ("sig-a", "sig-b"))
    await a.beat()
    await b.beat()
    clock.advance(TTL + 1)
    await b.beat()
    await b.check_once()  # a is suspect ...
    await a.beat()  # ... but beats on
    await b.check_once()
    await b.check_once()
    assert taken == []


async def test_one_node_alone_never_takes_itself_over() -> None:
    clock = FakeClock()
    store = MemoryStore(clock)
    taken: list[tuple[str, str]] = []
    alone = _watch(store, "sig-a", taken, [])
    await alone.beat()
    clock.advance(TTL * 10)  # a stall, or a test moving the clock
    await alone.check_once()
    await alone.check_once()
    assert taken == []


async def test_a_node_back_from_a_lapse_recovers_after_the_takeover() -> None:
    clock = FakeClock()
    store = MemoryStore(clock)
    recovered: list[str] = []
    a = _watch(store, "sig-a", [], recovered)
    await a.beat()
    await a.beat()
    assert recovered == []  # live all along
    clock.advance(TTL)
    assert await store.claim_node("sig-a", "sig-b", 60)  # sig-b is taking it over

    async def finish_takeover() -> None:
        await asyncio.sleep(5 * BEAT)
        assert recovered == []  # it waits for the takeover to end
        await store.forget_node("sig-a", "sig-b")

    finishing = asyncio.create_task(finish_takeover())
    await a.beat()
    await finishing
    assert recovered == ["sig-a"]


async def test_a_hub_takes_over_a_lapsed_nodes_members(
    tmp_path: Path, fake_clock: FakeClock, database_url: str, aiohttp_client: Any
) -> None:
    """Who was in the call on the lapsed node is `reconnecting`, then `left` after the grace;
    so is who was reconnecting there already (its grace timer died with the node, and runs
    on the survivor now)."""
    durable = SqlStore.from_url(database_url, fake_clock)
    stores, bus = Stores.of(durable, MemoryStore(fake_clock)), MemoryBus()
    a_services = await make_services(tmp_path, fake_clock, stores, bus, node_id="sig-a")
    b_services = await make_services(tmp_path, fake_clock, stores, bus, node_id="sig-b")
    node_a = await aiohttp_client(create_app(a_services, with_pages=False, reconnect_grace=60))
    node_b = await aiohttp_client(create_app(b_services, with_pages=False, reconnect_grace=0.5))
    try:
        call = await schedule_now(node_b, fake_clock.now(), waiting_room=False)
        ids, codes = call["ids"], call["codes"]
        cw = await RoomClient.connect(node_b, await join_token(node_b, codes["caseworker"]))
        await cw.expect("hello")
        js = await RoomClient.connect(node_a, await join_token(node_a, codes["jobseeker"]))
        await js.expect("hello")
        await cw.expect("presence", participant=ids["jobseeker"], state="joined")
        em = await RoomClient.connect(node_a, await join_token(node_a, codes["employer"]))
        await em.expect("hello")
        await cw.expect("presence", participant=ids["employer"], state="joined")
        await em.close()  # dropped: reconnecting, with 60 s of grace on sig-a
        await cw.expect("presence", participant=ids["employer"], state="reconnecting")

        taken = await node_b.app[HUB].take_over("sig-a")

        assert taken == 2
        await cw.expect("presence", participant=ids["jobseeker"], state="reconnecting")
        members = await stores.presence.get_members(call["appointment"]["id"])
        assert {m.node for m in members.values()} == {"sig-b"}
        assert members[ids["jobseeker"]].status == "reconnecting"
        for pid in (ids["jobseeker"], ids["employer"]):
            await cw.expect("presence", participant=pid, state="left", timeout=3)
        assert await node_b.app[HUB].take_over("sig-a") == 0  # nothing twice

        # sig-a was only stalled: its next beat finds its registration lapsed (the clock moved
        # past node_ttl), and it sends the jobseeker, whose stay it no longer holds, back to
        # reconnect. sig-b's own caseworker stays.
        fake_clock.advance(a_services.settings.node_ttl + 1)
        await js.expect("error", code="node_lapsed", timeout=3 * a_services.settings.node_heartbeat)
        assert await js.closed() == CloseCode.TRY_AGAIN
        await cw.send({"type": "chat", "text": "still here"})
        await cw.expect("chat", text="still here")
        await cw.close()
    finally:
        await node_a.close()
        await node_b.close()
        await bus.close()
        await stores.close()
