"""Token buckets per key (a client address): `rate` requests a second, bursts up to `burst`.

`KeyedTokenBuckets` is pure and in memory, with time read from the injected clock so tests
drive it. Per process: behind several signalling processes each would keep its own buckets
(and a client would get that many times the limit), so with Redis the app uses
`signalling.http.redis_ratelimit.RedisRateLimit` instead, the same bucket kept in Redis for all
nodes. The app talks to either through `RateLimit` (async); `LocalRateLimit` wraps this one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from core.clock import Clock


class RateLimit(Protocol):
    """A token bucket per key, in this process or shared through Redis."""

    async def take(self, key: str) -> float:
        """Spend one token of `key`'s bucket: 0.0 if there was one, else the seconds until
        there is (nothing is spent then)."""
        ...


def check_bucket(rate: float, burst: float) -> None:
    """A token bucket needs a positive rate and room for at least one token."""
    if rate <= 0 or burst < 1:
        raise ValueError("rate must be positive and burst at least 1")


@dataclass
class _Bucket:
    tokens: float
    at: float


class KeyedTokenBuckets:
    """One token bucket per key; `take` says how long to wait (0.0: go ahead)."""

    def __init__(self, rate: float, burst: float, clock: Clock, max_keys: int = 50_000) -> None:
        check_bucket(rate, burst)
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}

    def __len__(self) -> int:
        """How many keys are remembered."""
        return len(self._buckets)

    def take(self, key: str) -> float:
        """Spend one token of `key`'s bucket: 0.0 if there was one, else the seconds until
        there is (nothing is spent then)."""
        now = self._clock.now()
        bucket = self._buckets.get(key)
        if bucket is None:
            self._make_room(now)
            bucket = self._buckets[key] = _Bucket(self._burst, now)
        else:
            elapsed = max(0.0, now - bucket.at)
            bucket.tokens = min(self._burst, bucket.tokens + elapsed * self._rate)
            bucket.at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self._rate

    def _make_room(self, now: float) -> None:
        """Bounded memory: drop buckets that have refilled (they hold nothing), and if that
        is not enough the oldest tenth (forgetting one only makes it generous again)."""
        if len(self._buckets) < self._max_keys:
            return
        full = [
            k
            for k, b in self._buckets.items()
            if b.tokens + (now - b.at) * self._rate >= self._burst
        ]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) >= self._max_keys:
            for key in list(self._buckets)[: self._max_keys // 10]:
                del self._buckets[key]


class LocalRateLimit:
    """`RateLimit` over `KeyedTokenBuckets` in this process (one node, no Redis)."""

    def __init__(self, buckets: KeyedTokenBuckets) -> None:
        self.buckets = buckets

    async def take(self, key: str) -> float:
        return self.buckets.take(key)
