"""An interpreter in the room (issue 11, item 12), over a real app and a real store/bus
(memory and Redis): added to a running call, they wait, are admitted by the caseworker, and
then get the room's events as an employer would; they may neither admit nor end."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from core.clock import FakeClock
from core.documents.access import ViewerKind
from core.model import Appointment
from signalling.context import Services
from signalling.sharing import viewer_in_call
from tests.harness import RoomClient, join_token, schedule_now

Client = TestClient[Any, Any]


async def _lobby_lists(room: RoomClient, pid: str) -> dict[str, Any]:
    """The next `lobby` message that lists `pid` as the only one waiting."""
    while True:
        lobby = await room.expect("lobby")
        if [w["participant"] for w in lobby["waiting"]] == [pid]:
            return lobby


async def test_an_added_interpreter_waits_is_admitted_and_hears_the_room(
    client: Client, fake_clock: FakeClock, services: Services
) -> None:
    body = {
        "participants": [
            {"role": "caseworker", "name": "Frau Becker", "lang": "de"},
            {"role": "jobseeker", "name": "Amal Nasser", "lang": "ar"},
        ]
    }
    call = await schedule_now(client, fake_clock.now(), **body)
    ids = call["ids"]
    cw = await RoomClient.connect(client, await join_token(client, call["codes"]["caseworker"]))
    await cw.expect("hello")
    js = await RoomClient.connect(client, await join_token(client, call["codes"]["jobseeker"]))
    await js.expect("waiting")
    await _lobby_lists(cw, ids["jobseeker"])
    await cw.send({"type": "admit", "participant": ids["jobseeker"]})
    await js.expect("hello")

    # The call runs; the caseworker adds an interpreter, who gets a link of their own.
    resp = await client.post(
        f"/api/appointments/{call['appointment']['id']}/participants",
        json={"role": "interpreter", "name": "Herr Haddad", "lang": "ar"},
        headers={"X-CSRF-Token": call["csrf"]},
    )
    assert resp.status == 201, await resp.text()
    added = await resp.json()
    pid = added["participant"]["id"]
    code = added["join_url"]["url"].rsplit("/j/", 1)[1]

    interpreter = await RoomClient.connect(client, await join_token(client, code))
    waiting = await interpreter.expect("waiting")
    assert waiting["host"]["name"] == "Frau Becker"
    lobby = await _lobby_lists(cw, pid)
    assert lobby["waiting"][0]["role"] == "interpreter"
    await interpreter.send({"type": "chat", "text": "hallo?"})
    await interpreter.expect("error", code="not_admitted")
    assert not any(m.get("type") == "chat" for m in js.received)  # nothing leaks out

    await cw.send({"type": "admit", "participant": pid})
    hello = await interpreter.expect("hello")
    assert hello["participant"]["role"] == "interpreter"
    assert hello["grants"]["admit"] is False and hello["grants"]["share_documents"] is False
    roles = {p["id"]: p["role"] for p in hello["participants"]}
    assert roles == {
        ids["caseworker"]: "caseworker",
        ids["jobseeker"]: "jobseeker",
        pid: "interpreter",
    }
    states = {p["id"]: p["state"] for p in hello["participants"]}
    assert set(states.values()) == {"joined"}
    for other in (cw, js):
        await other.expect("presence", participant=pid, state="joined")

    # The room's events reach the interpreter, and theirs reach everyone.
    await js.send({"type": "chat", "text": "مرحبا"})
    for room in (cw, js, interpreter):
        chat = await room.expect("chat", text="مرحبا")
        assert chat["from"] == ids["jobseeker"]
    await interpreter.send({"type": "chat", "text": "Guten Tag"})
    for room in (cw, js):
        await room.expect("chat", text="Guten Tag", **{"from": pid})
    await cw.send({"type": "mute", "kind": "audio", "muted": True})
    muted = await interpreter.expect("mute")
    assert muted["participant"] == ids["caseworker"] and muted["muted"] is True
    await js.send({"type": "e2ee", "to": pid, "data": {"wrapped": "k"}})
    assert (await interpreter.expect("e2ee"))["from"] == ids["jobseeker"]

    # Like an employer, an interpreter neither admits nor ends.
    await interpreter.send({"type": "end"})
    await interpreter.expect("error", code="forbidden")
    await interpreter.send({"type": "admit", "participant": ids["jobseeker"]})
    await interpreter.expect("error", code="forbidden")

    # The console's attendance view lists them as in the call.
    detail = await (await client.get(f"/api/appointments/{call['appointment']['id']}")).json()
    assert detail["appointment"]["live"]["members"][pid] == "admitted"
    assert (pid, "admitted") in [(e["participant"], e["event"]) for e in detail["attendance"]]

    # For the jobseeker's documents they are a guest (rendered pages only, with consent).
    stored = await services.appointments.get_appointment(call["appointment"]["id"])
    assert isinstance(stored, Appointment)
    person = stored.participant(pid)
    assert person is not None
    assert viewer_in_call(stored, person).kind is ViewerKind.GUEST

    await interpreter.send({"type": "leave"})
    await cw.expect("presence", participant=pid, state="left")
    for room in (cw, js, interpreter):
        await room.close()
