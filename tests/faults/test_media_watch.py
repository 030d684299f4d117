"""The media watch on its own (memory store, moved clock): which rooms it moves, and when not."""

from __future__ import annotations

from core.bus.memory import MemoryBus
from core.clock import FakeClock
from core.model import WorkerInfo
from core.store.memory import MemoryStore
from signalling.room.media_router import MediaRouter
from signalling.room.media_watch import MediaWatch

TTL = 2.0


async def _watch(rooms: list[str]) -> tuple[FakeClock, MemoryStore, MediaWatch, list[str]]:
    clock = FakeClock()
    store = MemoryStore(clock)
    told: list[str] = []

    async def moved(room: str) -> None:
        told.append(room)

    watch = MediaWatch(MediaRouter(store, MemoryBus(), clock), lambda: rooms, moved, 0.5)
    return clock, store, watch, told


def _worker(name: str, clock: FakeClock) -> WorkerInfo:
    return WorkerInfo(name, 0.0, 0, clock.now())


async def test_rooms_of_a_lapsed_worker_are_moved_once() -> None:
    clock, store, watch, told = await _watch(["r1", "r2"])
    await store.register_worker(_worker("a", clock), TTL)
    await store.register_worker(_worker("b", clock), TTL)
    await store.assign_room("r1", "a", 3600)
    await store.assign_room("r2", "b", 3600)
    await watch.check_once()
    assert told == []
    clock.advance(TTL - 0.1)
    await store.register_worker(_worker("b", clock), TTL)  # b beats on, a is gone
    clock.advance(0.2)
    await watch.check_once()
    await watch.check_once()
    assert told == ["r1"]


async def test_nothing_moves_while_no_worker_is_registered() -> None:
    """Every registration lapsing at once is Redis having been away (or no worker at all):
    moving would only leave the calls without media."""
    clock, store, watch, told = await _watch(["r1"])
    await store.register_worker(_worker("a", clock), TTL)
    await store.assign_room("r1", "a", 3600)
    clock.advance(TTL + 0.1)
    await watch.check_once()
    assert told == []
