"""Issue 12, in-person appointments in real Chromium: the caseworker schedules one for a
jobseeker through the console's form (place, address, what to bring; no links to hand out,
no Join button); the jobseeker's space shows it in German or Arabic with the place, address
and what to bring and a calendar file that downloads with LOCATION and DESCRIPTION; and the
jobseeker asks for childcare naming that appointment, which the console's inbox shows with
the place. axe on every screen; screenshots."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from core.model import Profile
from signalling.appointments import schedule
from signalling.auth.space import hash_space_code, new_space_code
from tests.browser.conftest import TABLET, LiveServer, NewContext, axe_check
from tests.browser.test_help import console
from tests.harness import STAFF_USER

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

PLACE = "Jobcenter Detmold, Raum 2.14"
ADDRESS = "Wittekindstraße 2, 32758 Detmold"
BRING = "Lebenslauf und Personalausweis"

# What the space shows, per language (from the catalogs: a missing translation fails here).
WORDS = {
    "de": {
        "name": "Frau Schulte",
        "dir": "ltr",
        "kind": "Vor Ort",
        "bring": "Bitte mitbringen",
        "calendar": "In meinen Kalender eintragen",
        "childcare": "Kinderbetreuung",
        "send": "Anfrage senden",
        "ics_kind": "Vor Ort: Jobcenter Detmold",
        "ics_bring": "Bitte mitbringen: Lebenslauf und Personalausweis",
    },
    "ar": {
        "name": "سلمى حداد",
        "dir": "rtl",
        "kind": "حضوريًا",
        "bring": "يُرجى إحضار",
        "calendar": "أضف إلى تقويمي",
        "childcare": "رعاية الأطفال",
        "send": "إرسال الطلب",
        "ics_kind": "حضوريًا في: Jobcenter Detmold",
        "ics_bring": "يُرجى إحضار: Lebenslauf und Personalausweis",
    },
}


def profile_with_space(server: LiveServer, name: str, lang: str) -> tuple[str, str]:
    """A profile with a space link and no appointment yet: (profile id, space link)."""
    code = new_space_code()
    profile_id = f"j_ip{lang}{int(server.clock.now())}"

    async def put() -> None:
        profile = Profile(profile_id, name, lang, STAFF_USER, server.clock.now())
        await server.store.put_profile(profile)
        await server.store.set_space_link(profile.id, hash_space_code(code))

    server.run(put())
    return profile_id, f"{server.url}/s/{code}"


@pytest.mark.parametrize("lang", ["de", "ar"])
def test_in_person_appointment_from_console_to_space_with_calendar_and_childcare(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path, lang: str
) -> None:
    words = WORDS[lang]
    title = f"Vorstellungsgespräch {lang}"
    profile_id, link = profile_with_space(live_server, words["name"], lang)

    # The console: schedule for the profile, in person.
    staff = console(new_context, live_server)
    staff.locator("#profile-q").fill(words["name"])
    staff.locator("#profile-search").get_by_role("button").click()
    item = staff.locator(f'li.profile-item[data-profile="{profile_id}"]')
    item.get_by_role("button", name="Termin für diese Person planen").click()
    form = staff.locator("#schedule-form")
    form.locator("#f-title").fill(title)
    expect(staff.locator("#f-place-fields")).to_be_hidden()
    form.get_by_label("Vor Ort").check()
    expect(staff.locator("#f-place-fields")).to_be_visible()
    expect(staff.locator("#f-waiting-field")).to_be_hidden()
    # Without a place the form says so and sends nothing.
    form.get_by_role("button", name="Termin anlegen").click()
    expect(staff.locator("#form-error-list")).to_contain_text("Bitte geben Sie den Ort ein.")
    form.get_by_label("Ort (z. B. Jobcenter Detmold, Raum 2.14)").fill(PLACE)
    form.get_by_label("Adresse").fill(ADDRESS)
    form.get_by_label("Was mitzubringen ist (optional)").fill(BRING)
    axe_check(staff, "console schedule form, in person")
    form.get_by_role("button", name="Termin anlegen").click()
    expect(staff.locator("#schedule-status")).to_have_text("Der Termin ist angelegt.")
    expect(staff.locator("#links")).to_be_hidden()  # no links to hand out
    card = staff.locator("li.appointment", has_text=title)
    expect(card).to_have_count(1)
    where = card.locator(".appointment-where")
    expect(where).to_contain_text("Vor Ort")
    expect(where).to_contain_text(PLACE)
    expect(where).to_contain_text(ADDRESS)
    expect(where).to_contain_text(BRING)
    expect(card.locator('[data-action-link="join"]')).to_have_count(0)
    expect(card.locator('[data-action="reissue"]')).to_have_count(0)
    expect(card.locator('[data-action="add-interpreter"]')).to_have_count(0)
    appointment_id = card.get_attribute("data-id")
    assert appointment_id
    axe_check(staff, "console list with an in-person appointment")
    staff.screenshot(path=str(shots_dir / f"console-inperson-de-for-{lang}.png"), full_page=True)

    # The jobseeker's space, in their language.
    tablet = new_context(lang, viewport=TABLET, accept_downloads=True).new_page()
    tablet.goto(link)
    tablet.wait_for_url(f"{live_server.url}/space")
    expect(tablet.locator("html")).to_have_attribute("dir", words["dir"])
    shown = tablet.locator(f'li.space-appointment[data-appointment="{appointment_id}"]')
    expect(shown.locator(".appointment-kind")).to_have_text(words["kind"])
    expect(shown.locator(".place")).to_contain_text(PLACE)
    expect(shown.locator(".address")).to_have_text(ADDRESS)
    expect(shown.locator(".bring")).to_have_text(BRING)
    expect(shown).to_contain_text(words["bring"])
    expect(shown.locator('a[href^="/space/join/"]')).to_have_count(0)
    axe_check(tablet, f"space with an in-person appointment ({lang})")
    tablet.screenshot(path=str(shots_dir / f"space-inperson-{lang}.png"), full_page=True)

    with tablet.expect_download() as download_info:
        shown.get_by_role("link", name=words["calendar"]).click()
    download = download_info.value
    ics = Path(download.path()).read_bytes().decode().replace("\r\n ", "")
    assert ics.startswith("BEGIN:VCALENDAR\r\n")
    assert "LOCATION:Jobcenter Detmold\\, Raum 2.14\\, Wittekindstraße 2\\, 32758 Detmold" in ics
    description = next(line for line in ics.split("\r\n") if line.startswith("DESCRIPTION:"))
    assert words["ics_kind"] in description.replace("\\,", ",")
    assert words["ics_bring"] in description
    assert f"SUMMARY:{title}" in ics and "\r\nURL:" not in ics

    # Childcare while she goes there: the appointment is named, with its place.
    help_section = tablet.locator("#help")
    help_section.get_by_label(words["childcare"]).check()
    option = tablet.locator(f'#help-appointment option[value="{appointment_id}"]')
    expect(option).to_contain_text(PLACE)
    tablet.locator("#help-appointment").select_option(appointment_id)
    tablet.locator("#help-ages").fill("4")
    axe_check(tablet, f"space childcare for an in-person appointment ({lang})")
    help_section.get_by_role("button", name=words["send"]).click()
    asked = help_section.locator(".help-request")
    expect(asked).to_have_count(1)
    expect(asked).to_have_attribute("data-status", "open")
    tablet.screenshot(path=str(shots_dir / f"space-inperson-childcare-{lang}.png"), full_page=True)

    staff.evaluate("window.dispatchEvent(new Event('focus'))")  # the inbox refreshes
    request = staff.locator("#help-inbox .inbox-item", has_text=words["name"])
    expect(request).to_have_count(1)
    expect(request).to_contain_text("Kinderbetreuung")
    expect(request.locator(".help-where")).to_contain_text(f"Vor Ort in: {PLACE}, {ADDRESS}")
    expect(request).to_contain_text(re.compile(r"Vorstellungsgespräch"))
    axe_check(staff, "console inbox with childcare for an in-person appointment")
    staff.screenshot(
        path=str(shots_dir / f"console-inperson-help-de-for-{lang}.png"), full_page=True
    )


def test_console_edits_the_place_and_marks_attendance(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path
) -> None:
    """An in-person appointment that began ten minutes ago: the caseworker changes its place
    in the edit dialog, then marks that the jobseeker came, then that she did not."""
    title = "Bewerbungstraining vor Ort"

    async def put() -> str:
        now = live_server.clock.now()
        made = schedule(
            {
                "title": title,
                "starts_at": now - 600,
                "ends_at": now + 3000,
                "kind": "in_person",
                "place": PLACE,
                "address": ADDRESS,
                "participants": [
                    {"role": "caseworker", "name": "Frau Becker", "lang": "de"},
                    {"role": "jobseeker", "name": "Herr Lange", "lang": "de"},
                ],
            },
            now=now - 600,
            settings=live_server.settings,
            created_by=STAFF_USER,
        )
        await live_server.store.put_appointment(made.appointment)
        return made.appointment.id

    appointment_id = live_server.run(put())
    staff = console(new_context, live_server)
    card = staff.locator(f'li.appointment[data-id="{appointment_id}"]')
    expect(card.locator(".state-badge")).to_have_text("Anwesenheit noch nicht eingetragen")
    expect(card.locator('[data-action-link="join"]')).to_have_count(0)

    card.get_by_role("button", name=f"„{title}“ ändern").click()
    dialog = staff.locator("#edit-dialog")
    expect(dialog.locator("#e-place")).to_have_value(PLACE)
    expect(dialog.locator("#e-address")).to_have_value(ADDRESS)
    dialog.locator("#e-place").fill("Jobcenter Lemgo, Raum 1")
    dialog.locator("#e-bring").fill("Zeugnisse")
    axe_check(staff, "console edit dialog, in person")
    dialog.get_by_role("button", name="Änderungen speichern").click()
    expect(dialog).to_be_hidden()
    expect(card.locator(".appointment-where")).to_contain_text("Jobcenter Lemgo, Raum 1")
    expect(card.locator(".appointment-where")).to_contain_text("Zeugnisse")

    card.get_by_role("button", name=f"„{title}“: Die Person ist erschienen").click()
    expect(card.locator(".state-badge")).to_have_text("Erschienen")
    expect(card.get_by_role("button", name=f"„{title}“: Die Person ist erschienen")).to_have_count(
        0
    )
    card.get_by_role("button", name=f"„{title}“: Die Person ist nicht erschienen").click()
    expect(card.locator(".state-badge")).to_have_text("Nicht erschienen")
    axe_check(staff, "console list, attendance marked")
    staff.screenshot(path=str(shots_dir / "console-inperson-attendance-de.png"), full_page=True)


def test_phone_appointment_from_console_to_space(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path
) -> None:
    """By phone: only "what to have at hand" is asked for; the space says the job centre calls
    (no number is shown or stored with the appointment), and the calendar file says so too."""
    profile_id, link = profile_with_space(live_server, "Herr Telefon", "uk")
    staff = console(new_context, live_server)
    staff.locator("#profile-q").fill("Herr Telefon")
    staff.locator("#profile-search").get_by_role("button").click()
    item = staff.locator(f'li.profile-item[data-profile="{profile_id}"]')
    item.get_by_role("button", name="Termin für diese Person planen").click()
    form = staff.locator("#schedule-form")
    form.locator("#f-title").fill("Rückruf Leistungsbescheid")
    form.get_by_label("Telefonisch (das Jobcenter ruft an)").check()
    expect(form.locator("#f-place")).to_be_hidden()
    expect(form.locator("#f-address")).to_be_hidden()
    form.get_by_label("Was mitzubringen ist (optional)").fill("Bescheid vom 3. November")
    form.get_by_role("button", name="Termin anlegen").click()
    expect(staff.locator("#schedule-status")).to_have_text("Der Termin ist angelegt.")
    card = staff.locator("li.appointment", has_text="Rückruf Leistungsbescheid")
    expect(card.locator(".appointment-where")).to_contain_text("Telefonisch")
    expect(card.locator('[data-action-link="join"]')).to_have_count(0)
    appointment_id = card.get_attribute("data-id")

    tablet = new_context("uk", viewport=TABLET, accept_downloads=True).new_page()
    tablet.goto(link)
    tablet.wait_for_url(f"{live_server.url}/space")
    shown = tablet.locator(f'li.space-appointment[data-appointment="{appointment_id}"]')
    expect(shown.locator(".appointment-kind")).to_have_text("Телефоном")
    expect(shown.locator(".phone-note")).to_contain_text("Центр зайнятості зателефонує вам")
    expect(shown.locator(".bring")).to_have_text("Bescheid vom 3. November")
    axe_check(tablet, "space with a phone appointment (uk)")
    tablet.screenshot(path=str(shots_dir / "space-phone-uk.png"), full_page=True)
    with tablet.expect_download() as download_info:
        shown.get_by_role("link", name="Додати до мого календаря").click()
    ics = Path(download_info.value.path()).read_bytes().decode().replace("\r\n ", "")
    assert "DESCRIPTION:Телефоном: центр зайнятості зателефонує вам" in ics
    assert "LOCATION:" not in ics and "\r\nURL:" not in ics
