"""Rescheduling and editing an appointment without new links, the console list's search and
filters, and a participant's invitation (text and calendar file) in their language: over a
real app (with its pages) on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from core.audit import Action
from core.clock import FakeClock
from core.model import StaffUser
from signalling.auth.staff import SESSION_COOKIE, hash_password
from signalling.context import Services
from tests.harness import (
    STAFF_USER,
    RoomClient,
    appointment_body,
    login,
    make_backend,
    make_services,
    schedule,
)

Client = TestClient[Any, Any]
HOUR = 3600.0
OTHER_USER, OTHER_PASSWORD = "krause", "another correct horse"


@pytest.fixture
async def services(tmp_path: Path, fake_clock: FakeClock, url: str) -> AsyncIterator[Services]:
    """Records on SQLite or PostgreSQL (`url`), ephemeral state in memory."""
    stores, bus = await make_backend("memory", fake_clock, None, url)
    yield await make_services(tmp_path, fake_clock, stores, bus)
    await bus.close()
    await stores.close()


async def _scheduled(client: Client, now: float, **overrides: Any) -> dict[str, Any]:
    csrf = await login(client)
    created = await schedule(client, csrf, appointment_body(now, **overrides))
    created["csrf"] = csrf
    return created


async def _patch(client: Client, created: dict[str, Any], body: Any) -> Any:
    aid = created["appointment"]["id"]
    return await client.patch(
        f"/api/appointments/{aid}", json=body, headers={"X-CSRF-Token": created["csrf"]}
    )


async def _join(client: Client, code: str) -> Any:
    return await client.post("/api/join", json={"code": code, "consent": True})


async def test_reschedule_keeps_links_and_moves_their_window(
    staff: Client, services: Services, fake_clock: FakeClock
) -> None:
    now = fake_clock.now()
    created = await _scheduled(staff, now + HOUR)
    aid = created["appointment"]["id"]
    code = created["codes"]["jobseeker"]
    jid = created["ids"]["jobseeker"]
    early = await _join(staff, code)  # 15 minutes early join margin: not yet
    assert early.status == 425
    new_start = now + 5 * HOUR
    resp = await _patch(
        staff,
        created,
        {
            "title": "Beratung (verschoben)",
            "starts_at": new_start,
            "ends_at": new_start + 2700,
            "participants": [{"id": jid, "name": "Ayşe Demir", "lang": "ar"}],
        },
    )
    assert resp.status == 200, await resp.text()
    data = await resp.json()
    assert data["changed"] == ["participants", "title", "window"]
    shown = data["appointment"]
    assert (shown["starts_at"], shown["ends_at"]) == (new_start, new_start + 2700)
    assert {p["id"]: (p["name"], p["lang"]) for p in shown["participants"]}[jid] == (
        "Ayşe Demir",
        "ar",
    )
    assert "join_urls" not in data  # no new links
    # In the old window the (unchanged) link no longer opens ...
    fake_clock.set(now + HOUR + 60)
    assert (await _join(staff, code)).status == 425
    # ... in the new one it does, and the room accepts its token.
    fake_clock.set(new_start + 60)
    joined = await _join(staff, code)
    assert joined.status == 200, await joined.text()
    body = await joined.json()
    assert body["participant"]["lang"] == "ar" and body["participant"]["name"] == "Ayşe Demir"
    room = await RoomClient.connect(staff, body["token"])
    await room.expect("waiting")
    await room.close()
    # ... and not after the new end.
    fake_clock.set(new_start + 2700 + 1)
    assert (await _join(staff, code)).status == 410
    # The audit trail notes the change by ids, without the title or names.
    entries = await services.documents.audit.entries()
    edits = [e.record for e in entries if e.record.action == Action.APPOINTMENT_EDIT]
    assert len(edits) == 1
    record = edits[0]
    assert (record.actor, record.appointment) == (STAFF_USER, aid)
    assert dict(record.detail) == {"changed": "participants.title.window"}
    assert "Demir" not in repr(record.canonical()) and "verschoben" not in repr(record.canonical())


async def test_tokens_of_the_old_window_are_void(staff: Client, fake_clock: FakeClock) -> None:
    now = fake_clock.now()
    created = await _scheduled(staff, now)
    token = (await (await _join(staff, created["codes"]["employer"])).json())["token"]
    fake_clock.advance(5)
    resp = await _patch(staff, created, {"starts_at": now + 60, "ends_at": now + 1800})
    assert resp.status == 200
    fake_clock.advance(5)
    room = await RoomClient.connect(staff, token)
    closed = await room.closed()
    assert closed is not None and closed >= 4000
    # The same link mints a token that works.
    fresh = (await (await _join(staff, created["codes"]["employer"])).json())["token"]
    again = await RoomClient.connect(staff, fresh)
    await again.expect("waiting")
    await again.close()


async def test_notes_are_for_staff_only(staff: Client, fake_clock: FakeClock) -> None:
    now = fake_clock.now()
    created = await _scheduled(staff, now, notes="Dolmetscherin angefragt")
    assert created["appointment"]["notes"] == "Dolmetscherin angefragt"
    resp = await _patch(staff, created, {"notes": "Lebenslauf mitbringen\r\nZeugnisse\tbitte"})
    assert (await resp.json())["changed"] == ["notes"]
    listed = await (await staff.get("/api/appointments")).json()
    assert listed["appointments"][0]["notes"] == "Lebenslauf mitbringen\nZeugnisse\tbitte"
    joined = await (await _join(staff, created["codes"]["jobseeker"])).json()
    assert "Lebenslauf" not in str(joined)


async def test_moving_only_the_start_keeps_the_length(staff: Client, fake_clock: FakeClock) -> None:
    now = fake_clock.now()
    created = await _scheduled(staff, now + HOUR)
    resp = await _patch(staff, created, {"starts_at": now + 2 * HOUR})
    shown = (await resp.json())["appointment"]
    assert (shown["starts_at"], shown["ends_at"]) == (now + 2 * HOUR, now + 2 * HOUR + 1800)
    same = await _patch(staff, created, {"title": "Beratung"})
    assert (await same.json())["changed"] == []


@pytest.mark.parametrize(
    "body, field, fragment",
    [
        ({"starts_at": "S+7200", "ends_at": "S+3600"}, "ends_at", "after starts_at"),
        ({"starts_at": "S-7200", "ends_at": "S-3600"}, "ends_at", "in the past"),
        ({"starts_at": "S", "ends_at": "S+50000"}, "ends_at", "12 hours"),
        ({"starts_at": "tomorrow"}, "starts_at", "ISO 8601"),
        ({"starts_at": "2026-12-01T10:00:00"}, "starts_at", "UTC offset"),
        ({"title": ""}, "title", "empty"),
        ({"title": "a\nb"}, "title", "control"),
        ({"waiting_room": "yes"}, "waiting_room", "true or false"),
        ({"notes": 5}, "notes", "string"),
        ({"notes": "x" * 2001}, "notes", "longer than 2000"),
        ({"notes": "bell\u0007"}, "notes", "control"),
        ({"status": "ended"}, None, "unknown fields: status"),
        ({}, None, "nothing to change"),
        ([1], None, "JSON object"),
        ({"participants": []}, "participants", "non-empty"),
        ({"participants": [{"id": "p_nobody"}]}, "participants[0]", "not a participant"),
        ({"participants": [{"id": "JS", "role": "employer"}]}, "participants[0]", "unknown"),
        ({"participants": [{"id": "JS", "lang": "fr"}]}, "participants[0].lang", "one of"),
        ({"participants": [{"id": "JS", "name": " "}]}, "participants[0].name", "empty"),
        ({"participants": [{"id": "JS"}, {"id": "JS"}]}, "participants[1]", "twice"),
    ],
)
async def test_bad_edits_are_refused(
    staff: Client, fake_clock: FakeClock, body: Any, field: str | None, fragment: str
) -> None:
    now = fake_clock.now()
    created = await _scheduled(staff, now + HOUR)
    start = now + HOUR

    def fill(value: Any) -> Any:
        if isinstance(value, str) and value.startswith("S"):
            return start + (float(value[1:]) if len(value) > 1 else 0.0)
        if value == "JS":
            return created["ids"]["jobseeker"]
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v) for v in value]
        return value

    resp = await _patch(staff, created, fill(body))
    assert resp.status == 400
    error = await resp.json()
    assert error["code"] == "invalid" and fragment in error["error"]
    assert error.get("field") == field
    unchanged = await staff.get(f"/api/appointments/{created['appointment']['id']}")
    assert (await unchanged.json())["appointment"]["starts_at"] == start


async def test_edits_refused_by_state_owner_and_session(
    staff: Client, services: Services, fake_clock: FakeClock
) -> None:
    now = fake_clock.now()
    created = await _scheduled(staff, now + HOUR)
    aid = created["appointment"]["id"]
    body = {"title": "Neu"}
    # no CSRF header, no session, wrong content type, unknown appointment
    assert (await staff.patch(f"/api/appointments/{aid}", json=body)).status == 403
    unknown = await _patch(staff, {**created, "appointment": {"id": "a_nothing"}}, body)
    assert unknown.status == 404 and (await unknown.json())["code"] == "not_found"
    text = await staff.patch(
        f"/api/appointments/{aid}", data="x", headers={"X-CSRF-Token": created["csrf"]}
    )
    assert text.status == 415
    # another caseworker's appointment
    await services.accounts.put_staff(
        StaffUser(OTHER_USER, "Herr Krause", hash_password(OTHER_PASSWORD), now)
    )
    other = await staff.post(
        "/api/login", json={"username": OTHER_USER, "password": OTHER_PASSWORD}
    )
    assert other.status == 200
    other_csrf = (await other.json())["csrf"]
    staff.session.cookie_jar.update_cookies({SESSION_COOKIE: other.cookies[SESSION_COOKIE].value})
    foreign = await staff.patch(
        f"/api/appointments/{aid}", json=body, headers={"X-CSRF-Token": other_csrf}
    )
    assert foreign.status == 403 and (await foreign.json())["code"] == "forbidden"
    # so the colleague's console does not offer it: `mine` is false for her, true for its owner
    seen = await (await staff.get(f"/api/appointments/{aid}")).json()
    assert seen["appointment"]["mine"] is False
    # back as its caseworker: cancelled, then nothing changes any more
    created["csrf"] = await login(staff)
    listed = await (await staff.get("/api/appointments")).json()
    assert [a["mine"] for a in listed["appointments"] if a["id"] == aid] == [True]
    cancel = await staff.post(
        f"/api/appointments/{aid}/cancel", json={}, headers={"X-CSRF-Token": created["csrf"]}
    )
    assert cancel.status == 200
    refused = await _patch(staff, created, body)
    assert refused.status == 409 and "cancelled" in (await refused.json())["error"]
    # a window that is over
    late = await _scheduled(staff, now)
    fake_clock.advance(1801)
    over = await _patch(staff, late, {"starts_at": now + 2 * HOUR})
    assert over.status == 409 and (await over.json())["error"] == "the appointment is over"
    await staff.post("/api/logout", headers={"X-CSRF-Token": late["csrf"]})
    assert (await _patch(staff, late, body)).status == 401


async def test_no_edit_while_someone_is_in_the_room(staff: Client, fake_clock: FakeClock) -> None:
    created = await _scheduled(staff, fake_clock.now())
    token = (await (await _join(staff, created["codes"]["jobseeker"])).json())["token"]
    room = await RoomClient.connect(staff, token)
    await room.expect("waiting")
    resp = await _patch(staff, created, {"title": "Neu"})
    assert resp.status == 409 and "in the room" in (await resp.json())["error"]
    await room.close()


# ---- the list's search and filters --------------------------------------------------------


async def test_search_and_filters(staff: Client, fake_clock: FakeClock) -> None:
    now = fake_clock.now()
    first = await _scheduled(staff, now + HOUR, title="Bewerbung üben")
    people = [
        {"role": "caseworker", "name": "Frau Becker", "lang": "de"},
        {"role": "jobseeker", "name": "Oleksandr Petrenko", "lang": "uk"},
    ]
    second = await schedule(
        staff, first["csrf"], appointment_body(now + 2 * HOUR, participants=people)
    )
    third = await schedule(staff, first["csrf"], appointment_body(now))
    cancel = await staff.post(
        f"/api/appointments/{second['appointment']['id']}/cancel",
        json={},
        headers={"X-CSRF-Token": first["csrf"]},
    )
    assert cancel.status == 200
    fake_clock.advance(1900)  # the third's window is over

    async def ids(query: str) -> list[str]:
        resp = await staff.get(f"/api/appointments?{query}")
        assert resp.status == 200, await resp.text()
        return [a["id"] for a in (await resp.json())["appointments"]]

    a, b, c = (x["appointment"]["id"] for x in (first, second, third))
    assert await ids("") == [c, a, b]
    assert await ids("q=petrenko") == [b]
    assert await ids("q=yilmaz") == [c, a]  # the default body's jobseeker (dotless i)
    assert await ids("q=BEWERBUNG%20UBEN") == [a]
    assert await ids("status=past") == [b, c]  # newest first
    assert await ids("status=upcoming") == [a]
    assert await ids("status=cancelled") == [b]
    assert await ids(f"from={now + HOUR}&to={now + 3 * HOUR}") == [a, b]
    assert await ids("limit=1") == [c]
    for query, field in [
        ("status=soon", "status"),
        ("from=yesterday", "from"),
        ("from=nan", "from"),
        (f"from={now}&to={now - 1}", "to"),
        ("q=" + "x" * 101, "q"),
        ("q=%07", "q"),
        ("limit=0", "limit"),
        ("limit=-3", "limit"),
        ("sort=title", "query"),
    ]:
        resp = await staff.get(f"/api/appointments?{query}")
        assert resp.status == 400, query
        error = await resp.json()
        assert error["code"] == "invalid" and error["field"] == field, query


# ---- invitations ---------------------------------------------------------------------------


async def _invitation(client: Client, created: dict[str, Any], role: str, **body: Any) -> Any:
    aid, pid = created["appointment"]["id"], created["ids"][role]
    path = f"/api/appointments/{aid}/participants/{pid}/invitation"
    return await client.post(path, json=body, headers={"X-CSRF-Token": created["csrf"]})


async def test_invitation_in_the_participants_language(
    staff: Client, fake_clock: FakeClock
) -> None:
    start = 1_796_112_000.0  # 2026-12-01 09:00 in Berlin (UTC+1)
    fake_clock.set(start - 86_400)
    created = await _scheduled(staff, start)
    url = f"http://{staff.server.host}:{staff.server.port}/j/{created['codes']['jobseeker']}"
    resp = await _invitation(staff, created, "jobseeker", url=url)
    assert resp.status == 200, await resp.text()
    data = await resp.json()
    assert (data["lang"], data["dir"]) == ("tr", "ltr")
    assert url in data["text"] and "Ayşe Yılmaz" in data["text"]  # noqa: RUF001
    assert "1 Aralık 2026 Salı" in data["text"]  # Babel's Turkish date  # noqa: RUF001
    assert "09:00" in data["text"] and "09:30" in data["text"]
    assert "Beratung" in data["subject"]
    assert "Video" not in data["text"]  # Turkish, not the English source
    # the same for the employer, in German; the jobseeker's link is not the employer's
    wrong = await _invitation(staff, created, "employer", url=url)
    assert wrong.status == 400 and (await wrong.json())["field"] == "url"
    german_url = url.replace(created["codes"]["jobseeker"], created["codes"]["employer"])
    german = await (await _invitation(staff, created, "employer", url=german_url)).json()
    assert "Dienstag, 1. Dezember 2026" in german["text"] and german["dir"] == "ltr"
    # calendar file: the link, the participant's language, the window
    aid, pid = created["appointment"]["id"], created["ids"]["jobseeker"]
    ics = await staff.post(
        f"/api/appointments/{aid}/participants/{pid}/calendar.ics",
        json={"url": url},
        headers={"X-CSRF-Token": created["csrf"]},
    )
    assert ics.status == 200 and ics.headers["Content-Type"].startswith("text/calendar")
    text = (await ics.text()).replace("\r\n ", "")
    assert "DTSTART:20261201T080000Z" in text and "DTEND:20261201T083000Z" in text
    assert f"URL:{url}" in text and f"UID:{aid}-{pid}@" in text


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({}, 400, "bad_request"),
        ({"url": 5}, 400, "bad_request"),
        ({"url": "x", "extra": 1}, 400, "bad_request"),
        ({"url": "https://evil.example/j/AAAAAAAAAAAAAAAAAAAAAA"}, 400, "bad_url"),
        ({"url": "ORIGIN/s/AAAAAAAAAAAAAAAAAAAAAA"}, 400, "bad_url"),
        ({"url": "ORIGIN/j/AAAAAAAAAAAAAAAAAAAAAA"}, 400, "bad_url"),
        ({"url": "ORIGIN/j/CODE?x=1"}, 400, "bad_url"),
    ],
)
async def test_bad_invitation_requests(
    staff: Client, fake_clock: FakeClock, body: dict[str, Any], status: int, code: str
) -> None:
    created = await _scheduled(staff, fake_clock.now() + HOUR)
    origin = f"http://{staff.server.host}:{staff.server.port}"
    if isinstance(body.get("url"), str):
        body = {
            **body,
            "url": body["url"]
            .replace("ORIGIN", origin)
            .replace("CODE", created["codes"]["jobseeker"]),
        }
    resp = await _invitation(staff, created, "jobseeker", **body)
    assert resp.status == status
    assert (await resp.json())["code"] == code
    aid = created["appointment"]["id"]
    missing = await staff.post(
        f"/api/appointments/{aid}/participants/p_nobody/invitation",
        json={"url": origin},
        headers={"X-CSRF-Token": created["csrf"]},
    )
    assert missing.status == 404
