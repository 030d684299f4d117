"""Showing a document in a three-party call in Chromium (issue 9): the caseworker shows page 2,
the employer sees it only after the jobseeker allowed it on their own device, the jobseeker's
"Stop sharing" closes it for the employer and tells the caseworker, and who joins late or
comes back sees the page as it stands."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page

from core.documents.access import Viewer, ViewerKind
from core.documents.intake import Kind
from core.model import Profile
from signalling.appointments import schedule
from signalling.folder import FOLDER
from signalling.profiles import new_profile_id
from tests.browser.conftest import STAFF_USER, LiveServer, NewContext, axe_check, join
from tests.documents.test_intake import pdf
from testsupport.wait import wait_for_sync as wait_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def _call_with_a_cv(server: LiveServer) -> dict[str, str]:
    """A profile with a two-page CV and a call for it: caseworker (de), employer (ar)."""

    async def put() -> dict[str, str]:
        now = server.clock.now()
        profile = Profile(new_profile_id(), "Ayşe Yılmaz", "tr", STAFF_USER, now)  # noqa: RUF001
        await server.store.put_profile(profile)
        await server.app[FOLDER].upload(
            Viewer(ViewerKind.STAFF, STAFF_USER), profile.id, "Lebenslauf", Kind.CV, [pdf(2)]
        )
        made = schedule(
            {
                "title": "Vorstellung",
                "starts_at": now - 60,
                "ends_at": now + 3600,
                "waiting_room": False,
                "participants": [
                    {"role": "caseworker", "name": "Frau Becker", "lang": "de"},
                    {"role": "employer", "name": "Herr Wolf", "lang": "ar"},
                ],
                "profile_id": profile.id,
            },
            now=now - 60,
            settings=server.settings,
            created_by=STAFF_USER,
            profile=profile,
        )
        await server.store.put_appointment(made.appointment)
        return {p.role: f"{server.url}/j/{made.codes[p.id]}" for p in made.appointment.participants}

    return server.run(put())


def _page_shown(page: Page) -> dict[str, object] | None:
    return page.evaluate(
        """() => { const img = document.getElementById('panel-page');
            return img.hidden || !img.complete || !img.naturalWidth ? null
                : {alt: img.alt, width: img.naturalWidth}; }"""
    )


def test_the_employer_sees_page_two_only_while_the_jobseeker_allows_it(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path
) -> None:
    urls = _call_with_a_cv(live_server)
    langs = {"caseworker": "de", "jobseeker": "tr", "employer": "ar"}
    pages = {role: new_context(lang).new_page() for role, lang in langs.items()}
    for role, page in pages.items():
        join(page, urls[role])
        page.locator("#call").wait_for(state="visible")
    worker, seeker, employer = pages["caseworker"], pages["jobseeker"], pages["employer"]
    # Nothing open: no panel anywhere; the presenters have the folder, the employer has not.
    assert employer.locator("#panel-area").is_hidden()
    worker.locator("#doc-picker").wait_for(state="visible")
    assert employer.locator("#doc-picker").is_hidden()

    worker.locator("#doc-list button").first.click()
    worker.locator("#panel-next").click()
    wait_for(lambda: worker.locator("#panel-position").text_content() == "Seite 2 von 2", "page 2")
    wait_for(lambda: _page_shown(worker), "page 2 on the caseworker's screen")

    # The jobseeker is asked; the employer sees the panel with a note, not the page.
    seeker.locator("#consent-ask").wait_for(state="visible")
    assert "Lebenslauf" in (seeker.locator("#consent-question").text_content() or "")
    employer.locator("#panel-area").wait_for(state="visible")
    wait_for(lambda: employer.locator("#panel-note").text_content(), "the waiting note")
    assert _page_shown(employer) is None
    employer.screenshot(path=shots_dir / "call-document-waiting-employer-ar.png")
    axe_check(seeker, "call with the consent question")

    seeker.locator("#consent-allow").click()
    shown = wait_for(lambda: _page_shown(employer), "page 2 on the employer's screen")
    assert shown["alt"] == "الصفحة 2 من 2"
    seeker.locator("#consent-standing").wait_for(state="visible")
    employer.screenshot(path=shots_dir / "call-document-shown-employer-ar.png")
    worker.screenshot(path=shots_dir / "call-document-presenter-de.png")

    # Withdrawn: the panel closes on the employer's screen, the caseworker still sees the
    # page and is told, in German, who no longer sees which document.
    seeker.locator("#consent-stop").click()
    employer.locator("#panel-area").wait_for(state="hidden")
    assert _page_shown(employer) is None
    worker.locator("#consent-notice").wait_for(state="visible")
    notice = worker.locator("#consent-notice-text").text_content() or ""
    assert "zurückgezogen" in notice and "Lebenslauf" in notice and "Herr Wolf" in notice
    wait_for(lambda: _page_shown(worker), "the page still on the caseworker's screen")
    seeker.locator("#consent-standing").wait_for(state="hidden")
    worker.screenshot(path=shots_dir / "call-document-withdrawn-presenter-de.png")
    axe_check(worker, "call with the consent withdrawn notice")


def test_who_joins_late_or_comes_back_sees_the_page_as_it_stands(
    live_server: LiveServer, new_context: NewContext
) -> None:
    urls = _call_with_a_cv(live_server)
    langs = {"caseworker": "de", "jobseeker": "tr", "employer": "ar"}
    pages = {role: new_context(lang).new_page() for role, lang in langs.items()}
    worker, seeker, employer = pages["caseworker"], pages["jobseeker"], pages["employer"]
    for role in ("caseworker", "jobseeker"):
        join(pages[role], urls[role])
        pages[role].locator("#call").wait_for(state="visible")
    worker.locator("#doc-picker").wait_for(state="visible")
    worker.locator("#doc-list button").first.click()
    worker.locator("#panel-next").click()
    wait_for(lambda: worker.locator("#panel-position").text_content() == "Seite 2 von 2", "page 2")
    seeker.locator("#consent-ask").wait_for(state="visible")
    seeker.locator("#consent-allow").click()
    seeker.locator("#consent-standing").wait_for(state="visible")

    # The employer joins now: page 2, as the caseworker shows it, without anyone doing more.
    join(employer, urls["employer"])
    employer.locator("#call").wait_for(state="visible")
    shown = wait_for(lambda: _page_shown(employer), "page 2 on the late employer's screen")
    assert shown["alt"] == "الصفحة 2 من 2"
    assert employer.locator("#panel-controls").is_hidden()

    # The jobseeker's tablet loads the call afresh: the same page, and "Stop sharing".
    join(seeker, urls["jobseeker"])
    seeker.locator("#call").wait_for(state="visible")
    wait_for(lambda: _page_shown(seeker), "page 2 on the jobseeker's screen again")
    seeker.locator("#consent-standing").wait_for(state="visible")
    assert seeker.locator("#consent-ask").is_hidden()
