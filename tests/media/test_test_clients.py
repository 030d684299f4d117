"""The synthetic clients' receive side: encoded frames handed on without the decoder thread,
and REMB throttled as libwebrtc throttles it (what the SFU gets from them is what a browser
would send)."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace

import av
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from testsupport.encoded import InlineFrames
from testsupport.remb import ThrottledEstimator


class Overusing:
    """An estimator that returns an estimate for every packet, as aiortc's does while its
    detector reads overusing; the bitrate is set by the test."""

    def __init__(self) -> None:
        self.bitrate = 1_000_000
        self.calls = 0

    def add(
        self, arrival_time_ms: int, abs_send_time: int, payload_size: int, ssrc: int
    ) -> tuple[int, list[int]] | None:
        self.calls += 1
        return self.bitrate, [ssrc]


def sent(throttled: ThrottledEstimator, at_ms: int) -> bool:
    return (
        throttled.add(arrival_time_ms=at_ms, abs_send_time=0, payload_size=1000, ssrc=7) is not None
    )


def test_remb_goes_out_at_most_every_200_ms_unless_it_falls_by_more_than_3_percent() -> None:
    inner = Overusing()
    throttled = ThrottledEstimator(inner)
    times = range(0, 900, 5)  # a packet every 5 ms, an estimate for each
    assert [t for t in times if sent(throttled, t)] == [0, 200, 400, 600, 800]
    assert inner.calls == 180  # the estimator itself still sees every packet

    inner.bitrate = 980_000  # 2% lower: waits for the interval
    assert not sent(throttled, 900)
    inner.bitrate = 960_000  # 4% below the last sent: at once
    assert sent(throttled, 905)
    inner.bitrate = 990_000  # higher again: waits
    assert not sent(throttled, 910)
    assert not sent(throttled, 1104)
    assert sent(throttled, 1105)


def test_no_estimate_sends_nothing_and_does_not_reset_the_interval() -> None:
    inner = Overusing()
    throttled = ThrottledEstimator(inner)
    assert sent(throttled, 0)
    inner.add = lambda **_: None  # type: ignore[method-assign]
    assert not sent(throttled, 300)
    inner.add = Overusing().add  # type: ignore[method-assign]
    assert sent(throttled, 301)


async def test_inline_frames_reach_the_track_at_once_and_stop_releases_the_thread() -> None:
    output: asyncio.Queue[av.Packet | None] = asyncio.Queue()
    frames = InlineFrames(output)
    vp8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90_000, payloadType=96)
    frames.put((vp8, SimpleNamespace(data=b"\x10\x02\x00\x9d\x01\x2a", timestamp=3000)))
    frames.put((vp8, SimpleNamespace(data=b"\x11\x02\x00", timestamp=6000)))
    first, second = output.get_nowait(), output.get_nowait()
    assert isinstance(first, av.Packet) and isinstance(second, av.Packet)
    assert (bytes(first), first.pts, first.is_keyframe) == (b"\x10\x02\x00\x9d\x01\x2a", 3000, True)
    assert (bytes(second), second.pts, second.is_keyframe) == (b"\x11\x02\x00", 6000, False)
    assert first.time_base.denominator == 90_000

    waiting = threading.Thread(target=frames.get)  # what aiortc's decoder thread does
    waiting.start()
    waiting.join(0.05)
    assert waiting.is_alive()
    frames.put(None)  # the receiver stops
    waiting.join(5)
    assert not waiting.is_alive()
