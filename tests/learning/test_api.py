"""E-learning over a real app: a module taken from the space step by step (statements,
resume point, quiz feedback, completion), bad inputs, another profile's records, the
caseworker's recommendation, progress and xAPI export, the audit trail, the served video and
captions, and erasure of a profile with its statements."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from babel.dates import format_date

from core.audit import Action
from core.clock import FakeClock
from signalling.context import Services
from signalling.learning import recorder
from tests.test_help_api import signed_in_tablet
from tests.test_space import device, open_link

Client = TestClient[Any, Any]
M = "/api/space/learning/test-module"
VERB = "http://adlnet.gov/expapi/verbs/"


pytestmark = pytest.mark.usefixtures("test_module_dir")


@pytest.fixture
def backend_kind() -> str:
    return "memory"


async def post(client: Client, path: str, headers: dict[str, str], body: Any = None) -> Any:
    resp = await client.post(path, json=body, headers=headers)
    assert resp.status < 300, f"{path}: {resp.status} {await resp.text()}"
    return await resp.json()


async def test_a_module_taken_start_to_finish(
    staff: Client, fake_clock: FakeClock, services: Services
) -> None:
    tablet, setup = await signed_in_tablet(staff, fake_clock.now() + 86400)
    h = setup["space"]
    profile = setup["profile"]["id"]
    try:
        listed = (await (await tablet.get("/api/space/learning")).json())["modules"]
        assert [(m["id"], m["progress"]["status"]) for m in listed] == [("test-module", "new")]
        assert listed[0]["title"] == "Test module"  # a Turkish profile: the English title

        assert (await post(tablet, f"{M}/launch", h)) == {"resume": "intro"}
        fake_clock.advance(5)
        assert (await post(tablet, f"{M}/sections/intro/experienced", h)) == {"next": "clip"}
        # Reloaded: the module resumes at the clip.
        assert (await post(tablet, f"{M}/launch", h)) == {"resume": "clip"}
        assert (await post(tablet, f"{M}/sections/clip/experienced", h)) == {"next": "quiz"}

        # Finishing before every question is answered is refused.
        resp = await tablet.post(f"{M}/finish", headers=h)
        assert resp.status == 409 and (await resp.json())["code"] == "conflict"

        quiz = f"{M}/sections/quiz/answers"
        wrong = await post(tablet, quiz, h, {"question": "q1", "choices": ["two"]})
        assert wrong == {
            "correct": False,
            "feedback": [{"choice": "two", "correct": False, "feedback": "No, not two."}],
        }
        right = await post(tablet, quiz, h, {"question": "q1", "choices": ["one"]})
        assert right["correct"] is True and right["feedback"][0]["feedback"] == "Right, one."
        multi = await post(tablet, quiz, h, {"question": "q2", "choices": ["blue", "red"]})
        assert multi["correct"] is True and len(multi["feedback"]) == 2
        # German feedback for a German page.
        de = await post(tablet, f"{quiz}?lang=de", h, {"question": "q2", "choices": ["chair"]})
        assert de["feedback"][0]["feedback"] == "Ein Stuhl ist keine Farbe."
        await post(tablet, quiz, h, {"question": "q2", "choices": ["red", "blue"]})

        done = (await post(tablet, f"{M}/finish", h))["progress"]
        assert (done["status"], done["completed"], done["passed"], done["score"]) == (
            "passed",
            True,
            True,
            1.0,
        )
        one = (await (await tablet.get(M)).json())["progress"]
        assert one["resume"] == "intro" and one["answered"] == ["quiz/q1", "quiz/q2"]

        # The statements: xAPI 1.0.3, the pseudonymous actor, the verbs in order.
        statements = await services.learning.list_statements(profile)
        verbs = [s.verb.value for s in statements]
        assert verbs == [
            "launched", "experienced", "launched", "experienced",
            "answered", "answered", "answered", "answered", "answered",
            "completed", "passed",
        ]  # fmt: skip
        for s in statements:
            body = json.loads(s.statement)
            assert body["id"] == s.id and uuid.UUID(body["id"]).version == 4
            assert body["actor"] == {
                "objectType": "Agent",
                "account": {"homePage": services.settings.base_url(), "name": profile},
            }
            assert body["verb"]["id"] == VERB + s.verb.value
            assert body["version"] == "1.0.3"
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["timestamp"])
            assert "Ayşe" not in s.statement
        first_answer = json.loads(statements[4].statement)
        assert first_answer["result"] == {
            "score": {"scaled": 0.0, "raw": 0.0, "min": 0, "max": 1.0},
            "success": False,
            "response": "two",
        }
        assert first_answer["object"]["definition"]["interactionType"] == "choice"
        assert first_answer["object"]["definition"]["correctResponsesPattern"] == ["one"]
        assert first_answer["context"]["contextActivities"]["parent"][0]["id"].endswith(
            "/learning/modules/test-module"
        )
        passed = json.loads(statements[-1].statement)
        assert passed["result"] == {
            "score": {"scaled": 1.0, "raw": 2, "min": 0, "max": 2},
            "success": True,
            "completion": True,
        }

        # Audited with ids only: never the profile's name, never a choice's text.
        entries = [e.record for e in await services.documents.audit.entries()]
        learning = [e for e in entries if e.action == Action.LEARNING]
        assert [e.detail["verb"] for e in learning] == verbs
        assert {e.subject for e in learning} == {s.id for s in statements}
        assert learning[4].detail == {
            "module": "test-module",
            "verb": "answered",
            "section": "quiz",
            "question": "q1",
            "success": 0,
        }
        assert all(e.actor == profile and e.actor_role == "jobseeker" for e in learning)
    finally:
        await tablet.close()


async def test_a_failed_module(staff: Client, fake_clock: FakeClock) -> None:
    tablet, setup = await signed_in_tablet(staff, fake_clock.now() + 86400)
    h = setup["space"]
    try:
        quiz = f"{M}/sections/quiz/answers"
        await post(tablet, quiz, h, {"question": "q1", "choices": ["two"]})
        await post(tablet, quiz, h, {"question": "q2", "choices": ["red"]})
        done = (await post(tablet, f"{M}/finish", h))["progress"]
        assert (done["status"], done["passed"], done["score"]) == ("failed", False, 0.0)
    finally:
        await tablet.close()


BAD = [
    ("/launch", {"x": 1}, 400, "invalid"),
    ("/resume", {"section": "nope"}, 404, "not_found"),
    ("/resume", {"section": 3}, 400, "invalid"),
    ("/sections/nope/experienced", None, 404, "not_found"),
    ("/sections/quiz/answers", {"question": "q9", "choices": ["one"]}, 404, "not_found"),
    ("/sections/intro/answers", {"question": "q1", "choices": ["one"]}, 404, "not_found"),
    ("/sections/quiz/answers", {"question": "q1", "choices": []}, 400, "invalid"),
    ("/sections/quiz/answers", {"question": "q1", "choices": "one"}, 400, "invalid"),
    ("/sections/quiz/answers", {"question": "q1", "choices": ["one", "two"]}, 400, "invalid"),
    ("/sections/quiz/answers", {"question": "q1", "choices": ["three"]}, 400, "invalid"),
    ("/sections/quiz/answers", {"question": "q2", "choices": ["red", "red"]}, 400, "invalid"),
    ("/sections/quiz/answers", {"question": "q1", "choices": ["one"], "x": 1}, 400, "invalid"),
    ("/sections/quiz/answers", [1], 400, "invalid"),
]


async def test_bad_inputs_get_clear_errors(staff: Client, fake_clock: FakeClock) -> None:
    tablet, setup = await signed_in_tablet(staff, fake_clock.now() + 86400)
    h = setup["space"]
    try:
        for path, body, status, code in BAD:
            resp = await tablet.post(M + path, json=body, headers=h)
            assert (resp.status, (await resp.json())["code"]) == (status, code), path
        for path in ("/api/space/learning/nope/launch", "/api/space/learning/Nope%2F..x/launch"):
            resp = await tablet.post(path, headers=h)
            assert resp.status == 404, path
        # Without the space's CSRF token, and without a session at all.
        assert (await tablet.post(f"{M}/launch")).status == 403
        resp = await tablet.post(f"{M}/launch", data="x", headers=h)
        assert resp.status == 415
        stranger = await device(staff)  # closing it closes the server: last
        try:
            resp = await stranger.get("/api/space/learning")
            assert (resp.status, (await resp.json())["code"]) == (401, "space_signed_out")
            assert (await stranger.get("/learning/media/test-module/media/clip.webm")).status == 404
        finally:
            await stranger.close()
    finally:
        await tablet.close()


async def test_video_and_captions_are_served_from_this_server(
    staff: Client, fake_clock: FakeClock, test_module_dir: Path
) -> None:
    tablet, _ = await signed_in_tablet(staff, fake_clock.now() + 86400)
    try:
        resp = await tablet.get("/learning/media/test-module/media/clip.webm")
        assert resp.status == 200 and resp.content_type == "video/webm"
        assert await resp.read() == (test_module_dir / "test-module/media/clip.webm").read_bytes()
        resp = await tablet.get(
            "/learning/media/test-module/media/clip.webm", headers={"Range": "bytes=0-9"}
        )
        assert resp.status == 206 and len(await resp.read()) == 10
        resp = await tablet.get("/learning/media/test-module/media/clip.de.vtt")
        assert resp.content_type == "text/vtt" and (await resp.text()).startswith("WEBVTT")
        for name in ("module.toml", "de.md", "..%2Ftest-module%2Fde.md", "media/x.webm"):
            assert (await tablet.get(f"/learning/media/test-module/{name}")).status == 404, name
    finally:
        await tablet.close()


async def test_recommendation_progress_export_and_another_profile(
    staff: Client, fake_clock: FakeClock, services: Services
) -> None:
    tablet, setup = await signed_in_tablet(staff, fake_clock.now() + 86400)
    h, sh = setup["space"], setup["staff"]
    profile = setup["profile"]["id"]
    base = f"/api/profiles/{profile}/learning"
    try:
        catalog = (await (await staff.get("/api/learning/modules")).json())["modules"]
        assert [(m["id"], m["title"], m["questions"]) for m in catalog] == [
            ("test-module", "Testmodul", 2)
        ]
        resp = await staff.post(
            f"{base}/recommendations",
            json={"module": "test-module", "due": "2099-01-01"},
            headers=sh,
        )
        assert resp.status == 400 and (await resp.json())["field"] == "due"
        for bad in (
            {"module": "nope"},
            {"module": "test-module", "due": "01.02.2030"},
            {"module": "test-module", "due": "2020-01-01"},
            {"module": "test-module", "when": "x"},
        ):
            resp = await staff.post(f"{base}/recommendations", json=bad, headers=sh)
            assert resp.status == 400, bad
        assert (
            await staff.post(f"{base}/recommendations", json={"module": "test-module"})
        ).status == 403
        resp = await staff.post(
            "/api/profiles/j_nobody/learning/recommendations",
            json={"module": "test-module"},
            headers=sh,
        )
        assert resp.status == 404
        resp = await staff.post(
            f"{base}/recommendations", json={"module": "test-module", "due": None}, headers=sh
        )
        assert resp.status == 201, await resp.text()

        seen = (await (await tablet.get("/api/space/learning")).json())["modules"][0]
        assert seen["recommended"]["due"] is None and seen["progress"]["started"] is False

        await post(tablet, f"{M}/launch", h)
        fake_clock.advance(60)
        await post(tablet, f"{M}/sections/intro/experienced", h)
        view = await (await staff.get(base)).json()
        card = view["modules"][0]
        assert card["recommended"] is not None
        assert card["progress"]["started"] and not card["progress"]["completed"]
        assert card["progress"]["last_activity"] == fake_clock.now() == view["last_activity"]

        # The export: an xAPI StatementResult, audited.
        resp = await staff.get(f"{base}/statements")
        assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
        assert "attachment" in resp.headers["Content-Disposition"]
        exported = await resp.json()
        assert exported["more"] == ""
        assert [s["verb"]["id"] for s in exported["statements"]] == [
            VERB + "launched",
            VERB + "experienced",
        ]
        for s in exported["statements"]:
            assert {"id", "actor", "verb", "object", "timestamp", "version"} <= set(s)
            assert s["object"]["id"].startswith(services.settings.base_url() + "/learning/")
        entries = [e.record for e in await services.documents.audit.entries()]
        export = [e for e in entries if e.action == Action.LEARNING_EXPORT]
        assert [(e.profile, e.actor, e.detail) for e in export] == [
            (profile, "becker", {"statements": 2})
        ]
        recommend = [e for e in entries if e.action == Action.LEARNING_RECOMMEND]
        assert [e.detail for e in recommend] == [{"module": "test-module", "change": "recommend"}]

        # The tablet's own module list is its own; a jobseeker cannot reach staff routes.
        assert (await tablet.get(base)).status == 401
        assert (await tablet.get(f"{base}/statements")).status == 401
        # Another profile sees nothing of this one's progress.
        other = (
            await staff.post("/api/profiles", json={"name": "Olena", "lang": "uk"}, headers=sh)
        ).json
        other_profile = (await other())["profile"]["id"]
        other_view = await (await staff.get(f"/api/profiles/{other_profile}/learning")).json()
        assert other_view["modules"][0]["progress"]["started"] is False
        assert other_view["modules"][0]["recommended"] is None
        assert (await (await staff.get("/api/profiles/j_nobody/learning")).json())[
            "code"
        ] == "not_found"

        resp = await staff.delete(f"{base}/recommendations/test-module", headers=sh)
        assert resp.status == 200
        resp = await staff.delete(f"{base}/recommendations/test-module", headers=sh)
        assert resp.status == 404
    finally:
        await tablet.close()


async def test_erasing_a_profile_erases_its_statements(
    staff: Client, fake_clock: FakeClock, services: Services
) -> None:
    tablet, setup = await signed_in_tablet(staff, fake_clock.now() + 86400)
    profile = setup["profile"]["id"]
    try:
        await post(tablet, f"{M}/launch", setup["space"])
        await staff.post(
            f"/api/profiles/{profile}/learning/recommendations",
            json={"module": "test-module"},
            headers=setup["staff"],
        )
        assert await services.learning.list_statements(profile)
        # Erasure waits for the appointment still to come: cancel it first.
        appointment = setup["appointment"]["id"]
        resp = await staff.post(f"/api/appointments/{appointment}/cancel", headers=setup["staff"])
        assert resp.status < 300, await resp.text()
        resp = await staff.delete(f"/api/profiles/{profile}", headers=setup["staff"])
        assert resp.status < 300, await resp.text()
        assert await services.learning.list_statements(profile) == []
        assert await services.learning.list_recommendations(profile) == []
        assert await services.learning.resume_points(profile) == {}
    finally:
        await tablet.close()


async def test_the_space_link_of_one_profile_never_reaches_anothers_records(
    staff: Client, fake_clock: FakeClock, services: Services
) -> None:
    tablet, setup = await signed_in_tablet(staff, fake_clock.now() + 86400)
    try:
        await post(tablet, f"{M}/launch", setup["space"])
        # A second profile and its own device.
        headers = setup["staff"]
        other = (
            await (
                await staff.post(
                    "/api/profiles", json={"name": "Olena", "lang": "uk"}, headers=headers
                )
            ).json()
        )["profile"]
        link = await (
            await staff.post(f"/api/profiles/{other['id']}/space-link", headers=headers)
        ).json()
        second = await device(staff)
        try:
            await open_link(second, "/s/" + link["url"].rsplit("/s/", 1)[1])
            mine = (await (await second.get("/api/space/learning")).json())["modules"]
            assert mine[0]["progress"]["started"] is False
            one = (await (await second.get(M)).json())["progress"]
            assert one["started"] is False and one["resume"] == "intro"
        finally:
            await second.close()
    finally:
        await tablet.close()


async def test_the_space_lists_modules_and_the_module_page_keeps_answers_secret(
    staff: Client, fake_clock: FakeClock
) -> None:
    tablet, setup = await signed_in_tablet(staff, fake_clock.now() + 86400)
    try:
        due = dt.date.fromtimestamp(fake_clock.now()) + dt.timedelta(days=30)
        resp = await staff.post(
            f"/api/profiles/{setup['profile']['id']}/learning/recommendations",
            json={"module": "test-module", "due": due.isoformat()},
            headers=setup["staff"],
        )
        assert resp.status == 201
        html = await (await tablet.get("/space?lang=de")).text()
        assert 'data-module="test-module"' in html and 'data-recommended="true"' in html
        assert "Von Ihrem Jobcenter empfohlen" in html
        assert format_date(due, "long", locale="de") in html
        html = await (await tablet.get("/space?lang=ar")).text()
        assert "وحدة تجريبية" in html  # the Arabic title
        resp = await tablet.get("/space/learning/test-module?lang=ar")
        assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
        html = await resp.text()
        assert 'dir="rtl"' in html and 'lang="en" dir="ltr"' in html
        assert 'src="/learning/media/test-module/media/clip.webm"' in html
        assert '<track kind="captions" srclang="en"' in html
        assert "Right, one." not in html and "correct" not in html.replace("data-result", "")
        assert (await tablet.get("/space/learning/nope")).status == 404
    finally:
        await tablet.close()


async def test_a_course_holds_a_bounded_number_of_records(
    staff: Client, fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recorder, "MAX_STATEMENTS_PER_MODULE", 2)
    tablet, setup = await signed_in_tablet(staff, fake_clock.now() + 86400)
    try:
        await post(tablet, f"{M}/launch", setup["space"])
        await post(tablet, f"{M}/launch", setup["space"])
        resp = await tablet.post(f"{M}/launch", headers=setup["space"])
        assert (resp.status, (await resp.json())["code"]) == (429, "rate_limited")
    finally:
        await tablet.close()
