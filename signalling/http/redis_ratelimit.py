"""Token buckets per key kept in Redis, so that every signalling node spends from the same
bucket: a client that spreads its requests over N nodes behind the load balancer gets the
configured limit, not N times it.

Same rule as `signalling.http.ratelimit.KeyedTokenBuckets`: `rate` tokens a second up to
`burst`, one per request. Each `take` is one Lua script (read, refill, spend, write: atomic, so
two nodes cannot both spend the last token). The time is our injected clock's, passed in, not
Redis's TIME, so tests drive it; a node whose clock lags does not move a bucket's time back
(no double refill). A bucket's key expires once it would have refilled (burst / rate seconds
after its last use, plus a second): an idle key holds nothing a fresh one would not.

Redis unavailable (or answering with an error) during a check: fail open. The request goes
ahead unthrottled and the outage is logged once (and its end); for the next few seconds
Redis is not asked at all (core.store.breaker), so requests do not each wait out its timeout
first. A throttle must not turn a Redis blip into 500s for everyone, and what it guards
(joining, the space login) needs Redis or the database anyway, which answer 503 on their own
when they are down.
"""

from __future__ import annotations

import math

import redis.asyncio as redis

from core.clock import Clock
from core.store.breaker import Breaker
from core.store.redis_client import hashed
from core.store.redisstore import redis_text
from signalling.http.ratelimit import check_bucket

# After the store's prefix ("lj:"); `name` is the limit's ("join", "space"), `key` a hash of
# the client key (an address: a fixed length and character set whatever the address looks
# like; not an anonymisation, an IPv4 hash is easily reversed). Hash {tokens, at}; TTL.
BUCKET_KEY = "ratelimit:{name}:{key}"

# KEYS[1] bucket; ARGV: rate, burst, now, ttl in ms. Returns the wait as a string (a Lua
# number would come back truncated to an integer).
_TAKE_LUA = """
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local held = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(held[1]), tonumber(held[2])
if tokens == nil or at == nil then
  tokens, at = burst, now
end
if now > at then
  tokens = math.min(burst, tokens + (now - at) * rate)
  at = now
end
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
           'at', string.format('%.17g', at))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return string.format('%.17g', wait)
"""


class RedisRateLimit:
    """`RateLimit` with its buckets in Redis, shared by every node on that Redis."""

    def __init__(
        self,
        client: redis.Redis,
        name: str,
        rate: float,
        burst: float,
        clock: Clock,
        prefix: str = "lj:",
        breaker: Breaker | None = None,
    ) -> None:
        check_bucket(rate, burst)
        self._client = client
        self._name = name
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._prefix = prefix
        self._ttl_ms = math.ceil(burst / rate * 1000) + 1000
        self._take = client.register_script(_TAKE_LUA)
        self._breaker = breaker or Breaker("ratelimit", limit=name)

    def key(self, key: str) -> str:
        """The Redis key of `key`'s bucket."""
        return self._prefix + BUCKET_KEY.format(name=self._name, key=hashed(key))

    async def take(self, key: str) -> float:
        """Spend one token of `key`'s bucket: 0.0 if there was one, else the seconds until
        there is (nothing is spent then). 0.0 as well when Redis cannot be asked."""
        args: list[str | int] = [
            repr(self._rate),
            repr(float(self._burst)),
            repr(self._clock.now()),
            self._ttl_ms,
        ]
        raw = await self._breaker.ask(lambda: self._take(keys=[self.key(key)], args=args))
        return 0.0 if raw is None else max(0.0, float(redis_text(raw)))
