"""The join page's first screen and the tiles of people without camera or microphone (issue 11,
items 2, 5 and the consent target of 8).

On a tablet (both ways round), a phone and a desktop, in German and in Arabic (right to left),
the preview, the consent and the join button are on the first screen without scrolling; the
device choosers are folded away until something is wrong; the consent row is a 44 px target.
Someone who joins without camera and microphone is shown to the others with initials and
"no camera" / "no microphone" marks, and their own camera and microphone buttons are disabled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import FloatRect, Locator, Page, ViewportSize

from signalling.http.i18n import load_i18n
from tests.browser.conftest import (
    LANDSCAPE,
    PHONE,
    TABLET,
    LiveServer,
    NewContext,
    axe_check,
    invited_in,
    join,
)
from tests.browser.test_devices import REFUSE
from testsupport.wait import wait_for_sync as wait_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

DESKTOP: ViewportSize = {"width": 1280, "height": 800}
VIEWPORTS = {"768x1024": TABLET, "1024x768": LANDSCAPE, "390x844": PHONE, "1280x800": DESKTOP}
I18N = load_i18n(Path(__file__).resolve().parents[2] / "web")
TOUCH_TARGET = 44  # px
SETTINGS = {"de": "Kamera- und Mikrofon-Einstellungen", "ar": "إعدادات الكاميرا والميكروفون"}


def box(locator: Locator) -> FloatRect:
    found = locator.bounding_box()
    assert found is not None, f"{locator} is not shown"
    return found


def on_first_screen(page: Page, selector: str, viewport: ViewportSize) -> None:
    """The element is wholly inside the viewport (the page not scrolled)."""
    b = box(page.locator(selector))
    assert b["y"] >= 0 and b["x"] >= 0, (selector, b)
    assert b["y"] + b["height"] <= viewport["height"], (selector, b, viewport)
    assert b["x"] + b["width"] <= viewport["width"], (selector, b, viewport)


def refusing(new_context: NewContext, lang: str, error: str, **kwargs: Any) -> Page:
    context = new_context(lang, **kwargs)
    context.add_init_script(script=f"({REFUSE})({error!r})")
    return context.new_page()


def settings_open(page: Page) -> bool:
    return bool(page.locator("#device-settings").evaluate("(d) => d.open"))


@pytest.mark.parametrize("size", list(VIEWPORTS))
@pytest.mark.parametrize("lang", ["de", "ar"])
def test_preview_consent_and_join_button_are_on_the_first_screen(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path, lang: str, size: str
) -> None:
    viewport = VIEWPORTS[size]
    s = live_server.schedule(roles=invited_in(lang))
    page = new_context(lang, viewport=viewport).new_page()
    page.goto(s.urls["jobseeker"])
    assert page.locator("html").get_attribute("lang") == lang
    # The camera is open (the preview has its picture), so the layout is final.
    wait_for(
        lambda: page.evaluate("document.getElementById('preview').videoWidth > 0"),
        "the preview to show the camera",
    )
    assert page.evaluate("window.scrollY") == 0
    for selector in ("#preview", "#consent", "label:has(#consent)", "#join-button"):
        on_first_screen(page, selector, viewport)
    assert box(page.locator("#preview"))["height"] >= 100

    # The device choosers are folded away while nothing is wrong.
    assert not settings_open(page)
    assert page.locator("#camera-select").is_hidden()
    assert page.locator("#mic-select").is_hidden()
    assert page.locator("#device-help").is_hidden()
    assert page.locator("#device-settings summary").inner_text() == SETTINGS[lang]

    # The consent row, box and words, is one target of at least 44 px; its far end ticks it.
    row = page.locator("label:has(#consent)")
    row_box = box(row)
    assert row_box["height"] >= TOUCH_TARGET, row_box
    far_end = 8 if lang == "ar" else row_box["width"] - 8  # the end away from the box
    row.click(position={"x": far_end, "y": row_box["height"] / 2})
    assert page.locator("#consent").is_checked()
    assert page.evaluate("window.scrollY") == 0

    page.screenshot(path=shots_dir / f"join-first-screen-{lang}-{size}.png")
    axe_check(page, f"join page ({lang}, {size})")


@pytest.mark.parametrize("lang", ["de", "ar"])
def test_refused_devices_unfold_the_settings(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path, lang: str
) -> None:
    s = live_server.schedule(roles=invited_in(lang))
    page = refusing(new_context, lang, "NotAllowedError", viewport=PHONE)
    page.goto(s.urls["jobseeker"])
    page.locator("#device-help").wait_for(state="visible")
    assert settings_open(page)
    assert page.locator("#camera-select").is_visible()
    assert page.locator("#mic-select").is_visible()
    page.screenshot(path=shots_dir / f"join-devices-refused-{lang}-390x844.png")
    axe_check(page, f"join page, devices refused ({lang})")

    # Allowed and tried again: the picture is there, the settings stay where the person put them.
    page.evaluate("window.__ljRefuse = ''")
    page.locator("#retry-devices").click()
    page.locator("#device-help").wait_for(state="hidden")
    page.locator("#device-settings summary").click()
    assert not settings_open(page)
    assert page.locator("#camera-select").is_hidden()


def tile(page: Page, pid: str) -> Locator:
    return page.locator(f'#tiles li[data-pid="{pid}"][data-source="camera"]')


@pytest.mark.parametrize(("lang", "lobby"), [("de", True), ("ar", False)])
def test_without_devices_the_others_see_initials_and_marks(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path, lang: str, lobby: bool
) -> None:
    """In German the jobseeker waits and is let in; in Arabic they are in the call first and
    the caseworker comes later (and still learns what is missing)."""
    s = live_server.schedule(roles=invited_in(lang, caseworker=lang), waiting_room=lobby)
    words = I18N.js_strings[lang]
    seeker = refusing(new_context, lang, "NotFoundError")
    seeker.goto(s.urls["jobseeker"])
    seeker.locator("#device-help").wait_for(state="visible")
    seeker.locator("#consent").check()
    seeker.locator("#join-button").click()
    worker = new_context(lang).new_page()
    if lobby:
        seeker.locator("#waiting").wait_for(state="visible")
        join(worker, s.urls["caseworker"])
        worker.locator("#lobby-list button[data-action=admit]").click()
    else:
        seeker.locator("#call").wait_for(state="visible")
        join(worker, s.urls["caseworker"])
    seeker.locator("#call").wait_for(state="visible")
    worker.locator("#call").wait_for(state="visible")

    # The caseworker sees initials and both marks instead of a black picture.
    theirs = tile(worker, s.ids["jobseeker"])
    theirs.wait_for()
    wait_for(
        lambda: theirs.get_attribute("data-missing") == "video audio",
        "the caseworker to learn that the jobseeker has no camera and no microphone",
    )
    assert "no-video" in (theirs.get_attribute("class") or "")
    avatar = theirs.locator(".avatar")
    assert avatar.is_visible()
    assert avatar.inner_text() == "AY"  # the name's initials
    assert theirs.locator("video").evaluate("(v) => getComputedStyle(v).visibility") == "hidden"
    camera_mark = theirs.locator('.tile-mark[data-mark="video"]')
    mic_mark = theirs.locator('.tile-mark[data-mark="audio"]')
    assert camera_mark.is_visible() and mic_mark.is_visible()
    assert words["No camera"] != "No camera" or lang == "en"
    assert camera_mark.inner_text().strip() == words["No camera"]
    assert mic_mark.inner_text().strip() == words["No microphone"]
    worker.screenshot(path=shots_dir / f"call-no-devices-tile-{lang}.png")
    axe_check(worker, f"call with someone without devices ({lang})")

    # The jobseeker's own buttons for camera and microphone can do nothing: disabled.
    for button, word in (("#btn-cam", "No camera"), ("#btn-mic", "No microphone")):
        assert seeker.locator(button).is_disabled()
        assert seeker.locator(button).inner_text().strip() == words[word]
    mine = tile(seeker, s.ids["jobseeker"])
    assert mine.locator(".avatar").is_visible()
    assert mine.get_attribute("data-missing") == "video audio"
    # The caseworker, with devices, has working buttons and no marks.
    assert worker.locator("#btn-cam").is_enabled()
    assert worker.locator("#btn-mic").is_enabled()
    their_view = tile(seeker, s.ids["caseworker"])
    their_view.wait_for()
    assert their_view.get_attribute("data-missing") == ""
    assert their_view.locator(".tile-marks").is_hidden()
    seeker.screenshot(path=shots_dir / f"call-no-devices-self-{lang}.png")
    axe_check(seeker, f"call without devices ({lang})")
