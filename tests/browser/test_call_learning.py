"""Course sections in a call in Chromium (issue 12): the caseworker (German) shows a section of
a module, the jobseeker (Arabic) sees it in the module's fallback language with a note, the
next section and a quiz (read-only, without answers) follow for both, who joins late sees the
section as it stands, a video comes with its captions, and closing closes it for everyone."""

from __future__ import annotations

from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

from signalling.appointments import schedule
from signalling.learning.catalog import load_catalog
from tests.browser.conftest import STAFF_USER, LiveServer, NewContext, axe_check, join
from testsupport.wait import wait_for_sync as wait_for
from web import MODULES_DIR

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

CATALOG = load_catalog(MODULES_DIR)
CV = CATALOG.modules["cv-five-steps"]


def _call(server: LiveServer) -> dict[str, str]:
    """A call without a waiting room: caseworker (de), jobseeker (ar), employer (de)."""

    async def put() -> dict[str, str]:
        now = server.clock.now()
        made = schedule(
            {
                "title": "Beratung",
                "starts_at": now - 60,
                "ends_at": now + 3600,
                "waiting_room": False,
                "participants": [
                    {"role": "caseworker", "name": "Frau Becker", "lang": "de"},
                    {"role": "jobseeker", "name": "Samira", "lang": "ar"},
                    {"role": "employer", "name": "Herr Wolf", "lang": "de"},
                ],
            },
            now=now - 60,
            settings=server.settings,
            created_by=STAFF_USER,
        )
        await server.store.put_appointment(made.appointment)
        return {p.role: f"{server.url}/j/{made.codes[p.id]}" for p in made.appointment.participants}

    return server.run(put())


def _section(page: Page) -> dict[str, str] | None:
    """The section the panel shows: its title and language, once rendered."""
    return page.evaluate(
        """() => { const s = document.querySelector('#learn-content .learn-section');
            const area = document.getElementById('learn-area');
            return !s || area.hidden ? null : {
                title: s.querySelector('h3').textContent, lang: s.lang, dir: s.dir }; }"""
    )


def _no_violations(page: Page, name: str) -> None:
    """axe-core: no violations at all in the course panel and its picker."""
    for selector in ("#learn-area", "#learn-picker"):
        if page.locator(selector).is_hidden():
            continue
        found = Axe().run(page, context=selector).response["violations"]
        assert not found, f"{name} {selector}: " + "; ".join(v["id"] for v in found)


def _show(worker: Page, module: str, section: str) -> None:
    if worker.locator("#learn-picker").is_hidden():
        worker.locator("#btn-course").click()
    worker.locator("#learn-module").select_option(module)
    worker.locator("#learn-section").select_option(section)
    worker.locator("#learn-show").click()


def test_a_course_section_is_shown_to_everyone_in_their_language(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path
) -> None:
    urls = _call(live_server)
    worker = new_context("de").new_page()
    seeker = new_context("ar").new_page()
    for page, role in ((worker, "caseworker"), (seeker, "jobseeker")):
        join(page, urls[role])
        page.locator("#call").wait_for(state="visible")
    # Only who leads the call may show a course section; the picker opens from the controls.
    worker.locator("#btn-course").wait_for(state="visible")
    assert worker.locator("#learn-picker").is_hidden()
    assert seeker.locator("#btn-course").is_hidden()
    assert seeker.locator("#learn-area").is_hidden()

    worker.locator("#btn-course").click()
    worker.locator("#learn-picker").wait_for(state="visible")
    assert worker.locator("#btn-course").get_attribute("aria-expanded") == "true"
    worker.screenshot(path=shots_dir / "call-learning-picker-de.png")
    _no_violations(worker, "picker")

    first, second = CV.sections[0], CV.sections[1]
    _show(worker, CV.id, first.id)
    mine = wait_for(lambda: _section(worker), "the section on the caseworker's screen")
    assert worker.locator("#learn-picker").is_hidden()
    assert mine == {"title": first.title["de"], "lang": "de", "dir": "ltr"}
    # The module has no Arabic: the jobseeker reads its fallback, and is told so in Arabic.
    theirs = wait_for(lambda: _section(seeker), "the section on the jobseeker's screen")
    assert theirs == {"title": first.title["en"], "lang": "en", "dir": "ltr"}
    note = seeker.locator("#learn-language")
    assert note.is_visible() and "English" in (note.text_content() or "")
    assert "غير متوفر" in (note.text_content() or "")
    assert seeker.locator("#learn-controls").is_hidden()
    assert worker.locator("#learn-language").is_hidden()
    assert worker.locator("#learn-position").text_content() == "Abschnitt 1 von 6"
    assert seeker.locator("#learn-content .lesson-page").inner_html().strip()
    worker.screenshot(path=shots_dir / "call-learning-presenter-de.png")
    seeker.screenshot(path=shots_dir / "call-learning-jobseeker-ar.png")
    axe_check(worker, "call with a course section (presenter)")
    axe_check(seeker, "call with a course section (jobseeker)")
    _no_violations(worker, "presenter")
    _no_violations(seeker, "jobseeker")

    # Next section: for both.
    worker.locator("#learn-next").click()
    wait_for(
        lambda: (_section(seeker) or {}).get("title") == second.title["en"],
        "the next section on the jobseeker's screen",
    )
    wait_for(lambda: (_section(worker) or {}).get("title") == second.title["de"], "next, de")

    # An employer who joins now is shown the section as it stands (course content is not
    # personal data: no consent is asked), in German, without the presenter's controls.
    employer = new_context("de").new_page()
    join(employer, urls["employer"])
    employer.locator("#call").wait_for(state="visible")
    late = wait_for(lambda: _section(employer), "the section on the late employer's screen")
    assert late == {"title": second.title["de"], "lang": "de", "dir": "ltr"}
    assert employer.locator("#learn-controls").is_hidden()
    assert employer.locator("#learn-picker").is_hidden()

    # A quiz: the questions without the answers, read-only, and it says so.
    _show(worker, CV.id, "quiz")
    wait_for(
        lambda: (_section(seeker) or {}).get("title") == CV.section("quiz").title["en"], "quiz"
    )
    seeker.locator("#learn-readonly").wait_for(state="visible")
    assert seeker.locator("#learn-content input, #learn-content button").count() == 0
    questions = seeker.locator("#learn-content .learn-questions > li")
    assert questions.count() == len(CV.section("quiz").questions)
    seeker.screenshot(path=shots_dir / "call-learning-quiz-jobseeker-ar.png")
    axe_check(seeker, "call with a quiz section")
    _no_violations(seeker, "quiz")

    # A video with its captions, fetched through the call.
    _show(worker, "video-interview", "light")
    wait_for(
        lambda: seeker.evaluate(
            """() => { const v = document.querySelector('#learn-content video');
                return v && v.src.startsWith('blob:') && v.readyState >= 1
                    && v.querySelectorAll('track').length === 2; }"""
        ),
        "the video with two caption tracks on the jobseeker's screen",
    )
    assert seeker.locator("#learn-readonly").is_hidden()

    # Closed by the caseworker: closed for both.
    worker.locator("#learn-close").click()
    seeker.locator("#learn-area").wait_for(state="hidden")
    employer.locator("#learn-area").wait_for(state="hidden")
    assert worker.locator("#learn-area").is_hidden()
