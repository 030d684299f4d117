"""Which rate limits an app runs on: in Redis when its ephemeral store is Redis (several
nodes share one budget per client), else in this process (the embedded single node)."""

from __future__ import annotations

from core.store.redisstore import RedisStore
from signalling.auth.login_throttle import LocalLoginGuard, LoginGuard
from signalling.auth.redis_login_throttle import RedisLoginThrottle
from signalling.context import Services
from signalling.http.ratelimit import KeyedTokenBuckets, LocalRateLimit, RateLimit
from signalling.http.redis_ratelimit import RedisRateLimit


def shared_redis(services: Services) -> RedisStore | None:
    """The Redis store the app's presence lives in, if it does; the limits go beside it."""
    presence = services.presence
    return presence if isinstance(presence, RedisStore) else None


def login_guard(services: Services) -> LoginGuard:
    """The staff login throttle."""
    store = shared_redis(services)
    if store is None:
        return LocalLoginGuard()
    return RedisLoginThrottle(store.client, prefix=store.prefix)


def rate_limit(services: Services, name: str, rate: float, burst: float) -> RateLimit:
    """A token bucket per client key named `name` ("join", "space": separate budgets)."""
    store = shared_redis(services)
    if store is None:
        return LocalRateLimit(KeyedTokenBuckets(rate, burst, services.clock))
    return RedisRateLimit(store.client, name, rate, burst, services.clock, prefix=store.prefix)
