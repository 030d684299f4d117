"""The caseworker's view of regular participation: per module, who it is recommended to and
who is behind (overdue, or never opened two weeks on); per jobseeker, next to their learning,
the appointments of the last half year attended or missed."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from core.clock import FakeClock
from core.learning.records import Recommendation
from core.model import AttendanceEvent, AttendanceKind
from signalling.context import Services
from signalling.learning.behind import NOT_STARTED_AFTER, Behind, behind
from signalling.learning.progress import ModuleProgress, Status
from tests.harness import appointment_body, login
from tests.test_help_api import signed_in_tablet

Client = TestClient[Any, Any]
DAY = 86400.0
TODAY = dt.date(2026, 12, 1)
NOW = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC).timestamp()


pytestmark = pytest.mark.usefixtures("test_module_dir")


@pytest.fixture
def backend_kind() -> str:
    return "memory"


def rec(due: str | None = None, days_ago: float = 1) -> Recommendation:
    return Recommendation("j_1", "m", "becker", NOW - days_ago * DAY, due)


NEW = ModuleProgress("m")
STARTED = ModuleProgress("m", Status.STARTED, started_at=NOW - DAY)
PASSED = ModuleProgress("m", Status.PASSED, started_at=NOW - DAY, completed_at=NOW)
FAILED = ModuleProgress("m", Status.FAILED, started_at=NOW - DAY, completed_at=NOW)


def test_who_is_behind() -> None:
    yesterday, tomorrow = "2026-11-30", "2026-12-02"
    assert behind(rec(yesterday), STARTED, TODAY, NOW) == Behind.OVERDUE
    assert behind(rec(yesterday), FAILED, TODAY, NOW) == Behind.OVERDUE  # not done yet
    assert behind(rec(yesterday), PASSED, TODAY, NOW) is None
    assert behind(rec("2026-12-01"), NEW, TODAY, NOW) is None  # due today: still in time
    assert behind(rec(tomorrow), STARTED, TODAY, NOW) is None
    # Never opened: behind once two weeks have gone by, with a later due date or none.
    assert behind(rec(None, NOT_STARTED_AFTER - 1), NEW, TODAY, NOW) is None
    assert behind(rec(None, NOT_STARTED_AFTER), NEW, TODAY, NOW) == Behind.NOT_STARTED
    assert behind(rec(tomorrow, NOT_STARTED_AFTER), NEW, TODAY, NOW) == Behind.NOT_STARTED
    assert behind(rec(None, NOT_STARTED_AFTER), STARTED, TODAY, NOW) is None
    assert behind(rec(None, 400), PASSED, TODAY, NOW) is None


async def test_module_learners_and_attendance(
    staff: Client, fake_clock: FakeClock, services: Services
) -> None:
    now = fake_clock.now()
    tablet, setup = await signed_in_tablet(staff, now + 60)
    sh = setup["staff"]
    ayse = setup["profile"]["id"]
    try:
        other = await staff.post("/api/profiles", json={"name": "Olena", "lang": "uk"}, headers=sh)
        olena = (await other.json())["profile"]["id"]
        due = (dt.datetime.fromtimestamp(now) + dt.timedelta(days=3)).date().isoformat()
        for profile, body in (
            (ayse, {"module": "test-module", "due": due}),
            (olena, {"module": "test-module"}),
        ):
            resp = await staff.post(
                f"/api/profiles/{profile}/learning/recommendations", json=body, headers=sh
            )
            assert resp.status == 201, await resp.text()
        # A second appointment for Ayşe, two hours on; she comes to the first only.
        body = appointment_body(now + 7200, title="Zweites Gespräch", profile_id=ayse)
        body["participants"] = [{"role": "caseworker", "name": "Frau Becker", "lang": "de"}]
        second = await staff.post("/api/appointments", json=body, headers=sh)
        assert second.status == 201, await second.text()
        # and an in-person one a day on, which the caseworker marks as missed
        body = appointment_body(
            now + 86400,
            title="Vor Ort",
            profile_id=ayse,
            kind="in_person",
            place="Jobcenter Detmold",
            address="Wittekindstraße 2, 32758 Detmold",
            waiting_room=False,
        )
        body["participants"] = [{"role": "caseworker", "name": "Frau Becker", "lang": "de"}]
        in_person = await staff.post("/api/appointments", json=body, headers=sh)
        assert in_person.status == 201, await in_person.text()
        in_person_id = (await in_person.json())["appointment"]["id"]
        first = setup["appointment"]
        seeker = next(p["id"] for p in first["participants"] if p["role"] == "jobseeker")
        await services.appointments.add_attendance(
            AttendanceEvent(first["id"], seeker, AttendanceKind.JOINED, now + 120)
        )

        url = "/api/learning/modules/test-module/learners"
        resp = await staff.get(url)
        assert resp.status == 200, await resp.text()
        listed = await resp.json()
        assert [(x["name"], x["behind"]) for x in listed["learners"]] == [
            ("Ayşe", None),
            ("Olena", None),
        ]
        assert listed["behind"] == 0

        # Four days on: Ayşe's due date has passed; a fortnight on, Olena never opened it.
        await tablet.post(
            "/api/space/learning/test-module/launch", json=None, headers=setup["space"]
        )
        fake_clock.advance(4 * DAY)
        sh = {"X-CSRF-Token": await login(staff)}  # the console's session lapsed meanwhile
        listed = await (await staff.get(url)).json()
        assert [(x["name"], x["behind"]) for x in listed["learners"]] == [
            ("Ayşe", "overdue"),
            ("Olena", None),
        ]
        ayses = listed["learners"][0]
        assert ayses["progress"]["started"] and ayses["recommended"]["due"] == due
        fake_clock.advance(NOT_STARTED_AFTER * DAY)
        sh = {"X-CSRF-Token": await login(staff)}
        listed = await (await staff.get(url)).json()
        assert {x["name"]: x["behind"] for x in listed["learners"]} == {
            "Ayşe": "overdue",
            "Olena": "not_started",
        }
        assert listed["behind"] == 2

        path = f"/api/profiles/{ayse}/learning"
        attendance = (await (await staff.get(path)).json())["attendance"]
        assert (attendance["appointments"], attendance["attended"], attendance["unmarked"]) == (
            2,
            1,
            1,
        )
        assert [(v["title"], v["attended"]) for v in attendance["recent"]] == [
            ("Vor Ort", None),  # not marked yet
            ("Zweites Gespräch", False),
            ("Beratung Ayşe", True),
        ]
        mark = await staff.post(
            f"/api/appointments/{in_person_id}/attendance", json={"attended": False}, headers=sh
        )
        assert mark.status == 200, await mark.text()
        attendance = (await (await staff.get(path)).json())["attendance"]
        assert (attendance["appointments"], attendance["attended"], attendance["missed"]) == (
            3,
            1,
            2,
        )
        assert attendance["recent"][0]["kind"] == "in_person"
        assert attendance["recent"][0]["attended"] is False
        olenas = (await (await staff.get(f"/api/profiles/{olena}/learning")).json())["attendance"]
        assert olenas["appointments"] == 0

        # Bad inputs and who may ask.
        missing = await staff.get("/api/learning/modules/nope/learners")
        assert missing.status == 404 and (await missing.json())["code"] == "not_found"
        assert (await staff.get("/api/learning/modules/" + "x" * 80 + "/learners")).status == 404
        assert (await tablet.get(url)).status == 401
        # An erased profile drops out of the list.
        gone = await staff.delete(f"/api/profiles/{olena}", headers=sh)
        assert gone.status in (200, 204), await gone.text()
        listed = await (await staff.get(url)).json()
        assert [x["name"] for x in listed["learners"]] == ["Ayşe"]
    finally:
        await tablet.close()
