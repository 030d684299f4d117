"""The seam into aiortc that lets the SFU forward encoded media: the only module that touches
aiortc internals for media (read on aiortc 1.14-1.16; pyproject pins <1.17).

1. Encoded frames instead of decoded ones. `RTCRtpReceiver`'s decoder thread obtains its decoder
   from the module-level `aiortc.rtcrtpreceiver.get_decoder`. `install()` replaces it, once per
   process, with a dispatcher: for codecs registered by `forward_encoded(pc)` it returns a
   `PassthroughDecoder` that turns each frame reassembled by the jitter buffer into an
   `av.Packet` (RTP timestamp as pts, 1/clock-rate time base, keyframe flag from the codec
   header); every other receiver in the process (test clients) still decodes. A remote track
   then yields packets, and `RTCRtpSender` only packetizes packets (`Encoder.pack`). aiortc's
   NACK/RTX, reports and SSRC handling keep working. Codec objects are per transceiver (aiortc
   deep-copies them when negotiating), so registering them selects exactly one connection.
2. Feedback. A forwarding sender's PLI/FIR and REMB only reach its (unused) encoder, so
   `watch_sender` hands them to the SFU; `send_pli` and `send_remb` send RTCP through a
   publisher's receiver; `capture_uplink_estimate` stops a receiver from sending its own REMB
   (the SFU sends the combined one) and keeps its estimate for the SFU.
"""

from __future__ import annotations

import fractions
import threading
import weakref
from collections.abc import Callable
from typing import Any

import aiortc.rtcrtpreceiver as _receiver_module
import av
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.codecs.base import Decoder
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RtcpPsfbPacket,
    pack_remb_fci,
    unpack_remb_fci,
)

from mediaserver import bandwidth

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


def negotiated_codec(transceiver: Any) -> RTCRtpCodecParameters | None:
    """The media codec a transceiver negotiated (its first non-RTX codec)."""
    for codec in transceiver._codecs:
        if codec.mimeType.lower() != "video/rtx":
            return codec
    return None


# --- feedback -----------------------------------------------------------------------------


def watch_sender(
    sender: RTCRtpSender,
    on_keyframe_request: Callable[[], None],
    on_bitrate: Callable[[int], None],
    streams: Callable[[], set[int]] | None = None,
) -> None:
    """Report the subscriber's PLI/FIR and REMB for `sender` to the SFU; aiortc keeps handling
    the rest (receiver reports, NACK -> RTX retransmission). `streams` gives the media SSRCs
    of the sender's connection, among which a connection-wide REMB is shared."""
    original = sender._handle_rtcp_packet

    async def handle(packet: Any) -> None:
        if isinstance(packet, RtcpPsfbPacket):
            if packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
                on_keyframe_request()
                return
            if packet.fmt == RTCP_PSFB_APP:
                try:
                    bitrate, ssrcs = unpack_remb_fci(packet.fci)
                except ValueError:
                    return
                if sender._ssrc in ssrcs:
                    known = streams() if streams is not None else None
                    on_bitrate(bandwidth.remb_share(bitrate, ssrcs, known))
                return
        await original(packet)

    sender._handle_rtcp_packet = handle


async def send_pli(receiver: RTCRtpReceiver, media_ssrc: int) -> None:
    """Ask the publisher of `media_ssrc` for a keyframe."""
    await receiver._send_rtcp_pli(media_ssrc)


async def send_remb(
    receiver: RTCRtpReceiver, sender_ssrc: int, bitrate: int, ssrcs: list[int]
) -> None:
    """Tell the publisher of `ssrcs` to send at most `bitrate` bits/s."""
    packet = RtcpPsfbPacket(
        fmt=RTCP_PSFB_APP, ssrc=sender_ssrc, media_ssrc=0, fci=pack_remb_fci(bitrate, ssrcs)
    )
    await receiver._send_rtcp(packet)


class UplinkEstimate:
    """The receiver's own bandwidth estimate of the publisher's uplink, kept instead of sent."""

    def __init__(self, estimator: Any) -> None:
        self._estimator = estimator
        self._add = estimator.add  # bound once: called for every received packet
        self.bitrate: int | None = None

    def add(self, **kwargs: Any) -> None:
        remb = self._add(**kwargs)
        if remb is not None:
            self.bitrate = int(remb[0])
        return None  # the receiver sends no REMB of its own


def capture_uplink_estimate(receiver: RTCRtpReceiver) -> UplinkEstimate | None:
    """Replace the receiver's REMB sending with an `UplinkEstimate` (video receivers only)."""
    name = "_RTCRtpReceiver__remote_bitrate_estimator"
    estimator = getattr(receiver, name, None)
    if estimator is None:
        return None
    if isinstance(estimator, UplinkEstimate):
        return estimator
    captured = UplinkEstimate(estimator)
    setattr(receiver, name, captured)
    return captured


def sender_ssrc(transceiver: Any) -> int:
    """The SSRC our side uses for the transceiver (also the receiver's RTCP sender SSRC)."""
    return int(transceiver.sender._ssrc)
