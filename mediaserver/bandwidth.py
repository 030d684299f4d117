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


def remb_share(bitrate: int, ssrcs: Iterable[int], streams: set[int] | None = None) -> int:
    """One stream's part of a subscriber's REMB. A browser sends one estimate for its whole
    connection, listing the streams it receives; without simulcast each gets an equal share
    (asking every publisher for the whole would overrun the link by the stream count). Only
    the connection's own media `streams` count when known: a browser also lists the
    retransmission (RTX) SSRCs it has seen."""
    listed = set(ssrcs)
    if streams is not None:
        listed &= streams
    return bitrate // max(1, len(listed))


def fresh_estimates(
    estimates: Iterable[tuple[int, float] | None], now: float, ttl: float
) -> list[int]:
    """The bitrates of (bitrate, at) estimates younger than `ttl` seconds."""
    return [e[0] for e in estimates if e is not None and now - e[1] <= ttl]
