"""The call as a stage that fits the viewport (issue 11, item 4, and two parts of item 8).

In a two-party call, at 768x1024, 1024x768, 390x844 and 1280x800, in German and in Arabic
(right to left): the whole call fits the screen; our own picture is a small picture-in-picture
wholly on screen, clear of the controls and of the middle of the other's picture (where the
face is), also while the encryption details or the chat are open, and it moves to another
corner by keyboard and by dragging; the shared-content panel takes no room while nothing is
shown; the chat drawer's input is on screen above the controls. At 320 CSS px (400 % zoom)
nothing scrolls sideways. Leave asks first (an accessible dialog). Chat times are in the job
centre's time zone, not the device's. axe finds nothing on every screen.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, ViewportSize

from tests.browser.conftest import (
    LANDSCAPE,
    PHONE,
    TABLET,
    LiveServer,
    NewContext,
    axe_check,
    invited_in,
    join,
    tile_video,
)
from testsupport.wait import wait_for_sync as wait_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

DESKTOP: ViewportSize = {"width": 1280, "height": 800}
VIEWPORTS = {"768x1024": TABLET, "1024x768": LANDSCAPE, "390x844": PHONE, "1280x800": DESKTOP}
ZOOMED: ViewportSize = {"width": 320, "height": 256}  # 1280x1024 at 400 %
SLOW = 60  # seconds
DEVICE_ZONE = "America/New_York"  # the devices' clock zone; the server's is Europe/Berlin

# Boxes in viewport coordinates: our picture, the controls, the chat and its input, the middle
# (half the width and height) of what each other picture shows (`contain` leaves bars around
# the picture, `cover` fills its box), and the page's scroll sizes.
LAYOUT = """() => {
  const box = (el) => {
    if (!el) return null;
    const b = el.getBoundingClientRect();
    return b.width && b.height ? {x: b.left, y: b.top, w: b.width, h: b.height} : null;
  };
  const middles = [...document.querySelectorAll('#tiles li:not(.tile-self)')].map((tile) => {
    const v = tile.querySelector('video');
    const b = v.getBoundingClientRect();
    let w = b.width, h = b.height;
    if (getComputedStyle(v).objectFit === 'contain' && v.videoWidth && v.videoHeight) {
      const scale = Math.min(b.width / v.videoWidth, b.height / v.videoHeight);
      w = v.videoWidth * scale; h = v.videoHeight * scale;
    }
    const x = b.left + (b.width - w) / 2, y = b.top + (b.height - h) / 2;
    return {x: x + w / 4, y: y + h / 4, w: w / 2, h: h / 2};
  });
  const root = document.documentElement;
  return {
    self: box(document.querySelector('#tiles .tile-self')),
    stage: box(document.getElementById('tiles')),
    controls: box(document.querySelector('nav.controls')),
    chat: box(document.getElementById('chat')),
    input: box(document.getElementById('chat-input')),
    side: box(document.querySelector('.call-side')),
    middles, layout: document.getElementById('tiles').dataset.layout,
    corner: document.getElementById('tiles').dataset.pip,
    vw: root.clientWidth, vh: innerHeight,
    scrollW: root.scrollWidth, scrollH: root.scrollHeight,
  };
}"""


def overlap(a: dict[str, float], b: dict[str, float]) -> float:
    """The area two boxes share beyond a pixel of rounding each way: layouts land on half
    pixels (a 366 px tile has its middle from 103.5 px), and a half-pixel sliver along an
    edge covers nothing."""
    w = min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"]) - 1
    h = min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"]) - 1
    return max(0.0, w) * max(0.0, h)


def inside(a: dict[str, float], width: float, height: float) -> bool:
    return a["x"] >= 0 and a["y"] >= 0 and a["x"] + a["w"] <= width and a["y"] + a["h"] <= height


def layout(page: Page) -> dict[str, Any]:
    found: dict[str, Any] = page.evaluate(LAYOUT)
    return found


def self_view_clear(page: Page, where: str) -> dict[str, Any]:
    """Our picture: floating, wholly on screen, off the controls, off every face."""
    lay = layout(page)
    assert lay["layout"] == "pip", (where, lay)
    me = lay["self"]
    assert me is not None, where
    assert inside(me, lay["vw"], lay["vh"]), (where, me, lay["vw"], lay["vh"])
    assert overlap(me, lay["controls"]) < 1, (where, me, lay["controls"])
    assert lay["middles"], where
    for middle in lay["middles"]:
        assert overlap(me, middle) < 1, (where, me, middle)
    # Small: at most a quarter of the stage's width, and the other's picture far larger.
    assert me["w"] <= lay["stage"]["w"] / 4 + 1, (where, me, lay["stage"])
    return lay


def no_sideways_scroll(page: Page, where: str) -> None:
    lay = layout(page)
    assert lay["scrollW"] <= lay["vw"], (where, lay["scrollW"], lay["vw"])


def two_party(page: Page) -> bool:
    return bool(layout(page)["layout"] == "pip")


def two_in_call(
    server: LiveServer, new_context: NewContext, lang: str
) -> tuple[Page, Page, dict[str, str]]:
    s = server.schedule(roles=invited_in(lang, caseworker=lang), waiting_room=False)
    worker = new_context(lang, timezone_id=DEVICE_ZONE).new_page()
    seeker = new_context(lang, timezone_id=DEVICE_ZONE).new_page()
    for page in (worker, seeker):
        # Layout, not speed, is tested here: patience on a machine shared with other runs.
        page.set_default_timeout(SLOW * 1000)
    join(worker, s.urls["caseworker"])
    join(seeker, s.urls["jobseeker"])
    # Both in the call, each with the other's tile. The picture itself is not waited for
    # (test_call.py does that): without one, the middle of the whole tile counts as the face,
    # which only makes the checks stricter (a shown picture lies inside its tile).
    for page, other in ((worker, "jobseeker"), (seeker, "caseworker")):
        page.locator(tile_video(s.ids[other])).wait_for(state="attached")
        wait_for(functools.partial(two_party, page), "the two-party layout", SLOW)
    return worker, seeker, s.ids


def corner_box(page: Page) -> dict[str, float]:
    lay = layout(page)
    me, stage = lay["self"], lay["stage"]
    return {
        "left": me["x"] - stage["x"],
        "right": stage["x"] + stage["w"] - (me["x"] + me["w"]),
        "top": me["y"] - stage["y"],
        "bottom": stage["y"] + stage["h"] - (me["y"] + me["h"]),
    }


@pytest.mark.parametrize("lang", ["de", "ar"])
def test_the_call_is_a_stage_that_fits_every_screen(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path, lang: str
) -> None:
    worker, seeker, ids = two_in_call(live_server, new_context, lang)
    rtl = lang == "ar"
    for name, size in VIEWPORTS.items():
        for page in (seeker, worker):
            page.set_viewport_size(size)
        where = f"{name} {lang}"
        lay = self_view_clear(seeker, where)
        self_view_clear(worker, f"{where} (caseworker)")
        # The call fits: nothing scrolls, either way.
        assert lay["scrollH"] <= lay["vh"] + 1 and lay["scrollW"] <= lay["vw"], (where, lay)
        # Nothing shared: the panel's column takes no room, the picture has the width.
        assert seeker.locator("#panel-area").is_hidden()
        assert lay["side"] is None, (where, lay["side"])
        assert lay["stage"]["w"] >= size["width"] - 40, (where, lay["stage"])
        # The default corner: bottom, at the end of the line (right; left in Arabic).
        gaps = corner_box(seeker)
        assert gaps["bottom"] < 20, (where, gaps)
        assert (gaps["left"] if rtl else gaps["right"]) < 20, (where, gaps)
        seeker.screenshot(path=shots_dir / f"stage-{name}-{lang}.png")
        axe_check(seeker, f"call stage {where}")

        # The encryption details open: our picture stays whole and clear.
        seeker.locator("#e2ee-status").click()
        self_view_clear(seeker, f"{where} with the encryption details")
        seeker.locator("#e2ee-status").click()

        # The chat drawer: its input on screen, above the controls; our picture still clear.
        seeker.locator("#btn-chat").click()
        lay = self_view_clear(seeker, f"{where} with the chat")
        assert seeker.locator("#chat-input").is_visible()
        assert seeker.evaluate("document.activeElement.id") == "chat-input"
        assert inside(lay["input"], lay["vw"], lay["vh"]), (where, lay["input"])
        assert lay["input"]["y"] + lay["input"]["h"] <= lay["controls"]["y"] + 1, (where, lay)
        assert overlap(lay["self"], lay["chat"]) < 1, (where, lay["self"], lay["chat"])
        assert lay["scrollH"] <= lay["vh"] + 1, (where, lay)
        seeker.screenshot(path=shots_dir / f"stage-chat-{name}-{lang}.png")
        axe_check(seeker, f"call stage with the chat {where}")
        # Escape closes the drawer, and focus goes back to the chat button.
        seeker.locator("#chat-input").press("Escape")
        assert seeker.locator("#chat").is_hidden()
        assert seeker.evaluate("document.activeElement.id") == "btn-chat"
        assert seeker.locator("#btn-chat").get_attribute("aria-expanded") == "false"

    # Our picture moves: a press of its button, the arrow keys, a drag.
    seeker.set_viewport_size(LANDSCAPE)
    move = seeker.locator("#tiles .tile-self .pip-move")
    assert move.get_attribute("aria-label")
    # A press: the next corner (to the start of the line), said aloud.
    move.focus()
    seeker.keyboard.press("Enter")
    wait_for(lambda: layout(seeker)["corner"] == "end-start", "the picture in the next corner")
    gaps = corner_box(seeker)
    assert (gaps["right"] if rtl else gaps["left"]) < 20 and gaps["bottom"] < 20, gaps
    self_view_clear(seeker, f"bottom, line start ({lang})")
    said = {"de": "unten links", "ar": "أسفل اليمين"}[lang]  # in Arabic, the line starts right
    wait_for(lambda: said in seeker.locator("#announcer").inner_text(), "the new corner said")
    # Arrow keys: up, then to the right of the screen (whatever the direction of the text).
    seeker.keyboard.press("ArrowUp")
    wait_for(lambda: layout(seeker)["corner"] == "start-start", "the picture at the top")
    seeker.keyboard.press("ArrowRight")
    want = "start-start" if rtl else "start-end"
    wait_for(lambda: layout(seeker)["corner"] == want, "the picture at the top right")
    gaps = corner_box(seeker)
    assert gaps["top"] < 20 and gaps["right"] < 20, gaps
    self_view_clear(seeker, f"top right ({lang})")
    seeker.screenshot(path=shots_dir / f"stage-pip-top-right-{lang}.png")
    axe_check(seeker, f"call stage, our picture at the top right ({lang})")

    # Dragged with the mouse to the bottom left: it snaps into that corner.
    me = layout(seeker)["self"]
    stage = layout(seeker)["stage"]
    seeker.mouse.move(me["x"] + me["w"] / 2, me["y"] + me["h"] / 2)
    seeker.mouse.down()
    seeker.mouse.move(stage["x"] + 40, stage["y"] + stage["h"] - 40, steps=8)
    seeker.mouse.up()
    want = "end-end" if rtl else "end-start"
    wait_for(lambda: layout(seeker)["corner"] == want, "the dragged picture at the bottom left")
    gaps = corner_box(seeker)
    assert gaps["bottom"] < 20 and gaps["left"] < 20, gaps
    self_view_clear(seeker, f"dragged to the bottom left ({lang})")
    # The corner holds at the other sizes too.
    for name, size in VIEWPORTS.items():
        seeker.set_viewport_size(size)
        self_view_clear(seeker, f"bottom left at {name} ({lang})")

    # 400 % zoom: 320 CSS px wide, nothing scrolls sideways, with and without the chat.
    seeker.set_viewport_size(ZOOMED)
    no_sideways_scroll(seeker, f"320 px {lang}")
    seeker.screenshot(path=shots_dir / f"stage-320-{lang}.png")
    axe_check(seeker, f"call stage at 320 px ({lang})")
    seeker.locator("#btn-chat").click()
    assert seeker.locator("#chat-input").is_visible()
    no_sideways_scroll(seeker, f"320 px with the chat {lang}")
    seeker.screenshot(path=shots_dir / f"stage-320-chat-{lang}.png")
    seeker.locator("#chat-close").click()
    assert seeker.locator("#chat").is_hidden()
    assert ids["caseworker"] in seeker.locator("#tiles").inner_html()


def test_leave_asks_first_and_chat_times_are_the_job_centres(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path
) -> None:
    worker, seeker, _ = two_in_call(live_server, new_context, "de")
    seeker.set_viewport_size(TABLET)

    # Chat times: the job centre's clock (Berlin), not the device's (New York).
    seeker.locator("#btn-chat").click()
    seeker.locator("#chat-input").fill("Guten Tag")
    seeker.locator("#chat-input").press("Enter")
    wait_for(lambda: "Guten Tag" in worker.locator("#chat-log").inner_text(), "the chat line")
    meta = worker.locator("#chat-log .chat-meta").first.inner_text()
    now = datetime.now(UTC)
    berlin = {
        (now - timedelta(minutes=m)).astimezone(ZoneInfo("Europe/Berlin")).strftime("%H:%M")
        for m in (0, 1)
    }
    new_york = now.astimezone(ZoneInfo(DEVICE_ZONE)).strftime("%H:%M")
    assert any(t in meta for t in berlin), (meta, berlin)
    assert new_york not in meta, (meta, new_york)
    seeker.locator("#chat-close").click()

    # One tap on Leave asks; Escape and "Stay in the call" keep the call.
    seeker.locator("#btn-leave").click()
    dialog = seeker.locator("#leave-dialog")
    dialog.wait_for(state="visible")
    assert seeker.evaluate("document.activeElement.id") == "leave-stay"
    assert seeker.evaluate("document.getElementById('leave-dialog').matches(':modal')")
    seeker.screenshot(path=shots_dir / "stage-leave-dialog-de.png")
    axe_check(seeker, "the leave question")
    seeker.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    assert seeker.evaluate("document.activeElement.id") == "btn-leave"
    seeker.locator("#btn-leave").click()
    seeker.locator("#leave-stay").click()
    dialog.wait_for(state="hidden")
    assert seeker.locator("#call").is_visible()
    seeker.wait_for_timeout(500)
    assert "Ayşe" in worker.locator("#tiles").inner_text()  # still in the call for the others

    # Confirmed: the end screen, with the way back in.
    seeker.locator("#btn-leave").click()
    seeker.locator("#leave-confirm").click()
    seeker.locator("#ended").wait_for(state="visible")
    assert seeker.locator("#rejoin").is_visible()
    wait_for(lambda: "Ayşe" not in worker.locator("#tiles").inner_text(), "her tile to go")
    axe_check(seeker, "the end screen after leaving")
