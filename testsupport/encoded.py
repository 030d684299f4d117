"""The test clients' way to receive encoded frames from aiortc instead of decoded ones (raw
mode): `RTCRtpReceiver`'s decoder thread obtains its decoder from the module-level
`aiortc.rtcrtpreceiver.get_decoder`. `install()` replaces it, once per process, with a
dispatcher: for codecs registered by `forward_encoded(pc)` it returns a `PassthroughDecoder`
that turns each frame reassembled by the jitter buffer into an `av.Packet` (RTP timestamp as
pts, 1/clock-rate time base, keyframe flag from the codec header); every other receiver still
decodes. (The media server once forwarded this way; it now forwards RTP packets, see
`mediaserver.rtp`.)
"""

from __future__ import annotations

import fractions
import threading
import weakref
from collections.abc import Callable
from typing import Any

import aiortc.rtcrtpreceiver as _receiver_module
import av
from aiortc import RTCPeerConnection
from aiortc.codecs.base import Decoder
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

_lock = threading.Lock()
_original_get_decoder: Callable[[RTCRtpCodecParameters], Decoder] | None = None
# Codec objects whose receivers forward instead of decoding, by id (the dataclass is unhashable).
_forwarding: weakref.WeakValueDictionary[int, RTCRtpCodecParameters] = weakref.WeakValueDictionary()


def is_keyframe(mime_type: str, data: bytes) -> bool:
    """Whether an encoded frame (as the jitter buffer reassembles it) starts a GOP."""
    return _is_keyframe(mime_type.lower(), data)


def _is_keyframe(mime: str, data: bytes) -> bool:
    """`is_keyframe` for a lower-case mime type (per packet: no re-lowering)."""
    if mime == "video/vp8":
        # RFC 6386 9.1: bit 0 of the frame tag is 0 for a key frame.
        return bool(data) and not data[0] & 0x01
    if mime == "video/h264":
        # aiortc depayloads to Annex B: look for an IDR slice or a sequence parameter set.
        pos = data.find(b"\x00\x00\x01")
        seen = 0
        while pos != -1 and pos + 3 < len(data) and seen < 8:
            if data[pos + 3] & 0x1F in (5, 7):
                return True
            seen += 1
            pos = data.find(b"\x00\x00\x01", pos + 3)
        return False
    return not mime.startswith("video/")  # audio frames stand alone


class PassthroughDecoder(Decoder):  # type: ignore[misc]
    """Hands each reassembled frame on as an `av.Packet`, untouched."""

    def __init__(self, codec: RTCRtpCodecParameters) -> None:
        self._mime = codec.mimeType.lower()
        self._time_base = fractions.Fraction(1, codec.clockRate)

    def decode(self, encoded_frame: Any) -> list[Any]:
        data: bytes = encoded_frame.data
        packet = av.Packet(data)
        packet.pts = encoded_frame.timestamp
        packet.time_base = self._time_base
        packet.is_keyframe = _is_keyframe(self._mime, data)
        return [packet]


def _get_decoder(codec: RTCRtpCodecParameters) -> Decoder:
    if _forwarding.get(id(codec)) is codec:
        return PassthroughDecoder(codec)
    assert _original_get_decoder is not None
    return _original_get_decoder(codec)


def install() -> None:
    """Put the dispatcher in place; idempotent, and inert until `forward_encoded` is called."""
    global _original_get_decoder
    with _lock:
        if _original_get_decoder is None:
            _original_get_decoder = _receiver_module.get_decoder
            _receiver_module.get_decoder = _get_decoder


def forward_encoded(pc: RTCPeerConnection) -> None:
    """Make `pc`'s receivers yield encoded packets. Call right after every
    `setRemoteDescription` (before the first frame is decoded, i.e. before media flows)."""
    install()
    for transceiver in pc.getTransceivers():
        for codec in transceiver._codecs:
            _forwarding[id(codec)] = codec
