"""Showing documents in a call (issue 9) over a real app: pages for the people in the call by
their room token, the jobseeker's consent over the room socket, and its audit trail."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from core.audit import Action, verify
from core.clock import FakeClock
from core.documents.access import ViewerKind
from core.model import Appointment, AppointmentStatus, Participant
from signalling.app import create_app
from signalling.context import Services
from signalling.sharing import call_live, linked_profile, viewer_in_call
from tests.documents.test_api import form
from tests.documents.test_intake import pdf
from tests.harness import RoomClient, appointment_body, join_token, login, schedule

Client = TestClient[Any, Any]


@pytest.fixture
def backend_kind() -> str:
    return "memory"


@pytest.fixture
async def client(services: Services, aiohttp_client: Any) -> Client:
    result: Client = await aiohttp_client(create_app(services, reconnect_grace=0.5))
    return result


async def profile_with_document(client: Client, csrf: str, name: str) -> tuple[str, str]:
    headers = {"X-CSRF-Token": csrf}
    resp = await client.post("/api/profiles", json={"name": name, "lang": "tr"}, headers=headers)
    profile: str = (await resp.json())["profile"]["id"]
    resp = await client.post(
        f"/api/profiles/{profile}/documents",
        data=form(("cv.pdf", pdf(2), "application/pdf")),
        headers=headers,
    )
    assert resp.status == 201, await resp.text()
    return profile, (await resp.json())["document"]["id"]


async def a_call(
    client: Client, now: float, joined: tuple[str, ...] = ("caseworker", "jobseeker", "employer")
) -> dict[str, Any]:
    """A profile with a two-page CV, another profile's document, and a call for the first
    profile with caseworker, jobseeker and employer (no waiting room); those `joined` are in
    it, the others have their room token and come later."""
    csrf = await login(client)
    profile, cv = await profile_with_document(client, csrf, "Ayşe")
    _, foreign = await profile_with_document(client, csrf, "Jan")
    body = appointment_body(now, profile_id=profile, waiting_room=False)
    body["participants"] = [
        {"role": "caseworker", "name": "Frau Becker", "lang": "de"},
        {"role": "employer", "name": "Herr Wolf", "lang": "de"},
    ]
    made = await schedule(client, csrf, body)
    tokens = {role: await join_token(client, code) for role, code in made["codes"].items()}
    rooms = {role: await RoomClient.connect(client, tokens[role]) for role in joined}
    for room in rooms.values():
        await room.expect("hello")
    return {
        "profile": profile,
        "cv": cv,
        "foreign": foreign,
        "ids": made["ids"],
        "tokens": tokens,
        "rooms": rooms,
        "appointment": made["appointment"]["id"],
    }


async def page(client: Client, token: str | None, document: str, n: int = 2) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    resp = await client.post(f"/api/call/documents/{document}/pages/{n}?w=200", headers=headers)
    if resp.status == 200:
        assert resp.headers["Content-Type"] == "image/webp"
        assert resp.headers["Cache-Control"] == "no-store"
        return 200, ""
    return resp.status, (await resp.json())["code"]


async def test_a_guest_sees_a_page_only_while_the_jobseeker_allows_it(
    client: Client, services: Services, fake_clock: FakeClock
) -> None:
    call = await a_call(client, fake_clock.now())
    cv, tokens, rooms, ids = call["cv"], call["tokens"], call["rooms"], call["ids"]
    try:
        # Owner and caseworker always; the employer not before consent; nobody without a token.
        assert await page(client, tokens["jobseeker"], cv) == (200, "")
        assert await page(client, tokens["caseworker"], cv) == (200, "")
        assert await page(client, tokens["employer"], cv) == (403, "consent_required")
        assert await page(client, None, cv) == (401, "unauthenticated")
        assert await page(client, "not.a.token", cv) == (401, "unauthenticated")
        # Another profile's document does not exist in this call, not even for the caseworker.
        assert await page(client, tokens["caseworker"], call["foreign"]) == (404, "not_found")
        assert await page(client, tokens["caseworker"], cv, n=3) == (404, "not_found")

        # The caseworker opens page 2: the jobseeker's device (only) is asked.
        state = {"document": cv, "page": 2, "zoom": 1}
        await rooms["caseworker"].send(
            {"type": "panel", "action": "open", "panel": "document", "state": state}
        )
        question = await rooms["jobseeker"].expect("consent_request")
        assert question == {
            "type": "consent_request",
            "document": cv,
            "title": "Lebenslauf",
            "pages": 2,
            "by": ids["caseworker"],
            "guests": [ids["employer"]],
        }
        shown = await rooms["employer"].expect("panel")
        assert shown["state"] == state and shown["consent"] is False and shown["pages"] == 2
        assert all(m["type"] != "consent_request" for m in rooms["employer"].received)
        assert await page(client, tokens["employer"], cv) == (403, "consent_required")

        # Only the jobseeker decides.
        await rooms["employer"].send({"type": "consent", "document": cv, "allow": True})
        await rooms["employer"].expect("error", code="forbidden")

        await rooms["jobseeker"].send({"type": "consent", "document": cv, "allow": True})
        told = await rooms["employer"].expect("consent")
        assert told == {"type": "consent", "document": cv, "allow": True, "from": ids["jobseeker"]}
        await rooms["caseworker"].expect("consent", allow=True)
        assert await page(client, tokens["employer"], cv) == (200, "")

        # A sync now says that consent stands.
        await rooms["caseworker"].send(
            {"type": "panel", "action": "sync", "panel": "document", "state": {**state, "page": 1}}
        )
        assert (await rooms["employer"].expect("panel", action="sync"))["consent"] is True

        # Withdrawn: refused again at once.
        await rooms["jobseeker"].send({"type": "consent", "document": cv, "allow": False})
        await rooms["employer"].expect("consent", allow=False)
        assert await page(client, tokens["employer"], cv) == (403, "consent_required")

        # Allowed again, then the call ends: refused (every token of the call is revoked).
        await rooms["jobseeker"].send({"type": "consent", "document": cv, "allow": True})
        await rooms["employer"].expect("consent", allow=True)
        assert await page(client, tokens["employer"], cv) == (200, "")
        await rooms["caseworker"].send({"type": "end"})
        await rooms["employer"].expect("ended")
        assert await page(client, tokens["employer"], cv) == (401, "revoked")
        assert await page(client, tokens["jobseeker"], cv) == (401, "revoked")
    finally:
        for room in rooms.values():
            await room.close()

    entries = await services.documents.audit.entries()
    assert verify(entries).ok
    # The call's document entries (joins, admissions and leaves are in the trail as well).
    shown = [
        e
        for e in entries
        if e.record.appointment == call["appointment"] and e.record.action.startswith("document.")
    ]
    trail = [(e.record.action, e.record.actor, e.record.actor_role) for e in shown]
    cw, js, em = ids["caseworker"], ids["jobseeker"], ids["employer"]
    assert trail == [
        (Action.VIEW, js, "jobseeker"),
        (Action.VIEW, cw, "caseworker"),
        (Action.SHARE, cw, "caseworker"),
        (Action.CONSENT, js, "jobseeker"),
        (Action.VIEW, em, "guest"),
        (Action.WITHDRAW, js, "jobseeker"),
        (Action.CONSENT, js, "jobseeker"),
        (Action.VIEW, em, "guest"),
    ]
    assert all(e.record.document == cv and e.record.profile == call["profile"] for e in shown)
    assert Action.JOIN in {e.record.action for e in entries}
    assert "Lebenslauf" not in repr(entries) and "Wolf" not in repr(entries)


async def test_the_presenters_list_the_calls_folder_and_nobody_else_does(
    client: Client, fake_clock: FakeClock
) -> None:
    call = await a_call(client, fake_clock.now())
    try:
        for role in ("caseworker", "jobseeker"):
            resp = await client.post(
                "/api/call/documents", headers={"Authorization": f"Bearer {call['tokens'][role]}"}
            )
            assert resp.status == 200
            assert [d["id"] for d in (await resp.json())["documents"]] == [call["cv"]]
        resp = await client.post(
            "/api/call/documents",
            headers={"Authorization": f"Bearer {call['tokens']['employer']}"},
        )
        assert resp.status == 403 and (await resp.json())["code"] == "forbidden"
        # Opening another profile's document in the panel is refused, and nobody is asked.
        await call["rooms"]["caseworker"].send(
            {
                "type": "panel",
                "action": "open",
                "panel": "document",
                "state": {"document": call["foreign"]},
            }
        )
        await call["rooms"]["caseworker"].expect("error", code="not_found")
        # The employer may not steer the panel at all.
        await call["rooms"]["employer"].send(
            {
                "type": "panel",
                "action": "open",
                "panel": "document",
                "state": {"document": call["cv"]},
            }
        )
        await call["rooms"]["employer"].expect("error", code="forbidden")
        assert all(m["type"] != "consent_request" for m in call["rooms"]["jobseeker"].received)
    finally:
        for room in call["rooms"].values():
            await room.close()


def _appointment(status: str = AppointmentStatus.SCHEDULED) -> Appointment:
    people = (
        Participant("p_cw", "caseworker", "C", "de", "h1"),
        Participant("p_js", "jobseeker", "J", "tr", "h2", profile_id="pr_1"),
        Participant("p_em", "employer", "E", "de", "h3"),
        Participant("p_js2", "jobseeker", "K", "tr", "h4"),
    )
    return Appointment("a_1", "t", 1000.0, 2000.0, False, people, "staff", 900.0, status=status)


def test_who_is_which_viewer_in_a_call() -> None:
    appointment = _appointment()
    assert linked_profile(appointment) == "pr_1"
    kinds = {p.id: viewer_in_call(appointment, p) for p in appointment.participants}
    assert kinds["p_js"].kind is ViewerKind.OWNER and kinds["p_js"].profile == "pr_1"
    assert kinds["p_cw"].kind is ViewerKind.STAFF
    assert kinds["p_em"].kind is ViewerKind.GUEST and kinds["p_em"].appointment == "a_1"
    # A jobseeker not linked to the folder is a guest of it.
    assert kinds["p_js2"].kind is ViewerKind.GUEST
    assert call_live(appointment, 1500.0)
    assert not call_live(appointment, 2000.0)
    assert not call_live(_appointment(AppointmentStatus.ENDED), 1500.0)


async def test_after_the_call_even_a_consented_guest_is_refused(
    client: Client, services: Services, fake_clock: FakeClock
) -> None:
    call = await a_call(client, fake_clock.now())
    cv, tokens, rooms = call["cv"], call["tokens"], call["rooms"]
    try:
        await rooms["jobseeker"].send({"type": "consent", "document": cv, "allow": True})
        await rooms["employer"].expect("consent", allow=True)
        assert await page(client, tokens["employer"], cv) == (200, "")
        # The appointment is no longer live (here: cancelled behind the room's back, its
        # tokens not revoked): the call's endpoints refuse everyone.
        stored = await services.appointments.get_appointment(call["appointment"])
        assert stored is not None
        await services.appointments.put_appointment(
            dataclasses.replace(stored, status=AppointmentStatus.CANCELLED)
        )
        for role in ("employer", "caseworker", "jobseeker"):
            assert await page(client, tokens[role], cv) == (403, "window_closed"), role
        # Past the window: no room token outlives it.
        fake_clock.advance(1801)
        for role in ("employer", "caseworker", "jobseeker"):
            assert await page(client, tokens[role], cv) == (401, "token_expired"), role
    finally:
        for room in rooms.values():
            await room.close()


# ---- the panel as it stands, for those who arrive later ---------------------------------


def _panel_message(state: dict[str, Any], by: str, *, consent: bool) -> dict[str, Any]:
    return {
        "type": "panel",
        "action": "open",
        "panel": "document",
        "state": state,
        "pages": 2,
        "consent": consent,
        "from": by,
        "current": True,
    }


async def _arrive(client: Client, call: dict[str, Any], role: str) -> RoomClient:
    """`role` joins, or reconnects with a new socket (its old one closed first)."""
    old = call["rooms"].get(role)
    if old is not None:
        await old.close()
    room = await RoomClient.connect(client, call["tokens"][role])
    call["rooms"][role] = room
    await room.expect("hello")
    return room


async def _settled(room: RoomClient, marker: str) -> list[dict[str, Any]]:
    """Everything `room` got up to its own chat `marker` (the room's messages reach a socket
    in order, and what follows `hello` is sent before the socket reads its first message)."""
    await room.send({"type": "chat", "text": marker})
    await room.expect("chat", text=marker)
    return room.received


async def _open(room: RoomClient, state: dict[str, Any], action: str = "open") -> None:
    await room.send({"type": "panel", "action": action, "panel": "document", "state": state})


async def test_who_joins_or_reconnects_is_shown_the_current_page(
    client: Client, fake_clock: FakeClock
) -> None:
    call = await a_call(client, fake_clock.now(), joined=("caseworker", "jobseeker"))
    cv, ids, rooms = call["cv"], call["ids"], call["rooms"]
    cw, js = ids["caseworker"], ids["jobseeker"]
    try:
        await _open(rooms["caseworker"], {"document": cv, "page": 1, "zoom": 1})
        await rooms["jobseeker"].expect("consent_request")
        state = {"document": cv, "page": 2, "zoom": 1.5}
        await _open(rooms["caseworker"], state, "sync")
        await rooms["jobseeker"].expect("panel", action="sync")
        # A page that does not exist is refused, and changes nothing.
        await _open(rooms["caseworker"], {**state, "page": 3}, "sync")
        await rooms["caseworker"].expect("error", code="bad_field")
        await _open(rooms["caseworker"], {**state, "zoom": 100}, "sync")
        await rooms["caseworker"].expect("error", code="bad_field")
        await rooms["jobseeker"].send({"type": "consent", "document": cv, "allow": True})
        await rooms["caseworker"].expect("consent", allow=True)

        # The employer joins late: right after hello, the page and zoom as they stand.
        employer = await _arrive(client, call, "employer")
        assert await employer.expect("panel") == _panel_message(state, cw, consent=True)
        assert await page(client, call["tokens"]["employer"], cv) == (200, "")

        # The jobseeker reconnects: the panel, and the consent of theirs that stands (for
        # "Stop sharing"); not asked again.
        seeker = await _arrive(client, call, "jobseeker")
        assert await seeker.expect("consent") == {
            "type": "consent",
            "document": cv,
            "allow": True,
            "from": js,
        }
        assert await seeker.expect("panel") == _panel_message(state, cw, consent=True)
        got = await _settled(seeker, "js-back")
        assert all(m["type"] != "consent_request" for m in got)

        # The presenter reconnects: their own panel comes back (from = themselves).
        worker = await _arrive(client, call, "caseworker")
        assert await worker.expect("panel") == _panel_message(state, cw, consent=True)

        # Closed: nobody who arrives later is shown anything.
        await worker.send({"type": "panel", "action": "close", "panel": "document"})
        closed = await rooms["employer"].expect("panel", action="close")
        assert closed == {
            "type": "panel",
            "action": "close",
            "panel": "document",
            "reason": "closed",
            "from": cw,
        }
        employer = await _arrive(client, call, "employer")
        assert all(m["type"] != "panel" for m in await _settled(employer, "em-back"))
    finally:
        for room in rooms.values():
            await room.close()


async def test_a_guest_who_arrives_before_consent_is_not_shown_the_panel(
    client: Client, fake_clock: FakeClock
) -> None:
    call = await a_call(client, fake_clock.now())
    cv, ids, rooms = call["cv"], call["ids"], call["rooms"]
    try:
        state = {"document": cv, "page": 2, "zoom": 1}
        await _open(rooms["caseworker"], state)
        await rooms["jobseeker"].expect("consent_request")
        employer = await _arrive(client, call, "employer")
        assert all(m["type"] != "panel" for m in await _settled(employer, "em-back"))
        # Once the jobseeker allows, the guests are shown the panel as it stands.
        await rooms["jobseeker"].send({"type": "consent", "document": cv, "allow": True})
        await employer.expect("consent", allow=True)
        shown = await employer.expect("panel")
        assert shown == _panel_message(state, ids["caseworker"], consent=True)
        assert await page(client, call["tokens"]["employer"], cv) == (200, "")
    finally:
        for room in rooms.values():
            await room.close()


async def test_a_jobseeker_who_arrives_later_is_asked(
    client: Client, fake_clock: FakeClock
) -> None:
    call = await a_call(client, fake_clock.now(), joined=("caseworker", "employer"))
    cv, ids, rooms = call["cv"], call["ids"], call["rooms"]
    cw, em = ids["caseworker"], ids["employer"]
    question = {
        "type": "consent_request",
        "document": cv,
        "title": "Lebenslauf",
        "pages": 2,
        "by": cw,
        "guests": [em],
    }
    try:
        state = {"document": cv, "page": 2, "zoom": 1}
        await _open(rooms["caseworker"], state)
        assert (await rooms["employer"].expect("panel"))["consent"] is False

        # The jobseeker arrives: the panel (theirs to see), and the question still open.
        seeker = await _arrive(client, call, "jobseeker")
        assert await seeker.expect("panel") == _panel_message(state, cw, consent=False)
        assert await seeker.expect("consent_request") == question
        # Reconnecting before answering: asked again.
        seeker = await _arrive(client, call, "jobseeker")
        assert await seeker.expect("consent_request") == question

        # "Not now": answered, so not asked again on the next arrival.
        await seeker.send({"type": "consent", "document": cv, "allow": False})
        await rooms["caseworker"].expect("consent", allow=False)
        seeker = await _arrive(client, call, "jobseeker")
        await seeker.expect("panel")
        assert all(m["type"] != "consent_request" for m in await _settled(seeker, "js-1"))
        assert await page(client, call["tokens"]["employer"], cv) == (403, "consent_required")

        # Shown again: asked again; a yes reaches the employer's page.
        await _open(rooms["caseworker"], state)
        assert await seeker.expect("consent_request") == question
        await seeker.send({"type": "consent", "document": cv, "allow": True})
        await rooms["employer"].expect("consent", allow=True)
        assert await page(client, call["tokens"]["employer"], cv) == (200, "")
        seeker = await _arrive(client, call, "jobseeker")
        assert all(m["type"] != "consent_request" for m in await _settled(seeker, "js-2"))
    finally:
        for room in rooms.values():
            await room.close()


async def test_a_withdrawal_closes_the_guests_panel_and_tells_the_presenter(
    client: Client, fake_clock: FakeClock
) -> None:
    call = await a_call(client, fake_clock.now())
    cv, ids, rooms, tokens = call["cv"], call["ids"], call["rooms"], call["tokens"]
    cw, js, em = ids["caseworker"], ids["jobseeker"], ids["employer"]
    try:
        await _open(rooms["caseworker"], {"document": cv, "page": 2, "zoom": 1})
        await rooms["jobseeker"].expect("consent_request")
        await rooms["jobseeker"].send({"type": "consent", "document": cv, "allow": True})
        await rooms["employer"].expect("consent", allow=True)
        assert await page(client, tokens["employer"], cv) == (200, "")

        await rooms["jobseeker"].send({"type": "consent", "document": cv, "allow": False})
        # The employer's panel closes, saying why; then everyone learns the answer.
        assert await rooms["employer"].expect("panel", action="close") == {
            "type": "panel",
            "action": "close",
            "panel": "document",
            "reason": "consent_withdrawn",
            "from": cw,
        }
        await rooms["employer"].expect("consent", allow=False)
        # The presenter is told which document and who no longer sees it.
        assert await rooms["caseworker"].expect("consent_withdrawn") == {
            "type": "consent_withdrawn",
            "document": cv,
            "title": "Lebenslauf",
            "from": js,
            "guests": [em],
        }
        assert await page(client, tokens["employer"], cv) == (403, "consent_required")
        assert await page(client, tokens["caseworker"], cv) == (200, "")
        # Only the guests' panel closes; the title goes to the presenters only.
        for role in ("caseworker", "jobseeker"):
            got = await _settled(rooms[role], f"{role}-after")
            assert not any(m["type"] == "panel" and m["action"] == "close" for m in got), role
        for role in ("employer", "jobseeker"):
            got = await _settled(rooms[role], f"{role}-after2")
            assert all(m["type"] != "consent_withdrawn" for m in got), role
        # Nor does a page change reopen it for them, nor reconnecting.
        await _open(rooms["caseworker"], {"document": cv, "page": 1, "zoom": 1}, "sync")
        await rooms["jobseeker"].expect("panel", action="sync")
        got = await _settled(rooms["employer"], "em-after-sync")
        assert not any(m["type"] == "panel" and m["action"] == "sync" for m in got)
        employer = await _arrive(client, call, "employer")
        assert all(m["type"] != "panel" for m in await _settled(employer, "em-back"))
    finally:
        for room in rooms.values():
            await room.close()
