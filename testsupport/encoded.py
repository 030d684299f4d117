"""The test clients' way to receive encoded frames from aiortc instead of decoded ones (raw
mode). `forward_encoded(pc)` gives each of `pc`'s receivers, before it starts, an
`InlineFrames` in place of its decoder thread's input queue: each frame the jitter buffer
reassembles becomes an `av.Packet` (RTP timestamp as pts, 1/clock-rate time base, keyframe flag
from the codec header) on the track's queue in the same step, on the event loop. aiortc's
decoder thread still starts, but only waits, for the receiver's stop: handing every frame to a
thread and back (two queues, a lock, a cross-thread wake-up) took about a quarter of a
benchmark client's CPU. (The media server once forwarded frames this way; it now forwards RTP
packets, see `mediaserver.rtp`.)
"""

from __future__ import annotations

import asyncio
import fractions
import threading
from typing import Any

import av
from aiortc import RTCPeerConnection
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"  # what the receiver's decoder thread reads
STARTED = "_RTCRtpReceiver__started"


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


class PassthroughDecoder:
    """Turns each reassembled frame into an `av.Packet`, its bytes untouched."""

    def __init__(self, codec: RTCRtpCodecParameters) -> None:
        self._mime = codec.mimeType.lower()
        self._time_base = fractions.Fraction(1, codec.clockRate)

    def decode(self, encoded_frame: Any) -> av.Packet:
        data: bytes = encoded_frame.data
        packet = av.Packet(data)
        packet.pts = encoded_frame.timestamp
        packet.time_base = self._time_base
        packet.is_keyframe = _is_keyframe(self._mime, data)
        return packet


class InlineFrames:
    """Stands in for a receiver's decoder queue. `put` is called on the event loop with each
    (codec, frame) the jitter buffer completes and puts the packet on the track's queue at
    once; `put(None)` (the receiver stopping) releases the decoder thread, whose only call,
    `get`, waits for it and then ends the track as it always does."""

    def __init__(self, output: asyncio.Queue[Any]) -> None:
        self._output = output
        self._decoders: dict[str, PassthroughDecoder] = {}
        self._stopped = threading.Event()

    def put(self, task: tuple[RTCRtpCodecParameters, Any] | None) -> None:
        if task is None:
            self._stopped.set()
            return
        codec, frame = task
        decoder = self._decoders.get(codec.mimeType)
        if decoder is None:
            decoder = self._decoders[codec.mimeType] = PassthroughDecoder(codec)
        self._output.put_nowait(decoder.decode(frame))

    def get(self) -> None:
        self._stopped.wait()


def forward_encoded(pc: RTCPeerConnection) -> None:
    """Make `pc`'s receivers yield encoded packets. Call right after every
    `setRemoteDescription` (receivers start after the local description is set)."""
    for transceiver in pc.getTransceivers():
        receiver = transceiver.receiver
        if not getattr(receiver, STARTED) and not isinstance(
            getattr(receiver, DECODER_QUEUE), InlineFrames
        ):
            setattr(receiver, DECODER_QUEUE, InlineFrames(receiver.track._queue))
