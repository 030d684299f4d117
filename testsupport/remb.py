"""libwebrtc's REMB throttle for the test clients' receivers.

aiortc's receiver sends a REMB whenever its bandwidth estimator returns a value: every 500 ms,
and for every video packet while the overuse detector reads "overusing". On a busy loopback
the benchmark's clients sent bursts of over 400 REMB a second per process, each of which the
SFU had to decrypt and read. Chromium's `RembThrottler` sends a new estimate at once only when
it is more than 3% below the last one sent, and otherwise at most every 200 ms. The test clients
now do the same, so the SFU gets the feedback a browser would send.
"""

from __future__ import annotations

from typing import Any, Protocol

from aiortc import RTCPeerConnection

ESTIMATOR = "_RTCRtpReceiver__remote_bitrate_estimator"  # None on audio receivers
SEND_INTERVAL_MS = 200
SEND_THRESHOLD_PERCENT = 103  # a fall below 100/103 of the last sent goes out at once


class Estimator(Protocol):
    def add(
        self, arrival_time_ms: int, abs_send_time: int, payload_size: int, ssrc: int
    ) -> tuple[int, list[int]] | None: ...


class ThrottledEstimator:
    """aiortc's `RemoteBitrateEstimator` with libwebrtc's throttle on what it returns."""

    def __init__(self, inner: Estimator) -> None:
        self._inner = inner
        self._last_ms = 0
        self._last_bitrate: int | None = None

    def add(
        self, arrival_time_ms: int, abs_send_time: int, payload_size: int, ssrc: int
    ) -> tuple[int, list[int]] | None:
        remb = self._inner.add(
            arrival_time_ms=arrival_time_ms,
            abs_send_time=abs_send_time,
            payload_size=payload_size,
            ssrc=ssrc,
        )
        if remb is None:
            return None
        bitrate = remb[0]
        last = self._last_bitrate
        if (
            last is not None
            and bitrate * SEND_THRESHOLD_PERCENT > last * 100
            and arrival_time_ms < self._last_ms + SEND_INTERVAL_MS
        ):
            return None
        self._last_ms = arrival_time_ms
        self._last_bitrate = bitrate
        return remb


def throttle_remb(pc: RTCPeerConnection) -> None:
    """Throttle the REMB of `pc`'s video receivers (idempotent; call after each
    `setRemoteDescription`)."""
    for transceiver in pc.getTransceivers():
        receiver: Any = transceiver.receiver
        estimator = getattr(receiver, ESTIMATOR, None)
        if estimator is not None and not isinstance(estimator, ThrottledEstimator):
            setattr(receiver, ESTIMATOR, ThrottledEstimator(estimator))
