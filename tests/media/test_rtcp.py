"""The subscriber feedback reader (`mediaserver.rtp.rtcp`) finds what aiortc's parser finds in
the same compound packets, and refuses what aiortc refuses at the packet level."""

from __future__ import annotations

import random
import struct

import pytest
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpPacket,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSdesPacket,
    RtcpSourceInfo,
    pack_remb_fci,
    unpack_remb_fci,
)

from mediaserver.rtp import rtcp


def reference(data: bytes) -> list[rtcp.Event] | None:
    """The same events, read with aiortc's parser."""
    try:
        packets = RtcpPacket.parse(data)
    except ValueError:
        return None
    events: list[rtcp.Event] = []
    for packet in packets:
        if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            events.append((rtcp.NACK, packet.media_ssrc, [s & 0xFFFF for s in packet.lost]))
        elif isinstance(packet, RtcpPsfbPacket):
            if packet.fmt == RTCP_PSFB_PLI:
                events.append((rtcp.PLI, packet.media_ssrc, None))
            elif packet.fmt == RTCP_PSFB_FIR:
                for pos in range(0, len(packet.fci) - 7, 8):
                    events.append((rtcp.FIR, struct.unpack_from("!I", packet.fci, pos)[0], None))
            elif packet.fmt == RTCP_PSFB_APP:
                try:
                    bitrate, ssrcs = unpack_remb_fci(packet.fci)
                except (ValueError, struct.error):
                    continue
                events.append((rtcp.REMB, bitrate, ssrcs))
    return events


def compound(rng: random.Random) -> bytes:
    parts = []
    for _ in range(rng.randint(1, 4)):
        kind = rng.choice(("rr", "sdes", "nack", "pli", "fir", "remb"))
        ssrc, media = rng.getrandbits(32), rng.getrandbits(32)
        if kind == "rr":
            reports = [
                RtcpReceiverInfo(
                    ssrc=rng.getrandbits(32),
                    fraction_lost=rng.getrandbits(8),
                    packets_lost=rng.getrandbits(20),
                    highest_sequence=rng.getrandbits(32),
                    jitter=rng.getrandbits(16),
                    lsr=rng.getrandbits(32),
                    dlsr=rng.getrandbits(32),
                )
                for _ in range(rng.randint(0, 3))
            ]
            parts.append(bytes(RtcpRrPacket(ssrc=ssrc, reports=reports)))
        elif kind == "sdes":
            items = [(1, b"cname-" + bytes(rng.randint(1, 9)))]
            parts.append(bytes(RtcpSdesPacket(chunks=[RtcpSourceInfo(ssrc=ssrc, items=items)])))
        elif kind == "nack":
            start = rng.randint(0, 65_000)
            lost = sorted({start + rng.randint(0, 40) for _ in range(rng.randint(1, 12))})
            packet = RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=ssrc, media_ssrc=media)
            packet.lost = lost
            parts.append(bytes(packet))
        elif kind == "pli":
            parts.append(bytes(RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=ssrc, media_ssrc=media)))
        elif kind == "fir":
            fci = b"".join(
                struct.pack("!IB3x", rng.getrandbits(32), rng.getrandbits(8))
                for _ in range(rng.randint(1, 3))
            )
            parts.append(bytes(RtcpPsfbPacket(fmt=RTCP_PSFB_FIR, ssrc=ssrc, media_ssrc=0, fci=fci)))
        else:
            ssrcs = [rng.getrandbits(32) for _ in range(rng.randint(1, 4))]
            fci = pack_remb_fci(rng.randint(10_000, 50_000_000), ssrcs)
            parts.append(bytes(RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=ssrc, media_ssrc=0, fci=fci)))
    return b"".join(parts)


def test_feedback_matches_aiortcs_parser_on_compound_packets() -> None:
    rng = random.Random(5)
    kinds = set()
    for _ in range(2000):
        data = compound(rng)
        ours = rtcp.feedback(data)
        assert ours == reference(data)
        assert ours is not None
        kinds.update(e[0] for e in ours)
    assert kinds == {rtcp.NACK, rtcp.PLI, rtcp.FIR, rtcp.REMB}


def test_broken_packets_are_refused_as_aiortc_refuses_them() -> None:
    rng = random.Random(6)
    refused = 0
    for _ in range(3000):
        data = bytearray(compound(rng))
        for _ in range(rng.randint(1, 3)):  # a few bytes changed, or the end cut off
            if rng.random() < 0.3:
                del data[rng.randint(1, len(data)) :]
            else:
                data[rng.randrange(len(data))] = rng.getrandbits(8)
        ours = rtcp.feedback(bytes(data))
        theirs = reference(bytes(data))
        if ours is None:
            refused += 1
        # Where both read the packet they read the same events. (aiortc also refuses broken
        # receiver reports and SDES, whose contents the SFU does not read: those we may read.)
        if theirs is not None and ours is not None:
            assert ours == theirs
    assert refused > 300


@pytest.mark.parametrize(
    "data",
    [
        b"\x81",
        b"\x81\xcd\x00",
        b"\x41\xcd\x00\x02" + bytes(8),  # version 1
        b"\x81\xcd\x00\x05" + bytes(8),  # longer than the datagram
        b"\xa1\xce\x00\x02" + bytes(7) + b"\x00",  # padding count 0
        b"\xa1\xce\x00\x02" + bytes(7) + b"\x09",  # padding longer than the packet
        b"\x81\xcd\x00\x01" + bytes(4),  # feedback without its media SSRC
    ],
)
def test_malformed_packets_give_none(data: bytes) -> None:
    assert rtcp.feedback(data) is None


def test_a_remb_listing_more_ssrcs_than_it_carries_is_skipped() -> None:
    fci = b"REMB" + bytes((5,)) + b"\x04\x00\x00" + struct.pack("!I", 7)  # says 5, carries 1
    packet = bytes(RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=1, media_ssrc=0, fci=fci))
    assert rtcp.feedback(packet) == []
    nack = RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=1, media_ssrc=9)
    nack.lost = [65534, 65535, 65536, 65540]  # across the wrap: taken mod 2**16
    assert rtcp.feedback(packet + bytes(nack)) == [(rtcp.NACK, 9, [65534, 65535, 0, 4])]
