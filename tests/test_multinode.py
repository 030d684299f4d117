"""Two signalling processes sharing one real Redis: same appointments, one room."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from core.clock import FakeClock
from core.contracts.client import CloseCode
from tests.documents.test_call import profile_with_document
from tests.harness import (
    RoomClient,
    appointment_body,
    join_token,
    login,
    schedule,
)

pytestmark = pytest.mark.redis

Client = TestClient[Any, Any]


async def test_two_nodes_share_appointments_and_rooms(
    nodes: tuple[Client, Client], fake_clock: FakeClock
) -> None:
    a, b = nodes
    csrf = await login(a)
    call = await schedule(a, csrf, appointment_body(fake_clock.now()))
    aid, ids = call["appointment"]["id"], call["ids"]

    await login(b)  # a session made on one node...
    listed = await (await b.get("/api/appointments")).json()  # ...and data, seen on the other
    assert [x["id"] for x in listed["appointments"]] == [aid]

    cw = await RoomClient.connect(a, await join_token(a, call["codes"]["caseworker"]))
    await cw.expect("hello")
    js = await RoomClient.connect(b, await join_token(b, call["codes"]["jobseeker"]))
    await js.expect("waiting")
    lobby = await cw.expect(
        "lobby",
        waiting=[
            {
                "participant": ids["jobseeker"],
                "name": "Ayşe Yılmaz",  # noqa: RUF001
                "role": "jobseeker",
                "since": fake_clock.now(),
            }
        ],
    )
    assert lobby

    await cw.send({"type": "admit", "participant": ids["jobseeker"]})  # on node A
    await js.expect("hello")  # on node B
    await cw.expect("presence", participant=ids["jobseeker"], state="joined")

    await js.send({"type": "chat", "text": "über Knoten B"})
    chat = await cw.expect("chat")
    assert chat["text"] == "über Knoten B" and chat["from"] == ids["jobseeker"]

    em = await RoomClient.connect(a, await join_token(a, call["codes"]["employer"]))
    await em.expect("waiting")
    await cw.send({"type": "admit", "participant": ids["employer"]})
    await em.expect("hello")
    await cw.send({"type": "chat", "text": "alle da"})
    for room in (cw, js, em):
        await room.expect("chat", text="alle da")

    await cw.send({"type": "end"})
    for room in (cw, js, em):
        await room.expect("ended")
        assert await room.closed() == CloseCode.ENDED


async def test_newer_connection_on_another_node_replaces(
    nodes: tuple[Client, Client], fake_clock: FakeClock
) -> None:
    a, b = nodes
    csrf = await login(a)
    call = await schedule(a, csrf, appointment_body(fake_clock.now(), waiting_room=False))
    token = await join_token(a, call["codes"]["jobseeker"])
    first = await RoomClient.connect(a, token)
    await first.expect("hello")
    second = await RoomClient.connect(b, token)
    await second.expect("hello")
    await first.expect("replaced")
    assert await first.closed() == CloseCode.REPLACED
    await second.send({"type": "chat", "text": "ok"})
    await second.expect("chat", text="ok")
    await second.close()


async def test_who_joins_on_another_node_sees_the_document_as_it_stands(
    nodes: tuple[Client, Client], fake_clock: FakeClock
) -> None:
    """The panel is kept in Redis: an employer arriving on node B after the caseworker on A
    turned to page 2 (and the jobseeker allowed it) is shown page 2."""
    a, b = nodes
    csrf = await login(a)
    profile, cv = await profile_with_document(a, csrf, "Ayşe")
    body = appointment_body(fake_clock.now(), profile_id=profile, waiting_room=False)
    body["participants"] = [
        {"role": "caseworker", "name": "Frau Becker", "lang": "de"},
        {"role": "employer", "name": "Herr Wolf", "lang": "de"},
    ]
    call = await schedule(a, csrf, body)
    ids, codes = call["ids"], call["codes"]
    cw = await RoomClient.connect(a, await join_token(a, codes["caseworker"]))
    js = await RoomClient.connect(a, await join_token(a, codes["jobseeker"]))
    em: RoomClient | None = None
    try:
        await cw.expect("hello")
        await js.expect("hello")
        state = {"document": cv, "page": 2, "zoom": 1.25}
        await cw.send({"type": "panel", "action": "open", "panel": "document", "state": state})
        await js.expect("consent_request")
        await js.send({"type": "consent", "document": cv, "allow": True})
        await cw.expect("consent", allow=True)

        em = await RoomClient.connect(b, await join_token(b, codes["employer"]))
        await em.expect("hello")
        shown = await em.expect("panel")
        assert shown["current"] is True and shown["from"] == ids["caseworker"]
        assert shown["state"] == state and shown["consent"] is True
    finally:
        for room in (cw, js, em):
            if room is not None:
                await room.close()
