"""Per-packet facts from an RTP payload (after header, extensions and padding), never decoded.

Called once per forwarded packet, so the normal path indexes bytes directly: no slicing, no
exceptions, no allocations (`vp8_descriptor` and `vp8_rewrite` allocate their result only).
Malformed or truncated payloads give False / None / the payload unchanged, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

VP8, VP9, H264, AV1, OTHER = range(5)

_CODEC_IDS = {"video/vp8": VP8, "video/vp9": VP9, "video/h264": H264, "video/av1": AV1}

# H.264 NAL unit types (RFC 6184 section 5.4 and H.264 Table 7-1).
_NAL_IDR = 5
_NAL_SPS = 7
_NAL_STAP_A = 24
_NAL_FU_A = 28


def codec_id(mime_type: str) -> int:
    """The codec constant for a mime type ('video/VP8' -> VP8); audio and unknown -> OTHER."""
    return _CODEC_IDS.get(mime_type.lower(), OTHER)


def keyframe_start(codec: int, payload: bytes) -> bool:
    """True when this packet is the first packet of a keyframe, where decoding can start.

    OTHER (audio, unknown codecs) is always True: such packets stand alone.
    """
    if codec == VP8:
        # Inlined rather than a helper call: VP8 is the common case and this halves its cost.
        # RFC 7741 section 4.2: |X|R|N|S|R| PID |, S=1 and PID=0 opens a frame's first
        # partition; the descriptor is at most 6 bytes and a keyframe's header at least 6.
        n = len(payload)
        if n < 7 or payload[0] & 0x17 != 0x10:
            return False
        i = 1
        if payload[0] & 0x80:  # X: the extension byte |I|L|T|K| RSV |
            x = payload[1]
            i = 2
            if x & 0x80:  # I: PictureID, 15 bits when its M bit is set, else 7
                i += 2 if payload[2] & 0x80 else 1
            if x & 0x40:  # L: TL0PICIDX
                i += 1
            if x & 0x30:  # T or K: one shared |TID|Y| KEYIDX | byte
                i += 1
        # Section 4.3: VP8 payload header |Size0|H| VER |P|, P=0 is a keyframe. RFC 6386
        # section 9.1: a keyframe's 3-byte frame tag is followed by the start code 9D 01 2A
        # (in the clear under our end-to-end encryption, which leaves a keyframe's first 10
        # bytes), which keeps garbage with a zero P bit from passing as a keyframe.
        return (
            i + 6 <= n
            and not payload[i] & 0x01
            and payload[i + 3] == 0x9D
            and payload[i + 4] == 0x01
            and payload[i + 5] == 0x2A
        )
    if codec == H264:
        return _h264_keyframe_start(payload)
    if codec == VP9:
        return _vp9_keyframe_start(payload)
    if codec == AV1:
        # AV1 RTP spec section 4.4, aggregation header |Z|Y|W W|N|-|-|-|: N=1 opens a coded
        # video sequence, Z=0 says its first OBU element starts here. At least one OBU byte.
        return len(payload) > 1 and payload[0] & 0x88 == 0x08
    return codec == OTHER


def vp8_keyframe_size(payload: bytes) -> tuple[int, int] | None:
    """(width, height) from the first packet of a VP8 keyframe (RFC 6386 section 9.1: after
    the 3-byte frame tag and the start code, 14 bits of width and of height, each with 2 bits
    of scaling; in the clear under our end-to-end encryption, which leaves a keyframe's first
    10 bytes), or None if this is no such packet. Read once per keyframe, not per packet."""
    n = len(payload)
    if n < 1:
        return None
    i = _vp8_descriptor_size(payload, n)
    if not i or i + 10 > n or not keyframe_start(VP8, payload):
        return None
    width = (payload[i + 6] | payload[i + 7] << 8) & 0x3FFF
    height = (payload[i + 8] | payload[i + 9] << 8) & 0x3FFF
    return (width, height) if width and height else None


def _vp8_descriptor_size(p: bytes, n: int) -> int:
    """The VP8 payload descriptor's length (RFC 7741 section 4.2), or 0 if it is truncated."""
    if not p[0] & 0x80:  # X: no extension byte
        return 1
    if n < 2:
        return 0
    x = p[1]  # |I|L|T|K| RSV |
    i = 2
    if x & 0x80:  # I: PictureID, 15 bits when its M bit is set, else 7
        if n <= i:
            return 0
        i += 2 if p[i] & 0x80 else 1
    if x & 0x40:  # L: TL0PICIDX
        i += 1
    if x & 0x30:  # T or K: one shared |TID|Y| KEYIDX | byte
        i += 1
    return i if i <= n else 0


def _vp9_keyframe_start(p: bytes) -> bool:
    # RFC 9628 section 4.2: |I|P|L|F|B|E|V|Z|. B=1 starts a frame, P=0 means not
    # inter-picture predicted. With L, the layer byte |TID|U| SID |D| must say spatial layer 0
    # (a P=0 upper layer still depends on layer 0 of the same picture). P=0 means no P_DIFF
    # bytes in flexible mode, so the layer byte follows the picture id in both modes.
    n = len(p)
    if n < 2:
        return False
    b = p[0]
    if b & 0x48 != 0x08:  # P=0, B=1
        return False
    i = 1
    if b & 0x80:  # I: picture id, 15 bits when its M bit is set
        i += 2 if p[1] & 0x80 else 1
    if b & 0x20:  # L: layer indices
        if i >= n or p[i] & 0x0E:  # SID != 0
            return False
        i += 1
        if not b & 0x10:  # non-flexible mode: TL0PICIDX follows
            i += 1
    return i < n


def _h264_keyframe_start(p: bytes) -> bool:
    # RFC 6184 section 5.3: NAL header |F|NRI| Type |. An IDR slice counts only when it is
    # the picture's first slice (first_mb_in_slice == 0, an ue(v) whose first bit is then 1),
    # so a keyframe sent as several slices has one start, not one per slice.
    n = len(p)
    if n < 2:
        return False
    t = p[0] & 0x1F
    if t == _NAL_SPS:
        return True
    if t == _NAL_IDR:
        return p[1] & 0x80 != 0
    if t == _NAL_FU_A:
        # Section 5.8: FU header |S|E|R| Type |; the fragment starts with the NAL's payload.
        fu = p[1]
        if not fu & 0x80:
            return False
        t = fu & 0x1F
        return t == _NAL_SPS or (t == _NAL_IDR and n > 2 and p[2] & 0x80 != 0)
    if t == _NAL_STAP_A:
        # Section 5.7.1: after the STAP-A header, units of a 16-bit size and a NAL unit.
        i = 1
        while i + 2 < n:
            size = (p[i] << 8) | p[i + 1]
            i += 2
            if size == 0 or i + size > n:
                return False
            t = p[i] & 0x1F
            if t == _NAL_SPS or (t == _NAL_IDR and size > 1 and p[i + 1] & 0x80):
                return True
            i += size
    return False


@dataclass(frozen=True, slots=True)
class Vp8Descriptor:
    """The fields of a VP8 payload descriptor (RFC 7741 section 4.2) a forwarder rewrites."""

    start: bool
    pid: int
    picture_id: int | None
    picture_id_bits: Literal[0, 7, 15]
    tl0picidx: int | None
    keyidx: int | None
    size: int  # bytes of the descriptor; the VP8 payload starts here


def vp8_descriptor(payload: bytes) -> Vp8Descriptor | None:
    """The payload's VP8 descriptor, or None if it is truncated."""
    n = len(payload)
    if n == 0:
        return None
    size = _vp8_descriptor_size(payload, n)
    if size == 0:
        return None
    b = payload[0]
    picture_id: int | None = None
    bits: Literal[0, 7, 15] = 0
    tl0picidx: int | None = None
    keyidx: int | None = None
    if b & 0x80:
        x = payload[1]
        i = 2
        if x & 0x80:
            if payload[i] & 0x80:
                picture_id, bits = ((payload[i] & 0x7F) << 8) | payload[i + 1], 15
                i += 2
            else:
                picture_id, bits = payload[i], 7
                i += 1
        if x & 0x40:
            tl0picidx = payload[i]
            i += 1
        if x & 0x10:
            keyidx = payload[i] & 0x1F
    return Vp8Descriptor(
        start=bool(b & 0x10),
        pid=b & 0x07,
        picture_id=picture_id,
        picture_id_bits=bits,
        tl0picidx=tl0picidx,
        keyidx=keyidx,
        size=size,
    )


def vp8_rewrite(payload: bytes, picture_id: int | None, tl0picidx: int | None) -> bytes:
    """The payload with a new picture id and/or TL0PICIDX, each in its old field's width.

    None keeps a field; a field the descriptor lacks is not added (the payload keeps its size),
    so a payload without either field, or a truncated one, comes back unchanged. Picture ids
    wrap modulo 2**15 or 2**7, TL0PICIDX modulo 2**8.
    """
    n = len(payload)
    if n < 2 or not payload[0] & 0x80 or _vp8_descriptor_size(payload, n) == 0:
        return payload
    x = payload[1]
    i = 2
    out: bytearray | None = None
    if x & 0x80:
        long_id = payload[i] & 0x80
        if picture_id is not None:
            out = bytearray(payload)
            if long_id:
                picture_id &= 0x7FFF
                out[i] = 0x80 | (picture_id >> 8)
                out[i + 1] = picture_id & 0xFF
            else:
                out[i] = picture_id & 0x7F
        i += 2 if long_id else 1
    if x & 0x40 and tl0picidx is not None:
        if out is None:
            out = bytearray(payload)
        out[i] = tl0picidx & 0xFF
    return payload if out is None else bytes(out)
