"""Slowing password guessing without locking the real user out.

Failures count per (username, address): after `free_failures` of them each further attempt
from that pair waits twice as long as the one before (capped at `max_delay`), so a guesser
gets a handful of tries an hour while the real user, at another address, is not held back.
An address also has a looser cap across all usernames (`address_failures` in
`address_window`), against one client trying many accounts. Addresses are the clients'
(see signalling.http.client_address), so users behind one trusted proxy do not share a cap.

Pure: times are passed in. Per process and bounded in memory.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class LoginLimits:
    free_failures: int = 5  # per (user, address) before delays start
    base_delay: float = 1.0  # seconds after the first counted failure, doubling each time
    max_delay: float = 300.0
    forget_after: float = 3600.0  # a pair's failures are forgotten after this long quiet
    address_failures: int = 100  # per address across usernames ...
    address_window: float = 900.0  # ... in this many seconds
    max_keys: int = 10_000


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
        counted = failures - self.limits.free_failures
        if counted < 0:
            return 0.0
        return float(min(self.limits.max_delay, self.limits.base_delay * 2 ** min(counted, 32)))

    def retry_after(self, username: str, address: str, now: float) -> float:
        """0.0 if an attempt may be checked now, else the seconds until one may."""
        wait = 0.0
        pair = self._pairs.get((username, address))
        if pair is not None:
            if now - pair.last >= self.limits.forget_after:
                del self._pairs[(username, address)]
            else:
                wait = pair.last + self.delay(pair.failures) - now
        recent = self._recent(address, now)
        if len(recent) >= self.limits.address_failures:
            wait = max(wait, recent[0] + self.limits.address_window - now)
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
