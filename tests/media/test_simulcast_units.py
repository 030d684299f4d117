"""Simulcast without a browser: the offer's rid lines read, the answer written, layers routed
by their rid extension, and each subscriber's layer chosen from its estimate."""

from __future__ import annotations

import struct
from typing import Any

from mediaserver import sdp_info
from mediaserver.rtp import packet as rtp
from mediaserver.rtp import payload
from mediaserver.rtp.downtrack import DownTrack
from mediaserver.rtp.simulcast import SimulcastSource
from mediaserver.rtp.uplink import Uplink, UplinkStream
from tests.media.test_rtp_units import BINDING, VP8_KEY, FakeTransport, forwarder, make_packet

# The video section of a Chromium offer with two layers (trimmed), and its aiortc answer.
OFFER = """v=0\r
o=- 1 2 IN IP4 127.0.0.1\r
s=-\r
t=0 0\r
a=group:BUNDLE 0\r
m=video 9 UDP/TLS/RTP/SAVPF 96 97\r
c=IN IP4 0.0.0.0\r
a=mid:0\r
a=sendonly\r
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r
a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r
a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id\r
a=rtpmap:96 VP8/90000\r
a=rtpmap:97 rtx/90000\r
a=fmtp:97 apt=96\r
a=rid:h send\r
a=rid:f send\r
a=simulcast:send h;f\r
"""

ANSWER = """v=0\r
o=- 3 4 IN IP4 127.0.0.1\r
s=-\r
t=0 0\r
a=group:BUNDLE 0\r
m=video 9 UDP/TLS/RTP/SAVPF 96 97\r
c=IN IP4 127.0.0.1\r
a=mid:0\r
a=recvonly\r
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r
a=rtpmap:96 VP8/90000\r
"""


def test_the_offers_layers_are_read_and_answered() -> None:
    offers = sdp_info.simulcast_offers(OFFER)
    assert offers == {"0": sdp_info.Simulcast(("h", "f"), 10, 11)}
    answer = sdp_info.answer_simulcast(ANSWER, offers)
    lines = answer.split("\r\n")
    for wanted in (
        "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
        "a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
        "a=rid:h recv",
        "a=rid:f recv",
        "a=simulcast:recv h;f",
    ):
        assert wanted in lines
    assert answer.endswith("\r\n") and lines.index("a=simulcast:recv h;f") > lines.index("a=mid:0")
    tracks = sdp_info.offered_tracks(OFFER, {})
    assert tracks[0].simulcast == offers["0"]


def test_paused_alternatives_and_undeclared_rids_are_handled() -> None:
    offer = OFFER.replace("a=simulcast:send h;f", "a=simulcast:send ~h,x;f;zz")
    assert sdp_info.simulcast_offers(offer)["0"].rids == ("h", "f")  # zz has no a=rid line
    one = OFFER.replace("a=simulcast:send h;f", "a=simulcast:send f")
    assert sdp_info.simulcast_offers(one) == {}  # one layer is no simulcast
    no_ext = OFFER.replace("a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\n", "")
    assert sdp_info.simulcast_offers(no_ext) == {}  # the rid cannot be read from packets
    assert sdp_info.answer_simulcast(ANSWER, {}) == ANSWER


async def test_layers_are_routed_by_their_rid() -> None:
    low, high = forwarder(), forwarder()
    uplink = Uplink({})
    uplink.mid_id = 4
    uplink.add(
        UplinkStream(
            "0",
            None,
            frozenset({96}),
            {97: 96},
            layers={"h": low, "f": high},
            rid_id=10,
            repaired_rid_id=11,
        )
    )
    uplink._on_rtp(make_packet(1, 0, VP8_KEY, ssrc=0xA, extensions=[(4, b"0"), (10, b"f")]))
    uplink._on_rtp(make_packet(1, 0, VP8_KEY, ssrc=0xB, extensions=[(4, b"0"), (10, b"h")]))
    uplink._on_rtp(make_packet(2, 0, VP8_KEY, ssrc=0xA))  # learnt: no rid needed any more
    assert (high.ssrc, low.ssrc) == (0xA, 0xB)
    assert (high.packets, low.packets) == (2, 1)
    rtx = make_packet(
        1, 0, struct.pack("!H", 3) + VP8_KEY, ssrc=0xC, pt=97, extensions=[(4, b"0"), (11, b"f")]
    )
    uplink._on_rtp(rtx)
    assert high.packets == 3 and high.packet(3) is not None
    await low.close()
    await high.close()


def layered() -> tuple[SimulcastSource, Any, Any, DownTrack, FakeTransport]:
    low, high = forwarder(), forwarder()
    low.ssrc, high.ssrc = 0xA, 0xB
    source = SimulcastSource({"h": low, "f": high}, 90000)
    track = DownTrack("video")
    transport = FakeTransport()
    track.bind(transport, BINDING)  # type: ignore[arg-type]
    track.attach(source)
    track.release()
    return source, low, high, track, transport


async def test_a_subscriber_starts_low_steps_up_and_down_with_its_estimate() -> None:
    source, low, high, track, out = layered()
    for i in range(3):
        low.on_rtp(make_packet(100 + i, 3000 * i, VP8_KEY, ssrc=0xA))
        high.on_rtp(make_packet(500 + i, 3000 * i, VP8_KEY, ssrc=0xB))
    now = low.last_arrival
    source.bitrates = {"h": 200_000, "f": 400_000}
    source.select(now)
    assert track.pending is low or track.current is low  # no estimate: the lower layer
    track.on_bitrate(380_000)  # near the next layer's rate, but too soon after the start
    source.select(now + 1)
    assert track.pending is None and track.current is low
    low.last_arrival = high.last_arrival = now + 5  # both still sending a while later
    track.estimate = (380_000, now + 5)  # ... when the estimate nears the next layer: up
    layer = source.choose(track, now + 5)
    assert layer is high
    track.switch(high)
    high.on_rtp(make_packet(503, 9000, VP8_KEY, ssrc=0xB))  # its keyframe: the switch
    assert track.current is high and track.switches == 1
    seqs = [struct.unpack_from("!H", p, 2)[0] for p in out.packets]
    assert seqs == [(seqs[0] + i) & 0xFFFF for i in range(len(seqs))]  # one stream
    # Congestion well after the step up: the estimate falls below the layer's rate.
    low.last_arrival = high.last_arrival = now + 20
    track.estimate = (250_000, now + 20)
    assert source.choose(track, now + 20) is low
    await source.close()


def vp8_with_id(picture_id: int, key: bool) -> bytes:
    """A VP8 payload whose descriptor carries a 15-bit picture id (RFC 7741 4.2)."""
    descriptor = bytes((0x90, 0x80, 0x80 | (picture_id >> 8), picture_id & 0xFF))
    frame = b"\x00\x00\x00\x9d\x01\x2a" if key else b"\x01\x00\x00"
    return descriptor + frame + b"\x33" * 20


async def test_picture_ids_continue_across_a_layer_switch() -> None:
    """Each layer counts its own VP8 picture ids; after a switch the subscriber's continue
    from the last one it got (and the rest of the payload is untouched)."""
    source, low, high, track, out = layered()
    for i in range(3):
        low.on_rtp(make_packet(100 + i, 3000 * i, vp8_with_id(200 + i, i == 0), ssrc=0xA))
    track.switch(high)
    high.on_rtp(make_packet(7, 0, vp8_with_id(30000, False), ssrc=0xB))  # not a keyframe yet
    high.on_rtp(make_packet(8, 3000, vp8_with_id(30001, True), ssrc=0xB))
    high.on_rtp(make_packet(9, 6000, vp8_with_id(30002, False), ssrc=0xB))
    low.on_rtp(make_packet(103, 9000, vp8_with_id(203, False), ssrc=0xA))  # no longer sent
    ids = []
    for packet in out.packets:
        body = packet[rtp.header_size(packet) :]
        descriptor = payload.vp8_descriptor(body)
        assert descriptor is not None
        ids.append(descriptor.picture_id)
        assert (
            body[descriptor.size :] == vp8_with_id(0, False)[4:]
            or body[descriptor.size :] == vp8_with_id(0, True)[4:]
        )
    assert ids == [200, 201, 202, 203, 204]
    await source.close()


def vp8_key_sized(width: int, height: int) -> bytes:
    """A VP8 keyframe's first packet: descriptor, frame tag, start code, the picture's size."""
    size = struct.pack("<HH", width, height)
    return bytes([0x10, 0x00, 0x00, 0x00, 0x9D, 0x01, 0x2A]) + size + b"\x00" * 20


def test_a_real_vp8_keyframe_tells_its_size() -> None:
    import av

    encoder = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 320, 180, "yuv420p"
    encoder.options = {"deadline": "realtime"}
    frame = av.VideoFrame(320, 180, "yuv420p")
    encoded = b"".join(bytes(p) for p in encoder.encode(frame))
    assert payload.vp8_keyframe_size(b"\x10" + encoded) == (320, 180)
    # With an extended descriptor (picture id), as Chromium sends it.
    assert payload.vp8_keyframe_size(b"\x90\x80\x81\x23" + encoded) == (320, 180)
    assert payload.vp8_keyframe_size(vp8_key_sized(1280, 720)) == (1280, 720)
    # Not a keyframe's first packet, or cut short: nothing.
    assert payload.vp8_keyframe_size(b"\x10\x01" + encoded[1:]) is None
    assert payload.vp8_keyframe_size(b"\x00" + encoded) is None
    assert payload.vp8_keyframe_size(vp8_key_sized(640, 480)[:10]) is None
    assert payload.vp8_keyframe_size(b"") is None


async def test_the_layer_fills_the_tile_no_larger_and_comes_back_when_it_grows() -> None:
    source, low, high, track, _ = layered()
    for i in range(3):
        low.on_rtp(make_packet(100 + i, 3000 * i, vp8_key_sized(320, 240), ssrc=0xA))
        high.on_rtp(make_packet(500 + i, 3000 * i, vp8_key_sized(640, 480), ssrc=0xB))
    assert (low.height, high.height) == (240, 480)
    now = low.last_arrival
    source.bitrates = {"h": 200_000, "f": 400_000}

    def choose(at: float) -> object:
        low.last_arrival = high.last_arrival = at  # both layers still sending
        return source.choose(track, at)

    # Plenty of bandwidth, and a big tile: the top layer (once it is allowed to step up).
    track.view_height = 700
    assert choose(now) is low  # the start: the lower middle layer
    track.switch(low)
    track.estimate = (900_000, now + 5)
    assert choose(now + 5) is high
    track.switch(high)
    # The tile shrinks to a thumbnail (a phone's grid): the small layer fills it, at once.
    track.view_height = 200
    assert choose(now + 5.5) is low
    track.switch(low)
    assert choose(now + 6) is low  # and stays while the tile is small
    # A page in the background shows nothing: the lowest layer.
    track.view_height = 0
    assert choose(now + 6.5) is low
    # The tile is large again: back to what the bandwidth allowed, without the wait of a
    # step up; the estimate, which followed the small layer, does not pull it down at once.
    track.view_height = 480
    track.estimate = (300_000, now + 7)
    assert choose(now + 7) is high
    track.switch(high)
    assert choose(now + 7.5) is high
    # Not said (an older page): the bandwidth alone decides, as before.
    track.view_height = None
    assert choose(now + 8) is high
    await source.close()
