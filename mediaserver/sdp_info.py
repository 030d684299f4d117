"""What a publisher's offer says about its tracks: pure functions over SDP text.

A bundled m-line may carry port 0: JSEP has a first offer with bundlePolicy "max-bundle" mark
every m-line after the first `a=bundle-only` with port 0 until the bundle is agreed (Firefox
does, in re-offers too; Chromium does not). Such a line is live; port 0 means "rejected" only
without bundle-only. aiortc itself ignores the port and answers those lines like any other.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiortc import sdp as aiortc_sdp

SENDING = ("sendonly", "sendrecv")
# ssrc-group semantics whose later SSRCs repair the first (RTX, FEC): not media SSRCs.
REPAIR_GROUPS = ("FID", "FEC-FR")


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


def bundle_only_mids(sdp: str) -> set[str]:
    """The mids of m-lines marked `a=bundle-only` (aiortc's parser drops that attribute)."""
    sections: list[list[str]] = []
    for line in sdp.splitlines():
        line = line.strip()
        if line.startswith("m="):
            sections.append([])
        elif sections:
            sections[-1].append(line)
    return {
        line.removeprefix("a=mid:")
        for section in sections
        if "a=bundle-only" in section
        for line in section
        if line.startswith("a=mid:")
    }


def is_live(media: aiortc_sdp.MediaDescription, bundled: set[str], bundle_only: set[str]) -> bool:
    """Whether an m-line is in use: a port, or port 0 as a bundle-only member of the bundle."""
    if media.port != 0:
        return True
    mid = media.rtp.muxId
    return mid is not None and mid in bundled and mid in bundle_only


def media_ssrc(media: aiortc_sdp.MediaDescription) -> int | None:
    """The first announced SSRC that is not a repair stream (RTX, FEC) of another; with
    simulcast, the first layer's. None when the offer names no SSRC (e.g. rid simulcast)."""
    repair = {
        ssrc
        for group in media.ssrc_group
        if group.semantic in REPAIR_GROUPS
        for ssrc in group.items[1:]
    }
    for info in media.ssrc:
        if info.ssrc not in repair:
            return int(info.ssrc)
    return None


def offered_tracks(sdp: str, hints: dict[str, str]) -> list[OfferedTrack]:
    """The audio/video m-lines of a publisher offer, in order."""
    description = aiortc_sdp.SessionDescription.parse(sdp)
    bundled = {
        str(mid) for group in description.group if group.semantic == "BUNDLE" for mid in group.items
    }
    bundle_only = bundle_only_mids(sdp)
    tracks = []
    for media in description.media:
        if media.kind not in ("audio", "video") or media.rtp.muxId is None:
            continue
        mid = media.rtp.muxId
        tracks.append(
            OfferedTrack(
                mid=mid,
                kind=media.kind,
                source=source_of(media.kind, media.msid, hints.get(mid)),
                sending=media.direction in SENDING and is_live(media, bundled, bundle_only),
                ssrc=media_ssrc(media),
            )
        )
    return tracks


def remote_ssrc(sdp: str, mid: str) -> int | None:
    """The media SSRC the remote side announced for `mid`."""
    for media in aiortc_sdp.SessionDescription.parse(sdp).media:
        if media.rtp.muxId == mid:
            return media_ssrc(media)
    return None
