"""How every process connects to Redis: one bounded pool that makes a burst wait for a free
connection instead of failing, time limits on connecting and on each answer, and a few retries
with backoff when a connection breaks, so that a Redis restart or a blip costs a request a
second, not an error. What is left over when Redis stays away is `UNAVAILABLE`."""

from __future__ import annotations

import asyncio
import collections
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

if TYPE_CHECKING:
    from core.settings import Settings

# Redis could not be reached, did not answer in time, or no pooled connection came free in
# time: the request may succeed if tried again shortly (callers answer 503, not 500).
UNAVAILABLE: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError)


@dataclass(frozen=True)
class RedisOptions:
    """Connection limits; the defaults are those of `core.settings.Settings`."""

    timeout: float = 1.0  # seconds to connect, and for each answer
    retries: int = 2  # tries after the first on a connection error or timeout
    backoff: float = 0.15  # the first retry waits 2x this, the next 4x (cap 1 s): ~1 s in all
    max_connections: int = 100  # per process (pool)
    pool_timeout: float = 5.0  # how long a command waits for a free pooled connection

    @classmethod
    def from_settings(cls, settings: Settings) -> RedisOptions:
        return cls(
            timeout=settings.redis_timeout,
            retries=settings.redis_retries,
            max_connections=settings.redis_max_connections,
            pool_timeout=settings.redis_pool_timeout,
        )


class BlockingPool(redis.ConnectionPool):
    """A bounded pool whose commands wait up to `timeout` for a connection when all
    `max_connections` are in use, first come first served, then fail with redis-py's
    `ConnectionError` (one of `UNAVAILABLE`).

    The semantics of redis-py's `BlockingConnectionPool`, without its cost where a
    connection is free: that takes an `asyncio.Condition`, a timeout scope and its
    observability hooks for every command, about a fifth of a command's CPU on the
    admission load test. Here a free connection is taken at once; a returned one goes
    straight to the longest waiter, so a newcomer cannot take it first.
    """

    def __init__(self, *, timeout: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.timeout = timeout
        self._waiters: collections.deque[asyncio.Future[Any]] = collections.deque()

    async def get_connection(self, *_: Any, **__: Any) -> Any:  # redis-py's signature
        if not self._waiters and self.can_get_connection():
            connection = self.get_available_connection()  # type: ignore[no-untyped-call]
        else:
            connection = await self._wait_turn()
        try:
            await self.ensure_connection(connection)
        except BaseException:
            await self.release(connection)
            raise
        return connection

    async def _wait_turn(self) -> Any:
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self.timeout):
                return await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                await self.release(waiter.result())  # handed over just as we gave up
            else:
                waiter.cancel()  # release() skips it
            if isinstance(exc, TimeoutError):
                raise RedisConnectionError("No connection available.") from None
            raise

    async def release(self, connection: Any) -> None:
        if connection.should_reconnect():
            await connection.disconnect()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)  # stays in use, by the waiter now
                return
        self._in_use_connections.discard(connection)
        self._available_connections.append(connection)


def redis_client(url: str, options: RedisOptions) -> redis.Redis:
    """A client on its own blocking pool (closed with the client's `aclose`)."""
    pool = BlockingPool.from_url(
        url,
        max_connections=options.max_connections,
        timeout=options.pool_timeout,
        socket_timeout=options.timeout,
        socket_connect_timeout=options.timeout,
        retry=Retry(ExponentialBackoff(cap=1.0, base=options.backoff), options.retries),
    )
    return redis.Redis.from_pool(pool)


def hashed(*parts: str) -> str:
    """A key part made of `parts` (client input: usernames, addresses): a fixed length and
    character set whatever they hold, and unambiguous where a plain join would not be (an
    IPv6 address has colons too). Not an anonymisation: a hashed IPv4 address is easily
    reversed."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]
