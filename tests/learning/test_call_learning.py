"""Course sections in a call (issue 12) over a real app, on memory and on Redis: who may fetch
a section (admitted participants of the live call only), in which language, the `learning`
panel messages (validated, synced, kept for who arrives later, closed for all) and the audit."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from core.audit import Action
from core.clock import FakeClock
from core.contracts.client import MessageError, Panel, shown_section
from core.model import ShownDocument, ShownSection
from signalling.app import create_app
from signalling.context import Services
from tests.documents.test_call import a_call as document_call
from tests.harness import RoomClient, appointment_body, join_token, login, schedule

Client = TestClient[Any, Any]
WAIT = 20.0  # generous: the machine is shared

CV = "cv-five-steps"
VIDEO = "video-interview"


@pytest.fixture
async def client(services: Services, aiohttp_client: Any) -> Client:
    result: Client = await aiohttp_client(create_app(services, reconnect_grace=0.5))
    return result


async def a_call(client: Client, now: float) -> dict[str, Any]:
    """A call with a waiting room: the caseworker (de) is in, the jobseeker (ar) and the
    employer (de) have their tokens and have not joined yet."""
    csrf = await login(client)
    body = appointment_body(now, waiting_room=True)
    body["participants"] = [
        {"role": "caseworker", "name": "Frau Becker", "lang": "de"},
        {"role": "jobseeker", "name": "Samira", "lang": "ar"},
        {"role": "employer", "name": "Herr Wolf", "lang": "de"},
    ]
    made = await schedule(client, csrf, body)
    tokens = {role: await join_token(client, code) for role, code in made["codes"].items()}
    cw = await RoomClient.connect(client, tokens["caseworker"])
    await cw.expect("hello", timeout=WAIT)
    return {"tokens": tokens, "ids": made["ids"], "rooms": {"caseworker": cw}, **made}


async def admit(call: dict[str, Any], client: Client, role: str) -> RoomClient:
    room = await RoomClient.connect(client, call["tokens"][role])
    await room.expect("waiting", timeout=WAIT)
    await call["rooms"]["caseworker"].send({"type": "admit", "participant": call["ids"][role]})
    await room.expect("hello", timeout=WAIT)
    call["rooms"][role] = room
    # What follows `hello` (the panel as it stands) is sent before the socket reads its first
    # message: after this marker comes back, it has all arrived.
    await room.send({"type": "chat", "text": f"{role} in"})
    await room.expect("chat", timeout=WAIT, text=f"{role} in")
    return room


async def post(client: Client, token: str | None, path: str) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    resp = await client.post(path, headers=headers)
    if resp.content_type == "application/json":
        return resp.status, await resp.json()
    return resp.status, await resp.read()


def section_path(module: str, section: str, lang: str = "") -> str:
    query = f"?lang={lang}" if lang else ""
    return f"/api/call/learning/{module}/sections/{section}{query}"


async def close_all(call: dict[str, Any]) -> None:
    for room in call["rooms"].values():
        await room.close()


async def test_only_admitted_participants_fetch_sections_in_their_language(
    client: Client, fake_clock: FakeClock
) -> None:
    call = await a_call(client, fake_clock.now())
    tokens = call["tokens"]
    try:
        # Without a token, with a bad one, or not in the call (yet): nothing.
        status, body = await post(client, None, section_path(CV, "step-1-layout"))
        assert (status, body["code"]) == (401, "unauthenticated")
        status, body = await post(client, "not.a.token", section_path(CV, "step-1-layout"))
        assert (status, body["code"]) == (401, "unauthenticated")
        status, body = await post(client, tokens["jobseeker"], section_path(CV, "step-1-layout"))
        assert (status, body["code"]) == (403, "not_admitted")
        # In the waiting room is not in the call either, for media too.
        waiting = await RoomClient.connect(client, tokens["employer"])
        call["rooms"]["employer"] = waiting
        await waiting.expect("waiting", timeout=WAIT)
        status, body = await post(client, tokens["employer"], section_path(CV, "step-1-layout"))
        assert (status, body["code"]) == (403, "not_admitted")
        clip = f"/api/call/learning/{VIDEO}/media/media/light-and-camera.webm"
        status, body = await post(client, tokens["employer"], clip)
        assert (status, body["code"]) == (403, "not_admitted")

        await admit(call, client, "jobseeker")
        # Arabic is not among the module's languages: the module's fallback, said so.
        status, body = await post(client, tokens["jobseeker"], section_path(CV, "step-1-layout"))
        assert status == 200, body
        assert body["lang"] == "en" and body["dir"] == "ltr" and body["own_language"] is False
        assert body["section"]["kind"] == "page" and "<" in body["section"]["html"]
        assert body["module"]["id"] == CV and body["position"] == 1 and body["sections"] == 6
        # The caseworker reads German.
        status, body = await post(client, tokens["caseworker"], section_path(CV, "step-1-layout"))
        assert body["lang"] == "de" and body["own_language"] is True
        # A page may ask for its own language (the page's language switch).
        status, body = await post(
            client, tokens["jobseeker"], section_path(CV, "step-1-layout", lang="de")
        )
        assert body["lang"] == "de"

        # A quiz: the questions, never which answers are right.
        status, body = await post(client, tokens["jobseeker"], section_path(CV, "quiz"))
        assert status == 200 and body["section"]["questions"]
        assert "correct" not in json.dumps(body) and "feedback" not in json.dumps(body)

        # A video: its file and captions through the call, by the room token.
        status, body = await post(client, tokens["jobseeker"], section_path(VIDEO, "light"))
        video = body["section"]
        assert video["video"] == clip
        assert {c["lang"] for c in video["captions"]} == {"de", "en"}
        status, data = await post(client, tokens["jobseeker"], clip)
        assert status == 200 and len(data) > 0
        captions = next(c["src"] for c in video["captions"] if c["default"])
        resp = await client.post(
            captions, headers={"Authorization": f"Bearer {tokens['jobseeker']}"}
        )
        assert resp.status == 200 and resp.content_type == "text/vtt"
        assert (await resp.text()).startswith("WEBVTT")

        # Unknown modules, sections and files: 404 with a JSON error.
        for path in (
            section_path("no-such-module", "intro"),
            section_path(CV, "no-such-section"),
            section_path("scorm-abc", "x"),
            f"/api/call/learning/{VIDEO}/media/module.toml",
            f"/api/call/learning/{VIDEO}/media/../../x",
        ):
            status, body = await post(client, tokens["jobseeker"], path)
            assert status == 404, path
            assert body["code"] == "not_found" and body["error"], path

        # The catalog is for whoever may show sections.
        status, body = await post(client, tokens["jobseeker"], "/api/call/learning")
        assert (status, body["code"]) == (403, "forbidden")
        status, body = await post(client, tokens["caseworker"], "/api/call/learning")
        assert status == 200
        ids = {m["id"] for m in body["modules"]}
        assert ids == {CV, VIDEO}
        cv = next(m for m in body["modules"] if m["id"] == CV)
        assert cv["sections"][0] == {
            "id": "step-1-layout",
            "kind": "page",
            "title": cv["sections"][0]["title"],
        }
    finally:
        await close_all(call)


async def test_a_section_is_shown_synced_resumed_and_closed_for_everyone(
    client: Client, services: Services, fake_clock: FakeClock
) -> None:
    call = await a_call(client, fake_clock.now())
    ids = call["ids"]
    cw = call["rooms"]["caseworker"]
    js = await admit(call, client, "jobseeker")
    try:
        opened = {"module": CV, "section": "step-1-layout"}
        await cw.send({"type": "panel", "action": "open", "panel": "learning", "state": opened})
        shown = await js.expect("panel", timeout=WAIT, panel="learning", action="open")
        assert shown == {
            "type": "panel",
            "action": "open",
            "panel": "learning",
            "state": opened,
            "from": ids["caseworker"],
        }
        step = {"module": CV, "section": "step-2-personal"}
        await cw.send({"type": "panel", "action": "sync", "panel": "learning", "state": step})
        synced = await js.expect("panel", timeout=WAIT, panel="learning", action="sync")
        assert synced["state"] == step

        # Who arrives later (the employer, admitted now) is shown the current section.
        employer = await admit(call, client, "employer")
        current = await employer.expect("panel", timeout=WAIT, panel="learning")
        assert current["state"] == step and current["current"] is True
        # ... and so is one who reconnects.
        await js.close()
        js = await RoomClient.connect(client, call["tokens"]["jobseeker"])
        call["rooms"]["jobseeker"] = js
        await js.expect("hello", timeout=WAIT)
        assert (await js.expect("panel", timeout=WAIT, panel="learning"))["state"] == step

        # Audited once per module shown, with ids only.
        entries = await services.documents.audit.entries()
        shown_entries = [e.record for e in entries if e.record.action == Action.LEARNING_SHOWN]
        assert len(shown_entries) == 1
        record = shown_entries[0]
        assert record.appointment == call["appointment"]["id"]
        assert record.actor == ids["caseworker"] and record.actor_role == "caseworker"
        assert dict(record.detail) == {"module": CV, "section": "step-1-layout"}

        await cw.send({"type": "panel", "action": "close", "panel": "learning"})
        for room in (js, employer):
            closed = await room.expect("panel", timeout=WAIT, panel="learning", action="close")
            assert closed["from"] == ids["caseworker"]
        # Closed: nobody who arrives now is shown it.
        await employer.close()
        employer = await RoomClient.connect(client, call["tokens"]["employer"])
        call["rooms"]["employer"] = employer
        await employer.expect("hello", timeout=WAIT)
        await employer.send({"type": "chat", "text": "marker"})
        await employer.expect("chat", timeout=WAIT, text="marker")
        assert not [m for m in employer.received if m["type"] == "panel"]
        assert await services.presence.get_panel(call["appointment"]["id"]) is None
    finally:
        await close_all(call)


async def test_learning_panel_messages_are_validated(client: Client, fake_clock: FakeClock) -> None:
    call = await a_call(client, fake_clock.now())
    cw = call["rooms"]["caseworker"]
    js = await admit(call, client, "jobseeker")
    try:
        # Only who leads the call shows sections.
        state = {"module": CV, "section": "step-1-layout"}
        await js.send({"type": "panel", "action": "open", "panel": "learning", "state": state})
        await js.expect("error", timeout=WAIT, code="forbidden")
        # Unknown module or section: an error code, and the socket lives on.
        for bad, code in (
            ({"module": "no-such-module", "section": "intro"}, "not_found"),
            ({"module": CV, "section": "no-such-section"}, "not_found"),
            ({"module": "../etc", "section": "x"}, "bad_field"),
        ):
            await cw.send({"type": "panel", "action": "open", "panel": "learning", "state": bad})
            await cw.expect("error", timeout=WAIT, code=code)
        # A sync with nothing open is refused too (the fourth error: one more would close).
        await cw.send({"type": "panel", "action": "sync", "panel": "learning", "state": state})
        await cw.expect("error", timeout=WAIT, code="bad_field")
        await cw.send({"type": "chat", "text": "still here"})
        await js.expect("chat", timeout=WAIT, text="still here")
        assert not [m for m in js.received if m["type"] == "panel"]
    finally:
        await close_all(call)


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ({"module": "cv-five-steps", "section": "quiz"}, ("cv-five-steps", "quiz")),
        ({"module": "CV", "section": "quiz"}, None),
        ({"module": "a" * 65, "section": "quiz"}, None),
        ({"module": "cv", "section": 3}, None),
        ({"module": "cv", "section": "quiz", "answers": ["a"]}, None),
        ({}, None),
    ],
)
def test_shown_section_reads_only_two_ids(
    state: dict[str, Any], expected: tuple[str, str] | None
) -> None:
    panel = Panel("open", "learning", state)
    if expected is None:
        with pytest.raises(MessageError):
            shown_section(panel)
    else:
        assert shown_section(panel) == expected


async def test_the_call_has_one_panel_a_document_or_a_section(
    client: Client, services: Services, fake_clock: FakeClock
) -> None:
    call = await document_call(client, fake_clock.now(), joined=("caseworker", "jobseeker"))
    cw, js = call["rooms"]["caseworker"], call["rooms"]["jobseeker"]
    appointment = call["appointment"]
    document = {"document": call["cv"], "page": 1, "zoom": 1}
    section = {"module": CV, "section": "quiz"}
    try:
        await cw.send({"type": "panel", "action": "open", "panel": "document", "state": document})
        await js.expect("panel", timeout=WAIT, panel="document", action="open")
        # A section replaces the document ...
        await cw.send({"type": "panel", "action": "open", "panel": "learning", "state": section})
        await js.expect("panel", timeout=WAIT, panel="learning", action="open")
        assert await services.presence.get_panel(appointment) == ShownSection(
            CV, "quiz", call["ids"]["caseworker"]
        )
        # ... and a document's close (the jobseeker may share documents) leaves it kept.
        await js.send({"type": "panel", "action": "close", "panel": "document"})
        await cw.expect("panel", timeout=WAIT, panel="document", action="close")
        assert isinstance(await services.presence.get_panel(appointment), ShownSection)
        # A document replaces the section; a section's close leaves the document kept.
        await cw.send({"type": "panel", "action": "open", "panel": "document", "state": document})
        await js.expect("panel", timeout=WAIT, panel="document", action="open")
        await cw.send({"type": "panel", "action": "close", "panel": "learning"})
        await js.expect("panel", timeout=WAIT, panel="learning", action="close")
        assert isinstance(await services.presence.get_panel(appointment), ShownDocument)
        # Who reconnects gets the document only.
        await js.close()
        js = await RoomClient.connect(client, call["tokens"]["jobseeker"])
        call["rooms"]["jobseeker"] = js
        await js.expect("hello", timeout=WAIT)
        await js.send({"type": "chat", "text": "back"})
        await js.expect("chat", timeout=WAIT, text="back")
        panels = [m for m in js.received if m["type"] == "panel"]
        assert [m["panel"] for m in panels] == ["document"]
    finally:
        await close_all(call)
