"""What a publisher's offer says about its tracks: pure functions over SDP text."""

from __future__ import annotations

from dataclasses import dataclass

from aiortc import sdp as aiortc_sdp

SENDING = ("sendonly", "sendrecv")


@dataclass(frozen=True)
class OfferedTrack:
    mid: str
    kind: str  # audio | video
    source: str  # audio | video | screen
    sending: bool  # the client sends on this m-line
    ssrc: int | None  # the publisher's media SSRC, if announced (needed for early PLIs)


def source_of(kind: str, msid: str | None, hint: str | None) -> str:
    """A track's source: the client's `sources` hint when it fits the kind, else "screen" for
    a video track whose msid (stream id or track id) contains "screen", else the kind."""
    if kind == "audio":
        return "audio"
    if hint in ("video", "screen"):
        return hint
    if msid and "screen" in msid.lower():
        return "screen"
    return "video"


def offered_tracks(sdp: str, hints: dict[str, str]) -> list[OfferedTrack]:
    """The audio/video m-lines of a publisher offer, in order."""
    description = aiortc_sdp.SessionDescription.parse(sdp)
    tracks = []
    for media in description.media:
        if media.kind not in ("audio", "video") or media.rtp.muxId is None:
            continue
        mid = media.rtp.muxId
        ssrc = media.ssrc[0].ssrc if media.ssrc else None
        tracks.append(
            OfferedTrack(
                mid=mid,
                kind=media.kind,
                source=source_of(media.kind, media.msid, hints.get(mid)),
                sending=media.direction in SENDING and media.port != 0,
                ssrc=ssrc,
            )
        )
    return tracks


def remote_ssrc(sdp: str, mid: str) -> int | None:
    """The SSRC the remote side announced for `mid`."""
    for media in aiortc_sdp.SessionDescription.parse(sdp).media:
        if media.rtp.muxId == mid and media.ssrc:
            return int(media.ssrc[0].ssrc)
    return None
