"""The waiting room in real Chromium (issue 11, item 3): it says whether the caseworker is
connected, changes when she comes and goes, shows her message, checks camera and microphone
while waiting and before the window opens, and, when the appointment ends before anyone let
the jobseeker in, says what to do instead of thanking her."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page

from signalling.room.ws import HUB
from tests.browser.conftest import (
    STAFF_PASSWORD,
    STAFF_USER,
    LiveServer,
    NewContext,
    axe_check,
    invited_in,
    join,
    video_playing,
    wait_for,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(150)]

LATE = "Ich verspäte mich 5 Minuten"
# The end screen of one who was never let in names the job centre (de, ar).
JOB_CENTRE = {"de": "Jobcenter", "ar": "مركز"}


def _present(page: Page) -> str | None:
    return page.locator("#waiting-text").get_attribute("data-present")


def _level(page: Page, meter: str) -> int:
    return int(page.locator(meter).get_attribute("aria-valuenow") or 0)


@pytest.mark.parametrize("lang", ["de", "ar"])
def test_waiting_room_tells_the_truth(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path, lang: str
) -> None:
    s = live_server.schedule(roles=invited_in(lang))
    seeker = new_context(lang).new_page()
    worker = new_context("de").new_page()

    # Before the caseworker connects: the waiting room says so, with the appointment's time.
    join(seeker, s.urls["jobseeker"])
    seeker.locator("#waiting").wait_for(state="visible")
    wait_for(lambda: _present(seeker) == "false", "the waiting room to say nobody is there")
    absent = seeker.locator("#waiting-text").inner_text()
    assert "Frau Becker" in absent
    assert seeker.locator("#waiting .when").inner_text().strip()
    assert seeker.locator("#waiting-note").is_hidden()
    # The device check goes on while waiting: picture and microphone level.
    video_playing(seeker, "#waiting-preview")
    wait_for(lambda: _level(seeker, "#waiting-level") > 0, "the microphone level to move")
    seeker.screenshot(path=shots_dir / f"waiting-alone-{lang}.png")
    axe_check(seeker, f"waiting room, nobody there ({lang})")

    # The caseworker joins: the text changes, live.
    join(worker, s.urls["caseworker"])
    worker.locator("#lobby-message-input").wait_for(state="visible")
    wait_for(lambda: _present(seeker) == "true", "the waiting room to say she is there")
    present = seeker.locator("#waiting-text").inner_text()
    assert present != absent and "Frau Becker" in present

    # She writes to the waiting room; the jobseeker reads it.
    axe_check(worker, "call with the waiting list and its message form")
    worker.locator("#lobby-message-input").fill(LATE)
    worker.locator("#lobby-message-input").press("Enter")
    note = seeker.locator("#waiting-note")
    note.wait_for(state="visible")
    assert LATE in note.inner_text()
    assert worker.locator("#lobby-message-status").inner_text().strip()
    seeker.screenshot(path=shots_dir / f"waiting-message-{lang}.png")
    axe_check(seeker, f"waiting room with a message ({lang})")

    # She leaves without letting anyone in: the waiting room says so again.
    worker.locator("#btn-leave").click()
    worker.locator("#leave-confirm").click()  # Leave asks first
    wait_for(lambda: _present(seeker) == "false", "the waiting room to say she has gone")

    # The appointment ends before anyone let the jobseeker in: no thanks, but what to do.
    assert live_server.run(live_server.app[HUB].end(s.appointment.id, "becker"))
    seeker.locator("#ended").wait_for(state="visible")
    ended = seeker.locator("#ended-text").inner_text()
    assert JOB_CENTRE[lang] in ended
    assert seeker.locator("#rejoin").is_hidden()
    seeker.screenshot(path=shots_dir / f"waiting-missed-{lang}.png")
    axe_check(seeker, f"end screen of one never let in ({lang})")


def test_device_check_before_the_window_opens(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path
) -> None:
    s = live_server.schedule(starts_in=3 * 3600, roles=invited_in("de"))
    page = new_context("de").new_page()
    page.goto(s.urls["jobseeker"])
    button = page.locator("#early-check")
    button.wait_for(state="visible")
    assert page.locator("#early-devices").is_hidden()
    button.click()
    assert button.get_attribute("aria-expanded") == "true"
    video_playing(page, "#early-preview")
    wait_for(lambda: _level(page, "#early-level") > 0, "the microphone level to move")
    page.screenshot(path=shots_dir / "too-early-device-check-de.png")
    axe_check(page, "too early, with the device check")
    button.click()
    assert page.locator("#early-devices").is_hidden()


def test_console_writes_to_the_waiting_room(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path
) -> None:
    title = "Warteraum aus der Konsole"
    s = live_server.schedule(roles=invited_in("de"), title=title)
    seeker = new_context("de").new_page()
    join(seeker, s.urls["jobseeker"])
    seeker.locator("#waiting").wait_for(state="visible")

    console = new_context("de", viewport={"width": 1280, "height": 800}).new_page()
    console.goto(f"{live_server.url}/console")
    console.wait_for_url("**/console/login")
    console.fill("#username", STAFF_USER)
    console.fill("#password", STAFF_PASSWORD)
    console.click("#login-submit")
    console.wait_for_url("**/console")
    card = console.locator("#appointment-groups li.appointment", has_text=title)
    field = card.locator("form.lobby-message input")
    field.wait_for(state="visible")  # shown while someone waits
    field.fill(LATE)
    field.press("Enter")
    wait_for(lambda: card.locator(".lobby-message-status").inner_text().strip(), "a sent note")
    seeker.locator("#waiting-note").wait_for(state="visible")
    assert LATE in seeker.locator("#waiting-note-text").inner_text()
    assert _present(seeker) == "false"  # the console is not the call
    console.screenshot(path=shots_dir / "console-waiting-room-message-de.png")
    axe_check(console, "console with a message form for the waiting room")
