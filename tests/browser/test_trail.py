"""The audit trail in real Chromium: a caseworker adds and looks at a jobseeker's document in
the console and sees it in the profile's trail; the jobseeker's tablet (Arabic, right to left)
lists it under "who has seen my documents", naming nobody. The caseworker edits a profile in
place and deletes one after the question."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import TABLET, LiveServer, NewContext, axe_check
from tests.browser.test_folder import image_loaded
from tests.browser.test_pages import login
from tests.browser.test_space import profile_with_link
from tests.documents.test_intake import pdf
from testsupport.wait import wait_for_sync as wait_for

DESKTOP = {"width": 1280, "height": 1024}


def find(page: Page, name: str) -> None:
    page.locator("#profile-q").fill(name)
    page.locator("#profile-search button[type=submit]").click()
    expect(page.locator(".profile-item", has_text=name)).to_have_count(1)


def test_a_caseworkers_look_shows_in_both_trails(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path
) -> None:
    link = profile_with_link(live_server, "Rania Haddad", "ar", starts_in=600)
    console = new_context("de", viewport=DESKTOP).new_page()
    login(console, live_server)
    find(console, "Rania Haddad")
    item = console.locator(".profile-item", has_text="Rania Haddad")

    # The caseworker adds a CV of two pages for her and looks at both pages.
    item.get_by_role("button", name="Dokumente").click()
    folder = console.locator("#profile-docs")
    console.locator("#doc-title").fill("Lebenslauf Amal")
    console.locator("#doc-file").set_input_files(
        {"name": "cv.pdf", "mimeType": "application/pdf", "buffer": pdf(2)}
    )
    folder.get_by_role("button", name="In der Mappe speichern").click()
    entry = folder.locator(".folder-doc", has_text="Lebenslauf Amal")
    entry.get_by_role("button", name="Ansehen").click()
    wait_for(lambda: image_loaded(console, "#doc-preview-img"), "page 1 to be shown")
    console.locator("#doc-preview").get_by_role("button", name="Nächste Seite").click()
    wait_for(lambda: image_loaded(console, "#doc-preview-img"), "page 2 to be shown")
    console.locator("#doc-preview-close").click()

    # Her trail in the console: the upload and both pages, newest first.
    item.get_by_role("button", name="Protokoll").click()
    trail = console.locator("#profile-trail")
    expect(trail).to_be_visible()
    expect(trail.get_by_role("heading", level=2)).to_contain_text("Rania Haddad")
    rows = trail.locator("tbody tr")
    expect(rows.first).to_contain_text("Seite 2 angesehen")
    upload = trail.locator('tr[data-action="document.upload"]')
    expect(upload).to_contain_text("Dokument hinzugefügt")
    expect(upload).to_contain_text("Lebenslauf Amal")
    expect(upload).to_contain_text("Fachkraft (becker)")
    expect(trail.locator('tr[data-action="document.view"]')).to_have_count(2)
    console.screenshot(path=str(shots_dir / "console-trail-de.png"), full_page=True)
    axe_check(console, "console trail (de)")

    # Her tablet, in Arabic: the caseworker looked at pages 1 and 2; nobody is named.
    tablet = new_context("en", viewport=TABLET).new_page()
    tablet.goto(link)
    tablet.wait_for_url(f"{live_server.url}/space")
    expect(tablet.locator("html")).to_have_attribute("dir", "rtl")
    seen = tablet.locator("#seen")
    expect(seen.get_by_role("heading", name="من اطّلع على مستنداتي")).to_be_visible()
    document = seen.locator(".seen-doc", has_text="Lebenslauf Amal")
    expect(document).to_have_count(1)
    line = document.locator('.seen-line[data-action="document.view"][data-who="caseworker"]')
    expect(line).to_contain_text("الموظف المختص")
    expect(line).to_contain_text("1 و2")  # pages 1 and 2, listed as Arabic lists them
    assert "becker" not in seen.inner_text().lower()
    tablet.screenshot(path=str(shots_dir / "space-seen-ar-768x1024.png"), full_page=True)
    axe_check(tablet, "who has seen my documents (ar)")

    # The tablet's sign-in is in her trail too.
    trail.get_by_role("button", name="Neu laden").click()
    expect(rows.first).to_contain_text("Auf einem Gerät im Bereich angemeldet")


def test_the_caseworker_edits_and_deletes_a_profile(
    live_server: LiveServer, new_context: NewContext
) -> None:
    page = new_context("de", viewport=DESKTOP).new_page()
    login(page, live_server)
    page.locator("#pf-name").fill("Jonas Weber")
    page.locator("#pf-lang").select_option("de")
    page.locator("#profile-form button[type=submit]").click()
    find(page, "Jonas Weber")
    item = page.locator(".profile-item", has_text="Jonas Weber")

    # Edit in place: a bad phone number is refused, a good one saved.
    item.get_by_role("button", name="Bearbeiten").click()
    form = item.locator(".profile-edit")
    expect(form.get_by_label("Name")).to_have_value("Jonas Weber")
    form.get_by_label("Telefon (optional)").fill("abc")
    form.get_by_role("button", name="Speichern").click()
    expect(form.locator('[data-error="edit"]')).to_contain_text("phone")
    axe_check(page, "profile edit (de)")
    form.get_by_label("Telefon (optional)").fill("0521 12345")
    form.get_by_role("button", name="Speichern").click()
    expect(item).to_contain_text("0521 12345")
    expect(item.locator(".profile-edit")).to_have_count(0)

    item.get_by_role("button", name="Protokoll").click()
    trail = page.locator("#profile-trail")
    expect(trail.locator("tbody tr").first).to_contain_text("Profil geändert: phone")
    expect(trail.locator("tbody tr").last).to_contain_text("Profil angelegt")

    # Deleting asks first; Escape keeps the profile, confirming deletes it.
    item.get_by_role("button", name="Arbeitsuchende Person löschen").click()
    question = page.locator("#profile-erase")
    expect(question).to_be_visible()
    expect(question).to_contain_text("Jonas Weber")
    axe_check(page, "profile delete question (de)")
    page.keyboard.press("Escape")
    expect(question).to_be_hidden()
    expect(item).to_have_count(1)
    item.get_by_role("button", name="Arbeitsuchende Person löschen").click()
    question.get_by_role("button", name="Endgültig löschen").click()
    expect(page.locator(".profile-item", has_text="Jonas Weber")).to_have_count(0)
    expect(trail).to_be_hidden()
