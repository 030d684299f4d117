"""Feedback to publishers through aiortc's receivers, and what negotiation fixed: the seams
into aiortc the SFU keeps besides `mediaserver.rtp.transport` (read on aiortc 1.14-1.16).

Low-rate RTCP (a PLI, a REMB) goes out through a publisher connection's receiver, which knows
our RTCP SSRC; the media packets themselves never pass aiortc (see `mediaserver.rtp`).
"""

from __future__ import annotations

from typing import Any

from aiortc import RTCRtpReceiver
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, pack_remb_fci


def negotiated_codec(transceiver: Any) -> RTCRtpCodecParameters | None:
    """The media codec a transceiver negotiated (its first non-RTX codec)."""
    for codec in transceiver._codecs:
        if codec.mimeType.lower() != "video/rtx":
            return codec
    return None


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


def sender_ssrc(transceiver: Any) -> int:
    """The SSRC our side uses for the transceiver (also the receiver's RTCP sender SSRC)."""
    return int(transceiver.sender._ssrc)
