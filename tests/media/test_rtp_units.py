"""The RTP path's parts without a network: header rewriting, continuity across source changes,
NACK answers (RTX), routing by SSRC, MID and RTX payload type, loss tracking and reports."""

from __future__ import annotations

import asyncio
import struct
import time
from typing import Any

import pytest

from mediaserver.rtp import packet as rtp
from mediaserver.rtp.downlink import Downlink
from mediaserver.rtp.downtrack import Binding, DownTrack
from mediaserver.rtp.forwarder import RtpForwarder
from mediaserver.rtp.uplink import Uplink, UplinkStream

# S=1, PID 0; frame tag with P=0 and the keyframe start code
VP8_KEY = bytes([0x10, 0x00, 0x00, 0x00, 0x9D, 0x01, 0x2A]) + b"\x00" * 20
VP8_DELTA = bytes([0x10, 0x01]) + b"\x11" * 20  # S=1, P=1
VP8_MIDDLE = bytes([0x00]) + b"\x22" * 20  # S=0


def make_packet(
    seq: int,
    ts: int,
    payload: bytes,
    *,
    ssrc: int = 0x1111,
    pt: int = 96,
    marker: bool = True,
    extensions: list[tuple[int, bytes]] | None = None,
) -> bytes:
    first = 0x80
    ext = b""
    if extensions:
        first |= 0x10
        ext = rtp.extension_block(extensions)
    return (
        struct.pack("!BBHII", first, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts, ssrc)
        + ext
        + payload
    )


class FakeTransport:
    """Collects what a down track sends (its egress writes the packets into `packets`)."""

    def __init__(self) -> None:
        self.packets: list[bytes] = []
        self.ready = True
        self.send_errors = 0

    def egress(self) -> FakeTransport:
        return self

    def rtp(
        self,
        first: int,
        second: int,
        seq: int,
        timestamp: int,
        ssrc: int,
        extension: bytes,
        head: bytes,
        data: bytes,
        start: int,
    ) -> bool:
        packet = rtp.assemble(first, second, seq, timestamp, ssrc, extension, head, data, start)
        assert rtp.valid(packet)
        self.packets.append(packet)
        return True


def fields(packet: bytes) -> tuple[int, int, int, int, int]:
    """(marker, payload type, seq, timestamp, ssrc)"""
    _first, second, seq, ts, ssrc = rtp.HEADER.unpack_from(packet)
    return second >> 7, second & 0x7F, seq, ts, ssrc


async def no_keyframe() -> None:
    return None


def forwarder(kind: str = "video", nacks: list[tuple[int, list[int]]] | None = None) -> Any:
    sent = nacks if nacks is not None else []
    return RtpForwarder(
        kind=kind,
        mime_type="video/VP8" if kind == "video" else "audio/opus",
        clock_rate=90000 if kind == "video" else 48000,
        send_keyframe_request=no_keyframe,
        send_nack=lambda ssrc, lost: sent.append((ssrc, lost)),
        min_keyframe_interval=0.3,
        keyframe_retry=1.0,
        log_context={},
    )


BINDING = Binding(
    ssrc=0xABCD,
    payload_type=120,
    rtx_ssrc=0xABCE,
    rtx_payload_type=121,
    mid="3",
    mid_id=1,
    ast_id=3,
    cname="cname-x",
)


def down(source: Any) -> tuple[DownTrack, FakeTransport]:
    track = DownTrack("video")
    transport = FakeTransport()
    track.bind(transport, BINDING)  # type: ignore[arg-type]
    track.attach(source)
    track.release()
    return track, transport


async def test_the_header_is_the_subscribers_and_the_payload_untouched() -> None:
    source = forwarder()
    source.ssrc = 0x1111
    _track, out = down(source)
    mid_ext = [(4, b"0"), (2, b"\x01\x02\x03")]  # the publisher's own ids and values
    source.on_rtp(make_packet(100, 9000, VP8_DELTA, extensions=mid_ext))
    assert out.packets == []  # video waits for a keyframe
    sent = make_packet(101, 12000, VP8_KEY, marker=False, extensions=mid_ext)
    source.on_rtp(sent)
    source.on_rtp(make_packet(102, 12000, VP8_MIDDLE, extensions=mid_ext))
    assert len(out.packets) == 2
    first = out.packets[0]
    marker, pt, seq, _ts, ssrc = fields(first)
    assert (marker, pt, ssrc) == (0, 120, 0xABCD)
    assert rtp.extension(first, 1) == b"3"  # the subscriber's MID with the offered id
    assert rtp.extension(first, 3) is not None and len(rtp.extension(first, 3) or b"") == 3
    assert rtp.extension(first, 4) is None  # the publisher's extensions are not passed on
    assert first[rtp.header_size(first) :] == VP8_KEY
    assert fields(out.packets[1])[2] == (seq + 1) & 0xFFFF
    await source.close()


async def test_a_new_source_continues_the_subscribers_numbers() -> None:
    first_source, second_source = forwarder(), forwarder()
    first_source.ssrc, second_source.ssrc = 0x1111, 0x2222
    track, out = down(first_source)
    for i in range(5):
        body = VP8_KEY if i == 0 else VP8_DELTA
        first_source.on_rtp(make_packet(60000 + i, 1000 + 3000 * i, body))
    last_ts = fields(out.packets[-1])[3]
    track.attach(second_source)
    track.release()
    second_source.on_rtp(make_packet(7, 555, VP8_DELTA, ssrc=0x2222))  # not a keyframe: waits
    assert len(out.packets) == 5
    second_source.on_rtp(make_packet(8, 3555, VP8_KEY, ssrc=0x2222))
    second_source.on_rtp(make_packet(9, 6555, VP8_DELTA, ssrc=0x2222))
    seqs = [fields(p)[2] for p in out.packets]
    assert seqs == [(seqs[0] + i) & 0xFFFF for i in range(7)]  # no gap, no jump
    new_ts = fields(out.packets[5])[3]
    assert 0 < (new_ts - last_ts) & 0xFFFFFFFF < 90000  # forward, by about the time passed
    assert (fields(out.packets[6])[3] - new_ts) & 0xFFFFFFFF == 3000
    assert {fields(p)[4] for p in out.packets} == {0xABCD}
    await first_source.close()
    await second_source.close()


async def test_a_subscribers_nack_is_answered_by_rtx_from_the_history() -> None:
    source = forwarder()
    source.ssrc = 0x1111
    track, out = down(source)
    stats = track._stats  # the worker's counters (/metrics)
    payloads = [VP8_KEY, VP8_MIDDLE + b"a", VP8_MIDDLE + b"b"]
    for i, body in enumerate(payloads):
        source.on_rtp(make_packet(500 + i, 7000, body, marker=i == 2))
    lost = fields(out.packets[1])[2]
    track.on_nack([lost, (lost + 1000) & 0xFFFF])  # the second was never sent: ignored
    assert len(out.packets) == 4
    rtx = out.packets[3]
    _marker, pt, _seq, ts, ssrc = fields(rtx)
    assert (pt, ssrc) == (121, 0xABCE)
    assert ts == fields(out.packets[1])[3]
    body = rtx[rtp.header_size(rtx) :]
    assert struct.unpack("!H", body[:2])[0] == lost  # the original sequence number first
    assert body[2:] == payloads[1]
    assert track.retransmitted == 1
    assert (stats.nacked, stats.retransmitted) == (2, 1)
    await source.close()


async def test_gaps_are_nacked_to_the_publisher_and_retransmissions_fill_them() -> None:
    nacks: list[tuple[int, list[int]]] = []
    source = forwarder(nacks=nacks)
    source.ssrc = 0x1111
    _track, out = down(source)
    source.on_rtp(make_packet(10, 0, VP8_KEY))
    source.on_rtp(make_packet(14, 3000, VP8_DELTA))
    assert nacks == [(0x1111, [11, 12, 13])]
    # 12 comes back as RTX (payload type 97, RTX SSRC), unwrapped to the media stream
    rtx = make_packet(1, 0, struct.pack("!H", 12) + VP8_MIDDLE, ssrc=0x9999, pt=97)
    source.on_rtx(rtx, media_pt=96)
    assert source.recovered == 1
    recovered = source.packet(12)
    assert recovered is not None and fields(recovered)[1:] == (96, 12, 0, 0x1111)
    assert out.packets[-1][rtp.header_size(out.packets[-1]) :] == VP8_MIDDLE
    source.on_rtp(make_packet(12, 0, VP8_MIDDLE))  # a duplicate is dropped
    assert len(out.packets) == 3
    block = source.report_block()
    assert block is not None
    ssrc, fraction, lost, highest, _lsr, _dlsr = block
    assert (ssrc, lost, highest) == (0x1111, 2, 14)
    assert fraction == (2 << 8) // 5
    await source.close()


async def test_the_uplink_learns_ssrcs_from_mid_and_rtx_payload_types() -> None:
    video, audio = forwarder(), forwarder("audio")
    uplink = Uplink({})
    uplink.mid_id = 4
    uplink.add(UplinkStream("0", audio, frozenset({111})))
    uplink.add(UplinkStream("1", video, frozenset({96}), {97: 96}))
    seen: list[int] = []
    video.receive = lambda data: seen.append(fields(data)[2])  # type: ignore[method-assign]
    uplink._on_rtp(make_packet(5, 0, VP8_KEY, ssrc=0x5555, extensions=[(4, b"1")]))
    assert video.ssrc == 0x5555 and seen == [5]
    uplink._on_rtp(make_packet(6, 0, VP8_KEY, ssrc=0x5555))  # known now, no MID needed
    assert seen == [5, 6]
    # the RTX stream: by its payload type (only one track could carry it)
    uplink._on_rtp(make_packet(1, 0, struct.pack("!H", 4) + VP8_MIDDLE, ssrc=0x6666, pt=97))
    assert seen == [5, 6, 4]
    # an SSRC no track can carry is dropped, and garbage is counted, not raised
    uplink._on_rtp(make_packet(1, 0, b"x", ssrc=0x7777, pt=100))
    uplink._on_rtp(b"\x80\x60\x00")
    uplink._on_rtp(b"\x90\x60" + b"\x00" * 10 + b"\xbe\xde\xff\xff")
    assert uplink.unroutable == 1 and uplink.invalid == 2
    await video.close()
    await audio.close()


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x80",
        b"\x40" + b"\x00" * 20,  # version 1
        b"\x8f" + b"\x00" * 20,  # 15 CSRCs announced, not there
        b"\xa0\x60" + b"\x00" * 10 + b"\x00",  # padding count 0
        b"\xa0\x60" + b"\x00" * 10 + b"\x40",  # padding longer than the packet
    ],
)
def test_malformed_packets_are_not_valid(data: bytes) -> None:
    assert not rtp.valid(data)


def test_extensions_in_both_forms_are_found() -> None:
    one = make_packet(1, 0, b"x", extensions=[(1, b"ab"), (3, b"\x01\x02\x03")])
    assert rtp.extension(one, 1) == b"ab" and rtp.extension(one, 3) == b"\x01\x02\x03"
    assert rtp.extension(one, 2) is None
    two_byte = struct.pack("!HH", 0x1000, 2) + bytes([5, 3]) + b"xyz" + b"\x00\x00\x00"
    packet = struct.pack("!BBHII", 0x90, 96, 1, 0, 1) + two_byte + b"p"
    assert rtp.valid(packet)
    assert rtp.extension(packet, 5) == b"xyz"
    writer = rtp.ExtensionWriter("12", 1, 3)
    block = writer.block(b"\x0a\x0b\x0c")
    assert len(block) % 4 == 0
    packet = struct.pack("!BBHII", 0x90, 96, 1, 0, 1) + block + b"p"
    assert rtp.extension(packet, 1) == b"12" and rtp.extension(packet, 3) == b"\x0a\x0b\x0c"


def early_track(source: Any) -> tuple[DownTrack, FakeTransport, Downlink]:
    """A video track accepted by its subscriber whose connection is not up yet."""
    track = DownTrack("video")
    out = FakeTransport()
    out.ready = False
    track.bind(out, BINDING)  # type: ignore[arg-type]
    track.attach(source)
    track.release()
    link = Downlink({})
    link._tracks[BINDING.ssrc] = track
    return track, out, link


async def test_the_keyframe_asked_for_on_accepting_waits_for_the_connection_and_goes_first() -> (
    None
):
    """Released before its connection is up, a track asks for a keyframe at once and keeps
    the video from that keyframe on; when the connection comes up it is sent, in order and
    numbered on, and nothing is asked again."""
    source = forwarder()
    source.ssrc = 0x1111
    track, out, link = early_track(source)
    assert source._keyframe_wanted.is_set()  # asked now, not when the connection is up
    source._keyframe_wanted.clear()
    source.on_rtp(make_packet(1, 0, VP8_MIDDLE + b"before"))  # before the keyframe: not kept
    source.on_rtp(make_packet(2, 3000, VP8_KEY, marker=False))
    source.on_rtp(make_packet(3, 3000, VP8_MIDDLE + b"k2"))
    source.on_rtp(make_packet(5, 6000, VP8_MIDDLE + b"d1"))  # 4 is late
    source.on_rtp(make_packet(4, 3000, VP8_MIDDLE + b"k3", marker=True))
    assert out.packets == [] and track.waiting_keyframe
    out.ready = True
    link.connected()
    assert not track.waiting_keyframe and not source._keyframe_wanted.is_set()
    sent = [fields(p) for p in out.packets]
    bodies = [p[rtp.header_size(p) :] for p in out.packets]
    assert bodies == [VP8_KEY, VP8_MIDDLE + b"k2", VP8_MIDDLE + b"d1", VP8_MIDDLE + b"k3"]
    first = sent[0][2]
    assert [f[2] for f in sent] == [first, first + 1, first + 3, first + 2]  # as they came
    assert sent[0][3] == sent[1][3] == sent[3][3] and sent[2][3] == sent[0][3] + 3000
    # Then live packets take the normal way on.
    source.on_rtp(make_packet(6, 9000, VP8_MIDDLE + b"live"))
    assert fields(out.packets[-1])[2] == first + 4
    await source.close()


async def test_a_newer_keyframe_replaces_what_was_kept_and_too_much_is_let_go() -> None:
    from mediaserver.rtp.downtrack import EARLY_PACKETS

    source = forwarder()
    source.ssrc = 0x1111
    track, out, link = early_track(source)
    source.on_rtp(make_packet(10, 0, VP8_KEY))
    source.on_rtp(make_packet(11, 3000, VP8_MIDDLE))
    source.on_rtp(make_packet(12, 6000, VP8_KEY + b"newer"))
    assert track._early is not None and len(track._early) == 1  # from the newest keyframe
    for n in range(EARLY_PACKETS):
        source.on_rtp(make_packet(13 + n, 9000 + n, VP8_MIDDLE))
    assert track._early is None  # a connection this slow gets a fresh keyframe instead
    source._keyframe_wanted.clear()
    out.ready = True
    link.connected()
    assert out.packets == [] and track.waiting_keyframe
    assert source._keyframe_wanted.is_set()  # asked again once it is up
    await source.close()


async def test_a_connection_up_before_the_keyframe_asks_again_only_if_none_is_on_its_way() -> None:
    source = forwarder()
    source.ssrc = 0x1111
    track, out, link = early_track(source)
    assert source._keyframe_wanted.is_set()  # asked on accepting
    out.ready = True
    link.connected()  # before the keyframe came: still on its way, not asked again
    assert track.waiting_keyframe and source.keyframe_requests == 0
    source._keyframe_wanted.clear()  # the request went out (what `_keyframes` does)
    source._last_request = time.monotonic()
    link.connected()
    assert not source._keyframe_wanted.is_set()  # asked since the track began waiting
    source._last_request = track.waiting_since - 5  # asked only long before
    link.connected()
    assert source._keyframe_wanted.is_set()
    source.on_rtp(make_packet(1, 0, VP8_KEY))  # the keyframe, when it comes, goes out
    assert len(out.packets) == 1 and not track.waiting_keyframe
    await source.close()


async def test_a_track_not_yet_accepted_keeps_nothing() -> None:
    source = forwarder()
    source.ssrc = 0x1111
    track = DownTrack("video")
    out = FakeTransport()
    out.ready = False
    track.bind(out, BINDING)  # type: ignore[arg-type]
    track.attach(source)  # held: the subscriber has not accepted the offer
    source.on_rtp(make_packet(1, 0, VP8_KEY))
    assert track._early is None
    track.release()  # accepted: starts over from the next keyframe
    source.on_rtp(make_packet(2, 3000, VP8_MIDDLE))
    assert track._early is None
    await source.close()


async def test_a_subscriber_left_waiting_for_a_keyframe_asks_again_once_due_and_not_before() -> (
    None
):
    # Whichever path receives (C or Python, tests/media/test_wire_fallback.py runs both): the
    # end of a frame walks the subscribers only once one can be due.
    source = forwarder()
    source.ssrc = 0x1111
    source._retry = 0.5
    track, out = down(source)  # released: waiting for its first keyframe from now on
    asked: list[float] = []
    scans: list[float] = []
    scan = source._retry_keyframe
    source.want_keyframe = lambda: asked.append(time.monotonic())
    source._retry_keyframe = lambda now: (scans.append(now), scan(now))[1]
    seq = [700]

    def frame_end() -> None:
        source.receive(make_packet(seq[0], 9000 + seq[0], VP8_MIDDLE, marker=True))
        seq[0] += 1

    for _ in range(10):
        frame_end()
    assert out.packets == []  # no keyframe yet: nothing forwarded
    assert len(scans) == 1 and asked == []  # one walk, which found nobody due yet
    assert source._retry_at == track.waiting_since + 0.5
    await asyncio.sleep(0.55)
    frame_end()
    assert len(scans) == 2 and len(asked) == 1  # due: asked for a keyframe again

    # Once asked (the request sent), the next walk waits for the retry interval again.
    source._last_request = time.monotonic()
    frame_end()
    frame_end()
    assert len(scans) == 3 and len(asked) == 1
    assert source._retry_at == source._last_request + 0.5
    await source.close()
