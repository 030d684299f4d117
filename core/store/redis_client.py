"""How every process connects to Redis: one bounded pool that makes a burst wait for a free
connection instead of failing, time limits on connecting and on each answer, and a few retries
with backoff when a connection breaks, so that a Redis restart or a blip costs a request a
second, not an error. What is left over when Redis stays away is `UNAVAILABLE`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

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


def redis_client(url: str, options: RedisOptions) -> redis.Redis:
    """A client on its own blocking pool (closed with the client's `aclose`)."""
    pool = redis.BlockingConnectionPool.from_url(
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
