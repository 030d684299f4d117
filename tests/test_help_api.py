"""Help requests over a real app: asked from the space, answered in the console's inbox,
seen again in the space; bad inputs, limits, another profile's request, the audit trail, and
retention with a driven clock."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from core.audit import Action
from core.clock import FakeClock
from signalling.context import Services
from signalling.help import MAX_OPEN, MAX_TEXT
from signalling.retention import purge_help_requests
from tests.test_space import device, open_link, set_up

Client = TestClient[Any, Any]


@pytest.fixture
def backend_kind() -> str:
    return "memory"


async def space_csrf(tablet: Client) -> dict[str, str]:
    html = await (await tablet.get("/space")).text()
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match
    return {"X-CSRF-Token": match.group(1)}


async def signed_in_tablet(staff: Client, now: float) -> tuple[Client, dict[str, Any]]:
    setup = await set_up(staff, now)
    tablet = await device(staff)
    await open_link(tablet, setup["path"])
    setup["space"] = await space_csrf(tablet)
    setup["staff"] = {"X-CSRF-Token": setup["csrf"]}
    return tablet, setup


def childcare(appointment: str, **changes: Any) -> dict[str, Any]:
    return {
        "kind": "childcare",
        "appointment": appointment,
        "child_ages": [2, 6],
        "text": "Die Kleine schläft mittags.",
        **changes,
    }


async def test_childcare_asked_answered_and_seen(
    staff: Client, fake_clock: FakeClock, services: Services
) -> None:
    tablet, setup = await signed_in_tablet(staff, fake_clock.now() + 86400)
    try:
        appointment = setup["appointment"]["id"]
        resp = await tablet.post(
            "/api/space/help", json=childcare(appointment), headers=setup["space"]
        )
        assert resp.status == 201, await resp.text()
        mine = (await resp.json())["request"]
        assert (mine["kind"], mine["status"], mine["child_ages"]) == ("childcare", "open", [2, 6])
        rid = mine["id"]

        inbox = (await (await staff.get("/api/help")).json())["requests"]
        assert [r["id"] for r in inbox] == [rid]
        assert inbox[0]["new"] and inbox[0]["profile_name"] == "Ayşe"
        assert inbox[0]["appointment_window"]["starts_at"] == setup["appointment"]["starts_at"]

        base = f"/api/help/{rid}"
        answer = {"kind": "answer", "text": "Wir haben einen Platz gefunden."}
        resp = await staff.post(f"{base}/replies", json=answer, headers=setup["staff"])
        assert resp.status == 201, await resp.text()
        note = {"kind": "note", "text": "Kita Sonnenschein, Lange Str. 3, 8:30"}
        assert (
            await staff.post(f"{base}/replies", json=note, headers=setup["staff"])
        ).status == 201
        resp = await staff.post(
            f"{base}/status", json={"status": "arranged"}, headers=setup["staff"]
        )
        assert resp.status == 200
        assert (await resp.json())["request"]["new"] is False

        seen = (await (await tablet.get("/api/space/help")).json())["requests"]
        assert seen[0]["status"] == "arranged"
        assert [(r["kind"], r["text"]) for r in seen[0]["replies"]] == [
            ("answer", answer["text"]),
            ("note", note["text"]),
        ]
        assert "author" not in seen[0]["replies"][0]  # which caseworker stays in the console
        one = await (await tablet.get(f"/api/space/help/{rid}")).json()
        assert one["request"]["status"] == "arranged"
        # The space page shows it in the profile's language (Turkish), or the one picked.
        html = await (await tablet.get("/space")).text()
        assert 'data-status="arranged"' in html and "Ayarlandı" in html  # noqa: RUF001
        assert "Kita Sonnenschein, Lange Str. 3, 8:30" in html
        assert "Çocukların yaşları: 2, 6" in html  # noqa: RUF001
        html = await (await tablet.get("/space?lang=uk")).text()
        assert "Організовано" in html and "Що організовано" in html
        html = await (await tablet.get("/space?lang=ar")).text()
        assert 'dir="rtl"' in html and "تم الترتيب" in html

        entries = [e.record for e in await services.documents.audit.entries()]
        help_entries = [e for e in entries if str(e.action).startswith("help.")]
        assert [e.action for e in help_entries] == [
            Action.HELP_REQUEST,
            Action.HELP_ANSWER,
            Action.HELP_NOTE,
            Action.HELP_STATUS,
        ]
        assert all(e.subject == rid and e.profile == setup["profile"]["id"] for e in help_entries)
        assert help_entries[0].actor_role == "jobseeker"
        assert help_entries[-1].detail == {
            "kind": "childcare",
            "before": "open",
            "after": "arranged",
        }
        # Ids and codes only: none of the free text reaches the trail.
        for e in help_entries:
            assert "Kita" not in repr(e) and "Platz" not in repr(e) and "mittags" not in repr(e)
    finally:
        await tablet.close()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "babysitting", "text": "x"}, "kind"),
        ({"kind": "transport"}, "text"),
        ({"kind": "transport", "text": "   "}, "text"),
        ({"kind": "transport", "text": "x" * (MAX_TEXT + 1)}, "text"),
        ({"kind": "other", "text": "bad\x00char"}, "text"),
        ({"kind": "other", "text": 5}, "text"),
        ({"kind": "transport", "text": "x", "appointment": "a"}, "kind"),
        ({"kind": "childcare", "child_ages": [3]}, "appointment"),
        ({"kind": "childcare", "appointment": "a_other", "child_ages": [3]}, "appointment"),
        ("APPOINTMENT", "child_ages"),  # no ages
        ({"kind": "childcare", "appointment": "APPOINTMENT", "child_ages": []}, "child_ages"),
        ({"kind": "childcare", "appointment": "APPOINTMENT", "child_ages": [18]}, "child_ages"),
        ({"kind": "childcare", "appointment": "APPOINTMENT", "child_ages": [True]}, "child_ages"),
        ({"kind": "childcare", "appointment": "APPOINTMENT", "child_ages": [1] * 11}, "child_ages"),
        ({"kind": "other", "text": "x", "name": "Ayşe"}, None),
        ([1, 2], None),
    ],
)
async def test_bad_requests_are_refused(
    staff: Client, fake_clock: FakeClock, body: Any, field: str | None
) -> None:
    tablet, setup = await signed_in_tablet(staff, fake_clock.now() + 3600)
    try:
        appointment = setup["appointment"]["id"]
        if body == "APPOINTMENT":
            body = {"kind": "childcare", "appointment": appointment}
        elif isinstance(body, dict) and body.get("appointment") == "APPOINTMENT":
            body = {**body, "appointment": appointment}
        resp = await tablet.post("/api/space/help", json=body, headers=setup["space"])
        assert resp.status == 400, await resp.text()
        error = await resp.json()
        assert error["code"] == "invalid" and error["error"]
        assert error.get("field") == field
        assert (await (await tablet.get("/api/space/help")).json())["requests"] == []
    finally:
        await tablet.close()


async def test_space_side_needs_a_session_csrf_and_json(
    staff: Client, fake_clock: FakeClock
) -> None:
    tablet, setup = await signed_in_tablet(staff, fake_clock.now() + 3600)
    stranger = await device(staff)
    try:
        body = {"kind": "technical", "text": "Das Tablet lädt nicht."}
        resp = await stranger.post("/api/space/help", json=body, headers=setup["space"])
        assert (resp.status, (await resp.json())["code"]) == (401, "space_signed_out")
        resp = await tablet.post("/api/space/help", json=body, headers={"X-CSRF-Token": "0" * 32})
        assert (resp.status, (await resp.json())["code"]) == (403, "csrf")
        resp = await tablet.post("/api/space/help", data="kind=x", headers=setup["space"])
        assert resp.status == 415
        resp = await tablet.post(
            "/api/space/help",
            data="{no json",
            headers={**setup["space"], "Content-Type": "application/json"},
        )
        assert (resp.status, (await resp.json())["code"]) == (400, "bad_json")
        # The staff side is not open to a space session.
        assert (await tablet.get("/api/help")).status == 401
    finally:
        await tablet.close()
        await stranger.close()


async def test_open_requests_per_profile_are_limited(staff: Client, fake_clock: FakeClock) -> None:
    tablet, setup = await signed_in_tablet(staff, fake_clock.now() + 3600)
    try:
        body = {"kind": "other", "text": "Frage"}
        for _ in range(MAX_OPEN):
            resp = await tablet.post("/api/space/help", json=body, headers=setup["space"])
            assert resp.status == 201
        resp = await tablet.post("/api/space/help", json=body, headers=setup["space"])
        assert (resp.status, (await resp.json())["code"]) == (429, "rate_limited")
    finally:
        await tablet.close()


async def test_another_profiles_request_is_not_found(staff: Client, fake_clock: FakeClock) -> None:
    first, one = await signed_in_tablet(staff, fake_clock.now() + 3600)
    second, two = await signed_in_tablet(staff, fake_clock.now() + 7200)
    try:
        resp = await first.post(
            "/api/space/help",
            json={"kind": "interpreter", "text": "Arabisch"},
            headers=one["space"],
        )
        rid = (await resp.json())["request"]["id"]
        resp = await second.get(f"/api/space/help/{rid}")
        assert (resp.status, (await resp.json())["code"]) == (404, "not_found")
        assert (await (await second.get("/api/space/help")).json())["requests"] == []
        # Childcare for the first profile's appointment, asked from the second: refused.
        body = childcare(one["appointment"]["id"])
        resp = await second.post("/api/space/help", json=body, headers=two["space"])
        assert (resp.status, (await resp.json())["field"]) == (400, "appointment")
        for bad in ("h_nope", "x" * 300, "h_" + "0" * 24):
            assert (await first.get(f"/api/space/help/{bad}")).status == 404
            assert (await staff.get(f"/api/help/{bad}")).status == 404
    finally:
        await first.close()
        await second.close()


async def test_staff_side_refuses_bad_input(staff: Client, fake_clock: FakeClock) -> None:
    tablet, setup = await signed_in_tablet(staff, fake_clock.now() + 3600)
    try:
        resp = await tablet.post(
            "/api/space/help", json={"kind": "transport", "text": "Bus"}, headers=setup["space"]
        )
        base = "/api/help/" + (await resp.json())["request"]["id"]
        h = setup["staff"]
        cases: list[tuple[str, Any, str | None]] = [
            ("replies", {"kind": "shout", "text": "x"}, "kind"),
            ("replies", {"kind": "answer", "text": ""}, "text"),
            ("replies", {"kind": "answer", "text": "x" * (MAX_TEXT + 1)}, "text"),
            ("replies", {"text": "x", "to": "all"}, None),
            ("status", {"status": "done"}, "status"),
            ("status", {}, "status"),
        ]
        for path, body, field in cases:
            resp = await staff.post(f"{base}/{path}", json=body, headers=h)
            assert resp.status == 400, (path, body)
            assert (await resp.json()).get("field") == field
        forged = await staff.post(f"{base}/status", json={"status": "arranged"})
        assert (forged.status, (await forged.json())["code"]) == (403, "csrf")
        assert (await staff.get("/api/help?status=nope")).status == 400
        # An answer without a kind is an answer; the filter finds the request by status.
        assert (await staff.post(f"{base}/replies", json={"text": "ok"}, headers=h)).status == 201
        resp = await staff.post(f"{base}/status", json={"status": "in_progress"}, headers=h)
        assert resp.status == 200
        found = (await (await staff.get("/api/help?status=in_progress")).json())["requests"]
        assert [r["replies"][0]["kind"] for r in found] == ["answer"]
        assert (await (await staff.get("/api/help?status=open")).json())["requests"] == []
    finally:
        await tablet.close()


async def test_retention_deletes_closed_requests_after_the_period(
    staff: Client, fake_clock: FakeClock, services: Services
) -> None:
    tablet, setup = await signed_in_tablet(staff, fake_clock.now() + 3600)
    try:
        ids = []
        for text in ("erledigt", "offen"):
            resp = await tablet.post(
                "/api/space/help", json={"kind": "other", "text": text}, headers=setup["space"]
            )
            ids.append((await resp.json())["request"]["id"])
        await staff.post(
            f"/api/help/{ids[0]}/status", json={"status": "declined"}, headers=setup["staff"]
        )
        period = services.settings.help_retention_days * 86400
        fake_clock.advance(period - 60)
        assert await purge_help_requests(services) == 0
        fake_clock.advance(120)
        assert await purge_help_requests(services) == 1
        left = [r.id for r in await services.help.list_help_requests()]
        assert left == [ids[1]]  # still open: kept until a caseworker closes it
        expired = [
            e.record
            for e in await services.documents.audit.entries()
            if e.record.action == Action.HELP_EXPIRE
        ]
        assert [(e.subject, e.actor_role) for e in expired] == [(ids[0], "system")]
    finally:
        await tablet.close()
