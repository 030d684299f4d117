"""The SFU's estimate of a publisher's uplink: aiortc's delay-based estimator (webrtc.org's
remote bitrate estimator with abs-send-time), with its two per-frame hot spots replaced by
equivalents that do the same arithmetic without a Python loop per millisecond or per entry.

Fed once per video frame of every publisher, aiortc's own `RateCounter` walks one 1 ms bucket
per millisecond since the last frame (33 at 30 fps, twice per frame) and
`OveruseEstimator.update_min_frame_period` scans a 60-entry list: together about a tenth of
the media worker's CPU at 6 calls. `WindowRate` keeps the entries of the window in a deque and
drops the old ones from its head; `_OveruseEstimator` keeps a sliding-window minimum.
The results are the same (tests/media/test_estimator.py compares them with aiortc's).

Where the C extension is built, the whole estimator runs in C instead (`_wire.Estimator`,
mediaserver/rtp/_remb.c, the same arithmetic operation for operation), and the receiving
stream feeds it without calling into Python (`uplink_estimate` picks it).
"""

from __future__ import annotations

from collections import deque
from typing import Any, Protocol

from aiortc.rate import MIN_FRAME_PERIOD_HISTORY_LENGTH, OveruseEstimator, RemoteBitrateEstimator

from mediaserver.rtp import wire


class Estimate(Protocol):
    """The SFU's estimate of a publisher's uplink, fed by the RTP path once per frame; kept
    for the room's REMB, never sent by itself."""

    @property
    def bitrate(self) -> int | None: ...

    def frame(self, arrival_ms: int, abs_send_time: int, size: int, ssrc: int) -> None:
        """A frame's last packet arrived at `arrival_ms` (wall clock), sent at `abs_send_time`
        (24-bit, 6.18 s), with `size` bytes of packets in all."""


class WindowRate:
    """aiortc's `RateCounter` (what arrived in the last `window_size` ms, times `scale`, per
    ms of the window so far) over a deque of (ms, value) entries."""

    __slots__ = ("_count", "_entries", "_origin_ms", "_scale", "_value", "_window")

    def __init__(self, window_size: int, scale: int = 8000) -> None:
        self._window = window_size
        self._scale = scale
        self._entries: deque[tuple[int, int]] = deque()
        self._origin_ms: int | None = None
        self._count = 0
        self._value = 0

    def reset(self) -> None:
        self._entries.clear()
        self._origin_ms = None
        self._count = 0
        self._value = 0

    def add(self, value: int, now_ms: int) -> None:
        if self._origin_ms is None:
            self._origin_ms = now_ms
        else:
            self._erase_old(now_ms)
        self._entries.append((now_ms, value))
        self._count += 1
        self._value += value

    def rate(self, now_ms: int) -> int | None:
        if self._origin_ms is not None:
            self._erase_old(now_ms)
            active = now_ms - self._origin_ms + 1
            if self._count > 0 and active > 1:
                return round(self._scale * self._value / active)
        return None

    def _erase_old(self, now_ms: int) -> None:
        assert self._origin_ms is not None
        new_origin = now_ms - self._window + 1
        if self._origin_ms >= new_origin:
            return
        entries = self._entries
        while entries and entries[0][0] < new_origin:
            _, value = entries.popleft()
            self._count -= 1
            self._value -= value
        self._origin_ms = new_origin


class _OveruseEstimator(OveruseEstimator):  # type: ignore[misc]
    """`update_min_frame_period` as a sliding-window minimum (a deque of increasing values
    with their positions): the smallest of the last 59 deltas and this one, as aiortc's scan
    of its 60-entry list gives, in constant time."""

    def __init__(self) -> None:
        super().__init__()
        self._smallest: deque[tuple[int, float]] = deque()
        self._seen = 0

    def update_min_frame_period(self, ts_delta: float) -> float:
        smallest, index = self._smallest, self._seen
        oldest = index - (MIN_FRAME_PERIOD_HISTORY_LENGTH - 1)
        while smallest and smallest[0][0] < oldest:
            smallest.popleft()
        result = smallest[0][1] if smallest and smallest[0][1] < ts_delta else ts_delta
        while smallest and smallest[-1][1] >= ts_delta:
            smallest.pop()
        smallest.append((index, ts_delta))
        self._seen = index + 1
        return result


def uplink_estimator() -> RemoteBitrateEstimator:
    """aiortc's `RemoteBitrateEstimator` with the equivalents above in place."""
    estimator = RemoteBitrateEstimator()
    estimator.incoming_bitrate = WindowRate(1000, 8000)  # as aiortc makes its own
    estimator.estimator = _OveruseEstimator()
    return estimator


class UplinkEstimate:
    """`Estimate` in Python: aiortc's estimator (with the equivalents above)."""

    def __init__(self, estimator: Any) -> None:
        self._add = estimator.add  # bound once: called for every received frame
        self.bitrate: int | None = None

    def frame(self, arrival_ms: int, abs_send_time: int, size: int, ssrc: int) -> None:
        remb = self._add(arrival_ms, abs_send_time, size, ssrc)
        if remb is not None:
            self.bitrate = int(remb[0])


def uplink_estimate() -> Estimate:
    """A new publisher stream's estimate: in C where the extension is used (`wire.compiled`),
    else in Python."""
    compiled: Estimate | None = wire.estimator()
    return compiled if compiled is not None else UplinkEstimate(uplink_estimator())
