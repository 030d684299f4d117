"""Pages without a call, in real Chromium against the real server: links that do not work
(yet), the privacy notice, the staff login and the console's scheduling form."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page

from signalling.pages import _when
from tests.browser.conftest import (
    CUSTOM_ZONE,
    STAFF_PASSWORD,
    STAFF_USER,
    LiveServer,
    NewContext,
    axe_check,
    wait_for,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


@pytest.mark.parametrize("lang", ["de", "ar"])
def test_links_that_do_not_work_explain_why(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path, lang: str
) -> None:
    page = new_context(lang).new_page()
    expired = live_server.schedule(starts_in=-7200, duration=1800)
    early = live_server.schedule(starts_in=3 * 86400)
    cases = {
        "expired": (expired.urls["jobseeker"], 410),
        "too-early": (early.urls["jobseeker"], 200),
        "unknown": (f"{live_server.url}/j/AAAAAAAAAAAAAAAAAAAAAA", 404),
    }
    for name, (url, status) in cases.items():
        response = page.goto(url)
        assert response is not None and response.status == status
        assert page.locator("#link-problem h1").is_visible()
        assert "Traceback" not in page.content()
        assert page.locator("#join-button").count() == 0
        page.screenshot(path=shots_dir / f"link-{name}-{lang}.png")
        axe_check(page, f"link {name} ({lang})")
    # The expired page names the appointment's time.
    page.goto(expired.urls["jobseeker"])
    text = page.locator("#link-problem").inner_text()
    start = _when(expired.appointment.starts_at, lang, live_server.settings.timezone)["text"]
    assert start in text


def test_times_are_shown_in_the_configured_timezone(
    custom_server: LiveServer, new_context: NewContext
) -> None:
    """Pages show times in settings.timezone (here Asia/Tokyo), not in a built-in zone."""
    early = custom_server.schedule(starts_in=3 * 86400)
    now = custom_server.schedule(starts_in=-60)
    page = new_context("de").new_page()

    def clock(epoch: float, zone: str) -> str:
        return datetime.fromtimestamp(epoch, ZoneInfo(zone)).strftime("%H:%M")

    page.goto(early.urls["jobseeker"])
    text = page.locator("#link-problem").inner_text()
    starts = early.appointment.starts_at
    opens = starts - custom_server.settings.early_join_margin
    assert clock(starts, CUSTOM_ZONE) in text, text
    assert clock(opens, CUSTOM_ZONE) in text, text
    assert clock(starts, "Europe/Berlin") not in text, text
    assert _when(starts, "de", CUSTOM_ZONE)["text"] in text

    page.goto(now.urls["jobseeker"])
    when = page.locator("time").first
    assert (when.get_attribute("datetime") or "").endswith("+09:00")
    assert clock(now.appointment.starts_at, CUSTOM_ZONE) in when.inner_text()
    # The page's scripts get the same zone for the times they show.
    assert page.evaluate("JSON.parse(document.getElementById('lj-page').textContent).timezone") == (
        CUSTOM_ZONE
    )


def test_cancelled_link_says_so(live_server: LiveServer, new_context: NewContext) -> None:
    s = live_server.schedule(starts_in=600)

    async def cancel() -> None:
        from signalling.models import Appointment

        a = s.appointment
        await live_server.store.put_appointment(
            Appointment.from_dict({**a.to_dict(), "status": "cancelled"})
        )

    live_server.run(cancel())
    page = new_context("en").new_page()
    response = page.goto(s.urls["jobseeker"])
    assert response is not None and response.status == 410
    assert "cancelled" in page.locator("#link-problem h1").inner_text()


@pytest.mark.parametrize("lang", ["de", "ar"])
def test_privacy_notice(
    new_context: NewContext, live_server: LiveServer, shots_dir: Path, lang: str
) -> None:
    page = new_context(lang).new_page()
    page.goto(f"{live_server.url}/privacy")
    assert page.locator("html").get_attribute("lang") == lang
    page.screenshot(path=shots_dir / f"privacy-{lang}.png", full_page=True)
    axe_check(page, f"privacy ({lang})")


def test_language_picker_switches_and_remembers(
    live_server: LiveServer, new_context: NewContext
) -> None:
    page = new_context("de").new_page()
    page.goto(f"{live_server.url}/privacy")
    page.locator("#lang-picker summary").click()
    page.locator('#lang-picker a[lang="uk"]').click()
    page.wait_for_url("**lang=uk")
    assert page.locator("html").get_attribute("lang") == "uk"
    page.goto(f"{live_server.url}/privacy")  # the cookie remembers
    assert page.locator("html").get_attribute("lang") == "uk"


def login(page: Page, live_server: LiveServer) -> None:
    page.goto(f"{live_server.url}/console")
    page.wait_for_url("**/console/login")
    page.fill("#username", STAFF_USER)
    page.fill("#password", STAFF_PASSWORD)
    page.click("#login-submit")
    page.wait_for_url("**/console")


def test_login_rejects_a_wrong_password(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path
) -> None:
    page = new_context("de").new_page()
    page.goto(f"{live_server.url}/console/login")
    axe_check(page, "login")
    page.fill("#username", "someone")
    page.fill("#password", "wrong-password")
    page.click("#login-submit")
    page.locator("#login-error").wait_for(state="visible")
    page.screenshot(path=shots_dir / "login-error-de.png")


@pytest.mark.parametrize("lang", ["de", "ar"])
def test_console_schedules_through_the_form(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path, lang: str
) -> None:
    page = new_context(lang).new_page()
    login(page, live_server)
    page.screenshot(path=shots_dir / f"console-{lang}.png", full_page=True)
    axe_check(page, f"console ({lang})")

    # An empty name: the form says so next to the field, not as raw JSON.
    page.fill("#f-title", "Vorstellungsgespräch")
    page.click("#add-participant")
    rows = page.locator("#participant-rows li")
    rows.nth(1).locator("[data-name=name]").fill("Ayşe Yılmaz")  # noqa: RUF001
    rows.nth(2).locator("[data-name=role]").select_option("employer")
    page.click("#schedule-submit")
    page.locator("#form-errors").wait_for(state="visible")
    assert rows.nth(2).locator("[data-name=name]").get_attribute("aria-invalid") == "true"
    assert "{" not in page.locator("#form-errors").inner_text()
    page.screenshot(path=shots_dir / f"console-form-error-{lang}.png", full_page=True)
    axe_check(page, f"console form errors ({lang})")

    rows.nth(2).locator("[data-name=name]").fill("Herr Wolf")
    page.click("#schedule-submit")
    page.locator("#links").wait_for(state="visible")
    cards = page.locator("#link-list li")
    assert cards.count() == 3
    wait_for(lambda: page.locator("#link-list .qr svg").count() == 3, "three QR codes")
    urls = page.locator(".link-url").evaluate_all("els => els.map(e => e.value)")
    assert all(u.startswith(f"{live_server.url}/j/") for u in urls)
    page.screenshot(path=shots_dir / f"console-links-{lang}.png", full_page=True)
    axe_check(page, f"console links ({lang})")

    # The appointment shows in today's list with its live state; the links work.
    item = page.locator("#appointment-groups li.appointment", has_text="Vorstellungsgespräch")
    item.first.wait_for()
    assert item.first.get_attribute("data-state") == "not_started"
    response = page.request.get(urls[1])
    assert response.status == 200


def test_console_shows_waiting_and_admits(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path
) -> None:
    s = live_server.schedule(title="Wartet gerade")
    console = new_context("de").new_page()
    login(console, live_server)
    seeker = new_context("tr").new_page()
    seeker.goto(s.urls["jobseeker"])
    seeker.locator("#consent").check()
    seeker.locator("#join-button").click()
    seeker.locator("#waiting").wait_for(state="visible")
    card = console.locator("li.appointment", has_text="Wartet gerade")
    wait_for(lambda: card.get_attribute("data-state") == "waiting", "the waiting state")
    assert "zugestimmt" in card.inner_text()  # the consent, with its time
    console.screenshot(path=shots_dir / "console-waiting-de.png", full_page=True)
    axe_check(console, "console with someone waiting")
    card.locator("button[data-action=admit]").click()
    seeker.locator("#call").wait_for(state="visible")


def test_join_with_the_keyboard_only(live_server: LiveServer, new_context: NewContext) -> None:
    s = live_server.schedule(waiting_room=False)
    page = new_context("de").new_page()
    page.goto(s.urls["jobseeker"])

    def tab_to(element_id: str) -> None:
        for _ in range(40):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
                return
        raise AssertionError(f"#{element_id} cannot be reached with Tab")

    tab_to("consent")
    page.keyboard.press("Space")
    assert page.locator("#consent").is_checked()
    tab_to("join-button")
    page.keyboard.press("Enter")
    page.locator("#call").wait_for(state="visible")
    tab_to("btn-mic")
    page.keyboard.press("Enter")
    assert page.locator("#btn-mic").get_attribute("aria-pressed") == "true"
