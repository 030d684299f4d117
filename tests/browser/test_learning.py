"""E-learning in real Chromium: the caseworker recommends a course in the console, the
jobseeker sees it in the space, takes it start to finish on the tablet (the page resumes
after a reload; a quiz question answered wrongly, then rightly), and the console shows it
passed with its score. In German and in Arabic (right to left, the course in English), with
axe on every new screen and screenshots. A module's video plays from this server with its
WebVTT captions."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import TABLET, LiveServer, NewContext, axe_check
from tests.browser.test_help import console
from tests.browser.test_space import profile_with_link
from tests.learning.modules import write_module

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

MODULE = "video-interview"

WORDS = {
    "de": {
        "name": "Sandra Kühn",
        "dir": "ltr",
        "recommended": "Von Ihrem Jobcenter empfohlen",
        "start": "Kurs beginnen",
        "position": "Abschnitt 2 von 5",
        "wrong": "Leider nein. Wenn dann etwas nicht geht",
        "right": "Richtig. So bleibt Zeit",
        "verdict_right": "Richtig!",
        "finished": "bestanden",
        "passed": "Bestanden",
    },
    "ar": {
        "name": "ليلى منصور",
        "dir": "rtl",
        "recommended": "موصى به من مركز العمل",
        "start": "ابدأ الدورة",
        "position": "القسم 2 من 5",
        "wrong": "Not quite. If something fails then",
        "right": "Right. That leaves time",
        "verdict_right": "صحيح!",
        "finished": "نجحت",
        "passed": "ناجح",
    },
}


def open_learning_panel(staff: Page, name: str) -> None:
    staff.locator("#profile-q").fill(name)
    staff.locator("#profile-search button[type=submit]").click()
    item = staff.locator(".profile-item", has_text=name)
    item.locator('[data-action="learning"]').click()
    expect(staff.locator("#profile-learning")).to_be_visible()


def answer(page: Page, question: str, *choices: str) -> None:
    form = page.locator(f'form[data-question="{question}"]')
    for choice in choices:
        form.locator(f'input[value="{choice}"]').check()
    form.get_by_role("button").click()


@pytest.mark.parametrize("lang", ["de", "ar"])
def test_a_recommended_course_taken_start_to_finish(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path, lang: str
) -> None:
    words = WORDS[lang]
    link = profile_with_link(live_server, words["name"], lang, starts_in=86400)

    # The caseworker recommends the course, to finish within two weeks.
    staff = console(new_context, live_server)
    open_learning_panel(staff, words["name"])
    panel = staff.locator("#profile-learning")
    row = panel.locator(f'tr[data-module="{MODULE}"]')
    expect(row).to_have_attribute("data-status", "new")
    due = dt.date.today() + dt.timedelta(days=14)
    staff.locator("#recommend-module").select_option(MODULE)
    staff.locator("#recommend-due").fill(due.isoformat())
    panel.get_by_role("button", name="Empfehlen", exact=True).click()
    expect(row.locator(".learning-recommended")).to_contain_text("Ja, bis")
    expect(panel.locator("#learning-summary")).to_have_text("Noch keine Lernaktivität.")
    axe_check(staff, "console learning panel (de)")

    # The tablet: the recommendation stands first in the space.
    tablet = new_context("en", viewport=TABLET).new_page()
    tablet.goto(link)
    tablet.wait_for_url(f"{live_server.url}/space")
    expect(tablet.locator("html")).to_have_attribute("dir", words["dir"])
    card = tablet.locator(f'.learning-module[data-module="{MODULE}"]')
    expect(tablet.locator(".learning-module").first).to_have_attribute("data-module", MODULE)
    expect(card).to_have_attribute("data-recommended", "true")
    expect(card.locator(".learning-recommended")).to_contain_text(words["recommended"])
    expect(card).to_have_attribute("data-status", "new")
    card.scroll_into_view_if_needed()
    axe_check(tablet, f"space learning ({lang})")
    tablet.screenshot(path=str(shots_dir / f"space-learning-{lang}.png"), full_page=True)

    # Through the pages; after a reload the course resumes at the second one.
    card.get_by_role("link", name=words["start"]).click()
    tablet.wait_for_url(f"{live_server.url}/space/learning/{MODULE}")
    lessons = tablet.locator(".lesson:visible")
    expect(lessons).to_have_attribute("data-section", "technology")
    axe_check(tablet, f"course page ({lang})")
    tablet.locator("#learning-next").click()
    expect(lessons).to_have_attribute("data-section", "place")
    expect(tablet.locator("#learning-position")).to_have_text(words["position"])
    tablet.reload()
    expect(lessons).to_have_attribute("data-section", "place")
    expect(tablet.locator('#learning-steps li[aria-current="step"]')).to_have_attribute(
        "data-step", "place"
    )
    tablet.locator("#learning-next").click()
    expect(lessons).to_have_attribute("data-section", "light")
    expect(lessons.locator("video track")).to_have_count(2)
    tablet.locator("#learning-next").click()
    expect(lessons).to_have_attribute("data-section", "conversation")
    tablet.locator("#learning-next").click()
    expect(lessons).to_have_attribute("data-section", "quiz")
    expect(tablet.locator("#learning-finish")).to_be_visible()
    expect(tablet.locator("#learning-next")).to_be_hidden()

    # A question answered wrongly, then rightly; the others rightly.
    first = tablet.locator('form[data-question="test-call"]')
    answer(tablet, "test-call", "when-called")
    expect(first).to_have_attribute("data-result", "wrong")
    expect(first.locator(".quiz-feedback")).to_contain_text(words["wrong"])
    answer(tablet, "test-call", "day-before")
    expect(first).to_have_attribute("data-result", "correct")
    expect(first.locator(".quiz-feedback")).to_contain_text(words["verdict_right"])
    expect(first.locator(".quiz-feedback")).to_contain_text(words["right"])
    answer(tablet, "background", "light-front", "quiet")
    answer(tablet, "connection-lost", "rejoin")
    answer(tablet, "eye-contact", "own-picture")
    expect(tablet.locator('form[data-question="eye-contact"]')).to_have_attribute(
        "data-result", "wrong"
    )
    axe_check(tablet, f"course quiz ({lang})")
    tablet.screenshot(path=str(shots_dir / f"course-quiz-{lang}.png"), full_page=True)
    answer(tablet, "eye-contact", "camera")
    expect(tablet.locator('form[data-question="eye-contact"]')).to_have_attribute(
        "data-result", "correct"
    )
    tablet.locator("#learning-finish").click()
    expect(tablet.locator(".lesson-done")).to_be_visible()
    expect(tablet.locator(".lesson-done")).to_have_attribute("data-status", "passed")
    expect(tablet.locator("#learning-result")).to_contain_text(words["finished"])
    axe_check(tablet, f"course finished ({lang})")
    tablet.screenshot(path=str(shots_dir / f"course-finished-{lang}.png"), full_page=True)
    tablet.locator(".lesson-done").get_by_role("link").click()
    tablet.wait_for_url(re.compile(r"/space"))
    expect(card).to_have_attribute("data-status", "passed")
    expect(card.locator(".learning-badge")).to_have_text(words["passed"])
    expect(card.locator(".learning-score")).to_contain_text("100")

    # The console follows: passed, 100 %, a last activity.
    staff.locator("#reload-learning").click()
    expect(row).to_have_attribute("data-status", "passed")
    expect(row.locator(".learning-status")).to_have_text("Bestanden")
    expect(row.locator(".learning-score")).to_contain_text("100")
    expect(row.locator("time")).to_have_count(1)
    expect(panel.locator("#learning-summary")).to_contain_text("Letzte Aktivität")
    staff.screenshot(path=str(shots_dir / f"console-learning-de-{lang}.png"), full_page=True)


@pytest.fixture(scope="module")
def video_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server whose modules folder holds the test module with its tiny WebM clip."""
    root = tmp_path_factory.mktemp("modules")
    write_module(root / "test-module")
    server = LiveServer(tmp_path_factory.mktemp("video"), learning_modules_dir=root)
    server.start()
    yield server
    server.stop()


def test_a_course_video_plays_with_captions(
    video_server: LiveServer, new_context: NewContext
) -> None:
    link = profile_with_link(video_server, "Jana Wolf", "de", starts_in=86400)
    tablet = new_context("de", viewport=TABLET).new_page()
    tablet.goto(link)
    tablet.wait_for_url(f"{video_server.url}/space")
    tablet.goto(f"{video_server.url}/space/learning/test-module")
    tablet.locator("#learning-next").click()
    video = tablet.locator(".lesson:visible video")
    expect(video).to_be_visible()
    state = tablet.wait_for_function(
        """() => { const v = document.querySelector('.lesson:not([hidden]) video');
            const track = v && [...v.textTracks].find((t) => t.language === 'de');
            return v && v.readyState >= 1 && track && track.mode === 'showing'
              && track.cues && track.cues.length
              ? {width: v.videoWidth, cue: track.cues[0].text} : null; }"""
    ).json_value()
    assert state == {"width": 64, "cue": "Hallo"}
    axe_check(tablet, "course video (de)")


def test_the_console_shows_who_is_behind_and_who_came(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path
) -> None:
    """Regular participation at a glance: a jobseeker whose recommended course is overdue
    stands first under "Who is behind?", and her learning view says she came to one of her
    two appointments."""
    from core.learning.records import Recommendation
    from core.model import AttendanceEvent, AttendanceKind, Profile
    from signalling.appointments import schedule
    from tests.browser.conftest import STAFF_USER

    name = "Karin Rückstand"

    async def put() -> None:
        now = live_server.clock.now()
        profile = Profile(f"j_behind{int(now)}", name, "de", STAFF_USER, now)
        await live_server.store.put_profile(profile)
        for days_ago, came in ((9, True), (2, False)):
            starts = now - days_ago * 86400
            scheduled = schedule(
                {
                    "title": f"Beratung vor {days_ago} Tagen",
                    "starts_at": starts,
                    "ends_at": starts + 1800,
                    "participants": [{"role": "caseworker", "name": "Frau Becker", "lang": "de"}],
                },
                now=starts,
                settings=live_server.settings,
                created_by=STAFF_USER,
                profile=profile,
            )
            await live_server.store.put_appointment(scheduled.appointment)
            if came:
                seeker = next(p for p in scheduled.appointment.participants if p.profile_id)
                await live_server.store.add_attendance(
                    AttendanceEvent(
                        scheduled.appointment.id, seeker.id, AttendanceKind.JOINED, starts + 60
                    )
                )
        due = (dt.date.today() - dt.timedelta(days=3)).isoformat()
        await live_server.store.put_recommendation(
            Recommendation(profile.id, MODULE, STAFF_USER, now - 20 * 86400, due)
        )

    live_server.run(put())
    staff = console(new_context, live_server)
    card = staff.locator("#course-learners")
    card.locator("#course-learners-module").select_option(MODULE)
    card.get_by_role("button", name="Ansehen").click()
    row = card.locator("tr", has_text=name)
    expect(row).to_have_attribute("data-behind", "overdue")
    expect(row.locator(".learning-behind")).to_have_text("Überfällig")
    expect(card.locator("#course-learners-summary")).to_contain_text("im Rückstand")
    axe_check(staff, "who is behind (de)")

    open_learning_panel(staff, name)
    panel = staff.locator("#profile-learning")
    expect(panel.locator("#learning-attendance")).to_have_text(
        "War bei 1 von 2 Terminen in den letzten 180 Tagen."
    )
    visits = panel.locator("#learning-visits li")
    expect(visits).to_have_count(2)
    expect(visits.nth(0)).to_have_attribute("data-attended", "false")  # the newest first
    expect(visits.nth(1)).to_have_attribute("data-attended", "true")
    axe_check(staff, "learning view with attendance (de)")
    staff.screenshot(path=str(shots_dir / "console-who-is-behind-de.png"), full_page=True)
