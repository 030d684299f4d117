"""Issue 11, item 13: the jobseeker's screens in Leichte Sprache (German easy language,
`de-x-ls`) in real Chromium: device check with the steps in pictures, waiting room, call,
leave dialog, the end, links that do not work, the privacy notice, the space and the CV
course (issue 12); axe finds nothing serious on any of them, and each is kept as a
screenshot."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from core.model import EASY_GERMAN, Appointment
from signalling.http.pages import when
from tests.browser import test_stage as stage
from tests.browser.conftest import (
    TABLET,
    LiveServer,
    NewContext,
    axe_check,
    invited_in,
    join,
    tile_video,
    video_playing,
    wait_for,
)
from tests.browser.test_console_schedule import console
from tests.browser.test_join_layout import VIEWPORTS
from tests.browser.test_join_layout import on_first_screen as on_screen
from tests.browser.test_space import profile_with_link

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


def speaks_easy_german(page: Page) -> None:
    """The page says lang="de" (screen readers speak German) and the picker names easy
    language as the current choice."""
    assert page.locator("html").get_attribute("lang") == "de"
    current = page.locator('#lang-picker a[aria-current="true"]')
    assert current.text_content() == "Leichte Sprache"


def on_first_screen(page: Page, selector: str) -> None:
    found = page.locator(selector).bounding_box()
    assert found is not None, selector
    assert found["y"] >= 0 and found["y"] + found["height"] <= TABLET["height"], (selector, found)


def test_join_waiting_call_and_leaving_in_easy_language(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path
) -> None:
    s = live_server.schedule(roles=invited_in(EASY_GERMAN))
    # A German browser: the invitation's language wins.
    seeker = new_context("de").new_page()
    worker = new_context("de").new_page()

    seeker.goto(s.urls["jobseeker"])
    speaks_easy_german(seeker)
    video_playing(seeker, "#preview")
    steps = seeker.locator(".easy-steps li")
    assert steps.count() == 4
    assert seeker.locator('.easy-steps svg[role="img"][aria-label^="Bild:"]').count() == 4
    assert "Einen Haken bei Ja machen" in steps.nth(1).inner_text()
    for selector in ("#preview", "#consent", "#join-button"):
        on_first_screen(seeker, selector)
    assert seeker.locator("#join-button").inner_text() == "Zum Termin gehen"
    start = when(s.appointment.starts_at, "de", live_server.settings.timezone)["text"]
    assert seeker.locator("#prejoin .when").inner_text() == start  # German date and time
    seeker.screenshot(path=shots_dir / "easy-join-de-x-ls.png")
    axe_check(seeker, "join page (easy language)")

    # Joining without consent: the error in easy language.
    seeker.locator("#join-button").click()
    error = seeker.locator("#consent-error")
    assert error.is_visible() and "Haken in das Kästchen" in error.inner_text()
    seeker.screenshot(path=shots_dir / "easy-join-consent-missing-de-x-ls.png")
    axe_check(seeker, "join page, consent missing (easy language)")

    seeker.locator("#consent").check()
    seeker.locator("#join-button").click()
    seeker.locator("#waiting").wait_for(state="visible")
    assert seeker.locator("#waiting-title").inner_text() == "Bitte warten Sie."
    wait_for(
        lambda: "Frau Becker" in seeker.locator("#waiting-text").inner_text(),
        "the waiting text to name the caseworker",
    )
    assert start in seeker.locator("#waiting .when").inner_text()
    seeker.screenshot(path=shots_dir / "easy-waiting-de-x-ls.png")
    axe_check(seeker, "waiting room (easy language)")

    # The caseworker (in standard German) lets her in.
    join(worker, s.urls["caseworker"])
    worker.locator("#lobby-list button[data-action=admit]").wait_for()
    worker.locator("#lobby-list button[data-action=admit]").click()
    seeker.locator("#call").wait_for(state="visible")
    video_playing(seeker, tile_video(s.ids["caseworker"]))
    assert seeker.locator("#btn-mic").inner_text() == "Mikrofon aus-machen"
    assert worker.locator("#btn-mic").inner_text() == "Stumm schalten"
    seeker.locator("#btn-chat").click()
    seeker.locator("#chat").wait_for(state="visible")
    seeker.screenshot(path=shots_dir / "easy-call-de-x-ls.png")
    axe_check(seeker, "call with chat (easy language)")
    seeker.locator("#btn-chat").click()

    # Leaving asks first, in easy language.
    seeker.locator("#btn-leave").click()
    dialog = seeker.locator("#leave-dialog")
    dialog.wait_for(state="visible")
    assert "Die anderen bleiben im Gespräch." in dialog.inner_text()
    seeker.screenshot(path=shots_dir / "easy-leave-dialog-de-x-ls.png")
    axe_check(seeker, "leave dialog (easy language)")
    seeker.locator("#leave-confirm").click()
    seeker.locator("#ended").wait_for(state="visible")
    assert seeker.locator("#ended-title").inner_text() == "Sie haben den Termin verlassen."
    seeker.screenshot(path=shots_dir / "easy-left-de-x-ls.png")
    axe_check(seeker, "after leaving (easy language)")


@pytest.mark.parametrize("size", list(VIEWPORTS))
def test_the_steps_in_pictures_leave_the_join_button_on_the_first_screen(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path, size: str
) -> None:
    """The longer easy-language texts and the pictures still fit the device check on one
    screen: preview, consent and join button in view without scrolling."""
    viewport = VIEWPORTS[size]
    s = live_server.schedule(roles=invited_in(EASY_GERMAN))
    page = new_context("de", viewport=viewport).new_page()
    page.goto(s.urls["jobseeker"])
    wait_for(
        lambda: page.evaluate("document.getElementById('preview').videoWidth > 0"),
        "the preview to show the camera",
    )
    assert page.locator(".easy-steps").is_visible()
    page.screenshot(path=shots_dir / f"easy-join-first-screen-de-x-ls-{size}.png")
    for selector in ("#preview", "#consent", "label:has(#consent)", "#join-button"):
        on_screen(page, selector, viewport)
    assert page.evaluate("window.scrollY") == 0
    axe_check(page, f"join page (easy language, {size})")


def test_the_call_stage_fits_every_screen_in_easy_language(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path
) -> None:
    """The longer easy-language labels of the controls still leave a call that fits: our
    picture clear of the controls and faces, nothing scrolls, the chat input above the
    controls (the checks of test_stage.py)."""
    s = live_server.schedule(roles=invited_in(EASY_GERMAN), waiting_room=False)
    worker = new_context("de").new_page()
    seeker = new_context("de").new_page()
    for page in (worker, seeker):
        page.set_default_timeout(stage.SLOW * 1000)
    join(worker, s.urls["caseworker"])
    join(seeker, s.urls["jobseeker"])
    seeker.locator(tile_video(s.ids["caseworker"])).wait_for(state="attached")
    wait_for(lambda: stage.two_party(seeker), "the two-party layout", stage.SLOW)
    for name, size in stage.VIEWPORTS.items():
        seeker.set_viewport_size(size)
        lay = stage.self_view_clear(seeker, name)
        assert lay["scrollH"] <= lay["vh"] + 1 and lay["scrollW"] <= lay["vw"], (name, lay)
        seeker.locator("#btn-chat").click()
        lay = stage.self_view_clear(seeker, f"{name} with the chat")
        assert stage.inside(lay["input"], lay["vw"], lay["vh"]), (name, lay["input"])
        assert lay["input"]["y"] + lay["input"]["h"] <= lay["controls"]["y"] + 1, (name, lay)
        seeker.screenshot(path=shots_dir / f"easy-stage-chat-{name}-de-x-ls.png")
        axe_check(seeker, f"call stage with the chat (easy language, {name})")
        seeker.locator("#chat-input").press("Escape")
        assert seeker.locator("#chat").is_hidden()


def test_links_that_do_not_work_in_easy_language(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path
) -> None:
    roles = invited_in(EASY_GERMAN)
    expired = live_server.schedule(starts_in=-7200, duration=1800, roles=roles)
    early = live_server.schedule(starts_in=3 * 86400, roles=roles)
    cancelled = live_server.schedule(starts_in=600, roles=roles)
    a = cancelled.appointment
    live_server.run(
        live_server.store.put_appointment(
            Appointment.from_dict({**a.to_dict(), "status": "cancelled"})
        )
    )
    page = new_context("de").new_page()
    cases = {
        "expired": (expired.urls["jobseeker"], 410, "Dieser Termin ist vorbei."),
        "too-early": (early.urls["jobseeker"], 200, "Ihr Termin hat noch nicht angefangen."),
        "cancelled": (cancelled.urls["jobseeker"], 410, "Dieser Termin fällt aus."),
        # An unknown link knows no invitation: easy language only when chosen.
        "unknown": (
            f"{live_server.url}/j/AAAAAAAAAAAAAAAAAAAAAA?lang={EASY_GERMAN}",
            404,
            "Dieser Link geht nicht.",
        ),
    }
    for name, (url, status, title) in cases.items():
        response = page.goto(url)
        assert response is not None and response.status == status, name
        speaks_easy_german(page)
        assert page.locator("#link-problem h1").inner_text() == title
        page.screenshot(path=shots_dir / f"easy-link-{name}-de-x-ls.png")
        axe_check(page, f"link {name} (easy language)")
    page.goto(early.urls["jobseeker"])
    opens = early.appointment.starts_at - live_server.settings.early_join_margin
    time = when(opens, "de", live_server.settings.timezone)["time"]
    assert f"Sie können ab {time} Uhr mit-machen." in page.locator("#link-problem").inner_text()


def test_privacy_notice_chosen_in_the_picker(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path
) -> None:
    page = new_context("de").new_page()
    page.goto(f"{live_server.url}/privacy")
    assert "Datenschutzhinweis" in page.locator("h1").inner_text()  # German by default
    page.locator("#lang-picker summary").click()
    page.locator(f'#lang-picker a[href$="lang={EASY_GERMAN}"]').click()
    page.wait_for_url(f"**lang={EASY_GERMAN}")
    speaks_easy_german(page)
    assert page.locator("h1").inner_text() == "Daten-Schutz bei Video-Terminen"
    # The scripts format dates, times and plurals as German.
    said = page.evaluate(
        """async () => {
          const m = await import('/static/js/i18n.js');
          return [m.locale, m.localeOf('de-x-ls'), m.localeOf('tr'),
                  m.formatDateTime(1796112000), m.formatTime(1796112000),
                  m.tn('{count} new', '{count} new', 2), m.t('Unmute')];
        }"""
    )
    assert said == [
        "de",
        "de",
        "tr",
        "Dienstag, 1. Dezember 2026 um 09:00",
        "09:00",
        "2 neu",
        "Mikrofon an-machen",
    ]
    page.screenshot(path=shots_dir / "easy-privacy-de-x-ls.png", full_page=True)
    axe_check(page, "privacy (easy language)")


def test_space_and_a_course_in_easy_language(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path
) -> None:
    """Issue 12: the jobseeker's space, and the CV course in Leichte Sprache."""
    link = profile_with_link(live_server, "Herr Lange", EASY_GERMAN, starts_in=86400)
    tablet = new_context("de", viewport=TABLET).new_page()
    tablet.goto(link)
    tablet.wait_for_url(f"{live_server.url}/space")
    speaks_easy_german(tablet)
    assert tablet.locator("h1").first.inner_text() == "Hallo Herr Lange"
    card = tablet.locator('.learning-module[data-module="cv-five-steps"]')
    assert "Ihr Lebenslauf in 5 Schritten" in card.inner_text()
    tablet.screenshot(path=shots_dir / "easy-space-de-x-ls.png", full_page=True)
    axe_check(tablet, "space (easy language)")

    tablet.goto(f"{live_server.url}/space/learning/cv-five-steps")
    speaks_easy_german(tablet)
    lesson = tablet.locator(".lesson:visible")
    expect(lesson).to_have_attribute("data-section", "step-1-layout")
    assert "Was ist ein Lebenslauf?" in lesson.inner_text()
    # The course's own text is easy language too, and German to screen readers.
    assert tablet.locator(".learning-sections").get_attribute("lang") == "de"
    tablet.screenshot(path=shots_dir / "easy-course-page-de-x-ls.png", full_page=True)
    axe_check(tablet, "course page (easy language)")
    for _ in range(5):
        tablet.locator("#learning-next").click()
    expect(lesson).to_have_attribute("data-section", "quiz")
    assert "Was steht im Lebenslauf oben?" in lesson.inner_text()
    form = tablet.locator('form[data-question="order"]')
    form.locator('input[value="oldest-first"]').check()
    form.get_by_role("button").click()
    expect(form).to_have_attribute("data-result", "wrong")
    expect(form.locator(".quiz-feedback")).to_contain_text("Heute steht das Neueste oben.")
    tablet.screenshot(path=shots_dir / "easy-course-quiz-de-x-ls.png", full_page=True)
    axe_check(tablet, "course quiz (easy language)")


def test_the_console_invites_in_easy_language(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path
) -> None:
    """The caseworker picks "Leichte Sprache" for the jobseeker: the slip and its invitation
    are in easy language (and German to screen readers); the console stays standard German."""
    staff = console(new_context, live_server)
    staff.locator("#f-title").fill("Beratung")
    rows = staff.locator("#participant-rows > li")
    rows.nth(1).locator('[data-name="name"]').fill("Herr Lange")
    choice = rows.nth(1).locator(f'[data-name="lang"] option[value="{EASY_GERMAN}"]')
    assert choice.text_content() == "Leichte Sprache" and choice.get_attribute("lang") == "de"
    rows.nth(1).locator('[data-name="lang"]').select_option(EASY_GERMAN)
    staff.locator("#schedule-submit").click()
    jobseeker = staff.locator('#links .link-card[data-role="jobseeker"]')
    invitation = jobseeker.locator(".invitation")
    expect(invitation).to_have_attribute("lang", "de")
    text = jobseeker.locator(".invitation-text")
    expect(text).to_contain_text("Hallo Herr Lange,")
    expect(text).to_contain_text("So machen Sie mit:")
    expect(text).to_contain_text("Bitte geben Sie den Link nicht weiter.")
    caseworker = staff.locator('#links .link-card[data-role="caseworker"] .invitation-text')
    expect(caseworker).to_contain_text("So nehmen Sie teil:")
    staff.screenshot(path=shots_dir / "easy-console-slip-de-x-ls.png", full_page=True)
    axe_check(staff, "slip in easy language")
