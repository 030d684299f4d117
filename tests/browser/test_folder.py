"""The application folder in real Chromium on a tablet (768x1024), in German and in Arabic
(right to left): a PDF from the file picker and three photos from the camera input become two
documents (the photos one PDF of three pages), the preview turns to page 2, a refused file is
told in the page's language, and deleting asks first. The caseworker sees the jobseeker's
documents in the console and previews one."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import FilePayload, Locator, Page, expect

from core.contracts.errors import ErrorCode
from core.documents.access import Viewer, ViewerKind
from core.documents.intake import Kind, Refusal
from signalling.folder import FOLDER
from tests.browser.conftest import TABLET, LiveServer, NewContext, axe_check, log_in
from tests.browser.test_space import profile_with_link
from tests.documents.test_intake import pdf
from testsupport.wait import wait_for_sync as wait_for
from web import STATIC_DIR


def photo(shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (600, 800), (shade, 200, 255 - shade)).save(out, "JPEG")
    return out.getvalue()


def image_loaded(page: Page, selector: str) -> bool:
    return bool(
        page.evaluate(
            "(s) => { const i = document.querySelector(s);"
            " return !!i && i.complete && i.naturalWidth > 0; }",
            selector,
        )
    )


# Records what the upload's wait state looked like at every change while it lasted.
RECORD_WAIT = """() => {
  window.__wait = [];
  const look = () => window.__wait.push({
    shown: !document.getElementById('upload-wait').hidden,
    disabled: document.getElementById('upload-submit').disabled,
    state: document.getElementById('upload-state').textContent,
  });
  new MutationObserver(look).observe(document.getElementById('upload-form'),
    {attributes: true, childList: true, subtree: true, characterData: true});
}"""


def doc(page: Page, title: str) -> Locator:
    return page.locator(".folder-doc", has_text=title)


WORDS = {
    "de": {
        "dir": "ltr",
        "folder": "Bewerbungsmappe",
        "save": "In der Mappe speichern",
        "cv": "Lebenslauf",
        "certificate": "Zeugnis",
        "show": "Ansehen",
        "delete": "Löschen",
        "next": "Nächste Seite",
        "page2": "Seite 2 von 3",
        "pages3": "Seiten: 3",
        "refused": "Diese Datei kann nicht verwendet werden.",
        "three": "3 Fotos ausgewählt",
        "forward": "ArrowRight",
        "page3": "Seite 3 von 3",
        "download": "Herunterladen",
    },
    "ar": {
        "dir": "rtl",
        "folder": "ملف الطلبات",
        "save": "الحفظ في الملف",
        "cv": "السيرة الذاتية",
        "certificate": "شهادة",
        "show": "عرض",
        "delete": "حذف",
        "next": "الصفحة التالية",
        "page2": "الصفحة 2 من 3",
        "pages3": "الصفحات: 3",
        "refused": "لا يمكن استخدام هذا الملف.",
        "three": "تم اختيار 3 صور",
        "forward": "ArrowLeft",
        "page3": "الصفحة 3 من 3",
        "download": "تنزيل",
    },
}


@pytest.mark.parametrize("lang", ["de", "ar"])
def test_the_folder_on_a_tablet(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path, lang: str
) -> None:
    words = WORDS[lang]
    link = profile_with_link(live_server, "Amal Haddad", lang, starts_in=600)
    page = new_context("en", viewport=TABLET).new_page()
    page.goto(link)
    page.wait_for_url(f"{live_server.url}/space")
    expect(page.locator("html")).to_have_attribute("dir", words["dir"])
    expect(page.get_by_role("heading", name=words["folder"])).to_be_visible()
    expect(page.locator(".folder-doc")).to_have_count(0)

    # A PDF of two pages from the file picker.
    page.locator("#doc-title").fill("Mein CV 2026")
    page.locator("#doc-kind").select_option("cv")
    page.locator("#doc-file").set_input_files(
        {"name": "lebenslauf.pdf", "mimeType": "application/pdf", "buffer": pdf(2)}
    )
    page.get_by_role("button", name=words["save"]).click()
    expect(page.locator(".folder-doc")).to_have_count(1)
    expect(doc(page, "Mein CV 2026")).to_contain_text(words["cv"])

    # Three photos from the camera input: one document of three pages.
    page.locator("#doc-title").fill("Zeugnis Schule")
    page.locator("#doc-kind").select_option("certificate")
    photos_taken: list[FilePayload] = [
        {"name": f"IMG_00{n}.jpg", "mimeType": "image/jpeg", "buffer": photo(n * 60)}
        for n in (1, 2, 3)
    ]
    page.locator("#doc-photos").set_input_files(photos_taken)
    expect(page.locator("#pick-chosen")).to_contain_text(words["three"])
    page.evaluate(RECORD_WAIT)
    page.get_by_role("button", name=words["save"]).click()
    expect(page.locator(".folder-doc")).to_have_count(2)
    # Meanwhile the page showed its wait state: progress shown, the button disabled.
    seen = page.evaluate("window.__wait")
    assert any(s["shown"] and s["disabled"] and s["state"] for s in seen), seen
    expect(page.locator("#upload-wait")).to_be_hidden()
    photos = doc(page, "Zeugnis Schule")
    expect(photos).to_have_attribute("data-pages", "3")
    expect(photos).to_contain_text(words["pages3"])
    expect(photos).to_contain_text(words["certificate"])
    expect(doc(page, "Mein CV 2026")).to_have_attribute("data-pages", "2")
    expect(page.locator(".folder-doc time").first).to_have_attribute(
        "datetime", re.compile(r"^\d{4}-\d\d-\d\d$")
    )
    page.screenshot(path=str(shots_dir / f"folder-{lang}-768x1024.png"), full_page=True)
    axe_check(page, f"space folder ({lang})")

    # The preview shows rendered pages; the next page button turns to page 2.
    photos.get_by_role("button", name=words["show"]).click()
    dialog = page.locator("#doc-preview")
    expect(dialog).to_be_visible()
    wait_for(lambda: image_loaded(page, "#doc-preview-img"), "page 1 to be shown")
    dialog.get_by_role("button", name=words["next"]).click()
    expect(page.locator("#doc-preview-count")).to_have_text(words["page2"])
    expect(page.locator("#doc-preview-img")).to_have_attribute("data-page", "2")
    wait_for(lambda: image_loaded(page, "#doc-preview-img"), "page 2 to be shown")
    assert "/pages/2?" in (page.locator("#doc-preview-img").get_attribute("src") or "")
    page.screenshot(path=str(shots_dir / f"folder-preview-{lang}-768x1024.png"))
    axe_check(page, f"folder preview ({lang})")
    # The arrow key that points forward in the reading direction turns the page too.
    page.keyboard.press(words["forward"])
    expect(page.locator("#doc-preview-count")).to_have_text(words["page3"])
    expect(dialog.get_by_role("button", name=words["next"])).to_be_disabled()
    page.locator("#doc-preview-close").click()
    expect(dialog).to_be_hidden()

    # The original downloads as an attachment named by kind, not by the person's title.
    with page.expect_download() as download:
        doc(page, "Mein CV 2026").get_by_role("link", name=words["download"]).click()
    assert re.fullmatch(r"cv-[0-9a-f]{8}\.pdf", download.value.suggested_filename)
    assert download.value.path().read_bytes().startswith(b"%PDF")

    # An HTML page named cv.pdf is refused, in the page's language.
    page.locator("#doc-title").fill("CV")
    page.locator("#doc-file").set_input_files(
        {"name": "cv.pdf", "mimeType": "application/pdf", "buffer": b"<html><body>cv</body></html>"}
    )
    page.get_by_role("button", name=words["save"]).click()
    expect(page.locator("#upload-error")).to_contain_text(words["refused"])
    expect(page.locator(".folder-doc")).to_have_count(2)
    page.screenshot(path=str(shots_dir / f"folder-refused-{lang}-768x1024.png"), full_page=True)
    axe_check(page, f"folder refusal ({lang})")

    # Deleting asks first; keeping it keeps it, confirming deletes it.
    cv = doc(page, "Mein CV 2026")
    cv.get_by_role("button", name=words["delete"]).click()
    confirm = page.locator("#doc-confirm")
    expect(confirm).to_be_visible()
    expect(confirm).to_contain_text("Mein CV 2026")
    axe_check(page, f"folder delete question ({lang})")
    page.keyboard.press("Escape")
    expect(confirm).to_be_hidden()
    expect(page.locator(".folder-doc")).to_have_count(2)
    cv.get_by_role("button", name=words["delete"]).click()
    confirm.get_by_role("button", name=words["delete"]).click()
    expect(page.locator(".folder-doc")).to_have_count(1)
    expect(doc(page, "Zeugnis Schule")).to_have_count(1)


def test_the_caseworker_sees_and_previews_the_folder(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path
) -> None:
    profile_with_link(live_server, "Olga Petrenko", "uk", starts_in=600)

    async def put() -> None:
        found = await live_server.store.find_profiles("Olga Petrenko")
        owner = Viewer(ViewerKind.OWNER, found[0].id, profile=found[0].id)
        folder = live_server.app[FOLDER]
        await folder.upload(owner, found[0].id, "Lebenslauf Olga", Kind.CV, [pdf(2)])

    live_server.run(put())
    page = new_context("de", viewport={"width": 1280, "height": 1024}).new_page()
    log_in(page, live_server)
    page.locator("#profile-q").fill("Olga")
    page.locator("#profile-search button[type=submit]").click()
    item = page.locator(".profile-item", has_text="Olga Petrenko")
    expect(item).to_have_count(1)
    item.get_by_role("button", name="Dokumente").click()
    section = page.locator("#profile-docs")
    expect(section).to_be_visible()
    expect(section.get_by_role("heading", level=2)).to_contain_text("Olga Petrenko")
    entry = section.locator(".folder-doc", has_text="Lebenslauf Olga")
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text("Lebenslauf")
    expect(entry).to_contain_text("Seiten: 2")
    expect(entry.get_by_role("link", name="Herunterladen")).to_have_attribute(
        "href", re.compile(r"^/api/documents/d_[0-9a-f]{32}/original$")
    )
    page.screenshot(path=str(shots_dir / "console-documents-de.png"), full_page=True)
    axe_check(page, "console documents (de)")

    entry.get_by_role("button", name="Ansehen").click()
    expect(page.locator("#doc-preview")).to_be_visible()
    wait_for(lambda: image_loaded(page, "#doc-preview-img"), "the first page to be shown")
    page.locator("#doc-preview").get_by_role("button", name="Nächste Seite").click()
    expect(page.locator("#doc-preview-count")).to_have_text("Seite 2 von 2")
    wait_for(lambda: image_loaded(page, "#doc-preview-img"), "page 2 to be shown")
    page.screenshot(path=str(shots_dir / "console-documents-preview-de.png"))
    axe_check(page, "console document preview (de)")
    page.locator("#doc-preview-close").click()

    # The caseworker adds a document for the jobseeker, then deletes it after the question.
    page.locator("#doc-title").fill("Arbeitszeugnis Bäckerei")
    page.locator("#doc-kind").select_option("reference")
    page.locator("#doc-file").set_input_files(
        {"name": "zeugnis.pdf", "mimeType": "application/pdf", "buffer": pdf(1)}
    )
    section.get_by_role("button", name="In der Mappe speichern").click()
    added = section.locator(".folder-doc", has_text="Arbeitszeugnis Bäckerei")
    expect(added).to_contain_text("vom Jobcenter hinzugefügt")
    expect(entry).to_contain_text("von der Person selbst hinzugefügt")
    added.get_by_role("button", name="Löschen").click()
    page.locator("#doc-confirm").get_by_role("button", name="Löschen").click()
    expect(section.locator(".folder-doc")).to_have_count(1)


def test_every_refusal_has_a_sentence() -> None:
    """Each code an upload can be refused with is told in words (folder.js), not as a code."""
    script = (STATIC_DIR / "js" / "folder.js").read_text()
    told = set(re.findall(r"case '(\w+)': return t\(", script))
    codes = {str(r) for r in Refusal} | {
        ErrorCode.FOLDER_FULL,
        ErrorCode.FOLDER_TOO_LARGE,
        ErrorCode.INVALID,
        ErrorCode.SPACE_SIGNED_OUT,
    }
    assert codes <= told, sorted(codes - told)
