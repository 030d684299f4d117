"""Slowing password guessing without locking the real user out.

Failures count per (username, address): after `free_failures` of them each further attempt
from that pair waits twice as long as the one before (capped at `max_delay`), so a guesser
gets a handful of tries an hour while the real user, at another address, is not held back.
An address also has a looser cap across all usernames (`address_failures` in
`address_window`), against one client trying many accounts. Addresses are the clients'
(see signalling.http.client_address), so users behind one trusted proxy do not share a cap.

`LoginThrottle` is pure (times are passed in), per process and bounded in memory; its
decisions are the functions `pair_wait` and `address_wait`, which the Redis variant
(`signalling.auth.redis_login_throttle`, shared by all signalling nodes) reuses. The app
talks to either through `LoginGuard` (async): `LocalLoginGuard` wraps this one.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class LoginLimits:
    free_failures: int = 5  # per (user, address) before delays start
    base_delay: float = 1.0  # seconds after the first counted failure, doubling each time
    max_delay: float = 300.0
    forget_after: float = 3600.0  # a pair's failures are forgotten after this long quiet
    address_failures: int = 100  # per address across usernames ...
    address_window: float = 900.0  # ... in this many seconds
    max_keys: int = 10_000


def delay(limits: LoginLimits, failures: int) -> float:
    """How long a pair waits after `failures` failures."""
    counted = failures - limits.free_failures
    if counted < 0:
        return 0.0
    return float(min(limits.max_delay, limits.base_delay * 2 ** min(counted, 32)))


def pair_wait(limits: LoginLimits, failures: int, last: float, now: float) -> float:
    """Seconds a pair with `failures` failures, the latest at `last`, still waits (may be
    negative); a pair quiet for `forget_after` counts as new."""
    if now - last >= limits.forget_after:
        return 0.0
    return last + delay(limits, failures) - now


def address_wait(limits: LoginLimits, recent: int, oldest: float, now: float) -> float:
    """Seconds an address with `recent` failures in the window (at most `address_failures`
    are kept, `oldest` the first of them) still waits (may be negative)."""
    if recent < limits.address_failures:
        return 0.0
    return oldest + limits.address_window - now


@dataclass
class _Pair:
    failures: int = 0
    last: float = 0.0


@dataclass
class _Address:
    times: deque[float] = field(default_factory=deque)


class LoginThrottle:
    """Decides whether a login attempt may be checked now, and records failures."""

    def __init__(self, limits: LoginLimits | None = None) -> None:
        self.limits = limits or LoginLimits()
        self._pairs: dict[tuple[str, str], _Pair] = {}
        self._addresses: dict[str, _Address] = {}

    def delay(self, failures: int) -> float:
        """How long a pair waits after `failures` failures."""
        return delay(self.limits, failures)

    def retry_after(self, username: str, address: str, now: float) -> float:
        """0.0 if an attempt may be checked now, else the seconds until one may."""
        wait = 0.0
        pair = self._pairs.get((username, address))
        if pair is not None:
            if now - pair.last >= self.limits.forget_after:
                del self._pairs[(username, address)]
            else:
                wait = pair_wait(self.limits, pair.failures, pair.last, now)
        recent = self._recent(address, now)
        if recent:
            wait = max(wait, address_wait(self.limits, len(recent), recent[0], now))
        return max(wait, 0.0)

    def failed(self, username: str, address: str, now: float) -> None:
        self._make_room()
        pair = self._pairs.setdefault((username, address), _Pair())
        pair.failures += 1
        pair.last = now
        times = self._addresses.setdefault(address, _Address()).times
        times.append(now)
        while len(times) > self.limits.address_failures:
            times.popleft()

    def succeeded(self, username: str, address: str) -> None:
        """The right password from this address: its pair starts afresh (the address cap
        stays, so one good account does not reset guessing at others)."""
        self._pairs.pop((username, address), None)

    def _recent(self, address: str, now: float) -> deque[float]:
        entry = self._addresses.get(address)
        if entry is None:
            return deque()
        times = entry.times
        while times and now - times[0] >= self.limits.address_window:
            times.popleft()
        if not times:
            del self._addresses[address]
        return times

    def _make_room(self) -> None:
        _trim(self._pairs, self.limits.max_keys)
        _trim(self._addresses, self.limits.max_keys)


def _trim(table: dict[Any, Any], max_keys: int) -> None:
    """Forget the oldest entries, not the newest, when full."""
    if len(table) >= max_keys:
        for key in list(table)[: max(1, max_keys // 10)]:
            del table[key]


class LoginGuard(Protocol):
    """The login throttle as the app uses it: in this process or shared through Redis."""

    limits: LoginLimits

    async def retry_after(self, username: str, address: str, now: float) -> float:
        """0.0 if an attempt may be checked now, else the seconds until one may."""
        ...

    async def failed(self, username: str, address: str, now: float) -> None:
        """Count a wrong password from this pair (and address)."""
        ...

    async def succeeded(self, username: str, address: str) -> None:
        """The right password: the pair starts afresh (the address cap stays)."""
        ...


class LocalLoginGuard:
    """`LoginGuard` over a `LoginThrottle` in this process (one node, no Redis)."""

    def __init__(self, limits: LoginLimits | None = None) -> None:
        self.throttle = LoginThrottle(limits)

    @property
    def limits(self) -> LoginLimits:
        return self.throttle.limits

    @limits.setter
    def limits(self, value: LoginLimits) -> None:
        self.throttle.limits = value

    async def retry_after(self, username: str, address: str, now: float) -> float:
        return self.throttle.retry_after(username, address, now)

    async def failed(self, username: str, address: str, now: float) -> None:
        self.throttle.failed(username, address, now)

    async def succeeded(self, username: str, address: str) -> None:
        self.throttle.succeeded(username, address)
