"""The uplink estimator's replacements compute what aiortc's own classes compute: the Python
equivalents of its two hot spots, and the whole estimator in C (`_wire.Estimator`), compared
estimate by estimate on traces that take it through every state."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from aiortc.rate import OveruseEstimator, RateCounter, RemoteBitrateEstimator

from mediaserver.estimator import UplinkEstimate, WindowRate, uplink_estimate, uplink_estimator
from mediaserver.rtp import wire


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


def wild_frames(seed: int, count: int) -> list[tuple[int, int, int, int]]:
    """What a broken or hostile publisher, or a jumping clock, can feed it: arrival times that
    stand still, go back or leap, send times out of order and wrapping (24 bits), sizes from
    1 byte to a keyframe, several SSRCs."""
    rng = random.Random(seed)
    out = []
    arrival = rng.randint(0, 1 << 42)
    ast = rng.randint(0, 0xFFFFFF)
    for _ in range(count):
        arrival += rng.choice((0, 0, 1, 3, 5, 6, 16, 33, 34, 40, 500, 501, 999, 1000, 3001, -7))
        if rng.random() < 0.002:
            arrival += rng.choice((-60_000, 100_000))
        ast = (ast + rng.choice((0, 1, 1300, 8738, 8739, 9000, 26214, 262144, -8739))) & 0xFFFFFF
        if rng.random() < 0.003:
            ast = rng.randint(0, 0xFFFFFF)
        size = rng.choice((1, 12, 1200, 2500, 4000, 4000, 9000, 60_000))
        out.append((arrival, ast, size, rng.choice((0x1234, 0x1234, 0x5678))))
    return out


def congested_frames(seed: int, count: int) -> list[tuple[int, int, int, int]]:
    """A 30 fps stream whose link alternates between room to spare and a queue that grows
    (overuse, a decrease), then drains (underuse, hold), then steady again (increase)."""
    rng = random.Random(seed)
    out = []
    sent = 0.0
    queue = 0.0
    for i in range(count):
        sent += 1 / 30
        phase = (i // 300) % 3
        if phase == 1:
            queue += rng.uniform(0.002, 0.008)
        elif phase == 2:
            queue = max(0.0, queue - rng.uniform(0.004, 0.012))
        arrival = int((sent + queue) * 1000) + 5_000_000 + rng.randint(0, 2)
        ast = int(sent * (1 << 18)) & 0xFFFFFF
        out.append((arrival, ast, rng.randint(3000, 5000), 0x42))
    return out


@pytest.mark.skipif(not wire.BUILT, reason="the C module was not built (no compiler at install)")
@pytest.mark.parametrize(
    ("trace", "seed"),
    [
        (frames, 3),
        (frames, 4),
        (congested_frames, 5),
        (congested_frames, 6),
        (wild_frames, 7),
        (wild_frames, 8),
        (wild_frames, 9),
    ],
)
def test_the_c_estimator_gives_aiortcs_estimates_frame_by_frame(
    trace: Callable[[int, int], list[tuple[int, int, int, int]]], seed: int
) -> None:
    from mediaserver.rtp import _wire

    ours, theirs = _wire.Estimator(), UplinkEstimate(RemoteBitrateEstimator())
    changes = 0
    decreases = 0
    last = None
    for n, (arrival, ast, size, ssrc) in enumerate(trace(seed, 6000)):
        ours.frame(arrival, ast, size, ssrc)
        theirs.frame(arrival, ast, size, ssrc)
        assert ours.bitrate == theirs.bitrate, (n, arrival, ast, size)
        if ours.bitrate != last:
            changes += 1
            decreases += last is not None and ours.bitrate is not None and ours.bitrate < last
            last = ours.bitrate
    assert changes > 20  # estimates to compare
    if trace is congested_frames:
        assert decreases >= 3  # overuse was detected and acted on


def test_a_new_stream_gets_the_c_estimator_where_built_else_aiortcs() -> None:
    estimate = uplink_estimate()
    if wire.compiled():
        from mediaserver.rtp import _wire

        assert isinstance(estimate, _wire.Estimator)
    else:
        assert isinstance(estimate, UplinkEstimate)
    assert estimate.bitrate is None
    for arrival, ast, size, ssrc in frames(3, 400):
        estimate.frame(arrival, ast, size, ssrc)
    assert estimate.bitrate is not None and estimate.bitrate > 0
