"""The device check when the browser refuses the camera and microphone, or finds none.

Chromium's fake devices always grant access, so these tests make `getUserMedia` fail the way a
browser does (a `DOMException` with the standard name) until the test lifts the refusal, as a
person would by allowing access in the browser and tapping "Try again".
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page

from signalling.http.i18n import load_i18n
from tests.browser.conftest import (
    LiveServer,
    NewContext,
    axe_check,
    invited_in,
    join,
    tile_video,
    video_playing,
    wait_for,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

# Until `window.__ljRefuse` is cleared, every getUserMedia call fails with that error name.
REFUSE = """(name) => {
  if (!navigator.mediaDevices) return;  // about:blank before the page
  window.__ljRefuse = name;
  window.__ljAsked = 0;
  const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = (constraints) => {
    window.__ljAsked += 1;
    if (window.__ljRefuse) return Promise.reject(new DOMException('refused', window.__ljRefuse));
    return real(constraints);
  };
}"""

# The help texts as written in web/static/js/devices.js; the page shows their translation.
HELP = {
    "NotAllowedError": "The browser does not allow camera and microphone. Tap the camera or lock "
    'symbol next to the web address, allow camera and microphone, then tap "Try again".',
    "NotFoundError": 'No camera or microphone was found. Connect one and tap "Try again", or '
    "join without: the others will not see or hear you.",
}
I18N = load_i18n(Path(__file__).resolve().parents[2] / "web")


def refusing_page(new_context: NewContext, lang: str, error: str) -> Page:
    context = new_context(lang)
    context.add_init_script(script=f"({REFUSE})({error!r})")
    return context.new_page()


@pytest.mark.parametrize("error", ["NotAllowedError", "NotFoundError"])
@pytest.mark.parametrize("lang", ["de", "ar"])
def test_refused_devices_get_plain_help_and_try_again_recovers(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path, lang: str, error: str
) -> None:
    s = live_server.schedule(roles=invited_in(lang))
    page = refusing_page(new_context, lang, error)
    page.goto(s.urls["jobseeker"])
    help_box = page.locator("#device-help")
    help_box.wait_for(state="visible")
    text = help_box.inner_text()
    expected = I18N.js_strings[lang][HELP[error]]
    assert expected != HELP[error]  # translated
    assert expected in text, text
    assert help_box.get_attribute("role") == "alert"
    assert page.locator("#preview-off").is_visible()
    page.screenshot(path=shots_dir / f"devices-{error}-{lang}.png")
    axe_check(page, f"device help {error} ({lang})")

    # The person allows access in the browser and taps "Try again".
    page.evaluate("window.__ljRefuse = ''")
    page.locator("#retry-devices").click()
    help_box.wait_for(state="hidden")
    video_playing(page, "#preview")
    assert page.locator("#preview-off").is_hidden()
    wait_for(
        lambda: (
            page.locator("#camera-select option").count() > 0
            and not page.locator("#camera-select").is_disabled()
        ),
        "the camera list after access was allowed",
    )


def test_without_any_device_one_can_still_join_and_be_seen_waiting(
    live_server: LiveServer, new_context: NewContext
) -> None:
    """No camera or microphone: the help says so, and joining without them still works."""
    s = live_server.schedule()
    page = refusing_page(new_context, "de", "NotFoundError")
    page.goto(s.urls["jobseeker"])
    page.locator("#device-help").wait_for(state="visible")
    page.locator("#consent").check()
    page.locator("#join-button").click()
    page.locator("#waiting").wait_for(state="visible")
    # The caseworker (with devices) sees the jobseeker waiting and lets them in.
    worker = new_context("de").new_page()
    join(worker, s.urls["caseworker"])
    worker.locator("#lobby-list button[data-action=admit]").click()
    page.locator("#waiting").wait_for(state="hidden")
    # The jobseeker, without a camera, still sees and hears the caseworker.
    video_playing(page, tile_video(s.ids["caseworker"]))
    # and the caseworker sees the jobseeker's tile, with no picture to show.
    worker.locator(f'#tiles li[data-pid="{s.ids["jobseeker"]}"]').first.wait_for()
