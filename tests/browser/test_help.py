"""Help requests in real Chromium: a jobseeker asks for childcare from the tablet in Arabic
(right to left, ages typed with Arabic-Indic digits), the caseworker sees it marked new in
the console's inbox, a second request arriving changes the tab's title and chimes, the
caseworker notes the childcare place and marks it arranged, and the tablet shows both."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import STAFF_PASSWORD, TABLET, LiveServer, NewContext, axe_check
from tests.browser.test_space import profile_with_link
from tests.harness import STAFF_USER

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

PLACE = "Kita Sonnenschein, Lange Straße 3, 8:30"


def console(new_context: NewContext, server: LiveServer) -> Page:
    page = new_context("de", viewport={"width": 1280, "height": 1024}).new_page()
    page.goto(f"{server.url}/console/login")
    page.locator("#username").fill(STAFF_USER)
    page.locator("#password").fill(STAFF_PASSWORD)
    page.locator("button[type=submit]").click()
    page.wait_for_url(f"{server.url}/console")
    return page


def test_childcare_asked_in_arabic_answered_in_the_console(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path
) -> None:
    link = profile_with_link(live_server, "حسن حداد", "ar", starts_in=86400)
    tablet = new_context("en", viewport=TABLET).new_page()
    tablet.goto(link)
    tablet.wait_for_url(f"{live_server.url}/space")
    expect(tablet.locator("html")).to_have_attribute("dir", "rtl")
    help_section = tablet.locator("#help")
    expect(help_section.get_by_role("heading", name="اطلب المساعدة")).to_be_visible()
    expect(help_section.locator(".help-empty")).to_be_visible()

    # Childcare: the appointment comes from the list, the ages in Arabic-Indic digits.
    expect(tablet.locator("#help-childcare")).to_be_hidden()
    help_section.get_by_label("رعاية الأطفال").check()
    expect(tablet.locator("#help-childcare")).to_be_visible()
    expect(tablet.locator("#help-appointment option")).to_have_count(1)
    tablet.locator("#help-ages").fill("٣، 7")
    tablet.locator("#help-text").fill("ابنتي تحتاج إلى كرسي متحرك.")
    axe_check(tablet, "space help form (ar)")
    help_section.get_by_role("button", name="إرسال الطلب").click()
    asked = help_section.locator(".help-request")
    expect(asked).to_have_count(1)
    expect(asked).to_have_attribute("data-status", "open")
    expect(asked.locator(".help-badge")).to_have_text("تم الاستلام")
    expect(asked).to_contain_text("3, 7")
    expect(tablet.locator("#help-text")).to_have_value("")

    # A bad request is refused in Arabic, and nothing is sent.
    help_section.get_by_label("مترجم").check()
    help_section.get_by_role("button", name="إرسال الطلب").click()
    expect(tablet.locator("#help-error")).to_have_text("يرجى كتابة بضع كلمات (2000 حرف كحد أقصى).")
    expect(asked).to_have_count(1)

    staff = console(new_context, live_server)
    inbox = staff.locator("#help-inbox")
    item = inbox.locator(".inbox-item", has_text="Kinderbetreuung")
    expect(item).to_have_count(1)
    expect(item).to_have_class(re.compile(r"\bis-new\b"))
    expect(item.locator(".inbox-new")).to_have_text("Neu")
    expect(item).to_contain_text("حسن حداد")
    expect(item).to_contain_text("Kinder: 2, Alter 3, 7")
    expect(item).to_contain_text("Eingegangen")  # the script's strings in the page's language
    expect(staff).not_to_have_title(re.compile(r"^\(\d+\)"))
    axe_check(staff, "console inbox (de)")

    # A second request while the console is open: the tab's title changes and it chimes.
    staff.locator("body").click(position={"x": 5, "y": 5})  # a gesture: audio may play
    tablet.locator("#help-text").fill("أحتاج إلى مترجم للغة العربية.")
    help_section.get_by_role("button", name="إرسال الطلب").click()
    expect(asked).to_have_count(2)
    staff.evaluate("window.dispatchEvent(new Event('focus'))")  # instead of waiting 15 s
    expect(inbox.locator(".inbox-item")).to_have_count(2)
    expect(inbox.locator(".inbox-item").first).to_contain_text("Dolmetschen")
    expect(staff).to_have_title(re.compile(r"^\(1\) Neue Hilfeanfrage"))
    expect(staff.locator("body")).to_have_attribute("data-help-chimes", "1")
    staff.screenshot(path=str(shots_dir / "console-help-inbox-de.png"), full_page=True)

    # The caseworker notes the place and time and marks the request arranged.
    item.locator("select").first.select_option("note")
    item.locator("textarea").fill(PLACE)
    item.get_by_role("button", name="Senden").click()
    expect(item.locator(".help-reply")).to_contain_text(PLACE)
    expect(staff).to_have_title(re.compile(r"^(?!\()"))  # the click counts as seen
    item.locator("select").nth(1).select_option("arranged")
    item.get_by_role("button", name="Status setzen").click()
    expect(item).to_have_attribute("data-status", "arranged")
    expect(item).not_to_have_class(re.compile(r"\bis-new\b"))

    # The tablet shows the status and what was arranged, in Arabic.
    tablet.reload()
    answered = tablet.locator('.help-request[data-status="arranged"]')
    expect(answered).to_have_count(1)
    expect(answered.locator(".help-badge")).to_have_text("تم الترتيب")
    expect(answered.locator(".reply-note h4")).to_have_text("ما تم ترتيبه")
    expect(answered.locator(".reply-note")).to_contain_text(PLACE)
    axe_check(tablet, "space help answered (ar)")
    tablet.screenshot(path=str(shots_dir / "space-help-ar-768x1024.png"), full_page=True)
