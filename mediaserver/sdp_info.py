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
    simulcast: Simulcast | None = None  # the layers the client offers to send


URI_RID = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
URI_REPAIRED_RID = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
MAX_LAYERS = 4


@dataclass(frozen=True)
class Simulcast:
    """An m-line's `a=simulcast:send` with its `a=rid` lines (RFC 8853, RFC 8851) and the
    header extension ids that carry the rid in each packet. aiortc parses none of this: the
    SFU answers it itself (`answer_simulcast`)."""

    rids: tuple[str, ...]  # in the order the offer lists them (first alternative of each)
    rid_id: int
    repaired_rid_id: int  # 0 when not offered


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
    return {
        line.removeprefix("a=mid:")
        for section in _sections(sdp)
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


def _sections(sdp: str) -> list[list[str]]:
    """The SDP's lines per m-section (the session part is dropped)."""
    sections: list[list[str]] = []
    for line in sdp.splitlines():
        line = line.strip()
        if line.startswith("m="):
            sections.append([line])
        elif sections:
            sections[-1].append(line)
    return sections


def simulcast_offers(sdp: str) -> dict[str, Simulcast]:
    """By mid: the m-lines that offer to send simulcast layers identified by rid."""
    found: dict[str, Simulcast] = {}
    for section in _sections(sdp):
        mid = next((x.removeprefix("a=mid:") for x in section if x.startswith("a=mid:")), None)
        send = next(
            (
                x.removeprefix("a=simulcast:send ")
                for x in section
                if x.startswith("a=simulcast:send ")
            ),
            None,
        )
        if mid is None or send is None:
            rids: list[str] = []
        else:
            declared = {
                parts[0].removeprefix("a=rid:")
                for x in section
                if x.startswith("a=rid:") and len(parts := x.split()) >= 2 and parts[1] == "send"
            }
            rids = []
            for group in send.split()[0].split(";"):
                rid = group.split(",")[0].lstrip("~")
                if rid in declared and rid not in rids:
                    rids.append(rid)
        extmap: dict[str, int] = {}
        for x in section:
            if x.startswith("a=extmap:"):
                parts = x.removeprefix("a=extmap:").split()
                if len(parts) >= 2 and parts[0].split("/")[0].isdigit():
                    extmap[parts[1]] = int(parts[0].split("/")[0])
        rid_id = extmap.get(URI_RID, 0)
        if mid is not None and 1 < len(rids) <= MAX_LAYERS and 0 < rid_id < 15:
            found[mid] = Simulcast(tuple(rids), rid_id, extmap.get(URI_REPAIRED_RID, 0))
    return found


def answer_simulcast(answer: str, layers: dict[str, Simulcast]) -> str:
    """The answer with `a=simulcast:recv`, the `a=rid` lines and the rid header extensions
    added to the m-sections of `layers` (by mid)."""
    if not layers:
        return answer
    eol = "\r\n" if "\r\n" in answer else "\n"
    out: list[str] = []
    current: Simulcast | None = None

    def close_section() -> None:
        if current is None:
            return
        out.append(f"a=extmap:{current.rid_id} {URI_RID}")
        if current.repaired_rid_id:
            out.append(f"a=extmap:{current.repaired_rid_id} {URI_REPAIRED_RID}")
        out.extend(f"a=rid:{rid} recv" for rid in current.rids)
        out.append("a=simulcast:recv " + ";".join(current.rids))

    lines = answer.split(eol)
    trailing = lines and lines[-1] == ""
    for line in lines[:-1] if trailing else lines:
        if line.startswith("m="):
            close_section()
            current = None
        elif line.startswith("a=mid:"):
            current = layers.get(line.removeprefix("a=mid:"))
        out.append(line)
    close_section()
    return eol.join(out) + (eol if trailing else "")


def offered_tracks(sdp: str, hints: dict[str, str]) -> list[OfferedTrack]:
    """The audio/video m-lines of a publisher offer, in order."""
    description = aiortc_sdp.SessionDescription.parse(sdp)
    bundled = {
        str(mid) for group in description.group if group.semantic == "BUNDLE" for mid in group.items
    }
    bundle_only = bundle_only_mids(sdp)
    simulcast = simulcast_offers(sdp)
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
                simulcast=simulcast.get(mid) if media.kind == "video" else None,
            )
        )
    return tracks


def remote_ssrc(sdp: str, mid: str) -> int | None:
    """The media SSRC the remote side announced for `mid`."""
    for media in aiortc_sdp.SessionDescription.parse(sdp).media:
        if media.rtp.muxId == mid:
            return media_ssrc(media)
    return None
