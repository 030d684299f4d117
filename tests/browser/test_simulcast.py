"""Simulcast in Chromium (issue 14): a page sends its camera in several sizes; a subscriber on
a thin downlink keeps a moving, smaller picture while the others keep the full one, and a page
is sent no larger a picture than its tiles show (none while it is in the background).

The thin downlink is real: the jobseeker's page reaches the media server only through a TURN
server behind `ThrottledRelay`, which paces what comes back to the page at 600 kbit/s through
a short queue. The page's own bandwidth estimate (REMB) falls, and the SFU moves that page
alone to a smaller layer, switching at a keyframe of that layer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.browser.conftest import (
    LiveServer,
    NewContext,
    axe_check,
    join,
    tile_video,
    video_playing,
)
from tests.browser.test_turn import TURN_PASSWORD, TURN_USER, Turn, turn_server  # noqa: F401
from tests.browser.throttle import ThrottledRelay
from testsupport.wait import wait_for_sync as wait_for

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser"), pytest.mark.timeout(180)]

HEIGHT = 480  # the camera's full size in this test; the layers are 1/2 and 1 of it
THIN = 600_000  # bits/s towards the throttled page: the smaller layers of two cameras fit


@pytest.fixture(scope="module")
def throttled_relay(turn_server: Turn) -> Iterator[ThrottledRelay]:  # noqa: F811
    relay = ThrottledRelay(("127.0.0.1", turn_server.port), loss=0.0, rate=THIN)
    relay.start()
    yield relay
    relay.stop()


@pytest.fixture(scope="module")
def simulcast_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(
        tmp_path_factory.mktemp("simulcast"),
        simulcast=True,
        camera_width=640,
        camera_height=HEIGHT,
        camera_frame_rate=15,
    )
    server.start()
    yield server
    server.stop()


def only_through(relay_port: int) -> str:
    """An init script: this page's peer connections use only the TURN server behind the
    relay (as a page on a mobile network whose only way is that link)."""
    turn = {
        "urls": f"turn:127.0.0.1:{relay_port}?transport=udp",
        "username": TURN_USER,
        "credential": TURN_PASSWORD,
    }
    return f"""(() => {{
  const Original = window.RTCPeerConnection;
  function Thin(config) {{
    return new Original({{ ...(config || {{}}), iceServers: [{json.dumps(turn)}],
                           iceTransportPolicy: 'relay' }});
  }}
  Thin.prototype = Original.prototype;
  Object.setPrototypeOf(Thin, Original);
  window.RTCPeerConnection = Thin;
}})();"""


def video_height(page: Page, selector: str) -> int:
    height: int = page.evaluate(
        "(sel) => { const v = document.querySelector(sel); return v ? v.videoHeight : 0; }",
        selector,
    )
    return height


SENT_LAYERS = """async () => {
  const pcs = window.__pcs || [];
  const heights = [];
  for (const pc of pcs) {
    const stats = await pc.getStats();
    for (const s of stats.values()) {
      if (s.type === 'outbound-rtp' && s.kind === 'video' && s.rid && s.frameHeight) {
        heights.push([s.rid, s.frameHeight]);
      }
    }
  }
  return heights;
}"""

KEEP_PCS = """(() => {
  const Original = window.RTCPeerConnection;
  window.__pcs = [];
  function Kept(config) { const pc = new Original(config); window.__pcs.push(pc); return pc; }
  Kept.prototype = Original.prototype;
  Object.setPrototypeOf(Kept, Original);
  window.RTCPeerConnection = Kept;
})();"""


def layers_of(server: LiveServer, subscriber: str, publisher: str) -> dict[str, Any]:
    """Which layer the SFU forwards `subscriber` of `publisher`'s camera, and the layers."""

    async def read() -> dict[str, Any]:
        from mediaserver.rtp.simulcast import SimulcastSource

        for room in server.worker.rooms.values():
            member = room.participants.get(subscriber)
            if member is None:
                continue
            for slot in member.slots:
                if slot.carries == (publisher, "video"):
                    source = slot.track.forwarder
                    assert isinstance(source, SimulcastSource)
                    names = {id(layer): rid for rid, layer in source.layers.items()}
                    current = getattr(slot.track, "current", None)
                    return {
                        "current": names.get(id(current)),
                        "bitrates": dict(source.bitrates),
                        "switches": getattr(slot.track, "switches", 0),
                    }
        return {}

    return server.run(read())


def test_a_thin_downlink_gets_a_smaller_layer_and_the_others_keep_the_full_one(
    simulcast_server: LiveServer,
    throttled_relay: ThrottledRelay,
    new_context: NewContext,
    shots_dir: Path,
) -> None:
    s = simulcast_server.schedule(
        waiting_room=False,
        roles=(
            ("caseworker", "Frau Becker", "de"),
            ("jobseeker", "Amal Haddad", "ar"),
            ("employer", "Herr Wolf", "de"),
        ),
    )
    pages: dict[str, Page] = {}
    for role, lang in (("caseworker", "de"), ("employer", "de"), ("jobseeker", "ar")):
        # Tablets' screens have two device pixels to the CSS pixel: the subscribers' tiles
        # are then tall enough for the full picture, and only the thin link holds one back.
        context = new_context(lang, device_scale_factor=2 if role != "caseworker" else 1)
        context.add_init_script(script=KEEP_PCS)
        if role == "jobseeker":
            context.add_init_script(script=only_through(throttled_relay.port))
        page = context.new_page()
        join(page, s.urls[role])
        pages[role] = page
    caseworker = tile_video(s.ids["caseworker"])
    video_playing(pages["employer"], caseworker, 40)
    video_playing(pages["jobseeker"], caseworker, 40)

    # The caseworker's page sends more than one layer (rid), and the largest at full size.
    # (Chromium starts with the small layers and adds the larger ones as its estimate grows.)
    wait_for(
        lambda: (lambda h: print("L", h) or (len(h) >= 2 and max(x for _rid, x in h) == HEIGHT))(
            pages["caseworker"].evaluate(SENT_LAYERS)
        ),
        "the caseworker's page to send two or more layers, the largest at full size",
        60,
    )

    # The employer, on a good link, gets the full picture ...
    wait_for(
        lambda: video_height(pages["employer"], caseworker) == HEIGHT,
        "the employer to receive the full-size layer",
        40,
    )
    # ... the jobseeker, on the thin one, a smaller one that keeps moving.
    wait_for(
        lambda: 0 < video_height(pages["jobseeker"], caseworker) <= HEIGHT // 2,
        "the throttled jobseeker to receive a smaller layer",
        60,
    )
    video_playing(pages["jobseeker"], caseworker, 30)
    # At one moment: the thin link on the smaller layer, the good one on the full one.
    wait_for(
        lambda: (
            (
                layers_of(simulcast_server, s.ids["jobseeker"], s.ids["caseworker"])["current"],
                layers_of(simulcast_server, s.ids["employer"], s.ids["caseworker"])["current"],
            )
            == ("h", "f")
        ),
        "the jobseeker on the half-size layer while the employer is on the full one",
        40,
    )
    assert throttled_relay.forwarded > 0  # the jobseeker's media came through the thin link
    pages["jobseeker"].screenshot(path=str(shots_dir / "call-simulcast-thin-ar.png"))
    axe_check(pages["jobseeker"], "the call on a thin downlink (ar)")

    # The employer's page goes to the background (another app in front): it shows no
    # picture, says so (`view`), and is sent the smallest layer; in front again, the full one.
    employer, publisher = s.ids["employer"], s.ids["caseworker"]

    def employer_layer() -> str | None:
        layer: str | None = layers_of(simulcast_server, employer, publisher)["current"]
        return layer

    pages["employer"].evaluate(HIDDEN)
    wait_for(lambda: employer_layer() == "h", "the hidden page to get the smaller layer", 20)
    pages["employer"].evaluate(SHOWN)
    wait_for(lambda: employer_layer() == "f", "the page in front to get the full layer", 30)
    # A phone-sized window: the tiles are small enough for the half-size picture.
    pages["employer"].set_viewport_size({"width": 360, "height": 240})
    wait_for(lambda: employer_layer() == "h", "small tiles to get the smaller layer", 20)
    wait_for(
        lambda: video_height(pages["employer"], caseworker) == HEIGHT // 2,
        "the employer's page to show the half-size picture",
        20,
    )
    pages["employer"].set_viewport_size({"width": 768, "height": 1024})
    wait_for(lambda: employer_layer() == "f", "large tiles to get the full layer again", 30)


# The page as if another app were in front of it, and back (`document.visibilityState`).
HIDDEN = """() => {
  Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
  document.dispatchEvent(new Event('visibilitychange'));
}"""
SHOWN = """() => {
  delete document.visibilityState;
  document.dispatchEvent(new Event('visibilitychange'));
}"""
