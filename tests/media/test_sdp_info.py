"""Reading publisher offers: captured from Firefox ESR 153 and Chromium 156 (headless, fake
devices, bundlePolicy "max-bundle" as web/static/js/media.js sets it; ICE candidates removed so
that nothing in a test can reach an address beyond this machine).

- `*-offer-first.sdp`: audio and camera, sendonly, the first offer.
- `*-offer-screen.sdp`: the re-offer after an answer, with a third (screen) video m-line.
- `*-offer-simulcast.sdp`: the camera with three rids (`a=simulcast:send q;h;f`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc import sdp as aiortc_sdp

from mediaserver import sdp_info

pytestmark = [pytest.mark.media, pytest.mark.timeout(20)]

FIXTURES = Path(__file__).parent / "fixtures"


def offer(name: str) -> str:
    """A captured offer with CRLF line ends, however the checkout stored them."""
    return "\r\n".join((FIXTURES / f"{name}.sdp").read_text().splitlines()) + "\r\n"


def summary(sdp: str, hints: dict[str, str] | None = None) -> list[tuple[str, str, bool]]:
    return [(t.mid, t.source, t.sending) for t in sdp_info.offered_tracks(sdp, hints or {})]


def m_lines(sdp: str) -> list[str]:
    return [line for line in sdp.splitlines() if line.startswith("m=")]


def test_firefox_bundle_only_video_is_sent() -> None:
    sdp = offer("firefox-offer-first")
    # As captured: the video m-line has port 0 and a=bundle-only (JSEP, first max-bundle offer).
    assert m_lines(sdp)[1].startswith("m=video 0 ")
    assert "a=bundle-only" in sdp
    assert summary(sdp, {"0": "audio", "1": "video"}) == [
        ("0", "audio", True),
        ("1", "video", True),
    ]
    assert [t.ssrc for t in sdp_info.offered_tracks(sdp, {})] == [2437183482, 4221072906]
    assert sdp_info.bundle_only_mids(sdp) == {"1"}


def test_firefox_screen_share_re_offer_is_sent() -> None:
    sdp = offer("firefox-offer-screen")
    assert [line.split()[1] for line in m_lines(sdp)] == ["39047", "0", "0"]
    assert summary(sdp, {"0": "audio", "1": "video", "2": "screen"}) == [
        ("0", "audio", True),
        ("1", "video", True),
        ("2", "screen", True),
    ]
    # The media SSRC, not its RTX partner from the FID group.
    assert sdp_info.remote_ssrc(sdp, "2") == 82804763


def test_chromium_offers_are_read_alike() -> None:
    assert "a=bundle-only" not in offer("chromium-offer-first")
    assert summary(offer("chromium-offer-first")) == [("0", "audio", True), ("1", "video", True)]
    assert summary(offer("chromium-offer-screen"), {"2": "screen"}) == [
        ("0", "audio", True),
        ("1", "video", True),
        ("2", "screen", True),
    ]
    assert sdp_info.remote_ssrc(offer("chromium-offer-screen"), "2") == 2687527176


def test_simulcast_offers() -> None:
    """aiortc has no simulcast; the reading must still find the m-line sending and name a
    media SSRC where the offer lists any (Firefox: one FID pair per layer; Chromium with rids
    lists none, and the SSRC is learnt from the first packets)."""
    firefox = offer("firefox-offer-simulcast")
    assert "a=simulcast:send q;h;f" in firefox and "a=bundle-only" in firefox
    assert summary(firefox) == [("0", "audio", True), ("1", "video", True)]
    assert sdp_info.remote_ssrc(firefox, "1") == 3799003686
    chromium = offer("chromium-offer-simulcast")
    assert "a=simulcast:send q;h;f" in chromium
    assert summary(chromium) == [("0", "audio", True), ("1", "video", True)]
    assert sdp_info.remote_ssrc(chromium, "1") is None


def test_port_zero_without_bundle_only_is_rejected() -> None:
    """Port 0 still means "not in use" when the line is not bundle-only, or bundle-only but
    outside the BUNDLE group; so do inactive and recvonly lines."""
    sdp = offer("firefox-offer-screen")
    rejected = sdp.replace("a=bundle-only\r\n", "", 1)  # the first video line: mid 1
    assert summary(rejected)[1:] == [("1", "video", False), ("2", "video", True)]
    unbundled = sdp.replace("a=group:BUNDLE 0 1 2", "a=group:BUNDLE 0 1")
    assert summary(unbundled)[2] == ("2", "video", False)
    inactive = sdp.replace("a=sendonly\r\na=extmap:3", "a=inactive\r\na=extmap:3")
    assert [t.sending for t in sdp_info.offered_tracks(inactive, {})] == [True, False, False]


def test_rtx_ssrc_listed_first_is_not_taken_for_the_media() -> None:
    sdp = offer("firefox-offer-first")
    media, rtx = "a=ssrc:4221072906 ", "a=ssrc:344152523 "
    lines = sdp.split("\r\n")
    i, j = (
        next(k for k, x in enumerate(lines) if x.startswith(media)),
        next(k for k, x in enumerate(lines) if x.startswith(rtx)),
    )
    lines[i], lines[j] = lines[j], lines[i]
    swapped = "\r\n".join(lines)
    assert swapped.index(rtx) < swapped.index(media)
    assert sdp_info.remote_ssrc(swapped, "1") == 4221072906


async def test_aiortc_answers_firefox_bundle_only_lines() -> None:
    """aiortc takes the port-0 bundle-only lines as they are (it ignores the port) and answers
    every one on the bundle, recvonly with a port, so no normalising is needed."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        await pc.setRemoteDescription(
            RTCSessionDescription(sdp=offer("firefox-offer-screen"), type="offer")
        )
        transceivers = pc.getTransceivers()
        assert [(t.mid, t.kind) for t in transceivers] == [
            ("0", "audio"),
            ("1", "video"),
            ("2", "video"),
        ]
        for transceiver in transceivers:
            transceiver.direction = "recvonly"
            assert transceiver.receiver.track is not None  # a remote track for each
        await pc.setLocalDescription(await pc.createAnswer())
        answer = aiortc_sdp.SessionDescription.parse(pc.localDescription.sdp)
        assert [g.items for g in answer.group if g.semantic == "BUNDLE"] == [["0", "1", "2"]]
        assert [(m.rtp.muxId, m.direction) for m in answer.media] == [
            ("0", "recvonly"),
            ("1", "recvonly"),
            ("2", "recvonly"),
        ]
        assert all(m.port != 0 for m in answer.media)
        assert "a=bundle-only" not in pc.localDescription.sdp
        assert [m.rtp.codecs[0].mimeType for m in answer.media] == [
            "audio/opus",
            "video/VP8",
            "video/VP8",
        ]
    finally:
        await pc.close()
