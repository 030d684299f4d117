"""Keyframe and bandwidth feedback, and H.264 forwarding."""

from __future__ import annotations

import asyncio

import pytest

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
