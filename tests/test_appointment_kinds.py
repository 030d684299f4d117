"""In-person and phone appointments over a real app, on SQLite and PostgreSQL: scheduling for a
profile, bad inputs, no links or tokens (every join path refuses them), editing their fields,
marking attendance, the space's listing, the calendar file, and a childcare request naming one.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from core.audit import Action
from core.clock import FakeClock
from core.model import Appointment
from signalling.appointments import MAX_ADDRESS, MAX_BRING, MAX_PLACE, schedule
from signalling.context import Services
from tests.harness import appointment_body, login
from tests.test_ics import unfold
from tests.test_space import device, open_link

Client = TestClient[Any, Any]

PLACE = "Jobcenter Detmold, Raum 2.14"
ADDRESS = "Wittekindstraße 2; 32758 Detmold"
BRING = "Lebenslauf, Personalausweis"


@pytest.fixture
def backend_kind() -> str:
    return "memory"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, database_url: str) -> str:
    """The durable records on SQLite (conftest's file) or the session's PostgreSQL."""
    if request.param == "sqlite":
        return database_url
    value: str = request.getfixturevalue("postgres_url")
    return value


def in_person(now: float, profile_id: str, **changes: Any) -> dict[str, Any]:
    body = appointment_body(
        now,
        title="Vorstellungsgespräch",
        profile_id=profile_id,
        kind="in_person",
        place=PLACE,
        address=ADDRESS,
        bring=BRING,
    )
    body["participants"] = [{"role": "caseworker", "name": "Frau Becker", "lang": "de"}]
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


async def profile_with_space(staff: Client, lang: str = "tr") -> dict[str, Any]:
    csrf = await login(staff)
    headers = {"X-CSRF-Token": csrf}
    resp = await staff.post("/api/profiles", json={"name": "Ayşe", "lang": lang}, headers=headers)
    profile = (await resp.json())["profile"]
    link = await (
        await staff.post(f"/api/profiles/{profile['id']}/space-link", headers=headers)
    ).json()
    return {"headers": headers, "profile": profile, "path": "/s/" + link["url"].rsplit("/s/", 1)[1]}


async def post(staff: Client, setup: dict[str, Any], body: dict[str, Any]) -> Any:
    return await staff.post("/api/appointments", json=body, headers=setup["headers"])


async def test_in_person_for_a_profile_has_no_links(staff: Client, fake_clock: FakeClock) -> None:
    setup = await profile_with_space(staff)
    resp = await post(staff, setup, in_person(fake_clock.now() + 3600, setup["profile"]["id"]))
    assert resp.status == 201, await resp.text()
    data = await resp.json()
    shown = data["appointment"]
    assert data["join_urls"] == []
    assert (shown["kind"], shown["place"], shown["address"], shown["bring"]) == (
        "in_person",
        PLACE,
        ADDRESS,
        BRING,
    )
    assert shown["waiting_room"] is False
    listed = await (await staff.get("/api/appointments")).json()
    [one] = [a for a in listed["appointments"] if a["id"] == shown["id"]]
    assert one["kind"] == "in_person" and one["place"] == PLACE
    assert one["live"]["state"] == "not_started"
    phone = in_person(fake_clock.now() + 7200, setup["profile"]["id"], kind="phone")
    del phone["place"], phone["address"]
    resp = await post(staff, setup, phone)
    assert resp.status == 201, await resp.text()
    data = await resp.json()
    assert data["join_urls"] == [] and data["appointment"]["kind"] == "phone"
    # A video appointment is as before: links for everyone, kind "video", no place.
    video = appointment_body(fake_clock.now() + 3600)
    data = await (await post(staff, setup, video)).json()
    assert len(data["join_urls"]) == 3 and data["appointment"]["kind"] == "video"
    assert data["appointment"]["place"] == ""


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"kind": "carrier_pigeon"}, "kind"),
        ({"kind": 3}, "kind"),
        ({"place": None}, "place"),
        ({"place": "   "}, "place"),
        ({"address": None}, "address"),
        ({"place": "x" * (MAX_PLACE + 1)}, "place"),
        ({"address": "x" * (MAX_ADDRESS + 1)}, "address"),
        ({"bring": "x" * (MAX_BRING + 1)}, "bring"),
        ({"place": "Raum\u00002"}, "place"),
        ({"bring": "Pass\nLebenslauf"}, "bring"),
        ({"address": 12}, "address"),
        ({"kind": "video"}, "place"),  # a video appointment has no place
        ({"kind": "phone"}, "place"),  # by phone neither
    ],
)
async def test_bad_inputs_are_refused(
    staff: Client, fake_clock: FakeClock, changes: dict[str, Any], field: str
) -> None:
    setup = await profile_with_space(staff)
    body = in_person(fake_clock.now() + 3600, setup["profile"]["id"], **changes)
    for name, value in changes.items():
        if value is None:
            body.pop(name, None)
    resp = await post(staff, setup, body)
    assert resp.status == 400, await resp.text()
    answer = await resp.json()
    assert (answer["code"], answer.get("field")) == ("invalid", field)
    assert "error" in answer


async def test_every_join_path_refuses_them(
    staff: Client, fake_clock: FakeClock, services: Services
) -> None:
    setup = await profile_with_space(staff)
    now = fake_clock.now()
    data = await (await post(staff, setup, in_person(now, setup["profile"]["id"]))).json()
    aid = data["appointment"]["id"]
    headers = setup["headers"]
    # The host's join on her staff session.
    resp = await staff.post(f"/api/appointments/{aid}/host-join", json={}, headers=headers)
    assert (resp.status, (await resp.json())["code"]) == (409, "not_a_call")
    # A new link for a participant, and adding an interpreter (with a link of their own).
    pid = data["appointment"]["participants"][0]["id"]
    resp = await staff.post(
        f"/api/appointments/{aid}/participants/{pid}/reissue", json={}, headers=headers
    )
    assert (resp.status, (await resp.json())["code"]) == (409, "not_a_call")
    resp = await staff.post(
        f"/api/appointments/{aid}/participants",
        json={"role": "interpreter", "name": "Herr Haddad", "lang": "ar"},
        headers=headers,
    )
    assert resp.status == 409
    # The room's controls: ending the call, letting in, writing to the waiting room.
    for action, body in [
        ("end", {}),
        ("admit", {"participant": pid}),
        ("deny", {"participant": pid}),
        ("lobby_message", {"text": "Ich komme später"}),
    ]:
        resp = await staff.post(f"/api/appointments/{aid}/{action}", json=body, headers=headers)
        assert (resp.status, (await resp.json())["code"]) == (409, "not_a_call"), action
    # The space's join, inside the window.
    tablet = await device(staff)
    try:
        await open_link(tablet, setup["path"])
        html = await (await tablet.get("/space")).text()
        assert f'href="/space/join/{aid}"' not in html
        resp = await tablet.get(f"/space/join/{aid}", allow_redirects=False)
        assert (resp.status, resp.headers["Location"]) == (303, "/space")
        csrf = html.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        resp = await tablet.post(
            f"/api/space/appointments/{aid}/join",
            json={"consent": True},
            headers={"X-CSRF-Token": csrf},
        )
        assert (resp.status, (await resp.json())["code"]) == (409, "not_a_call")
        # An invite code (never handed out for these: made here directly) gets no token.
        direct = in_person(now, "j_x") | {"profile_id": None}
        direct["participants"] = [
            {"role": "caseworker", "name": "Frau Becker", "lang": "de"},
            {"role": "jobseeker", "name": "Ayşe", "lang": "tr"},
        ]
        scheduled = schedule(direct, now=now, settings=services.settings, created_by="becker")
        await services.appointments.put_appointment(scheduled.appointment)
        code = next(iter(scheduled.codes.values()))
        resp = await staff.post("/api/join", json={"code": code, "consent": True})
        answer = await resp.json()
        assert (resp.status, answer["code"], answer["kind"]) == (409, "not_a_call", "in_person")
        assert "token" not in answer
    finally:
        await tablet.close()


async def test_editing_keeps_the_kind_and_its_fields_editable(
    staff: Client, fake_clock: FakeClock
) -> None:
    setup = await profile_with_space(staff)
    data = await (
        await post(staff, setup, in_person(fake_clock.now() + 3600, setup["profile"]["id"]))
    ).json()
    aid = data["appointment"]["id"]
    headers = setup["headers"]
    resp = await staff.patch(
        f"/api/appointments/{aid}",
        json={"place": "Jobcenter Lemgo, Raum 1", "bring": ""},
        headers=headers,
    )
    assert resp.status == 200, await resp.text()
    edited = await resp.json()
    assert edited["changed"] == ["bring", "place"]
    assert edited["appointment"]["place"] == "Jobcenter Lemgo, Raum 1"
    assert edited["appointment"]["bring"] == "" and edited["appointment"]["address"] == ADDRESS
    for body, field in [
        ({"kind": "video"}, "kind"),
        ({"place": ""}, "place"),
        ({"address": "x" * (MAX_ADDRESS + 1)}, "address"),
        ({"waiting_room": True}, "waiting_room"),
    ]:
        resp = await staff.patch(f"/api/appointments/{aid}", json=body, headers=headers)
        answer = await resp.json()
        assert (resp.status, answer.get("field")) == (400, field), body
    # A video appointment takes no place.
    video = await (await post(staff, setup, appointment_body(fake_clock.now() + 3600))).json()
    resp = await staff.patch(
        f"/api/appointments/{video['appointment']['id']}", json={"place": "x"}, headers=headers
    )
    assert (resp.status, (await resp.json())["field"]) == (400, "place")


async def test_attendance_is_marked_by_the_caseworker(
    staff: Client, fake_clock: FakeClock, services: Services
) -> None:
    setup = await profile_with_space(staff)
    body = in_person(fake_clock.now() + 600, setup["profile"]["id"])
    aid = (await (await post(staff, setup, body)).json())["appointment"]["id"]
    headers = setup["headers"]
    path = f"/api/appointments/{aid}/attendance"
    resp = await staff.post(path, json={"attended": True}, headers=headers)
    assert (resp.status, (await resp.json())["code"]) == (409, "conflict")  # not started yet
    for bad in ({}, {"attended": "yes"}, {"attended": True, "who": "x"}, []):
        resp = await staff.post(path, json=bad, headers=headers)
        assert (resp.status, (await resp.json())["field"]) == (400, "attended")
    assert (await staff.post(path, json={"attended": True})).status == 403  # no CSRF token
    fake_clock.advance(700)
    assert (await staff.post(path, json={"attended": True}, headers=headers)).status == 200
    got = await (await staff.get(f"/api/appointments/{aid}")).json()
    assert got["appointment"]["live"]["state"] == "attended"
    assert [e["event"] for e in got["attendance"]] == ["attended"]
    fake_clock.advance(5)
    assert (await staff.post(path, json={"attended": False}, headers=headers)).status == 200
    got = await (await staff.get(f"/api/appointments/{aid}")).json()
    assert got["appointment"]["live"]["state"] == "no_show"
    fake_clock.advance(3600)  # over and unmarked: to be marked
    other = in_person(fake_clock.now() - 1800, setup["profile"]["id"])
    other["ends_at"] = fake_clock.now() + 1  # (scheduling wants a window not yet over)
    oid = (await (await post(staff, setup, other)).json())["appointment"]["id"]
    fake_clock.advance(10)
    got = await (await staff.get(f"/api/appointments/{oid}")).json()
    assert got["appointment"]["live"]["state"] == "to_mark"
    # Ids only in the audit trail.
    entries = await services.documents.audit.for_profile(setup["profile"]["id"])
    marks = [e.record for e in entries if e.record.action == Action.APPOINTMENT_ATTENDANCE]
    assert [dict(r.detail) for r in marks] == [{"event": "absent"}, {"event": "attended"}]
    assert all(r.appointment == aid and r.actor == "becker" for r in marks)
    # A video appointment's attendance is its room's.
    video = await (await post(staff, setup, appointment_body(fake_clock.now()))).json()
    resp = await staff.post(
        f"/api/appointments/{video['appointment']['id']}/attendance",
        json={"attended": True},
        headers=headers,
    )
    assert (resp.status, (await resp.json())["code"]) == (409, "not_a_call")


async def test_space_lists_them_and_the_calendar_file_says_where(
    staff: Client, fake_clock: FakeClock
) -> None:
    setup = await profile_with_space(staff, lang="de")
    pid = setup["profile"]["id"]
    start = fake_clock.now() + 86400
    visit = (await (await post(staff, setup, in_person(start, pid))).json())["appointment"]
    phone_body = in_person(start + 7200, pid, kind="phone", bring="Bescheid vom 3. November")
    del phone_body["place"], phone_body["address"]
    call = (await (await post(staff, setup, phone_body)).json())["appointment"]
    tablet = await device(staff)
    try:
        await open_link(tablet, setup["path"])
        html = await (await tablet.get("/space")).text()
        assert "Vor Ort" in html and "Bitte mitbringen" in html
        assert PLACE in html and "Wittekindstraße 2; 32758 Detmold" in html
        assert "Lebenslauf, Personalausweis" in html
        assert "Telefonisch" in html and "Das Jobcenter ruft Sie" in html
        assert f"/space/join/{visit['id']}" not in html and f"/space/join/{call['id']}" not in html
        assert f"/space/appointments/{visit['id']}/calendar.ics" in html
        arabic = await (await tablet.get("/space", params={"lang": "ar"})).text()
        assert "حضوريًا" in arabic and "يُرجى إحضار" in arabic and 'dir="rtl"' in arabic

        resp = await tablet.get(f"/space/appointments/{visit['id']}/calendar.ics")
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/calendar")
        lines = unfold(await resp.text())
        assert "LOCATION:Jobcenter Detmold\\, Raum 2.14\\, Wittekindstraße 2\\; 32758 Detmold" in (
            lines
        )
        [description] = [line for line in lines if line.startswith("DESCRIPTION:")]
        assert "Bitte mitbringen: Lebenslauf\\, Personalausweis" in description
        assert "Vor Ort: Jobcenter Detmold" in description
        assert not any(line.startswith("URL:") for line in lines)  # nothing to join
        assert "SUMMARY:Vorstellungsgespräch" in lines

        lines = unfold(
            await (await tablet.get(f"/space/appointments/{call['id']}/calendar.ics")).text()
        )
        [description] = [line for line in lines if line.startswith("DESCRIPTION:")]
        assert "Telefonisch: Das Jobcenter ruft Sie" in description
        assert "Bitte bereithalten: Bescheid vom 3. November" in description
        assert not any(line.startswith(("LOCATION:", "URL:")) for line in lines)
    finally:
        await tablet.close()


async def test_childcare_names_an_in_person_appointment(
    staff: Client, fake_clock: FakeClock
) -> None:
    setup = await profile_with_space(staff, lang="uk")
    body = in_person(fake_clock.now() + 86400, setup["profile"]["id"])
    aid = (await (await post(staff, setup, body)).json())["appointment"]["id"]
    tablet = await device(staff)
    try:
        await open_link(tablet, setup["path"])
        html = await (await tablet.get("/space")).text()
        assert f'<option value="{aid}">' in html and PLACE in html
        csrf = html.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        resp = await tablet.post(
            "/api/space/help",
            json={"kind": "childcare", "appointment": aid, "child_ages": [3], "text": ""},
            headers={"X-CSRF-Token": csrf},
        )
        assert resp.status == 201, await resp.text()
        inbox = await (await staff.get("/api/help")).json()
        [request] = inbox["requests"]
        assert request["appointment"] == aid
        window = request["appointment_window"]
        assert (window["kind"], window["place"], window["address"]) == (
            "in_person",
            PLACE,
            ADDRESS,
        )
    finally:
        await tablet.close()


async def test_the_store_keeps_the_kind(services: Services, fake_clock: FakeClock) -> None:
    now = fake_clock.now()
    body = in_person(now + 60, "j_x") | {"profile_id": None}
    body["participants"] = [
        {"role": "caseworker", "name": "Frau Becker", "lang": "de"},
        {"role": "jobseeker", "name": "Ayşe", "lang": "tr"},
    ]
    made = schedule(body, now=now, settings=services.settings, created_by="becker").appointment
    await services.appointments.put_appointment(made)
    got = await services.appointments.get_appointment(made.id)
    assert got == made
    assert Appointment.from_dict(made.to_dict()) == made
