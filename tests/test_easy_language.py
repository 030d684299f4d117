"""Issue 11, item 13: German in Leichte Sprache (`de-x-ls`) as a seventh language. Every
message a jobseeker can see has an easy-language text; the console's messages come in standard
German. It is chosen by the invitation or on the page, never from Accept-Language; the page says
lang="de" and dates look German. (The pages in Chromium: tests/browser/test_easy_language.py.)"""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from babel.messages.catalog import Message
from babel.messages.pofile import read_po

from core.clock import FakeClock
from core.model import EASY_GERMAN, LANGUAGES, NEGOTIABLE_LANGUAGES, locale_of
from signalling.http.i18n import LANG_COOKIE, load_i18n, parse_accept_language
from signalling.http.pages import when
from signalling.learning.catalog import load_catalog
from tests.harness import appointment_body, login, schedule
from web import MODULES_DIR, STATIC_DIR

Client = TestClient[Any, Any]
WEB = STATIC_DIR.parent
TRANSLATIONS = WEB / "translations"
PLACEHOLDER = re.compile(r"%\(\w+\)s|\{\w+\}")
# The rule for what easy language may leave to standard German: a message used only by the
# staff's pages (the console's templates and scripts, the staff login). Everything else can
# reach a jobseeker (join page, waiting room, call, space, help, learning, privacy, errors).
STAFF_ONLY = re.compile(r"(^|/)(console[^/]*|login\.[a-z]+)$")
START = 1_796_112_000.0  # Tuesday 2026-12-01 09:00 in Berlin (UTC+1)


@pytest.fixture
def backend_kind() -> str:
    return "memory"


def _key(message: Message) -> str:
    return message.id if isinstance(message.id, str) else str(message.id[0])


def _easy_catalog() -> list[Message]:
    with (TRANSLATIONS / EASY_GERMAN / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return [m for m in read_po(fh, locale=locale_of(EASY_GERMAN)) if m.id]


def _jobseeker_visible(message: Message) -> bool:
    return not all(STAFF_ONLY.search(path) for path, _ in message.locations)


def test_every_jobseeker_message_has_an_easy_language_text() -> None:
    with (TRANSLATIONS / "messages.pot").open("rb") as fh:
        template = [m for m in read_po(fh) if m.id]
    wanted = {_key(m) for m in template if _jobseeker_visible(m)}
    assert len(wanted) > 300  # join, waiting room, call, space, learning, help, privacy
    done: set[str] = set()
    for m in _easy_catalog():
        texts = [m.string] if isinstance(m.string, str) else list(m.string)
        if all(t.strip() for t in texts):
            done.add(_key(m))
        assert not m.fuzzy, _key(m)
        if isinstance(m.id, str) and m.string:
            assert sorted(PLACEHOLDER.findall(m.id)) == sorted(PLACEHOLDER.findall(m.string)), m.id
    missing = sorted(wanted - done)
    assert not missing, f"no easy-language text for: {missing[:10]}"


def test_easy_language_is_easy_and_falls_back_to_german_for_the_console() -> None:
    i18n = load_i18n(WEB)
    assert i18n.gettext(EASY_GERMAN, "Waiting room") == "Warte-Raum"
    assert i18n.gettext(EASY_GERMAN, "Privacy notice") == "Daten-Schutz"
    # A console string: standard German, not the English source.
    assert i18n.gettext(EASY_GERMAN, "Log in") == i18n.gettext("de", "Log in") != "Log in"
    assert i18n.js_strings[EASY_GERMAN]["Unmute"] == "Mikrofon an-machen"
    # German plural rules for the scripts.
    assert set(i18n.js_strings[EASY_GERMAN]["{count} new"]) == {"one", "other"}
    # The rules of Leichte Sprache, as far as a machine can check them: short sentences.
    for m in _easy_catalog():
        if isinstance(m.string, str) and _jobseeker_visible(m):
            text = PLACEHOLDER.sub("X", m.string)
            for sentence in re.split(r"(?<=[.?!:])\s+", text):
                assert len(sentence.split()) <= 15, sentence
            # Every sentence starts on a new line (the pages keep the line breaks).
            assert not re.search(r"[.?!] +[A-ZÄÖÜ„]", text), text


def test_accept_language_never_picks_easy_language() -> None:
    assert EASY_GERMAN in LANGUAGES and EASY_GERMAN not in NEGOTIABLE_LANGUAGES
    for header in (EASY_GERMAN, f"{EASY_GERMAN};q=1,en;q=0.1", "x-ls", "de-x-ls-DE"):
        assert parse_accept_language(header) != EASY_GERMAN


def test_dates_and_times_are_german() -> None:
    easy = when(START, EASY_GERMAN, "Europe/Berlin")
    assert easy == when(START, "de", "Europe/Berlin")
    assert easy["text"] == "Dienstag, 1. Dezember 2026, 09:00"
    assert locale_of(EASY_GERMAN) == "de" and locale_of("tr") == "tr"


def html_lang(html: str) -> str:
    start = html.index('<html lang="') + len('<html lang="')
    return html[start : html.index('"', start)]


async def _invited_in_easy_language(staff: Client, fake_clock: FakeClock) -> dict[str, Any]:
    fake_clock.set(START - 86_400)
    csrf = await login(staff)
    body = appointment_body(START)
    body["participants"][1]["lang"] = EASY_GERMAN
    created = await schedule(staff, csrf, body)
    created["csrf"] = csrf
    return created


async def test_the_join_page_of_an_easy_language_invitation(
    staff: Client, fake_clock: FakeClock
) -> None:
    created = await _invited_in_easy_language(staff, fake_clock)
    browser: Client = TestClient(staff.server)
    await browser.start_server()
    try:
        path = "/j/" + created["codes"]["jobseeker"]
        resp = await browser.get(path, headers={"Accept-Language": "en"})
        html = await resp.text()
        assert resp.status == 200
        assert html_lang(html) == "de"  # screen readers speak German
        assert "Dienstag, 1. Dezember 2026" in html
        assert "Ihr Termin hat noch nicht angefangen." in html
        assert '"lang": "de-x-ls"' in html and '"locale": "de"' in html  # the page's data
        assert 'aria-current="true">Leichte Sprache</a>' in html
        # The employer of the same appointment gets standard German.
        other = await browser.get("/j/" + created["codes"]["employer"])
        assert "Ihr Termin hat noch nicht begonnen" in await other.text()
        # A German browser opening an unknown link gets standard German.
        unknown = await browser.get("/j/AAAAAAAAAAAAAAAAAAAAAA", headers={"Accept-Language": "de"})
        assert "Dieser Link funktioniert nicht" in await unknown.text()
    finally:
        await browser.close()


async def test_easy_language_can_be_chosen_on_a_page(staff: Client) -> None:
    browser: Client = TestClient(staff.server)
    await browser.start_server()
    try:
        resp = await browser.get("/privacy", params={"lang": EASY_GERMAN})
        html = await resp.text()
        assert resp.status == 200 and html_lang(html) == "de"
        assert "Daten-Schutz bei Video-Terminen" in html
        assert resp.cookies[LANG_COOKIE].value == EASY_GERMAN
        again = await browser.get("/privacy")
        assert "Daten-Schutz bei Video-Terminen" in await again.text()
    finally:
        await browser.close()


async def test_invitation_text_and_calendar_file_in_easy_language(
    staff: Client, fake_clock: FakeClock
) -> None:
    created = await _invited_in_easy_language(staff, fake_clock)
    aid, pid = created["appointment"]["id"], created["ids"]["jobseeker"]
    url = f"http://{staff.server.host}:{staff.server.port}/j/{created['codes']['jobseeker']}"
    headers = {"X-CSRF-Token": created["csrf"]}
    base = f"/api/appointments/{aid}/participants/{pid}"
    resp = await staff.post(f"{base}/invitation", json={"url": url}, headers=headers)
    assert resp.status == 200, await resp.text()
    data = await resp.json()
    assert (data["lang"], data["dir"]) == (EASY_GERMAN, "ltr")
    assert data["subject"] == "Video-Termin: Beratung"
    assert "Wann: Dienstag, 1. Dezember 2026, 09:00 bis 09:30 Uhr" in data["text"]
    assert "Bitte geben Sie den Link nicht weiter." in data["text"] and url in data["text"]
    ics = await staff.post(f"{base}/calendar.ics", json={"url": url}, headers=headers)
    assert ics.status == 200
    text = (await ics.text()).replace("\r\n ", "")
    assert "SUMMARY:Video-Termin: Beratung" in text

    # The employer's invitation language changes to easy language too; an unknown tag does not.
    employer = created["ids"]["employer"]
    path = f"/api/appointments/{aid}"
    bad = await staff.patch(
        path, json={"participants": [{"id": employer, "lang": "de-x-xx"}]}, headers=headers
    )
    assert bad.status == 400 and "lang" in (await bad.json())["field"]
    changed = await staff.patch(
        path, json={"participants": [{"id": employer, "lang": EASY_GERMAN}]}, headers=headers
    )
    assert changed.status == 200, await changed.text()
    langs = {p["id"]: p["lang"] for p in (await changed.json())["appointment"]["participants"]}
    assert langs[employer] == EASY_GERMAN


async def test_profiles_and_participants_accept_easy_language_and_refuse_others(
    staff: Client, fake_clock: FakeClock
) -> None:
    csrf = await login(staff)
    headers = {"X-CSRF-Token": csrf}
    resp = await staff.post(
        "/api/profiles", json={"name": "Herr Lange", "lang": EASY_GERMAN}, headers=headers
    )
    assert resp.status == 201 and (await resp.json())["profile"]["lang"] == EASY_GERMAN
    for odd in ("de-x-xx", "de-X-LS", "x-ls"):
        bad = await staff.post(
            "/api/profiles", json={"name": "Herr Lange", "lang": odd}, headers=headers
        )
        assert bad.status == 400 and (await bad.json())["field"] == "lang", odd
        body = appointment_body(fake_clock.now() + 3600)
        body["participants"][1]["lang"] = odd
        refused = await staff.post("/api/appointments", json=body, headers=headers)
        assert refused.status == 400, odd


def test_a_module_without_easy_language_shows_standard_german() -> None:
    module = load_catalog(MODULES_DIR).modules["video-interview"]
    assert EASY_GERMAN not in module.languages
    assert module.content_language(EASY_GERMAN) == "de"  # not English, the usual fallback
    assert module.title_in(EASY_GERMAN).startswith("Ein Gespräch für eine Arbeit")


def test_the_cv_course_is_in_easy_language() -> None:
    """Issue 12: one e-learning module also in Leichte Sprache, every page and quiz text."""
    catalog = load_catalog(MODULES_DIR)
    assert catalog.refused == {}
    module = catalog.modules["cv-five-steps"]
    assert module.languages == ("de", "en", EASY_GERMAN)
    assert module.content_language(EASY_GERMAN) == EASY_GERMAN
    assert module.title_in(EASY_GERMAN) == "Ihr Lebenslauf in 5 Schritten"
    for section in module.sections:
        assert section.title[EASY_GERMAN] != section.title["de"], section.id
        if section.html:
            page = section.html[EASY_GERMAN]
            assert len(page) > 300 and page != section.html["de"], section.id
    first = module.section("step-1-layout")
    assert first is not None and "Was ist ein Lebenslauf?" in first.html[EASY_GERMAN]
    for _, question in module.questions():
        assert question.prompt[EASY_GERMAN]
        for choice in question.choices:
            assert choice.text[EASY_GERMAN] and choice.feedback[EASY_GERMAN]


async def test_the_cv_course_page_in_easy_language(staff: Client) -> None:
    csrf = await login(staff)
    headers = {"X-CSRF-Token": csrf}
    resp = await staff.post(
        "/api/profiles", json={"name": "Herr Lange", "lang": EASY_GERMAN}, headers=headers
    )
    profile = (await resp.json())["profile"]
    link = await (
        await staff.post(f"/api/profiles/{profile['id']}/space-link", headers=headers)
    ).json()
    tablet: Client = TestClient(staff.server)
    await tablet.start_server()
    try:
        await tablet.get("/s/" + link["url"].rsplit("/s/", 1)[1])
        page = await tablet.get("/space/learning/cv-five-steps")
        html = await page.text()
        assert page.status == 200 and html_lang(html) == "de"
        assert '<div class="learning-sections" lang="de" dir="ltr">' in html
        assert "Was ist ein Lebenslauf?" in html and "Tabellarisch" not in html
        assert "Was steht im Lebenslauf oben?" in html
    finally:
        await tablet.close()
