"""The jobseeker's space in real Chromium on a tablet (768x1024): the personal link signs the
device in and leaves the address bar, the page is in the profile's language (Arabic right to
left), shows the appointment with its join button, and signs out on this device."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from core.model import Profile
from signalling.appointments import schedule
from signalling.auth.space import hash_space_code, new_space_code
from tests.browser.conftest import TABLET, LiveServer, NewContext, axe_check, log_in
from tests.harness import STAFF_USER


def profile_with_link(server: LiveServer, name: str, lang: str, starts_in: float) -> str:
    """A profile, an appointment for it starting in `starts_in` seconds, and its space link."""
    code = new_space_code()

    async def put() -> None:
        now = server.clock.now()
        profile = Profile(f"j_{lang}{int(now)}", name, lang, STAFF_USER, now)
        await server.store.put_profile(profile)
        await server.store.set_space_link(profile.id, hash_space_code(code))
        scheduled = schedule(
            {
                "title": "Beratung",
                "starts_at": now + starts_in,
                "ends_at": now + starts_in + 1800,
                "participants": [{"role": "caseworker", "name": "Frau Becker", "lang": "de"}],
            },
            now=now,
            settings=server.settings,
            created_by=STAFF_USER,
            profile=profile,
        )
        await server.store.put_appointment(scheduled.appointment)

    server.run(put())
    return f"{server.url}/s/{code}"


@pytest.mark.parametrize(
    ("lang", "name", "direction", "heading", "sign_out"),
    [
        ("de", "Herr Lange", "ltr", "Ihre Termine", "Auf diesem Gerät abmelden"),
        ("ar", "حسن حداد", "rtl", "مواعيدك", "تسجيل الخروج على هذا الجهاز"),
    ],
)
def test_space_on_a_tablet(
    live_server: LiveServer,
    new_context: NewContext,
    shots_dir: Path,
    lang: str,
    name: str,
    direction: str,
    heading: str,
    sign_out: str,
) -> None:
    link = profile_with_link(live_server, name, lang, starts_in=600)
    # The browser's own language is English: the page follows the profile, not the browser.
    page = new_context("en", viewport=TABLET).new_page()
    page.goto(link)
    page.wait_for_url(f"{live_server.url}/space")
    assert "/s/" not in page.url
    html = page.locator("html")
    expect(html).to_have_attribute("lang", lang)
    expect(html).to_have_attribute("dir", direction)
    expect(page.get_by_role("heading", name=heading)).to_be_visible()
    join = page.locator(".space-appointment a.button")
    expect(join).to_be_visible()
    assert page.locator('link[rel="manifest"]').count() == 1
    assert page.evaluate("navigator.serviceWorker.getRegistrations().then(r => r.length)") == 0
    page.screenshot(path=str(shots_dir / f"space-{lang}-768x1024.png"), full_page=True)
    axe_check(page, f"space ({lang})")

    # The join button leads to the join page for this profile's participant.
    join.click()
    page.wait_for_url("**/space/join/*")
    expect(page.locator("#prejoin")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("dir", direction)
    page.screenshot(path=str(shots_dir / f"space-join-{lang}-768x1024.png"))

    page.goto(f"{live_server.url}/space")
    page.get_by_role("button", name=sign_out).click()
    page.wait_for_url(f"{live_server.url}/space")
    expect(page.locator(".space-appointment")).to_have_count(0)
    expect(page.locator("h1")).not_to_contain_text(name)
    page.screenshot(path=str(shots_dir / f"space-signed-out-{lang}-768x1024.png"))
    # The old session cookie is gone: opening /space again stays signed out.
    page.goto(f"{live_server.url}/space")
    expect(page.locator(".space-signout")).to_have_count(0)


def test_console_profile_flow(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path
) -> None:
    """The caseworker adds a jobseeker, finds them, shows their space link with a QR code
    and schedules for them: the jobseeker takes the profile's name and language."""
    page = new_context("de", viewport={"width": 1280, "height": 1024}).new_page()
    log_in(page, live_server)
    page.locator("#pf-name").fill("Olena Koval")
    page.locator("#pf-lang").select_option("uk")
    page.locator("#profile-form button[type=submit]").click()
    item = page.locator(".profile-item", has_text="Olena Koval")
    expect(item).to_have_count(1)
    item.get_by_role("button", name="Bereichslink").click()
    expect(page.locator("#space-link-url")).to_have_value(re.compile(r"/s/[A-Za-z0-9_-]{22}$"))
    expect(page.locator("#space-link-qr svg")).to_be_visible()
    axe_check(page, "console profiles (de)")
    page.screenshot(path=str(shots_dir / "console-profiles-de.png"), full_page=True)
    item = page.locator(".profile-item", has_text="Olena Koval")
    item.get_by_role("button", name="Termin für diese Person planen").click()
    page.locator("#f-title").fill("Erstgespräch")
    page.locator("#schedule-submit").click()
    expect(page.locator("#links")).to_be_visible()
    card = page.locator('.link-card[data-role="jobseeker"]')
    expect(card).to_contain_text("Olena Koval")

    async def jobseeker_lang() -> str:
        found = await live_server.store.find_profiles("Olena")
        mine = await live_server.store.list_appointments(profile_id=found[0].id)
        return next(p.lang for p in mine[0].participants if p.role == "jobseeker")

    assert live_server.run(jobseeker_lang()) == "uk"
