"""The feedback a subscriber's RTCP carries for the SFU, read without building objects for what
the SFU does not use (receiver reports, SDES, BYE): generic NACK (RFC 4585 6.2.1), PLI
(RFC 4585 6.3.1), FIR (RFC 5104 4.3.1) and REMB (draft-alvestrand-rmcat-remb-03).

Every client sends receiver reports and REMB about every stream it receives, so this runs a
few hundred times a second on a busy worker; aiortc's parser made an object for each report
block and SDES item of each compound packet. The compound packet is walked as aiortc walks
it (version, lengths and padding checked; a malformed one gives None and nothing of it is
used); sequence numbers in NACKs are taken mod 2**16.
"""

from __future__ import annotations

from typing import Any

NACK, PLI, FIR, REMB = 1, 2, 3, 4

RTPFB = 205  # transport-layer feedback
PSFB = 206  # payload-specific feedback
FMT_NACK = 1
FMT_PLI = 1
FMT_FIR = 4
FMT_APP = 15  # REMB rides on application-layer feedback

Event = tuple[int, int, Any]  # (NACK, media SSRC, [seq]), (PLI, SSRC, None),
# (FIR, SSRC, None), (REMB, bitrate, [SSRC])


def feedback(data: bytes) -> list[Event] | None:
    """The NACK, PLI, FIR and REMB messages of a compound RTCP packet, in order; None when the
    packet is malformed."""
    events: list[Event] = []
    pos, size = 0, len(data)
    while pos < size:
        if pos + 4 > size:
            return None
        first = data[pos]
        if first >> 6 != 2:
            return None
        end = pos + 4 + 4 * ((data[pos + 2] << 8) | data[pos + 3])
        if end > size:
            return None
        body, body_end = pos + 4, end
        if first & 0x20:
            padding = data[end - 1] if end > body else 0
            if not padding or padding > end - body:
                return None
            body_end -= padding
        kind, fmt = data[pos + 1], first & 0x1F
        pos = end
        if kind != RTPFB and kind != PSFB:
            continue
        if body_end - body < 8:
            return None
        media = int.from_bytes(data[body + 4 : body + 8], "big")
        if kind == RTPFB:
            if (body_end - body) % 4:
                return None
            if fmt == FMT_NACK:
                events.append((NACK, media, _lost(data, body + 8, body_end)))
        elif fmt == FMT_PLI:
            events.append((PLI, media, None))
        elif fmt == FMT_FIR:
            for entry in range(body + 8, body_end - 7, 8):
                events.append((FIR, int.from_bytes(data[entry : entry + 4], "big"), None))
        elif fmt == FMT_APP:
            remb = _remb(data, body + 8, body_end)
            if remb is not None:
                events.append((REMB, remb[0], remb[1]))
    return events


def _lost(data: bytes, start: int, end: int) -> list[int]:
    """The sequence numbers of generic NACK entries (PID, and a bit per following one)."""
    lost: list[int] = []
    for pos in range(start, end - 3, 4):
        pid = (data[pos] << 8) | data[pos + 1]
        mask = (data[pos + 2] << 8) | data[pos + 3]
        lost.append(pid)
        bit = 0
        while mask:
            if mask & 1:
                lost.append((pid + bit + 1) & 0xFFFF)
            mask >>= 1
            bit += 1
    return lost


def _remb(data: bytes, start: int, end: int) -> tuple[int, list[int]] | None:
    """(bitrate, SSRCs) of a REMB FCI, or None for another application message or a short
    one."""
    if end - start < 8 or data[start : start + 4] != b"REMB":
        return None
    count = data[start + 4]
    if start + 8 + 4 * count > end:
        return None
    exponent = data[start + 5] >> 2
    mantissa = ((data[start + 5] & 0x03) << 16) | (data[start + 6] << 8) | data[start + 7]
    ssrcs = [
        int.from_bytes(data[pos : pos + 4], "big")
        for pos in range(start + 8, start + 8 + 4 * count, 4)
    ]
    return mantissa << exponent, ssrcs
