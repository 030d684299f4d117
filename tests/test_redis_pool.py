"""core/store/redis_client.BlockingPool on a real Redis: a burst waits for a free connection,
first come first served, and fails with a clear error after the pool timeout; no connection
is lost to a waiter that gave up or was cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as redis
from redis.exceptions import ConnectionError as RedisConnectionError

from core.store.redis_client import UNAVAILABLE, BlockingPool, RedisOptions, redis_client

pytestmark = pytest.mark.redis


@pytest.fixture
async def pool(redis_url: str) -> AsyncIterator[BlockingPool]:
    made = BlockingPool.from_url(redis_url, max_connections=2, timeout=0.3)
    try:
        yield made
    finally:
        await made.aclose()


def _made(pool: BlockingPool) -> int:
    return len(pool._available_connections) + len(pool._in_use_connections)


async def test_a_burst_far_above_the_pool_size_waits_and_every_command_succeeds(
    redis_url: str,
) -> None:
    client = redis_client(redis_url, RedisOptions(max_connections=3, pool_timeout=5.0))
    try:
        results = await asyncio.gather(*(client.incr("burst") for _ in range(200)))
        assert sorted(results) == list(range(1, 201))
        pool = client.connection_pool
        assert isinstance(pool, BlockingPool)
        assert _made(pool) <= 3
        assert len(pool._in_use_connections) == 0
    finally:
        await client.aclose()


async def test_with_every_connection_in_use_a_command_fails_after_the_timeout(
    pool: BlockingPool,
) -> None:
    held = [await pool.get_connection(), await pool.get_connection()]
    with pytest.raises(RedisConnectionError, match="No connection available") as raised:
        await pool.get_connection()
    assert isinstance(raised.value, UNAVAILABLE)  # answered as 503, not 500
    for connection in held:
        await pool.release(connection)
    client = redis.Redis(connection_pool=pool)
    assert await client.ping()  # nothing was lost to the waiter that gave up
    assert _made(pool) == 2


async def test_a_returned_connection_goes_to_the_longest_waiter(pool: BlockingPool) -> None:
    first, second = await pool.get_connection(), await pool.get_connection()
    order: list[str] = []

    async def wait(name: str) -> Any:
        connection = await pool.get_connection()
        order.append(name)
        return connection

    a = asyncio.create_task(wait("a"))
    await asyncio.sleep(0)
    b = asyncio.create_task(wait("b"))
    await asyncio.sleep(0)
    await pool.release(first)
    assert await a is first
    # A newcomer does not overtake b, which still waits.
    late = asyncio.create_task(wait("late"))
    await asyncio.sleep(0.01)
    assert order == ["a"]
    await pool.release(second)
    assert await b is second
    await pool.release(first)
    assert await late is first
    assert order == ["a", "b", "late"]
    await pool.release(second)
    await pool.release(first)
    assert len(pool._available_connections) == 2


async def test_a_cancelled_waiter_loses_no_connection(pool: BlockingPool) -> None:
    held = [await pool.get_connection(), await pool.get_connection()]
    waiting = asyncio.create_task(pool.get_connection())
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await pool.release(held[0])
    assert pool._available_connections == [held[0]]

    # Handed a connection in the same moment it was cancelled: it goes back to the pool.
    assert await pool.get_connection() is held[0]
    again = asyncio.create_task(pool.get_connection())
    await asyncio.sleep(0)
    await pool.release(held[1])  # hands it to `again`, which has not run since
    again.cancel()
    with pytest.raises(asyncio.CancelledError):
        await again
    assert pool._available_connections == [held[1]]
    assert pool._in_use_connections == {held[0]}
