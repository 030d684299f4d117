"""Issue 11, item 11 in real Chromium: the caseworker changes an appointment's time and the
jobseeker's old link joins in the new window; she searches and filters the list (past ones
too) and sees each participant's language; each person gets a slip in their language (QR,
link, invitation with date, time and steps), a calendar file, and one page per person when
printed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from tests.browser.conftest import (
    LiveServer,
    NewContext,
    axe_check,
    log_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

DESKTOP: ViewportSize = {"width": 1280, "height": 800}
BERLIN = ZoneInfo("Europe/Berlin")

# window.print() records which slips would print instead of opening the print dialog.
PRINT_SPY = """
window.__printed = [];
window.print = () => {
  const cards = [...document.querySelectorAll('#link-list .link-card')];
  const one = document.getElementById('link-list').dataset.printOne === 'true';
  window.__printed.push(one ? cards.filter((c) => c.dataset.printing).map((c) => c.dataset.pid)
    : cards.map((c) => c.dataset.pid));
};
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of its own: its list holds only this module's appointments."""
    live = LiveServer(tmp_path_factory.mktemp("schedule"), support_phone="+49 5231 123-0")
    live.start()
    yield live
    live.stop()


def console(new_context: NewContext, server: LiveServer, lang: str = "de") -> Page:
    page = new_context(lang, viewport=DESKTOP).new_page()
    page.add_init_script(PRINT_SPY)
    log_in(page, server)
    return page


def test_rescheduled_appointment_keeps_its_links(
    server: LiveServer, new_context: NewContext, shots_dir: Path
) -> None:
    s = server.schedule(
        title="Umplanung",
        starts_in=3 * 3600,  # the link does not work yet (it opens 15 minutes before)
        duration=1800,
        roles=(("caseworker", "Frau Becker", "de"), ("jobseeker", "Ayşe Yılmaz", "tr")),  # noqa: RUF001
    )
    guest = new_context("tr").new_page()
    guest.goto(s.urls["jobseeker"])
    expect(guest.locator("#join-button")).to_be_hidden()  # too early

    staff = console(new_context, server)
    card = staff.locator("li.appointment", has_text="Umplanung")
    expect(card).to_have_count(1)
    # The participant's language is in the list, in the console's language.
    expect(card.locator(f'li.person[data-pid="{s.ids["jobseeker"]}"]')).to_contain_text("Türkisch")
    card.get_by_role("button", name="„Umplanung“ ändern").click()
    dialog = staff.locator("#edit-dialog")
    expect(dialog).to_be_visible()
    expect(staff.locator("#e-title")).to_be_focused()
    staff.screenshot(path=str(shots_dir / "console-change-appointment-de.png"), full_page=True)
    axe_check(staff, "the dialog that changes an appointment")

    # An end before the start is refused in the dialog, in German.
    now = datetime.now(BERLIN)
    start = (now - timedelta(minutes=5)).replace(second=0, microsecond=0)
    if start.date() != now.date():  # just after midnight: from midnight on
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    end = start + timedelta(minutes=50)
    if end.date() != start.date():  # near midnight: the dialog takes one date, so end at 23:59
        end = start.replace(hour=23, minute=59)
    staff.locator("#e-date").fill(start.strftime("%Y-%m-%d"))
    staff.locator("#e-start").fill(start.strftime("%H:%M"))
    staff.locator("#e-end").fill(start.strftime("%H:%M"))
    staff.locator("#edit-save").click()
    expect(staff.locator("#edit-error")).to_contain_text("Das Ende muss nach dem Beginn liegen.")
    # Now: started five minutes ago, new title, the jobseeker's name spelled differently.
    staff.locator("#e-end").fill(end.strftime("%H:%M"))
    staff.locator("#e-title").fill("Umplanung jetzt")
    staff.locator("#e-p1-name").fill("Ayşe Demir")
    staff.locator("#e-notes").fill("Lebenslauf mitbringen")
    staff.locator("#edit-save").click()
    expect(dialog).to_be_hidden()
    card = staff.locator("li.appointment", has_text="Umplanung jetzt")
    expect(card).to_contain_text(f"{start:%H:%M}\u2013{end:%H:%M}")
    expect(card).to_contain_text("Ayşe Demir")
    expect(card.locator(".appointment-notes")).to_have_text("Notizen: Lebenslauf mitbringen")

    # The old link works in the new window: the jobseeker waits, the console sees her.
    guest.goto(s.urls["jobseeker"])
    guest.locator("#consent").check()
    guest.locator("#join-button").click()
    guest.locator("#waiting").wait_for(state="visible")
    person = card.locator(f'li.person[data-pid="{s.ids["jobseeker"]}"]')
    staff.evaluate("window.dispatchEvent(new Event('focus'))")
    expect(person).to_have_attribute("data-status", "waiting", timeout=15_000)
    # While someone is in the room the appointment cannot be changed.
    expect(card.get_by_role("button", name=re.compile("ändern"))).to_have_count(0)
    guest.close()


def test_search_filters_and_past_appointments(
    server: LiveServer, new_context: NewContext, shots_dir: Path
) -> None:
    server.schedule(
        title="Vergangenes Gespräch",
        starts_in=-3 * 86_400,
        duration=1800,
        roles=(("caseworker", "Frau Becker", "de"), ("jobseeker", "Olena Petrenko", "uk")),
    )
    server.schedule(
        title="Bewerbungstraining",
        starts_in=2 * 86_400,
        roles=(("caseworker", "Frau Becker", "de"), ("jobseeker", "Karim Haddad", "ar")),
    )
    staff = console(new_context, server, "ar")
    groups = staff.locator("#appointment-groups")
    expect(groups.locator("li.appointment", has_text="Bewerbungstraining")).to_have_count(1)
    expect(groups.locator("li.appointment", has_text="Vergangenes Gespräch")).to_have_count(0)

    # Past appointments (three days ago is older than the default's "yesterday").
    staff.locator("#filter-status").select_option("past")
    past = groups.locator("li.appointment", has_text="Vergangenes Gespräch")
    expect(past).to_have_count(1)
    expect(past).to_have_attribute("data-state", "no_show")
    expect(groups.locator("li.appointment", has_text="Bewerbungstraining")).to_have_count(0)
    expect(past.locator("li.person", has_text="Olena Petrenko")).to_contain_text("الأوكرانية")

    # Search by name over all, then a date range that excludes it.
    staff.locator("#filter-status").select_option("all")
    staff.locator("#filter-q").fill("haddad")
    staff.locator("#filter-q").press("Enter")
    expect(groups.locator("li.appointment")).to_have_count(1)
    expect(groups.locator("li.appointment")).to_contain_text("Bewerbungstraining")
    staff.screenshot(path=str(shots_dir / "console-filters-ar.png"), full_page=True)
    axe_check(staff, "the console list, filtered, in Arabic")
    today = datetime.now(BERLIN).date()
    staff.locator("#filter-to").fill(today.isoformat())
    staff.locator("#filter-q").press("Enter")
    expect(groups.locator("li.appointment")).to_have_count(0)
    # Reset brings back today and upcoming.
    staff.locator("#list-filters button[type=reset]").click()
    expect(groups.locator("li.appointment", has_text="Bewerbungstraining")).to_have_count(1)
    expect(groups.locator("li.appointment", has_text="Vergangenes Gespräch")).to_have_count(0)


def test_slips_invitations_and_calendar_files(
    server: LiveServer, new_context: NewContext, shots_dir: Path
) -> None:
    staff = console(new_context, server)
    staff.locator("#f-title").fill("Zettelprobe")
    rows = staff.locator("#participant-rows > li")
    rows.nth(1).locator('[data-name="name"]').fill("Karim Haddad")
    rows.nth(1).locator('[data-name="lang"]').select_option("ar")
    staff.locator("#schedule-submit").click()
    links = staff.locator("#links")
    expect(links).to_be_visible()
    cards = links.locator(".link-card")
    expect(cards).to_have_count(2)
    jobseeker = links.locator('.link-card[data-role="jobseeker"]')
    invitation = jobseeker.locator(".invitation")
    expect(invitation).to_have_attribute("lang", "ar")
    expect(invitation).to_have_attribute("dir", "rtl")
    text = jobseeker.locator(".invitation-text")
    expect(text).to_contain_text("مرحبًا Karim Haddad")
    expect(text).to_contain_text("طريقة الانضمام")  # the steps
    url = jobseeker.locator(".link-url").input_value()
    expect(text).to_contain_text(url)
    caseworker = links.locator('.link-card[data-role="caseworker"] .invitation-text')
    expect(caseworker).to_contain_text("So nehmen Sie teil:")
    staff.screenshot(path=str(shots_dir / "console-slips-de-ar.png"), full_page=True)
    axe_check(staff, "the join links as slips")

    # The calendar file holds the jobseeker's own link, in Arabic.
    with staff.expect_download() as download:
        jobseeker.get_by_role("button", name="Kalenderdatei").click()
    path = download.value.path()
    assert path is not None
    ics = Path(path).read_text(encoding="utf-8").replace("\r\n ", "")
    assert f"URL:{url}" in ics and "SUMMARY:موعد فيديو: Zettelprobe" in ics

    # "Print slip" prints this person's slip only; "Print" prints every slip, one per page.
    jobseeker.get_by_role("button", name="Zettel drucken").click()
    pid = jobseeker.get_attribute("data-pid")
    links.get_by_role("button", name="Drucken", exact=True).click()
    printed = staff.evaluate("window.__printed")
    assert printed[0] == [pid] and len(printed[1]) == 2
    staff.emulate_media(media="print")
    breaks = cards.evaluate_all("cs => cs.map(c => getComputedStyle(c).breakAfter)")
    assert breaks == ["page", "auto"]
    expect(staff.locator("#schedule")).to_be_hidden()
    expect(jobseeker.locator(".qr svg")).to_be_visible()
    expect(jobseeker.get_by_role("button", name="Zettel drucken")).to_be_hidden()
    staff.screenshot(path=str(shots_dir / "console-slips-print-de.png"), full_page=True)


SIZES: dict[str, ViewportSize] = {
    "tablet-portrait": {"width": 768, "height": 1024},
    "tablet-landscape": {"width": 1024, "height": 768},
    "phone": {"width": 390, "height": 844},
    "desktop": DESKTOP,
}


@pytest.mark.parametrize("size", list(SIZES))
def test_a_colleagues_appointment_offers_the_call_not_changes(
    server: LiveServer, new_context: NewContext, shots_dir: Path, size: str
) -> None:
    """A colleague may stand in for the call (join, let in), but only the caseworker who
    scheduled an appointment changes it or adds an interpreter: the console offers no button
    the server would refuse. The list fits every screen without sideways scrolling."""
    own = server.schedule(title=f"Eigener Termin {size}")
    other = server.schedule(title=f"Termin der Kollegin {size}", created_by="krause")
    page = new_context("de", viewport=SIZES[size]).new_page()
    log_in(page, server)

    mine = page.locator(f'li.appointment[data-id="{own.appointment.id}"]')
    theirs = page.locator(f'li.appointment[data-id="{other.appointment.id}"]')
    for card in (mine, theirs):
        expect(card.locator('[data-action-link="join"]')).to_have_text("Gespräch beitreten")
    expect(mine.locator('[data-action="edit"]')).to_have_count(1)
    expect(mine.locator('[data-action="add-interpreter"]')).to_have_count(1)
    expect(theirs.locator('[data-action="edit"]')).to_have_count(0)
    expect(theirs.locator('[data-action="add-interpreter"]')).to_have_count(0)

    theirs.scroll_into_view_if_needed()
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    wide = page.evaluate(
        """() => [...document.querySelectorAll('body *')]
          .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
          .slice(0, 8)
          .map((e) => `${e.tagName}#${e.id} ${Math.round(e.getBoundingClientRect().right)}`)"""
    )
    assert overflow <= 0, f"{size}: the console scrolls sideways by {overflow} px: {wide}"
    page.screenshot(path=str(shots_dir / f"console-list-{size}-de.png"), full_page=True)
    axe_check(page, f"the console's list at {size}")
