"""The login throttle kept in Redis, so that every signalling node counts the same failures: a
guesser who spreads tries over N nodes behind the load balancer meets the same delays and
the same per-address cap as on one node.

Same semantics as `signalling.auth.login_throttle.LoginThrottle`, whose decisions
(`pair_wait`, `address_wait`) it reuses:

- a pair (username, address) is a hash {failures, last}, its TTL `forget_after` (renewed on
  each failure): a pair quiet that long is forgotten, by Redis and, for a driven test clock,
  by the check of `last` against our clock;
- an address is a sorted set of its failure times (score: the time; member: the time and a
  random suffix, so two failures in one instant both count), trimmed to the newest
  `address_failures` and to the window on every failure, its TTL `address_window`.

Times are our injected clock's, passed in (tests drive it), not Redis's TIME. Usernames and
addresses go into keys only hashed (`hashed`): fixed length whatever a client sends (a
username may be 100 characters), no ambiguity between the parts (IPv6 addresses have colons),
and no staff usernames readable in a key listing. Passwords never go near Redis.

Redis unavailable (or answering with an error): fail open. A check lets the attempt through
(the password is still checked, scrypt still costs the guesser its time) and a failure is
not counted; the outage is logged once (and its end), and Redis is not asked again for a few
seconds (core.store.breaker: no attempt waits out its timeout). Failing closed would lock
every staff member out whenever Redis blips, which is worse than a short unthrottled window.
"""

from __future__ import annotations

import secrets
from typing import Any

import redis.asyncio as redis

from core.store.breaker import Breaker
from core.store.redis_client import hashed
from signalling.auth.login_throttle import LoginLimits, address_wait, pair_wait

# After the store's prefix ("lj:").
PAIR_KEY = "login:pair:{pair}"  # hash {failures, last} of hashed(username, address); TTL
ADDRESS_KEY = "login:address:{address}"  # sorted set of failure times of hashed(address); TTL

# KEYS[1] pair, KEYS[2] address; ARGV: now, forget_after, forget ttl ms, member,
# address_failures, window ttl ms, the window's start (failures at or before it are out).
_FAILED_LUA = """
local last = tonumber(redis.call('HGET', KEYS[1], 'last'))
if last and tonumber(ARGV[1]) - last >= tonumber(ARGV[2]) then
  redis.call('DEL', KEYS[1])
end
redis.call('HINCRBY', KEYS[1], 'failures', 1)
redis.call('HSET', KEYS[1], 'last', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[7])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[5]) + 1))
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return 1
"""


def _ms(seconds: float) -> int:
    return max(1000, int(seconds * 1000))


class RedisLoginThrottle:
    """`LoginGuard` with its counts in Redis, shared by every node on that Redis."""

    def __init__(
        self,
        client: redis.Redis,
        limits: LoginLimits | None = None,
        prefix: str = "lj:",
        breaker: Breaker | None = None,
    ) -> None:
        self.limits = limits or LoginLimits()
        self._client = client
        self._prefix = prefix
        self._failed = client.register_script(_FAILED_LUA)
        self._breaker = breaker or Breaker("login_throttle")

    def pair_key(self, username: str, address: str) -> str:
        return self._prefix + PAIR_KEY.format(pair=hashed(username, address))

    def address_key(self, address: str) -> str:
        return self._prefix + ADDRESS_KEY.format(address=hashed(address))

    async def retry_after(self, username: str, address: str, now: float) -> float:
        limits = self.limits
        since = f"({now - limits.address_window!r}"  # exclusive: at the window's start is out

        async def read() -> list[Any]:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.hmget(self.pair_key(username, address), ["failures", "last"])
                pipe.zrangebyscore(
                    self.address_key(address), since, "+inf", start=0, num=1, withscores=True
                )
                pipe.zcount(self.address_key(address), since, "+inf")
                return list(await pipe.execute())

        found = await self._breaker.ask(read)
        if found is None:
            return 0.0
        pair, oldest, recent = found
        wait = 0.0
        failures, last = pair
        if failures is not None and last is not None:
            wait = pair_wait(limits, int(failures), float(last), now)
        if oldest:
            wait = max(wait, address_wait(limits, int(recent), float(oldest[0][1]), now))
        return max(wait, 0.0)

    async def failed(self, username: str, address: str, now: float) -> None:
        limits = self.limits
        keys = [self.pair_key(username, address), self.address_key(address)]
        args: list[str | int] = [
            repr(now),
            repr(limits.forget_after),
            _ms(limits.forget_after),
            f"{now!r}:{secrets.token_hex(4)}",
            limits.address_failures,
            _ms(limits.address_window),
            repr(now - limits.address_window),
        ]
        await self._breaker.ask(lambda: self._failed(keys=keys, args=args))

    async def succeeded(self, username: str, address: str) -> None:
        await self._breaker.ask(lambda: self._client.delete(self.pair_key(username, address)))
