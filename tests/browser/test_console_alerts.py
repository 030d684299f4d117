"""Issue 11, items 9, 10 and 6 in real Chromium: the console alerts the caseworker when someone
starts waiting (the tab's title, a chime she can switch off, a notification once allowed),
its "Join the call" button takes her into the call without her link, and the privacy notice
and error pages name the job centre's line, the controller and the data-protection officer."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, ViewportSize, expect

from tests.browser.conftest import (
    LiveServer,
    NewContext,
    axe_check,
    log_in,
)
from testsupport.wait import wait_for_sync as wait_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

DESKTOP: ViewportSize = {"width": 1280, "height": 800}
CONTACT = {
    "support_phone": "+49 5231 123-0",
    "support_hours": "Mo-Fr 8:00-16:00",
    "controller_name": "Jobcenter Lippe",
    "controller_address": "Musterstraße 1, 32756 Detmold",
    "dpo_contact": "datenschutz@jobcenter-lippe.example",
}

# Counts the tones the page starts and the notifications it shows; and the console "works in
# another window" (not focused), which is when notifications are due.
SPIES = """
(() => {
  window.__tones = 0;
  const start = OscillatorNode.prototype.start;
  OscillatorNode.prototype.start = function (...args) {
    window.__tones += 1;
    return start.apply(this, args);
  };
  window.__notes = [];
  const Real = window.Notification;
  // Static members (permission, requestPermission) come with the class.
  window.Notification = class Spy extends Real {
    constructor(title, options) {
      window.__notes.push({ title, body: (options || {}).body || '' });
      super(title, options);
    }
  };
  document.hasFocus = () => false;
})();
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of its own (nobody else's guests wait in its console), with contact settings."""
    live = LiveServer(tmp_path_factory.mktemp("alerts"), **CONTACT)
    live.start()
    yield live
    live.stop()


def console(new_context: NewContext, server: LiveServer, notifications: bool = False) -> Page:
    context = new_context("de", viewport=DESKTOP)
    if notifications:
        context.grant_permissions(["notifications"], origin=server.url)
    return console_in(context, server)


def console_in(context: BrowserContext, server: LiveServer) -> Page:
    """The console, logged in, in `context` (with the spies on tones and notifications)."""
    page = context.new_page()
    page.add_init_script(SPIES)
    log_in(page, server)
    return page


def start_waiting(new_context: NewContext, url: str, lang: str) -> Page:
    guest = new_context(lang).new_page()
    guest.goto(url)
    guest.locator("#consent").check()
    guest.locator("#join-button").click()
    guest.locator("#waiting").wait_for(state="visible")
    return guest


def poll_now(page: Page) -> None:
    """What the console's 4-second poll does, now (its 'focus' handler)."""
    page.evaluate("window.dispatchEvent(new Event('focus'))")


def test_the_console_hears_at_once_over_its_live_socket(
    server: LiveServer, new_context: NewContext
) -> None:
    """While the live socket is up the console polls once a minute only: someone who starts
    waiting is in the title within seconds all the same, by the socket's word; and the
    console hears it leave."""
    s = server.schedule(
        title="Live-Probe",
        roles=(("caseworker", "Frau Becker", "de"), ("jobseeker", "Olena Koval", "uk")),
    )
    staff = console(new_context, server)
    expect(staff.locator("html")).to_have_attribute("data-live", "on", timeout=10_000)
    card = staff.locator("li.appointment", has_text="Live-Probe")
    expect(card).to_have_count(1)
    person = card.locator(f'li.person[data-pid="{s.ids["jobseeker"]}"]')
    guest = start_waiting(new_context, s.urls["jobseeker"], "uk")
    expect(staff).to_have_title(re.compile(r"^\(1\) wartet · "), timeout=10_000)
    expect(person).to_have_attribute("data-status", "waiting")
    guest.close()
    expect(staff).not_to_have_title(re.compile(r"^\("), timeout=10_000)
    expect(person).not_to_have_attribute("data-status", "waiting")


def test_someone_waiting_alerts_the_console_and_the_host_joins_from_it(
    server: LiveServer, new_context: NewContext, shots_dir: Path
) -> None:
    s = server.schedule(
        title="Alarmprobe",
        roles=(
            ("caseworker", "Frau Becker", "de"),
            ("jobseeker", "Ayşe Yılmaz", "tr"),  # noqa: RUF001
            ("employer", "Herr Wolf", "de"),
        ),
    )
    staff = console(new_context, server, notifications=True)
    card = staff.locator("li.appointment", has_text="Alarmprobe")
    expect(card).to_have_count(1)
    expect(staff).not_to_have_title(re.compile(r"^\("))
    sound = staff.get_by_label("Ton, wenn jemand wartet")
    expect(sound).to_be_checked()
    # Notifications were allowed for this browser: the button has gone, the line says so.
    expect(staff.locator("#enable-notifications")).to_be_hidden()
    expect(staff.locator("#notifications-status")).to_have_text(
        "Benachrichtigungen sind eingeschaltet."
    )
    staff.locator("h1").click()  # a gesture: the page may make sound from now on

    # The jobseeker starts waiting: title, chime (two tones), a notification naming no one.
    guest = start_waiting(new_context, s.urls["jobseeker"], "tr")
    poll_now(staff)
    expect(staff).to_have_title(re.compile(r"^\(1\) wartet · "), timeout=15_000)
    body = staff.locator("body")
    expect(body).to_have_attribute("data-waiting-chimes", "1")
    expect(body).to_have_attribute("data-chimes-played", "1")
    assert staff.evaluate("window.__tones") == 2
    notes = staff.evaluate("window.__notes")
    assert [n["title"] for n in notes] == ["Jemand wartet"]
    assert "Ayşe" not in str(notes) and "Alarmprobe" not in str(notes)
    staff.screenshot(path=str(shots_dir / "console-alert-waiting-de.png"), full_page=True)
    axe_check(staff, "console with the alert controls and someone waiting")

    # Sound off (remembered on this device): the next one is counted, notified, not rung.
    sound.uncheck()
    assert staff.evaluate("localStorage.getItem('lj-waiting-sound')") == "off"
    employer = start_waiting(new_context, s.urls["employer"], "de")
    poll_now(staff)
    expect(staff).to_have_title(re.compile(r"^\(2\) wartet · "), timeout=15_000)
    expect(body).to_have_attribute("data-waiting-chimes", "2")
    expect(body).to_have_attribute("data-chimes-played", "1")
    assert staff.evaluate("window.__tones") == 2
    assert len(staff.evaluate("window.__notes")) == 2

    # "Join the call" opens the join page for her, without her link, in a tab of its own.
    join_link = card.get_by_role("link", name=re.compile("Gespräch „Alarmprobe“ beitreten"))
    with staff.context.expect_page() as opened:
        join_link.click()
    host = opened.value
    host.wait_for_load_state()
    assert "/console/join/" in host.url and "/j/" not in host.url
    host.locator("#consent").check()
    host.locator("#join-button").click()
    host.locator("#call").wait_for(state="visible")
    me = card.locator(f'li.person[data-pid="{s.ids["caseworker"]}"]')

    def host_in_call() -> bool:
        poll_now(staff)
        return me.get_attribute("data-status") == "admitted"

    wait_for(host_in_call, "the caseworker in the call, as the console shows")

    # Letting someone in makes the title tell the truth: one still waits.
    card.locator(f'button[data-action=admit][data-pid="{s.ids["jobseeker"]}"]').click()
    guest.locator("#call").wait_for(state="visible")
    expect(staff).to_have_title(re.compile(r"^\(1\) wartet · "), timeout=15_000)

    # The switch is remembered after a reload.
    staff.reload()
    expect(staff.get_by_label("Ton, wenn jemand wartet")).not_to_be_checked()
    employer.close()
    host.close()
    guest.close()


# Headless Chromium answers "denied" to any page that did not get the permission from the
# test; this stands for a browser that has not been asked yet, and says when it is asked.
NOT_ASKED_YET = """
(() => {
  let state = 'default';
  window.__asked = 0;
  Object.defineProperty(Notification, 'permission', { get: () => state, configurable: true });
  Notification.requestPermission = async () => {
    window.__asked += 1;
    state = 'granted';
    return state;
  };
})();
"""


def test_notifications_are_asked_for_only_on_a_click(
    server: LiveServer, new_context: NewContext
) -> None:
    context = new_context("de", viewport=DESKTOP)
    context.add_init_script(NOT_ASKED_YET)
    staff = console_in(context, server)
    button = staff.get_by_role("button", name="Benachrichtigungen einschalten")
    expect(button).to_be_visible()
    staff.locator("h1").click()
    assert staff.evaluate("window.__asked") == 0  # nothing asked on load or on other clicks
    button.click()
    status = staff.locator("#notifications-status")
    expect(status).to_have_text("Benachrichtigungen sind eingeschaltet.")
    expect(status).to_be_focused()  # the button has gone; focus is not lost
    expect(button).to_be_hidden()
    assert staff.evaluate("window.__asked") == 1


@pytest.mark.parametrize("lang", ["de", "ar"])
def test_privacy_and_error_pages_name_the_contact_and_the_dpo(
    server: LiveServer, new_context: NewContext, shots_dir: Path, lang: str
) -> None:
    page = new_context(lang).new_page()
    page.goto(f"{server.url}/privacy")
    line = page.locator("#contact-line")
    expect(line).to_contain_text(CONTACT["support_phone"])
    expect(line).to_contain_text(CONTACT["support_hours"])
    expect(line.locator("a")).to_have_attribute("href", "tel:+495231123-0")
    expect(page.locator("#privacy-controller")).to_contain_text(CONTACT["controller_name"])
    expect(page.locator("#privacy-controller")).to_contain_text(CONTACT["controller_address"])
    expect(page.locator("#privacy-dpo")).to_contain_text(CONTACT["dpo_contact"])
    if lang == "de":
        expect(page.locator("#privacy-dpo")).to_contain_text("Datenschutzbeauftragten")
        expect(line).to_contain_text("Fragen? Rufen Sie Ihr Jobcenter an:")
    else:
        expect(page.locator("html")).to_have_attribute("dir", "rtl")
        expect(line).to_contain_text("هل لديك أسئلة؟")
    page.screenshot(path=str(shots_dir / f"privacy-contact-{lang}.png"), full_page=True)
    axe_check(page, f"privacy notice with contact ({lang})")

    # A link that does not work, and one whose appointment is over.
    response = page.goto(f"{server.url}/j/{'A' * 22}?lang={lang}")
    assert response is not None and response.status == 404
    expect(page.locator("#link-problem #contact-line")).to_contain_text(CONTACT["support_phone"])
    axe_check(page, f"unknown link with contact ({lang})")
    over = server.schedule(starts_in=-7200, duration=1800, title="Vorbei")
    response = page.goto(f"{over.urls['jobseeker']}?lang={lang}")
    assert response is not None and response.status == 410
    expect(page.locator("#link-problem #contact-line")).to_contain_text(CONTACT["support_hours"])
    page.screenshot(path=str(shots_dir / f"link-over-contact-{lang}.png"), full_page=True)
