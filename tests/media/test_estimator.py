"""The uplink estimator's replacements compute what aiortc's own classes compute."""

from __future__ import annotations

import random

from aiortc.rate import OveruseEstimator, RateCounter, RemoteBitrateEstimator

from mediaserver.estimator import WindowRate, uplink_estimator


def test_window_rate_matches_aiortc_rate_counter() -> None:
    rng = random.Random(7)
    ours, theirs = WindowRate(1000, 8000), RateCounter(1000, 8000)
    now = 10_000
    for step in range(6_000):  # aiortc's counter walks every millisecond: keep it short
        now += rng.choice((0, 1, 5, 33, 33, 34, 120, 999, 1000, 1001, 2500))
        if rng.random() < 0.6:
            value = rng.randint(0, 1500)
            ours.add(value, now)
            theirs.add(value, now)
        assert ours.rate(now) == theirs.rate(now), step
        if rng.random() < 0.001:
            ours.reset()
            theirs.reset()
    assert ours.rate(now) is not None


def frames(seed: int, count: int) -> list[tuple[int, int, int, int]]:
    """(arrival ms, abs-send-time, bytes, ssrc) of a ~1 Mbit/s 30 fps stream with jitter,
    bursts, a congested stretch and pauses."""
    rng = random.Random(seed)
    out = []
    sent = 0.0
    arrival = 1_700_000_000_000
    queue = 0.0
    for i in range(count):
        sent += 1 / 30 if rng.random() > 0.01 else 3.0  # sometimes a pause
        size = rng.randint(2000, 6000) if i % 60 else 30_000
        congested = 600 <= i % 1500 < 900
        queue = max(0.0, queue + (size * 8 / 700_000 - 1 / 30) if congested else queue - 0.01)
        arrival = max(arrival, int((sent + queue) * 1000) + 1_700_000_000_000 + rng.randint(0, 4))
        ast = int(sent * (1 << 18)) & 0xFFFFFF
        out.append((arrival, ast, size, 0x1234))
    return out


def test_uplink_estimator_matches_aiortc() -> None:
    ours, theirs = uplink_estimator(), RemoteBitrateEstimator()
    estimates = 0
    for arrival, ast, size, ssrc in frames(3, 6000):
        mine = ours.add(arrival_time_ms=arrival, abs_send_time=ast, payload_size=size, ssrc=ssrc)
        reference = theirs.add(
            arrival_time_ms=arrival, abs_send_time=ast, payload_size=size, ssrc=ssrc
        )
        assert mine == reference
        estimates += mine is not None
    assert estimates > 50  # the stream produced estimates to compare, congestion included
    assert ours.estimator.var_noise == theirs.estimator.var_noise


def test_min_frame_period_matches_aiortc() -> None:
    rng = random.Random(11)
    ours, theirs = uplink_estimator().estimator, OveruseEstimator()
    for _ in range(5000):
        delta = rng.choice((33.3, 33.4, 16.7, 66.7, 100.0, 5.0)) * rng.uniform(0.9, 1.1)
        assert ours.update_min_frame_period(delta) == theirs.update_min_frame_period(delta)
