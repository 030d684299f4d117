"""RTP header arithmetic for forwarding: read the few fields the SFU routes by, and write a
subscriber's header in front of a payload that is never touched (RFC 3550 5.1, header
extensions RFC 8285).

Everything here runs per packet: plain functions over `bytes`, no objects, no exceptions on the
normal path. Callers check lengths first (`valid`), so the readers may index freely.
"""

from __future__ import annotations

import struct
import time

HEADER = struct.Struct("!BBHII")  # V/P/X/CC, M/PT, sequence number, timestamp, SSRC
SEQ = struct.Struct("!H")
U32 = struct.Struct("!I")
MASK16 = 0xFFFF
MASK32 = 0xFFFFFFFF
ONE_BYTE_PROFILE = 0xBEDE
TWO_BYTE_PROFILE_MASK = 0xFFF0  # 0x100X
TWO_BYTE_PROFILE = 0x1000

URI_MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
URI_ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
URI_RID = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
URI_REPAIRED_RID = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
URI_AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"


def valid(data: bytes) -> bool:
    """Version 2, and long enough for the header, CSRCs, extension and padding it declares."""
    length = len(data)
    if length < 12 or data[0] & 0xC0 != 0x80:
        return False
    size = 12 + 4 * (data[0] & 0x0F)
    if data[0] & 0x10:
        if length < size + 4:
            return False
        size += 4 + 4 * ((data[size + 2] << 8) | data[size + 3])
    if size > length:
        return False
    if data[0] & 0x20:
        return data[-1] > 0 and size + data[-1] <= length
    return True


def assemble(
    first: int,
    second: int,
    seq: int,
    timestamp: int,
    ssrc: int,
    extension: bytes,
    head: bytes,
    data: bytes,
    start: int,
) -> bytes:
    """The packet of these header fields, the extension block, `head` (a rewritten payload
    descriptor, usually empty) and data[start:] (what `mediaserver.rtp.wire` sends)."""
    return b"".join(
        (
            HEADER.pack(first, second, seq, timestamp, ssrc),
            extension,
            head,
            memoryview(data)[start:],
        )
    )


def header_size(data: bytes) -> int:
    """Fixed header, CSRCs and extension block: where the payload starts (`valid` data)."""
    first = data[0]
    size = 12 + 4 * (first & 0x0F)
    if first & 0x10:
        size += 4 + 4 * ((data[size + 2] << 8) | data[size + 3])
    return size


def payload_size(data: bytes) -> int:
    """Bytes of payload, padding excluded (`valid` data)."""
    size = len(data) - header_size(data)
    if data[0] & 0x20:
        size -= data[-1]
    return size


def extension(data: bytes, ext_id: int) -> bytes | None:
    """The value of header extension `ext_id` (one- or two-byte form), if the packet has it."""
    first = data[0]
    if not first & 0x10 or ext_id <= 0:
        return None
    pos = 12 + 4 * (first & 0x0F)
    profile = (data[pos] << 8) | data[pos + 1]
    end = pos + 4 + 4 * ((data[pos + 2] << 8) | data[pos + 3])
    pos += 4
    if end > len(data):
        return None
    if profile == ONE_BYTE_PROFILE:
        while pos < end:
            byte = data[pos]
            if byte == 0:  # padding
                pos += 1
                continue
            ident = byte >> 4
            if ident == 15:  # reserved: stop (RFC 8285 4.2)
                return None
            length = (byte & 0x0F) + 1
            if ident == ext_id:
                return data[pos + 1 : pos + 1 + length] if pos + 1 + length <= end else None
            pos += 1 + length
    elif profile & TWO_BYTE_PROFILE_MASK == TWO_BYTE_PROFILE:
        while pos + 1 < end:
            ident = data[pos]
            if ident == 0:
                pos += 1
                continue
            length = data[pos + 1]
            if ident == ext_id:
                return data[pos + 2 : pos + 2 + length] if pos + 2 + length <= end else None
            pos += 2 + length
    return None


def abs_send_time(now: float | None = None) -> bytes:
    """The abs-send-time value (6.18 fixed-point seconds, 24 bits) for `now` (wall clock)."""
    value = int((time.time() if now is None else now) * (1 << 18)) & 0xFFFFFF
    return bytes(((value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF))


def seq_newer(a: int, b: int) -> bool:
    """Whether sequence number `a` comes after `b` (mod 2**16)."""
    return a != b and ((a - b) & MASK16) < 0x8000


def extension_block(elements: list[tuple[int, bytes]]) -> bytes:
    """A one-byte-form extension block (profile, length, elements, zero padding)."""
    body = b"".join(bytes(((ident << 4) | (len(value) - 1),)) + value for ident, value in elements)
    body += b"\x00" * (-len(body) % 4)
    return struct.pack("!HH", ONE_BYTE_PROFILE, len(body) // 4) + body


class ExtensionWriter:
    """The extension block a subscriber's m-line negotiated: MID (fixed) and, for video,
    abs-send-time (per packet). `head + ast + tail` is the block; `fixed` when there is no
    per-packet value."""

    __slots__ = ("fixed", "head", "tail")

    def __init__(self, mid: str | None, mid_id: int, ast_id: int) -> None:
        elements: list[tuple[int, bytes]] = []
        if mid and 0 < mid_id < 15 and len(mid.encode()) <= 16:
            elements.append((mid_id, mid.encode()))
        if 0 < ast_id < 15:
            block = extension_block([*elements, (ast_id, b"\x00\x00\x00")])
            # The abs-send-time value is the last element's three bytes before the padding.
            body_length = sum(1 + len(v) for _, v in elements) + 4
            self.head = block[: 4 + body_length - 3]
            self.tail = block[4 + body_length :]
            self.fixed: bytes | None = None
        else:
            self.head = self.tail = b""
            self.fixed = extension_block(elements) if elements else b""

    def block(self, ast: bytes) -> bytes:
        fixed = self.fixed
        if fixed is not None:
            return fixed
        return self.head + ast + self.tail

    @property
    def present(self) -> bool:
        return self.fixed != b""
