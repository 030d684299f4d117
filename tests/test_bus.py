"""One suite for both buses: `MemoryBus` and `RedisBus` (real redis-server)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis.asyncio as redis

from core.bus.base import Bus, Message, media_channel, room_channel
from core.bus.memory import MemoryBus
from core.bus.redisbus import RedisBus
from testsupport.wait import wait_for

WAIT_TIMEOUT = 5.0


class Inbox:
    """A handler that records what it receives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def __call__(self, message: Message) -> None:
        self.messages.append(message)

    async def wait_for(self, count: int) -> None:
        await wait_for(lambda: len(self.messages) >= count, f"{count} messages", interval=0.005)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest) -> str | None:
    """None for the memory bus, else the URL of a flushed Redis."""
    if request.param == "redis":
        url: str = request.getfixturevalue("redis_url")
        return url
    return None


@pytest.fixture
async def bus(backend: str | None) -> AsyncIterator[Bus]:
    b: Bus = MemoryBus() if backend is None else await RedisBus.from_url(backend)
    yield b
    await b.close()


async def test_messages_arrive_in_order(bus: Bus) -> None:
    inbox = Inbox()
    await bus.subscribe(room_channel("a1"), inbox)
    for n in range(200):
        await bus.publish(room_channel("a1"), {"type": "chat", "n": n})
    await inbox.wait_for(200)
    assert [m["n"] for m in inbox.messages] == list(range(200))


async def test_publish_many_keeps_the_order_across_channels(bus: Bus) -> None:
    """What the admitting node sends in one round trip arrives as one-by-one publishes
    would: in order on each channel, each on its own channel."""
    both: list[tuple[str, int]] = []

    def recorder(name: str) -> Callable[[Message], Awaitable[None]]:
        async def record(message: Message) -> None:
            both.append((name, message["n"]))

        return record

    await bus.subscribe(room_channel("a1"), recorder("a1"))
    await bus.subscribe(room_channel("a2"), recorder("a2"))
    batch = [(room_channel("a1" if n % 3 else "a2"), {"type": "x", "n": n}) for n in range(30)]
    await bus.publish_many(batch)
    await bus.publish_many([])
    await wait_for(lambda: len(both) == 30, "30 messages", interval=0.005)
    for room in ("a1", "a2"):
        got = [n for name, n in both if name == room]
        assert got == [n for n in range(30) if (n % 3 != 0) == (room == "a1")]
    with pytest.raises(TypeError):
        await bus.publish_many([("c", {"type": "x", "bad": object()})])


async def test_messages_are_json(bus: Bus) -> None:
    inbox = Inbox()
    await bus.subscribe("c", inbox)
    await bus.publish("c", {"type": "x", "tuple": (1, 2), "nested": {"ü": None, "f": 1.5}})
    await inbox.wait_for(1)
    assert inbox.messages == [{"type": "x", "tuple": [1, 2], "nested": {"ü": None, "f": 1.5}}]
    with pytest.raises(TypeError):
        await bus.publish("c", {"type": "x", "bad": object()})


async def test_fan_out_to_two_subscribers_with_own_copies(bus: Bus) -> None:
    first, second = Inbox(), Inbox()
    await bus.subscribe(room_channel("a1"), first)
    await bus.subscribe(room_channel("a1"), second)
    await bus.publish(room_channel("a1"), {"type": "lobby", "waiting": []})
    await first.wait_for(1)
    await second.wait_for(1)
    assert first.messages == second.messages == [{"type": "lobby", "waiting": []}]
    first.messages[0]["waiting"].append("mutated")
    assert second.messages == [{"type": "lobby", "waiting": []}]


async def test_channels_are_separate(bus: Bus) -> None:
    room, media = Inbox(), Inbox()
    await bus.subscribe(room_channel("a1"), room)
    await bus.subscribe(media_channel("w1"), media)
    await bus.publish(media_channel("w1"), {"type": "join"})
    await bus.publish(room_channel("a1"), {"type": "hello"})
    await room.wait_for(1)
    await media.wait_for(1)
    assert room.messages == [{"type": "hello"}]
    assert media.messages == [{"type": "join"}]


async def test_publish_without_subscribers(bus: Bus) -> None:
    await bus.publish("nobody-listens", {"type": "x"})


async def test_unsubscribe_stops_delivery(bus: Bus) -> None:
    gone, stays, fence = Inbox(), Inbox(), Inbox()
    sub = await bus.subscribe("c", gone)
    await bus.subscribe("c", stays)
    await bus.subscribe("fence", fence)
    await bus.publish("c", {"n": 1})
    await gone.wait_for(1)
    await sub.close()
    await sub.close()  # idempotent
    await bus.publish("c", {"n": 2})
    await bus.publish("fence", {"n": 3})
    await stays.wait_for(2)
    await fence.wait_for(1)
    assert gone.messages == [{"n": 1}]
    assert stays.messages == [{"n": 1}, {"n": 2}]


async def test_last_unsubscribe_then_subscribe_again(bus: Bus) -> None:
    first, fence, again = Inbox(), Inbox(), Inbox()
    await bus.subscribe("fence", fence)
    sub = await bus.subscribe("c", first)
    await sub.close()
    await bus.publish("c", {"n": 1})
    await bus.publish("fence", {"n": 1})
    await fence.wait_for(1)
    assert first.messages == []
    await bus.subscribe("c", again)
    await bus.publish("c", {"n": 2})
    await again.wait_for(1)
    assert again.messages == [{"n": 2}]


async def test_handler_error_does_not_stop_delivery(bus: Bus) -> None:
    seen: list[int] = []
    other = Inbox()

    async def flaky(message: Message) -> None:
        seen.append(message["n"])
        if message["n"] == 0:
            raise RuntimeError("handler bug")

    await bus.subscribe("c", flaky)
    await bus.subscribe("c", other)
    for n in range(3):
        await bus.publish("c", {"n": n})
    await wait_for(lambda: len(seen) == 3, "the flaky handler to see all three messages")
    await other.wait_for(3)
    assert seen == [0, 1, 2]
    assert [m["n"] for m in other.messages] == [0, 1, 2]


async def test_slow_handler_does_not_stall_others(bus: Bus) -> None:
    release = asyncio.Event()
    fast = Inbox()

    async def slow(message: Message) -> None:
        await release.wait()

    await bus.subscribe("c", slow)
    await bus.subscribe("c", fast)
    for n in range(5):
        await bus.publish("c", {"n": n})
    await fast.wait_for(5)
    release.set()


async def test_unsubscribe_lets_a_handler_at_work_finish(bus: Bus) -> None:
    """A handler in the middle of its work (a database read) is not cut off half-way."""
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[int] = []

    async def busy(message: Message) -> None:
        started.set()
        await release.wait()
        finished.append(message["n"])

    sub = await bus.subscribe("c", busy)
    await bus.publish("c", {"n": 1})
    await bus.publish("c", {"n": 2})
    await started.wait()
    closing = asyncio.create_task(sub.close())
    await asyncio.sleep(0.05)
    assert not closing.done()
    release.set()
    await closing
    assert finished == [1]  # the message at work was handled; the next one no longer


async def test_close_stops_every_subscription(bus: Bus) -> None:
    inbox = Inbox()
    await bus.subscribe("c", inbox)
    await bus.close()
    await bus.close()  # idempotent
    left = [t for t in asyncio.all_tasks() if t.get_name().startswith(("bus-sub", "redis-bus"))]
    assert left == []


# Redis only: several processes


@pytest.fixture
async def two_buses(redis_url: str) -> AsyncIterator[tuple[RedisBus, RedisBus]]:
    a, b = await RedisBus.from_url(redis_url), await RedisBus.from_url(redis_url)
    yield a, b
    await a.close()
    await b.close()


@pytest.mark.redis
async def test_two_redis_buses_see_each_other(two_buses: tuple[RedisBus, RedisBus]) -> None:
    a, b = two_buses
    at_a, at_b = Inbox(), Inbox()
    await a.subscribe(media_channel("w1"), at_a)
    await b.subscribe(room_channel("a1"), at_b)
    await b.publish(media_channel("w1"), {"type": "join", "participant": "js"})
    await a.publish(room_channel("a1"), {"type": "joined", "participant": "js"})
    await at_a.wait_for(1)
    await at_b.wait_for(1)
    assert at_a.messages == [{"type": "join", "participant": "js"}]
    assert at_b.messages == [{"type": "joined", "participant": "js"}]


@pytest.mark.redis
async def test_publish_right_after_subscribe_is_delivered(
    two_buses: tuple[RedisBus, RedisBus],
) -> None:
    a, b = two_buses
    inboxes = [Inbox() for _ in range(20)]
    for n, inbox in enumerate(inboxes):
        await a.subscribe(f"c{n}", inbox)
        await b.publish(f"c{n}", {"n": n})  # another process, at once
    for n, inbox in enumerate(inboxes):
        await inbox.wait_for(1)
        assert inbox.messages == [{"n": n}]


@pytest.mark.redis
async def test_concurrent_subscribes_to_one_channel(
    two_buses: tuple[RedisBus, RedisBus],
) -> None:
    a, b = two_buses
    inboxes = [Inbox() for _ in range(5)]
    await asyncio.gather(*(a.subscribe("c", inbox) for inbox in inboxes))
    await b.publish("c", {"n": 1})
    for inbox in inboxes:
        await inbox.wait_for(1)
        assert inbox.messages == [{"n": 1}]


@pytest.mark.redis
async def test_redis_subscription_follows_local_handlers(redis_url: str) -> None:
    bus = await RedisBus.from_url(redis_url)
    client = redis.Redis.from_url(redis_url)

    async def listeners() -> int:
        counts = dict(await client.pubsub_numsub("c"))
        return int(counts[b"c"])

    try:
        first = await bus.subscribe("c", Inbox())
        second = await bus.subscribe("c", Inbox())
        assert await listeners() == 1  # one connection per bus, however many handlers
        await first.close()
        assert await listeners() == 1
        await second.close()
        assert await listeners() == 0
    finally:
        await client.aclose()
        await bus.close()


@pytest.mark.redis
async def test_reader_survives_foreign_messages(redis_url: str) -> None:
    bus = await RedisBus.from_url(redis_url)
    client = redis.Redis.from_url(redis_url)
    inbox = Inbox()
    try:
        await bus.subscribe("c", inbox)
        await client.publish("c", b"not json")
        await client.publish("c", b"[1, 2]")
        await client.publish("c", b"\xff\xfe")
        await bus.publish("c", {"n": 1})
        await inbox.wait_for(1)
        assert inbox.messages == [{"n": 1}]
    finally:
        await client.aclose()
        await bus.close()


@pytest.mark.redis
async def test_closed_redis_bus_refuses_work(redis_url: str) -> None:
    bus = await RedisBus.from_url(redis_url)
    await bus.close()
    with pytest.raises(RuntimeError):
        await bus.subscribe("c", Inbox())
    with pytest.raises(RuntimeError):
        await bus.publish("c", {"n": 1})


@pytest.mark.redis
async def test_reader_survives_a_dropped_connection(redis_url: str) -> None:
    bus = await RedisBus.from_url(redis_url)
    client = redis.Redis.from_url(redis_url)
    inbox = Inbox()
    try:
        await bus.subscribe("c", inbox)
        killed = await client.client_kill_filter(_type="pubsub")
        assert killed == 1
        # At most once: what is published while the bus reconnects is lost, later ones arrive.
        deadline = time.monotonic() + WAIT_TIMEOUT
        while not inbox.messages:
            assert time.monotonic() < deadline, "timed out waiting for the bus to resubscribe"
            await client.publish("c", b'{"n": 1}')
            await asyncio.sleep(0.05)
        assert inbox.messages[0] == {"n": 1}
    finally:
        await client.aclose()
        await bus.close()
