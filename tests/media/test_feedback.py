"""Keyframe and bandwidth feedback, H.264 forwarding, and the subscriber queue."""

from __future__ import annotations

import asyncio
import fractions

import av
import pytest

from mediaserver.forwarder import Forwarder, SubscriberTrack
from tests.media.conftest import Sfu
from testsupport.client import ClientMedia, SyntheticClient
from testsupport.wait import wait_for

pytestmark = [pytest.mark.media, pytest.mark.timeout(40)]


async def test_remb_from_subscribers_reaches_the_publisher(sfu: Sfu) -> None:
    alice, bob = (SyntheticClient(sfu.bus, "w1", "r", n) for n in ("alice", "bob"))
    await asyncio.gather(alice.join(), bob.join())
    try:
        room = sfu.worker.rooms["r"]
        video = next(
            p for p in room.participants["alice"].publications.values() if p.source == "video"
        )
        # bob's client estimates its downlink and sends REMB for alice's video
        await wait_for(
            lambda: any(s.estimate for s in video.forwarder.slots), "a REMB from bob's client"
        )
        # the server capped alice's encoder with its own REMB (aiortc sets target_bitrate)
        assert alice.pub_pc is not None
        sender = next(t.sender for t in alice.pub_pc.getTransceivers() if t.kind == "video")
        await wait_for(
            lambda: (
                getattr(sender, "_RTCRtpSender__encoder", None) is not None
                and sender._RTCRtpSender__encoder.target_bitrate != 500_000
            ),
            "alice's encoder to get a target from the server",
        )
    finally:
        await asyncio.gather(alice.leave(), bob.leave())


async def test_h264_is_forwarded_and_the_subscriber_offered_only_h264(sfu: Sfu) -> None:
    media = ClientMedia(publish=("video",), video_codec="video/H264")
    alice = SyntheticClient(sfu.bus, "w1", "r", "alice", media=media)
    bob = SyntheticClient(sfu.bus, "w1", "r", "bob", media=ClientMedia(publish=()))
    await asyncio.gather(alice.join(), bob.join())
    try:
        await wait_for(lambda: bob.frames("alice", "video") >= 3, "bob to decode H.264")
        assert bob.sub_pc is not None
        sdp = bob.sub_pc.remoteDescription.sdp
        assert "H264/90000" in sdp and "VP8/90000" not in sdp
        assert bob.received[("alice", "video")].sizes == {(160, 120)}
    finally:
        await asyncio.gather(alice.leave(), bob.leave())


def _packet(key: bool, pts: int) -> av.Packet:
    packet = av.Packet(b"\x00" if key else b"\x01")
    packet.pts, packet.time_base, packet.is_keyframe = pts, fractions.Fraction(1, 90000), key
    return packet


class _Source:
    """A publisher track fed by the test."""

    kind = "video"

    def __init__(self) -> None:
        self.queue: asyncio.Queue[av.Packet] = asyncio.Queue()

    async def recv(self) -> av.Packet:
        return await self.queue.get()


async def test_slow_subscriber_drops_backlog_and_resumes_at_a_keyframe() -> None:
    source, requests = _Source(), []

    async def ask() -> None:
        requests.append(1)

    forwarder = Forwarder(
        source,
        kind="video",
        send_keyframe_request=ask,  # type: ignore[arg-type]
        min_keyframe_interval=0.01,
        keyframe_retry=1.0,
        log_context={},
    )
    slot = SubscriberTrack("video", limit=4)
    slot.attach(forwarder)
    try:
        await source.queue.put(_packet(True, 0))
        await asyncio.sleep(0.05)
        assert slot.forwarded == 0  # held until released (offer answered)
        slot.release()
        await asyncio.sleep(0.05)
        assert requests, "release asks the publisher for a keyframe"
        await source.queue.put(_packet(False, 1))  # not a keyframe: still held back
        await source.queue.put(_packet(True, 2))
        await asyncio.sleep(0.05)
        asked = len(requests)
        for i in range(3, 8):  # nobody reads: the queue overflows
            await source.queue.put(_packet(False, i))
        await asyncio.sleep(0.05)
        assert slot.waiting_keyframe and slot.dropped == 4
        assert len(requests) > asked  # the overflow asked for a keyframe
        await source.queue.put(_packet(False, 8))
        await source.queue.put(_packet(True, 9))
        await asyncio.sleep(0.05)
        assert (await slot.recv()).pts == 9  # resumes at the keyframe
    finally:
        slot.stop()
        await forwarder.close()
    assert forwarder.slots == []
