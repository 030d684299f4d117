"""mediaserver.rtp.payload on real packets: PyAV-encoded frames cut up by aiortc's packetisers.

VP9 and AV1 have no packetiser in aiortc, so their payloads are built by hand from the specs.
Run this file as a script for a per-call timing (`python -m tests.media.test_rtp_payload`).
"""

from __future__ import annotations

import fractions
import random
from collections.abc import Iterator
from dataclasses import dataclass

import av
import numpy as np
import pytest
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.vpx import Vp8Encoder, VpxPayloadDescriptor

from mediaserver.rtp.payload import (
    AV1,
    H264,
    OTHER,
    VP8,
    VP9,
    Vp8Descriptor,
    codec_id,
    keyframe_start,
    vp8_descriptor,
    vp8_rewrite,
)

FRAMES = 8
FORCED_KEYFRAME = 5  # besides frame 0, the encoder's own first keyframe


@dataclass
class EncodedFrame:
    keyframe: bool
    payloads: list[bytes]  # RTP payloads in sending order


def _noise_frames(count: int, width: int = 320, height: int = 240) -> Iterator[av.VideoFrame]:
    """Frames of random noise: costly to code, so every frame spans several packets."""
    for index in range(count):
        rng = np.random.default_rng(index)
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        frame.pts = index
        frame.time_base = fractions.Fraction(1, 30)
        if index == FORCED_KEYFRAME:
            frame.pict_type = av.video.frame.PictureType.I
        yield frame


def _encode(codec_name: str, options: dict[str, str]) -> list[EncodedFrame]:
    """FRAMES frames through a PyAV encoder and aiortc's packetiser for that codec."""
    if codec_name not in av.codecs_available:
        pytest.skip(f"PyAV has no {codec_name} encoder")
    codec = av.CodecContext.create(codec_name, "w")
    codec.width, codec.height, codec.pix_fmt = 320, 240, "yuv420p"
    codec.time_base = fractions.Fraction(1, 30)
    codec.framerate = fractions.Fraction(30, 1)
    codec.bit_rate = 2_000_000
    codec.gop_size = 1000  # no keyframes but the first and the forced one
    codec.options = options
    packer = Vp8Encoder() if codec_name == "libvpx" else H264Encoder()
    encoded = []
    for frame in _noise_frames(FRAMES):
        for packet in codec.encode(frame):
            payloads, _ = packer.pack(packet)
            encoded.append(EncodedFrame(bool(packet.is_keyframe), payloads))
    return encoded


@pytest.fixture(scope="module")
def vp8_frames() -> list[EncodedFrame]:
    return _encode("libvpx", {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"})


@pytest.fixture(scope="module")
def h264_frames() -> list[EncodedFrame]:
    # Four slices per picture, so an IDR picture has several IDR slices of which only the
    # first may count as a start.
    return _encode("libx264", {"tune": "zerolatency", "preset": "ultrafast", "slices": "4"})


def _starts(codec: int, frame: EncodedFrame) -> list[int]:
    return [i for i, payload in enumerate(frame.payloads) if keyframe_start(codec, payload)]


def _keyframe_indexes(frames: list[EncodedFrame]) -> list[int]:
    return [i for i, frame in enumerate(frames) if frame.keyframe]


def test_codec_id() -> None:
    assert codec_id("video/VP8") == VP8
    assert codec_id("VIDEO/vp9") == VP9
    assert codec_id("video/H264") == H264
    assert codec_id("video/AV1") == AV1
    assert codec_id("audio/opus") == OTHER
    assert codec_id("video/rtx") == OTHER
    assert codec_id("") == OTHER


def test_other_codecs_always_start() -> None:
    assert keyframe_start(OTHER, b"\xfc\xff\xfe")
    assert keyframe_start(OTHER, b"")


def test_unknown_codec_number_never_starts() -> None:
    assert not keyframe_start(99, b"\x90\x80\x80\x00")


def test_vp8_first_packet_of_each_keyframe_only(vp8_frames: list[EncodedFrame]) -> None:
    assert len(vp8_frames) == FRAMES
    assert _keyframe_indexes(vp8_frames) == [0, FORCED_KEYFRAME]
    for index, frame in enumerate(vp8_frames):
        assert len(frame.payloads) > 1, f"frame {index} fits one packet: test proves less"
        assert _starts(VP8, frame) == ([0] if frame.keyframe else []), f"frame {index}"


def test_h264_keyframe_starts(h264_frames: list[EncodedFrame]) -> None:
    assert len(h264_frames) == FRAMES
    assert _keyframe_indexes(h264_frames) == [0, FORCED_KEYFRAME]
    for index, frame in enumerate(h264_frames):
        first = frame.payloads[0]
        assert len(frame.payloads) > 1, f"frame {index} fits one packet: test proves less"
        if not frame.keyframe:
            assert _starts(H264, frame) == [], f"frame {index}"
            continue
        # aiortc sends SPS, PPS (and SEI) as one STAP-A, then the IDR slices as FU-As. The
        # STAP-A is the start; the FU-A opening the picture's first IDR slice also counts
        # (rule: an IDR is a start, for streams whose parameter sets are not in band); the
        # FU-As opening later slices do not.
        assert first[0] & 0x1F == 24 and first[3] & 0x1F == 7, f"frame {index}: no SPS STAP-A"
        idr_slice_starts = [
            i for i, p in enumerate(frame.payloads) if p[0] & 0x1F == 28 and p[1] == 0x85
        ]
        assert len(idr_slice_starts) > 1, f"frame {index}: expected several IDR slices"
        assert _starts(H264, frame) == [0, idr_slice_starts[0]], f"frame {index}"


def test_h264_by_hand() -> None:
    """RFC 6184: NAL header |F|NRI|Type| (5.3), STAP-A (5.7.1), FU-A (5.8)."""
    idr_first_slice = b"\x65\x88\x84\x00"  # type 5, first_mb_in_slice ue(v) = 0 ("1...")
    idr_later_slice = b"\x65\x05\x77\xff"  # first_mb_in_slice != 0
    sps = b"\x67\x42\xc0\x1f"
    pps = b"\x68\xce\x3c\x80"
    non_idr = b"\x41\x9a\x20\x00"
    assert keyframe_start(H264, idr_first_slice)
    assert not keyframe_start(H264, idr_later_slice)
    assert keyframe_start(H264, sps)
    assert not keyframe_start(H264, pps)
    assert not keyframe_start(H264, non_idr)

    def stap_a(*nals: bytes) -> bytes:
        return b"\x78" + b"".join(len(n).to_bytes(2, "big") + n for n in nals)

    assert keyframe_start(H264, stap_a(pps, idr_first_slice))  # IDR not first in the STAP-A
    assert keyframe_start(H264, stap_a(sps, pps))
    assert not keyframe_start(H264, stap_a(pps, non_idr))
    assert not keyframe_start(H264, stap_a(pps, idr_later_slice))
    assert not keyframe_start(H264, stap_a(pps)[:-1] + stap_a(sps)[1:])  # bad size: stop
    assert not keyframe_start(H264, b"\x78\x00\x00\x67\x42")  # zero size
    assert not keyframe_start(H264, b"\x78\x00\x09\x67\x42")  # size past the end

    assert keyframe_start(H264, b"\x7c\x85\x88\x84")  # FU-A, S=1, IDR, first slice
    assert not keyframe_start(H264, b"\x7c\x85\x05\x77")  # FU-A, S=1, IDR, later slice
    assert not keyframe_start(H264, b"\x7c\x05\x88\x84")  # FU-A, S=0
    assert not keyframe_start(H264, b"\x7c\x45\x88\x84")  # FU-A, E=1 only
    assert keyframe_start(H264, b"\x7c\x87\x42\xc0")  # FU-A, S=1, SPS
    assert not keyframe_start(H264, b"\x5c\x81\x9a\x20")  # FU-A, S=1, non-IDR
    assert not keyframe_start(H264, b"\x7c\x85")  # FU-A start without a payload byte
    assert not keyframe_start(H264, b"\x79\x00\x04" + sps)  # STAP-B is not handled


def test_vp9_by_hand() -> None:
    """RFC 9628 section 4.2: |I|P|L|F|B|E|V|Z|, then the picture id (I), the layer byte
    |TID|U|SID|D| (L) and in non-flexible mode TL0PICIDX; P_DIFF only when P=1 and F=1."""
    payload = b"\xaa\xbb"
    # I=1 (15-bit id), B=1, E=1: a one-packet keyframe without layers.
    assert keyframe_start(VP9, b"\x8c\x81\x23" + payload)
    assert keyframe_start(VP9, b"\x88\x12" + payload)  # 7-bit id, B=1, E=0
    assert keyframe_start(VP9, b"\x08" + payload)  # no picture id
    assert not keyframe_start(VP9, b"\x84\x81\x23" + payload)  # B=0: not the frame's start
    assert not keyframe_start(VP9, b"\xcc\x81\x23" + payload)  # P=1: inter frame
    # L=1, non-flexible: picture id, layer byte (SID 0), TL0PICIDX.
    assert keyframe_start(VP9, b"\xae\x81\x23\x00\x07" + payload)  # + V=1, SS follows
    assert keyframe_start(VP9, b"\xac\x12\x00\x07" + payload)
    # L=1, SID=1 (layer byte 0b000_0_001_0): an upper spatial layer, not a start.
    assert not keyframe_start(VP9, b"\xac\x81\x23\x02\x07" + payload)
    # L=1, F=1 (flexible): no TL0PICIDX; SID 0 starts, SID 2 does not.
    assert keyframe_start(VP9, b"\xbc\x81\x23\x00" + payload)
    assert not keyframe_start(VP9, b"\xbc\x81\x23\x04" + payload)
    assert not keyframe_start(VP9, b"\xbc\x81\x23\x00")  # descriptor only, no frame bytes
    assert not keyframe_start(VP9, b"\xac\x81\x23")  # layer byte missing


def test_av1_by_hand() -> None:
    """AV1 RTP spec section 4.4, aggregation header |Z|Y|W W|N|-|-|-|."""
    obu = b"\x0a\x0b\x00\x00\x00"  # a sequence header OBU (type 1) would follow
    assert keyframe_start(AV1, bytes([0b0000_1000]) + obu)  # N=1
    assert keyframe_start(AV1, bytes([0b0001_1000]) + obu)  # N=1, W=1
    assert keyframe_start(AV1, bytes([0b0101_1000]) + obu)  # N=1, Y=1 (continues later)
    assert not keyframe_start(AV1, bytes([0b1000_1000]) + obu)  # Z=1: a continuation
    assert not keyframe_start(AV1, bytes([0b0001_0000]) + obu)  # N=0
    assert not keyframe_start(AV1, bytes([0b0000_1000]))  # no OBU at all


def _all_payloads(frames: list[EncodedFrame]) -> list[bytes]:
    return [p for frame in frames for p in frame.payloads]


def test_prefixes_and_garbage_never_raise(
    vp8_frames: list[EncodedFrame], h264_frames: list[EncodedFrame]
) -> None:
    firsts = [vp8_frames[0].payloads[0], h264_frames[0].payloads[0], h264_frames[0].payloads[1]]
    rng = random.Random(7)
    garbage = [rng.randbytes(rng.randint(0, 40)) for _ in range(2000)]
    flipped = []
    for payload in firsts:
        for _ in range(500):
            head = bytearray(payload[:12])
            head[rng.randrange(12)] ^= 1 << rng.randrange(8)
            flipped.append(bytes(head) + payload[12:])
    samples = [p[:n] for p in firsts for n in range(len(p) + 1)] + garbage + flipped
    for data in samples:
        for codec in (VP8, VP9, H264, AV1):
            keyframe_start(codec, data)
        vp8_descriptor(data)
        vp8_rewrite(data, 0x7FFF, 0xFF)
    # A keyframe's first packet cut short of its VP8 start code is malformed, so not a start.
    vp8_first = vp8_frames[0].payloads[0]
    size = len(bytes(VpxPayloadDescriptor.parse(vp8_first)[0]))
    assert keyframe_start(VP8, vp8_first[: size + 6])
    assert not any(keyframe_start(VP8, vp8_first[:n]) for n in range(size + 6))
    assert not any(keyframe_start(H264, h264_frames[0].payloads[0][:n]) for n in range(4))


def _descriptor(
    start: bool,
    picture_id: int | None = None,
    bits: int = 15,
    tl0picidx: int | None = None,
    tk: int | None = None,
    keyidx: bool = False,
) -> bytes:
    """A VP8 payload descriptor built by hand (RFC 7741 section 4.2), 7-bit ids included."""
    ext = (
        (0x80 if picture_id is not None else 0)
        | (0x40 if tl0picidx is not None else 0)
        | (0x20 if tk is not None and not keyidx else 0)
        | (0x10 if keyidx else 0)
    )
    out = bytes([(0x80 if ext else 0) | (0x10 if start else 0)])
    if ext:
        out += bytes([ext])
    if picture_id is not None:
        out += (0x8000 | picture_id).to_bytes(2, "big") if bits == 15 else bytes([picture_id])
    if tl0picidx is not None:
        out += bytes([tl0picidx])
    if tk is not None:
        out += bytes([tk])
    return out


def test_vp8_start_needs_partition_zero(vp8_frames: list[EncodedFrame]) -> None:
    first = vp8_frames[0].payloads[0]
    assert keyframe_start(VP8, first)
    assert not keyframe_start(VP8, bytes([first[0] | 0x01]) + first[1:])  # PID=1
    assert not keyframe_start(VP8, bytes([first[0] & ~0x10]) + first[1:])  # S=0
    size = len(bytes(VpxPayloadDescriptor.parse(first)[0]))
    no_start_code = first[: size + 3] + b"\x00\x00\x00" + first[size + 6 :]
    assert not keyframe_start(VP8, no_start_code)


def test_vp8_descriptor_matches_aiortc(vp8_frames: list[EncodedFrame]) -> None:
    for payload in _all_payloads(vp8_frames):
        theirs, rest = VpxPayloadDescriptor.parse(payload)
        ours = vp8_descriptor(payload)
        assert ours is not None
        assert (ours.start, ours.pid, ours.picture_id) == (
            bool(theirs.partition_start),
            theirs.partition_id,
            theirs.picture_id,
        )
        assert ours.picture_id_bits == 15 and ours.tl0picidx is None and ours.keyidx is None
        assert payload[ours.size :] == rest


def test_vp8_descriptor_fields() -> None:
    assert vp8_descriptor(b"\x10\x00") == Vp8Descriptor(True, 0, None, 0, None, None, 1)
    assert vp8_descriptor(b"\x03\x00") == Vp8Descriptor(False, 3, None, 0, None, None, 1)
    full = _descriptor(True, 0x1234, 15, 200, 0b0110_0011, keyidx=True) + b"\x00"
    assert vp8_descriptor(full) == Vp8Descriptor(True, 0, 0x1234, 15, 200, 3, 6)
    short = _descriptor(False, 0x55, 7, 9, 0b0100_0000) + b"\x00"
    assert vp8_descriptor(short) == Vp8Descriptor(False, 0, 0x55, 7, 9, None, 5)
    assert vp8_descriptor(b"") is None
    assert vp8_descriptor(b"\x90") is None  # X without its extension byte
    assert vp8_descriptor(b"\x90\x80\x80") is None  # 15-bit id cut in half
    assert vp8_descriptor(b"\x90\xc0\x12") is None  # TL0PICIDX missing


@pytest.mark.parametrize("bits", [7, 15])
def test_vp8_keyframe_start_with_all_extensions(vp8_frames: list[EncodedFrame], bits: int) -> None:
    """The real VP8 payloads behind descriptors with L, T and K set, ids of either width."""
    for frame in vp8_frames:
        for index, payload in enumerate(frame.payloads):
            theirs, vp8 = VpxPayloadDescriptor.parse(payload)
            descriptor = _descriptor(bool(theirs.partition_start), 0x45, bits, 17, 0x21, True)
            expected = frame.keyframe and index == 0
            assert keyframe_start(VP8, descriptor + vp8) is expected


@pytest.mark.parametrize(
    ("bits", "old", "new", "written"),
    [
        (15, 0x7FFE, 0x7FFF, 0x7FFF),
        (15, 0x7FFF, 0x8000, 0),  # wraps mod 2**15
        (15, 3, 0x10005, 5),
        (7, 0x7E, 0x7F, 0x7F),
        (7, 0x7F, 0x80, 0),  # wraps mod 2**7
        (7, 1, 0x1234, 0x34),
    ],
)
def test_vp8_rewrite_picture_id(bits: int, old: int, new: int, written: int) -> None:
    head = _descriptor(True, old, bits, 250, 0b0010_0000)
    payload = head + b"\x50\x0d\x00\x9d\x01\x2a" + bytes(range(40))
    out = vp8_rewrite(payload, new, None)
    before, after = vp8_descriptor(payload), vp8_descriptor(out)
    assert before is not None and after is not None
    assert after.picture_id == written and after.picture_id_bits == bits == before.picture_id_bits
    assert after.tl0picidx == 250 and after.size == before.size
    assert len(out) == len(payload)
    assert out[:2] == payload[:2] and out[after.size - 2 :] == payload[before.size - 2 :]
    assert keyframe_start(VP8, out)
    assert vp8_rewrite(out, old, None) == payload  # round trip


def test_vp8_rewrite_tl0picidx() -> None:
    payload = _descriptor(False, 0x1234, 15, 255, 0x40) + bytes(range(100))
    out = vp8_rewrite(payload, None, 256)  # wraps mod 2**8
    after = vp8_descriptor(out)
    assert after is not None and after.tl0picidx == 0 and after.picture_id == 0x1234
    assert out[:4] == payload[:4] and out[5:] == payload[5:]
    both = vp8_rewrite(payload, 7, 8)
    assert both[2:5] == b"\x80\x07\x08" and both[5:] == payload[5:]
    assert vp8_rewrite(both, 0x1234, 255) == payload


def test_vp8_rewrite_without_fields_keeps_payload(vp8_frames: list[EncodedFrame]) -> None:
    bare = b"\x10\x50\x0d\x00\x9d\x01\x2a"
    assert vp8_rewrite(bare, 5, 6) is bare
    only_tid = _descriptor(True, tk=0x40) + b"\x50"
    assert vp8_rewrite(only_tid, 5, 6) is only_tid
    no_tl0 = _descriptor(True, 9, 7) + b"\x50"
    assert vp8_rewrite(no_tl0, None, 6) is no_tl0  # no TL0PICIDX field to write to
    real = vp8_frames[0].payloads[0]
    assert vp8_rewrite(real, None, None) is real
    assert vp8_rewrite(real[:3], 1, 1) == real[:3]  # truncated picture id: unchanged


def _per_call_ns(stmt: str, names: dict[str, object], calls: int) -> float:
    import timeit

    return min(timeit.repeat(stmt, globals=names, number=calls, repeat=5)) / calls * 1e9


def _benchmark() -> None:
    """ns per call on real VP8 packets (a printed figure, not a test)."""
    frames = _encode("libvpx", {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"})
    payloads = _all_payloads(frames)
    cases = {"keyframe, first packet": frames[0].payloads[0], "delta, later": frames[1].payloads[1]}
    for label, data in cases.items():
        names = {"f": keyframe_start, "c": VP8, "d": data}
        print(f"keyframe_start(VP8) {label}: {_per_call_ns('f(c, d)', names, 1_000_000):.0f} ns")
    names = {"f": keyframe_start, "c": VP8, "ps": payloads}
    loop = _per_call_ns("for p in ps: f(c, p)", names, 2000) / len(payloads)
    print(f"keyframe_start(VP8) over {len(payloads)} real packets: {loop:.0f} ns per packet")
    h264 = {"f": keyframe_start, "c": H264, "d": b"\x7c\x05" + bytes(1000)}
    print(f"keyframe_start(H264) FU-A middle: {_per_call_ns('f(c, d)', h264, 1_000_000):.0f} ns")
    rewrite = {"f": vp8_rewrite, "d": frames[1].payloads[1]}
    print(f"vp8_rewrite, 15-bit id: {_per_call_ns('f(d, 5, None)', rewrite, 200_000):.0f} ns")
    rewrite["f"] = vp8_descriptor
    print(f"vp8_descriptor: {_per_call_ns('f(d)', rewrite, 200_000):.0f} ns")


if __name__ == "__main__":
    _benchmark()
