"""Help requests in real Chromium: a jobseeker asks for childcare from the tablet in Arabic
(right to left, ages typed with Arabic-Indic digits) or Ukrainian, the caseworker sees it
marked new in the console's inbox, a second request arriving changes the tab's title and chimes, the
caseworker notes the childcare place and marks it arranged, and the tablet shows both."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import TABLET, LiveServer, NewContext, axe_check, log_in
from tests.browser.test_space import profile_with_link

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

PLACE = "Kita Sonnenschein, Lange Straße 3, 8:30"

# What the tablet shows, per language: the words come from the catalogs, so a missing or
# wrong translation fails here.
TABLET_WORDS = {
    "ar": {
        "name": "حسن حداد",
        "dir": "rtl",
        "ages": "٣، 7",
        "text": "ابنتي تحتاج إلى كرسي متحرك.",
        "second": "أحتاج إلى مترجم للغة العربية.",
        "heading": "اطلب المساعدة",
        "childcare": "رعاية الأطفال",
        "interpreter": "مترجم",
        "send": "إرسال الطلب",
        "received": "تم الاستلام",
        "no_text": "يرجى كتابة بضع كلمات (2000 حرف كحد أقصى).",
        "arranged": "تم الترتيب",
        "note": "ما تم ترتيبه",
    },
    "uk": {
        "name": "Олена Коваль",
        "dir": "ltr",
        "ages": "3, 7",
        "text": "Донька користується візком.",
        "second": "Потрібен перекладач з української.",
        "heading": "Попросити про допомогу",
        "childcare": "Догляд за дітьми",
        "interpreter": "Перекладач",
        "send": "Надіслати запит",
        "received": "Отримано",
        "no_text": "Будь ласка, напишіть кілька слів (не більше 2000 символів).",
        "arranged": "Організовано",
        "note": "Що організовано",
    },
}


def console(new_context: NewContext, server: LiveServer) -> Page:
    page = new_context("de", viewport={"width": 1280, "height": 1024}).new_page()
    log_in(page, server)
    return page


@pytest.mark.parametrize("lang", ["ar", "uk"])
def test_childcare_asked_from_the_tablet_answered_in_the_console(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path, lang: str
) -> None:
    words = TABLET_WORDS[lang]
    link = profile_with_link(live_server, words["name"], lang, starts_in=86400)
    tablet = new_context("en", viewport=TABLET).new_page()
    tablet.goto(link)
    tablet.wait_for_url(f"{live_server.url}/space")
    expect(tablet.locator("html")).to_have_attribute("dir", words["dir"])
    help_section = tablet.locator("#help")
    expect(help_section.get_by_role("heading", name=words["heading"])).to_be_visible()
    expect(help_section.locator(".help-empty")).to_be_visible()

    # Childcare: the appointment comes from the list, the ages in Arabic-Indic digits.
    expect(tablet.locator("#help-childcare")).to_be_hidden()
    help_section.get_by_label(words["childcare"]).check()
    expect(tablet.locator("#help-childcare")).to_be_visible()
    expect(tablet.locator("#help-appointment option")).to_have_count(1)
    tablet.locator("#help-ages").fill(words["ages"])
    tablet.locator("#help-text").fill(words["text"])
    axe_check(tablet, f"space help form ({lang})")
    help_section.get_by_role("button", name=words["send"]).click()
    asked = help_section.locator(".help-request")
    expect(asked).to_have_count(1)
    expect(asked).to_have_attribute("data-status", "open")
    expect(asked.locator(".help-badge")).to_have_text(words["received"])
    expect(asked).to_contain_text("3, 7")
    expect(tablet.locator("#help-text")).to_have_value("")

    # A bad request is refused in the profile's language, and nothing is sent.
    help_section.get_by_label(words["interpreter"]).check()
    help_section.get_by_role("button", name=words["send"]).click()
    expect(tablet.locator("#help-error")).to_have_text(words["no_text"])
    expect(asked).to_have_count(1)

    staff = console(new_context, live_server)
    inbox = staff.locator("#help-inbox")
    # The server lives for the session: another test's requests may be in the inbox too.
    mine = inbox.locator(".inbox-item", has_text=words["name"])
    item = mine.filter(has_text="Kinderbetreuung")
    expect(item).to_have_count(1)
    expect(item).to_have_class(re.compile(r"\bis-new\b"))
    expect(item.locator(".inbox-new")).to_have_text("Neu")
    expect(item).to_contain_text(words["name"])
    expect(item).to_contain_text("Kinder: 2, Alter 3, 7")
    expect(item).to_contain_text("Eingegangen")  # the script's strings in the page's language
    expect(staff).not_to_have_title(re.compile(r"^\(\d+\)"))
    axe_check(staff, "console inbox (de)")

    # A second request while the console is open: the tab's title changes and it chimes.
    staff.locator("body").click(position={"x": 5, "y": 5})  # a gesture: audio may play
    tablet.locator("#help-text").fill(words["second"])
    help_section.get_by_role("button", name=words["send"]).click()
    expect(asked).to_have_count(2)
    staff.evaluate("window.dispatchEvent(new Event('focus'))")  # instead of waiting 15 s
    expect(mine).to_have_count(2)
    expect(inbox.locator(".inbox-item").first).to_contain_text("Dolmetschen")
    expect(staff).to_have_title(re.compile(r"^\(1\) Neue Hilfeanfrage"))
    expect(staff.locator("body")).to_have_attribute("data-help-chimes", "1")
    staff.screenshot(path=str(shots_dir / f"console-help-inbox-de-{lang}.png"), full_page=True)

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

    # The tablet shows the status and what was arranged, in the profile's language.
    tablet.reload()
    answered = tablet.locator('.help-request[data-status="arranged"]')
    expect(answered).to_have_count(1)
    expect(answered.locator(".help-badge")).to_have_text(words["arranged"])
    expect(answered.locator(".reply-note h4")).to_have_text(words["note"])
    expect(answered.locator(".reply-note")).to_contain_text(PLACE)
    axe_check(tablet, f"space help answered ({lang})")
    tablet.screenshot(path=str(shots_dir / f"space-help-{lang}-768x1024.png"), full_page=True)
