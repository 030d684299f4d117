"""Pages without a call, in real Chromium against the real server: links that do not work
(yet), the privacy notice, the staff login and the console's scheduling form."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page

from signalling.http.pages import _when
from tests.browser.conftest import (
    CUSTOM_ZONE,
    STAFF_PASSWORD,
    STAFF_USER,
    LiveServer,
    NewContext,
    axe_check,
    invited_in,
    wait_for,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


@pytest.mark.parametrize("lang", ["de", "ar"])
def test_links_that_do_not_work_explain_why(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path, lang: str
) -> None:
    page = new_context(lang).new_page()
    # The pages speak the invitation's language (issue 11), here the browser's too.
    roles = invited_in(lang)
    expired = live_server.schedule(starts_in=-7200, duration=1800, roles=roles)
    early = live_server.schedule(starts_in=3 * 86400, roles=roles)
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
    early = custom_server.schedule(starts_in=3 * 86400, roles=invited_in("de"))
    now = custom_server.schedule(starts_in=-60, roles=invited_in("de"))
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
    s = live_server.schedule(starts_in=600, roles=invited_in("en"))

    async def cancel() -> None:
        from core.model import Appointment

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
    # Who attended, and how long: the jobseeker's line counts its time in the call.
    person = card.locator(f'li.person[data-pid="{s.ids["jobseeker"]}"]')
    wait_for(lambda: "1 Min. im Gespräch" in person.inner_text(), "the jobseeker's time in call")


# The device's own zone in the console tests below: far from both Tokyo and the machine's UTC.
DEVICE_ZONE = "America/Los_Angeles"


def console_groups(page: Page) -> dict[str, str]:
    """Each appointment card's text, keyed by its group heading and title ("Heute: Beratung")."""
    groups: dict[str, str] = page.evaluate(
        """() => {
          const out = {};
          let group = '';
          for (const node of document.getElementById('appointment-groups').children) {
            if (node.tagName === 'H3') group = node.textContent;
            for (const card of node.querySelectorAll('li.appointment')) {
              out[`${group}: ${card.querySelector('h3').textContent}`] = card.innerText;
            }
          }
          return out;
        }"""
    )
    return groups


def test_console_works_in_the_configured_timezone(
    custom_server: LiveServer, new_context: NewContext
) -> None:
    """The console shows and reads times in settings.timezone (Tokyo), not the device's zone."""
    zone = ZoneInfo(CUSTOM_ZONE)
    # Shortly after midnight today in Tokyo: the day before in UTC and in Los Angeles.
    midnight = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    custom_server.schedule(
        starts_in=midnight.timestamp() + 300 - time.time(), title="Gleich nach Mitternacht"
    )
    page = new_context("de", timezone_id=DEVICE_ZONE).new_page()
    assert page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == DEVICE_ZONE
    before = time.time()
    login(page, custom_server)
    wait_for(lambda: page.locator("#list-updated").inner_text(), "the list")
    after = time.time()

    # The form starts a quarter of an hour from now, rounded up, on Tokyo's clock.
    def soon(epoch: float) -> str:
        moment = datetime.fromtimestamp(epoch + 15 * 60, zone).replace(second=0, microsecond=0)
        moment += timedelta(minutes=-moment.minute % 15)
        return moment.strftime("%Y-%m-%d %H:%M")

    shown = f"{page.input_value('#f-date')} {page.input_value('#f-start')}"
    assert shown in {soon(before), soon(after)}, shown
    updated = page.locator("#list-updated").inner_text()
    assert any(
        datetime.fromtimestamp(moment, zone).strftime("%H:%M") in updated
        for moment in (before, after)
    ), updated
    groups = console_groups(page)
    assert "Heute: Gleich nach Mitternacht" in groups, groups
    assert "00:05" in groups["Heute: Gleich nach Mitternacht"]

    # Scheduled for 10:00 tomorrow in Tokyo: the server gets 10:00 +09:00.
    tomorrow = midnight + timedelta(days=1, hours=10)  # Tokyo has no summer time
    page.fill("#f-title", "Termin in Tokio")
    page.fill("#f-date", tomorrow.strftime("%Y-%m-%d"))
    page.fill("#f-start", "10:00")
    page.select_option("#f-duration", "45")
    page.locator("#participant-rows li").nth(1).locator("[data-name=name]").fill("Herr Sato")
    page.click("#schedule-submit")
    page.locator("#links").wait_for(state="visible")
    assert "10:00" in page.locator("#links-summary").inner_text()
    found = custom_server.run(custom_server.store.list_appointments())
    scheduled = next(a for a in found if a.title == "Termin in Tokio")
    assert scheduled.starts_at == tomorrow.timestamp()
    assert scheduled.ends_at == tomorrow.timestamp() + 45 * 60
    listed = page.request.get(
        f"{custom_server.url}/api/appointments"
        f"?from={tomorrow.timestamp() - 60}&to={tomorrow.timestamp() + 60}"
    ).json()["appointments"]
    assert [a["starts_at"] for a in listed] == [tomorrow.timestamp()]

    # The list shows it as upcoming, 10:00 to 10:45 (Tokyo), with tomorrow's weekday.
    card = "Demnächst: Termin in Tokio"
    wait_for(lambda: card in console_groups(page), "the new appointment in the list")
    text = console_groups(page)[card]
    assert "10:00\u201310:45" in text, text  # an en dash
    weekdays = ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"]
    assert weekdays[tomorrow.weekday()] in text, text


def test_scripts_say_counts_with_the_language_plural_forms(
    live_server: LiveServer, new_context: NewContext
) -> None:
    """tn() in Chromium picks the form for the number by Intl.PluralRules: "1 новых" was
    what the Russian and Ukrainian chat badge said."""
    page = new_context("ru").new_page()
    page.goto(f"{live_server.url}/privacy?lang=ru")
    said = page.evaluate(
        """async () => {
          const m = await import('/static/js/i18n.js');
          return [1, 3, 5, 21, 11].map((n) => m.tn('{count} new', '{count} new', n));
        }"""
    )
    assert said == ["1 новое", "3 новых", "5 новых", "21 новое", "11 новых"]
    page.goto(f"{live_server.url}/privacy?lang=ar")
    said = page.evaluate(
        """async () => {
          const m = await import('/static/js/i18n.js');
          return [1, 2, 7].map((n) => m.tn('{count} new', '{count} new', n));
        }"""
    )
    assert said == ["رسالة جديدة واحدة", "رسالتان جديدتان", "7 رسائل جديدة"]


def test_console_time_helpers_follow_summer_time(
    live_server: LiveServer, new_context: NewContext
) -> None:
    """The console's zone arithmetic (i18n.js), in Chromium: Berlin is +01:00 in January and
    +02:00 in July; a time skipped in spring moves on; midnights bound days of 23 hours."""
    page = new_context("de", timezone_id=DEVICE_ZONE).new_page()
    page.goto(f"{live_server.url}/privacy")
    result = page.evaluate(
        """async () => {
          const m = await import('/static/js/i18n.js');
          const z = 'Europe/Berlin';
          const iso = (date, time) => m.isoInZone(m.zonedToEpochMs(date, time, z), z);
          const spring = Date.UTC(2025, 2, 30, 12);
          return {
            january: iso('2025-01-15', '10:00'),
            july: iso('2025-07-15', '10:00'),
            gap: iso('2025-03-30', '02:30'),
            autumn: iso('2025-10-26', '03:30'),
            offsets: [m.zoneOffsetMinutes(Date.UTC(2025, 0, 15), z),
                      m.zoneOffsetMinutes(Date.UTC(2025, 6, 15), z),
                      m.zoneOffsetMinutes(Date.UTC(2025, 6, 15), 'America/St_Johns')],
            springDay: (m.zoneMidnight(spring, 1, z) - m.zoneMidnight(spring, 0, z)) / 3600000,
            tokyo: m.isoInZone(m.zonedToEpochMs('2025-07-15', '10:00', 'Asia/Tokyo'), 'Asia/Tokyo'),
            bad: Number.isNaN(m.zonedToEpochMs('2025-07-15', '', z)),
          };
        }"""
    )
    assert result == {
        "january": "2025-01-15T10:00:00+01:00",
        "july": "2025-07-15T10:00:00+02:00",
        "gap": "2025-03-30T03:30:00+02:00",
        "autumn": "2025-10-26T03:30:00+01:00",
        "offsets": [60, 120, -150],
        "springDay": 23,
        "tokyo": "2025-07-15T10:00:00+09:00",
        "bad": True,
    }


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
