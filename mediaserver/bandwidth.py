"""Bandwidth policy: what bitrate to ask a publisher for (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Iterable


def remb_target(
    subscriber_estimates: Iterable[int], uplink: int | None, *, minimum: int, maximum: int
) -> int:
    """The lowest of the subscribers' estimates and the publisher's uplink estimate, within
    [minimum, maximum]; `maximum` when nothing is known. Without simulcast the slowest
    subscriber sets the pace for everyone (minimum protects the others)."""
    known = [e for e in subscriber_estimates if e > 0]
    if uplink is not None and uplink > 0:
        known.append(uplink)
    target = min(known, default=maximum)
    return max(minimum, min(maximum, target))


def fresh_estimates(
    estimates: Iterable[tuple[int, float] | None], now: float, ttl: float
) -> list[int]:
    """The bitrates of (bitrate, at) estimates younger than `ttl` seconds."""
    return [e[0] for e in estimates if e is not None and now - e[1] <= ttl]
