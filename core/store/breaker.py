"""A breaker for checks that fail open when Redis is away (the shared rate limits).

Failing open alone still made every request wait out the Redis client's timeout and retries
(a second or two) before it went ahead. After a failure the breaker is open for `cooldown`
seconds: callers skip Redis and go ahead at once; the first call after that tries Redis
again. The outage is logged once when it begins and once when Redis answers again, with the
breaker's name only.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)

COOLDOWN = 5.0  # seconds without asking Redis after it failed

T = TypeVar("T")


class Breaker:
    def __init__(
        self,
        event: str,
        cooldown: float = COOLDOWN,
        monotonic: Callable[[], float] = time.monotonic,
        **context: str,
    ) -> None:
        self._event = event  # "<event>_unavailable" / "<event>_restored"
        self._context = context
        self._cooldown = cooldown
        self._now = monotonic
        self._down = False
        self._until = 0.0

    @property
    def open(self) -> bool:
        """Whether to skip Redis now (it failed less than `cooldown` seconds ago)."""
        return self._down and self._now() < self._until

    def failed(self, exc: Exception) -> None:
        if not self._down:
            log.warning(f"{self._event}_unavailable", error=type(exc).__name__, **self._context)
        self._down = True
        self._until = self._now() + self._cooldown

    def succeeded(self) -> None:
        if self._down:
            self._down = False
            log.info(f"{self._event}_restored", **self._context)

    async def ask(self, call: Callable[[], Awaitable[T]]) -> T | None:
        """`call()`'s answer; None (go ahead without Redis) while open, or when Redis fails
        it (which opens the breaker)."""
        if self.open:
            return None
        try:
            answer = await call()
        except RedisError as exc:
            self.failed(exc)
            return None
        self.succeeded()
        return answer
