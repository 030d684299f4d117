"""Issue 10, items 7 and 9 across nodes: with Redis, the login throttle and the join (and
space) buckets are kept there, so a client spreading its tries over several signalling nodes
meets one budget, not one per node. Without Redis they stay in the process (the tests of
test_login_throttle.py and test_join_throttle.py)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as redis
import structlog
from aiohttp.test_utils import TestClient

from core.clock import FakeClock
from core.store.breaker import COOLDOWN, Breaker
from core.store.redis_client import RedisOptions, redis_client
from signalling.auth.login_throttle import LocalLoginGuard, LoginLimits
from signalling.auth.redis_login_throttle import RedisLoginThrottle
from signalling.http.ratelimit import KeyedTokenBuckets, LocalRateLimit, RateLimit
from signalling.http.redis_ratelimit import RedisRateLimit
from tests.harness import STAFF_PASSWORD, STAFF_USER

Client = TestClient[Any, Any]
GUESSER, REAL_USER = "2001:db8::7", "203.0.113.9"


@pytest.fixture
async def two_clients(redis_url: str) -> AsyncIterator[tuple[redis.Redis, redis.Redis]]:
    """Two nodes' connections to one Redis."""
    a, b = redis_client(redis_url, RedisOptions()), redis_client(redis_url, RedisOptions())
    yield a, b
    await a.aclose()
    await b.aclose()


@pytest.mark.redis
async def test_two_nodes_spend_one_bucket(two_clients: tuple[redis.Redis, redis.Redis]) -> None:
    clock = FakeClock(start=100.0)
    a, b = (RedisRateLimit(c, "join", rate=2.0, burst=4, clock=clock) for c in two_clients)
    assert [await node.take(GUESSER) for node in (a, b, a, b)] == [0.0] * 4
    assert await a.take(GUESSER) == pytest.approx(0.5)
    assert await b.take(GUESSER) == pytest.approx(0.5)
    assert await b.take(REAL_USER) == 0.0  # another address, its own bucket
    clock.advance(0.5)
    assert await b.take(GUESSER) == 0.0
    assert await a.take(GUESSER) > 0
    # Another limit's name is another budget.
    space = RedisRateLimit(two_clients[0], "space", rate=2.0, burst=4, clock=clock)
    assert await space.take(GUESSER) == 0.0


@pytest.mark.redis
async def test_the_redis_bucket_decides_as_the_memory_one(redis_url: str) -> None:
    clock = FakeClock(start=100.0)
    client = redis_client(redis_url, RedisOptions())
    try:
        shared = RedisRateLimit(client, "join", rate=2.0, burst=3, clock=clock)
        local = LocalRateLimit(KeyedTokenBuckets(rate=2.0, burst=3, clock=clock))
        steps = [0, 0, 0, 0, 0.2, 0, 0.5, 0, 0, 3600, 0, 0, 0, 0, 0.1]
        seen: list[list[float]] = [[], []]
        for step in steps:
            clock.advance(step)
            for limit, out in zip((shared, local), seen, strict=True):
                out.append(await limit.take("k"))
        assert seen[0] == pytest.approx(seen[1])
    finally:
        await client.aclose()


@pytest.mark.redis
async def test_login_failures_on_one_node_delay_the_pair_on_the_other(
    two_clients: tuple[redis.Redis, redis.Redis],
) -> None:
    limits = LoginLimits(free_failures=2, base_delay=1.0)
    a, b = (RedisLoginThrottle(c, limits) for c in two_clients)
    now = 1000.0
    await a.failed(STAFF_USER, GUESSER, now)
    await b.failed(STAFF_USER, GUESSER, now)
    assert await a.retry_after(STAFF_USER, GUESSER, now) == 1.0
    assert await b.retry_after(STAFF_USER, GUESSER, now) == 1.0
    assert await b.retry_after(STAFF_USER, REAL_USER, now) == 0.0
    await a.failed(STAFF_USER, GUESSER, now + 1)
    assert await b.retry_after(STAFF_USER, GUESSER, now + 1) == 2.0
    # The right password on one node lets the pair start afresh on both.
    await b.succeeded(STAFF_USER, GUESSER)
    assert await a.retry_after(STAFF_USER, GUESSER, now + 1) == 0.0
    # Quiet for `forget_after` (on our clock, whatever Redis's TTL says): forgotten.
    for _ in range(3):
        await a.failed(STAFF_USER, GUESSER, now)
    later = now + limits.forget_after
    assert await b.retry_after(STAFF_USER, GUESSER, later) == 0.0
    await b.failed(STAFF_USER, GUESSER, later)
    assert await a.retry_after(STAFF_USER, GUESSER, later) == 0.0  # one failure, not four


@pytest.mark.redis
async def test_the_address_cap_counts_failures_on_every_node(
    two_clients: tuple[redis.Redis, redis.Redis],
) -> None:
    limits = LoginLimits(address_failures=4, address_window=900.0)
    a, b = (RedisLoginThrottle(c, limits) for c in two_clients)
    now = 1000.0
    for i, node in enumerate((a, b, a, b)):
        assert await node.retry_after(f"user{i}", GUESSER, now) == 0.0
        await node.failed(f"user{i}", GUESSER, now)
    for node in (a, b):
        assert await node.retry_after(STAFF_USER, GUESSER, now) == limits.address_window
        assert await node.retry_after(STAFF_USER, REAL_USER, now) == 0.0
    assert await a.retry_after(STAFF_USER, GUESSER, now + limits.address_window) == 0.0


@pytest.mark.redis
async def test_the_redis_throttle_decides_as_the_memory_one(redis_url: str) -> None:
    """The sequence of test_login_throttle.py's unit test, then a spray, on both."""
    client = redis_client(redis_url, RedisOptions())
    try:
        limits = LoginLimits(address_failures=30)
        answers: list[list[float]] = []
        for guard in (RedisLoginThrottle(client, limits), LocalLoginGuard(limits)):
            now = 1000.0
            seen = []
            for _ in range(20):
                now += await guard.retry_after("becker", GUESSER, now)
                await guard.failed("becker", GUESSER, now)
                seen.append(await guard.retry_after("becker", GUESSER, now))
            assert seen[:9] == [0.0] * 4 + [1.0, 2.0, 4.0, 8.0, 16.0]
            assert max(seen) == limits.max_delay == seen[-1]
            seen.append(await guard.retry_after("becker", REAL_USER, now))
            for i in range(limits.address_failures - 1):
                await guard.failed(f"user{i}", GUESSER, now + i)
            for later in (0.0, 30.0, 100.0, limits.address_window, 2000.0):
                seen.append(await guard.retry_after("other", GUESSER, now + later))
            answers.append(seen)
        assert answers[0] == pytest.approx(answers[1])
        assert answers[0][-5] > 0  # the spray met the address cap
    finally:
        await client.aclose()


@pytest.mark.redis
async def test_keys_are_prefixed_hashed_and_expire(redis_url: str) -> None:
    clock = FakeClock(start=100.0)
    client = redis_client(redis_url, RedisOptions())
    try:
        limits = LoginLimits()
        await RedisRateLimit(client, "join", rate=1.0, burst=20, clock=clock).take(GUESSER)
        await RedisLoginThrottle(client, limits).failed(STAFF_USER, GUESSER, clock.now())
        keys = sorted(k.decode() for k in await client.keys("*"))
        assert [k.rsplit(":", 1)[0] for k in keys] == [
            "lj:login:address",
            "lj:login:pair",
            "lj:ratelimit:join",
        ]
        assert not any(STAFF_USER in k or GUESSER in k for k in keys)
        ttls = {k.rsplit(":", 1)[0]: await client.pttl(k) for k in keys}
        assert 0 < ttls["lj:ratelimit:join"] <= 21_000  # refilled after burst / rate seconds
        assert 0 < ttls["lj:login:pair"] <= limits.forget_after * 1000
        assert 0 < ttls["lj:login:address"] <= limits.address_window * 1000
    finally:
        await client.aclose()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_without_redis_the_checks_let_requests_through() -> None:
    """Fail open: Redis away means no throttle for the while, not errors for everyone."""
    options = RedisOptions(timeout=0.5, retries=0, pool_timeout=0.5)
    client = redis_client(f"redis://127.0.0.1:{_closed_port()}/0", options)
    try:
        with structlog.testing.capture_logs() as logs:
            bucket: RateLimit = RedisRateLimit(client, "join", rate=1.0, burst=1, clock=FakeClock())
            assert [await bucket.take(GUESSER) for _ in range(3)] == [0.0] * 3
            guard = RedisLoginThrottle(client, LoginLimits(free_failures=0))
            await guard.failed(STAFF_USER, GUESSER, 1000.0)
            assert await guard.retry_after(STAFF_USER, GUESSER, 1000.0) == 0.0
            await guard.succeeded(STAFF_USER, GUESSER)
        # Once per outage and limiter, not once per request; no addresses or names.
        assert [(e["event"], e["log_level"]) for e in logs] == [
            ("ratelimit_unavailable", "warning"),
            ("login_throttle_unavailable", "warning"),
        ]
        assert not any(GUESSER in str(e) or STAFF_USER in str(e) for e in logs)
    finally:
        await client.aclose()


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


async def test_after_a_failure_redis_is_not_asked_for_a_while() -> None:
    """Failing open must not mean every request first waits out the Redis timeout: after a
    failure the limiters go ahead without asking for `cooldown` seconds, then try again. A
    Redis that accepts connections and never answers (the worst case: each try is a timeout)
    counts how often it is asked."""
    tries = 0

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal tries
        tries += 1
        await reader.read()  # never answers; ends when the client gives up
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    options = RedisOptions(timeout=0.3, retries=0, pool_timeout=0.3)
    client = redis_client(f"redis://127.0.0.1:{port}/0", options)
    mono = Clock()
    try:
        bucket = RedisRateLimit(
            client, "join", 1.0, 1, FakeClock(), breaker=Breaker("ratelimit", monotonic=mono)
        )
        guard = RedisLoginThrottle(client, breaker=Breaker("login_throttle", monotonic=mono))
        assert await bucket.take(GUESSER) == 0.0
        assert await guard.retry_after(STAFF_USER, GUESSER, 1000.0) == 0.0
        asked = tries
        assert asked >= 1
        for _ in range(5):  # within the cooldown: straight through, Redis not asked
            assert await bucket.take(GUESSER) == 0.0
            assert await guard.retry_after(STAFF_USER, GUESSER, 1000.0) == 0.0
            await guard.failed(STAFF_USER, GUESSER, 1000.0)
        assert tries == asked
        mono.now += COOLDOWN  # then it is tried again
        assert await bucket.take(GUESSER) == 0.0
        assert tries > asked
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()


@pytest.mark.redis
async def test_guesses_spread_over_two_nodes_meet_one_limit(nodes: tuple[Client, Client]) -> None:
    """The HTTP view: one budget for the client (both nodes see it as 127.0.0.1)."""
    a, b = nodes
    guess = {"code": "AAAAAAAAAAAAAAAAAAAAAA"}
    for i in range(20):  # the default burst, half on each node
        assert (await (a if i % 2 else b).post("/api/join", json=guess)).status == 404
    for node in (a, b):
        limited = await node.post("/api/join", json=guess)
        assert limited.status == 429
        assert (await limited.json())["code"] == "rate_limited"
        assert limited.headers["Retry-After"] == "1"

    wrong = {"username": STAFF_USER, "password": "wrong"}
    for i in range(5):  # the free failures, spread
        assert (await (a if i % 2 else b).post("/api/login", json=wrong)).status == 401
    right = {"username": STAFF_USER, "password": STAFF_PASSWORD}
    for node in (a, b):
        held = await node.post("/api/login", json=right)
        assert held.status == 429
        assert (await held.json())["code"] == "rate_limited"
        assert int(held.headers["Retry-After"]) >= 1
