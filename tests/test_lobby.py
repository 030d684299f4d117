"""The waiting room over the room socket (issue 11, item 3): whoever waits learns whether
someone who may let them in is in the call, live, and reads the caseworker's messages to the
waiting room; over a real app and a real store/bus (memory and Redis)."""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp.test_utils import TestClient

from core.clock import FakeClock
from core.contracts.client import MAX_LOBBY_MESSAGE
from tests.harness import RoomClient, join_token, schedule_now

Client = TestClient[Any, Any]
LATE = "Ich verspäte mich 5 Minuten"


async def _connect(client: Client, created: dict[str, Any], role: str) -> RoomClient:
    return await RoomClient.connect(client, await join_token(client, created["codes"][role]))


async def test_waiting_guest_is_told_whether_the_caseworker_is_there(
    client: Client, fake_clock: FakeClock
) -> None:
    call = await schedule_now(client, fake_clock.now())
    js = await _connect(client, call, "jobseeker")
    waiting = await js.expect("waiting")
    assert waiting["host"] == {"name": "Frau Becker", "present": False}
    assert "note" not in waiting

    cw = await _connect(client, call, "caseworker")
    await cw.expect("hello")
    assert await js.expect("host", present=True)

    # Another guest who starts waiting now hears it at once.
    em = await _connect(client, call, "employer")
    assert (await em.expect("waiting"))["host"]["present"] is True

    await cw.send({"type": "leave"})
    assert await js.expect("host", present=False)
    assert await em.expect("host", present=False)

    back = await _connect(client, call, "caseworker")
    await back.expect("hello")
    assert await js.expect("host", present=True)
    # Nothing about the host reaches those in the call, nor twice those who wait.
    assert not any(m["type"] == "host" for m in back.received)
    assert [m["present"] for m in js.received if m["type"] == "host"] == [True, False, True]
    for room in (js, em, back):
        await room.close()


async def test_caseworker_writes_to_the_waiting_room(client: Client, fake_clock: FakeClock) -> None:
    call = await schedule_now(client, fake_clock.now())
    ids = call["ids"]
    js = await _connect(client, call, "jobseeker")
    await js.expect("waiting")
    cw = await _connect(client, call, "caseworker")
    await cw.expect("hello")

    with structlog.testing.capture_logs() as logs:
        await cw.send({"type": "lobby_message", "text": f"  {LATE}  "})
        note = await js.expect("lobby_message")
    assert note["text"] == LATE and note["at"] == fake_clock.now()
    entry = next(e for e in logs if e["event"] == "lobby_message")
    assert entry["by"] == ids["caseworker"] and entry["appointment"] == call["appointment"]["id"]
    assert LATE not in repr(logs)  # ids only, never the words

    # Who starts waiting later finds the latest message with `waiting`.
    em = await _connect(client, call, "employer")
    assert (await em.expect("waiting"))["note"]["text"] == LATE
    assert not any(m["type"] == "lobby_message" for m in cw.received)  # not to the call

    # Only one who may admit writes there, and briefly.
    await js.send({"type": "lobby_message", "text": "Hallo?"})
    assert await js.expect("error", code="not_admitted")
    await cw.send({"type": "admit", "participant": ids["employer"]})
    await em.expect("hello")
    await em.send({"type": "lobby_message", "text": "Ich bin auch da"})
    assert await em.expect("error", code="forbidden")
    await cw.send({"type": "lobby_message", "text": "x" * (MAX_LOBBY_MESSAGE + 1)})
    assert await cw.expect("error", code="too_long")
    await cw.send({"type": "lobby_message", "text": "   "})
    assert await cw.expect("error", code="bad_field")
    assert [m["text"] for m in js.received if m["type"] == "lobby_message"] == [LATE]
    for room in (js, cw, em):
        await room.close()


async def test_console_writes_to_the_waiting_room(client: Client, fake_clock: FakeClock) -> None:
    call = await schedule_now(client, fake_clock.now())
    aid = call["appointment"]["id"]
    js = await _connect(client, call, "jobseeker")
    assert (await js.expect("waiting"))["host"]["present"] is False
    url = f"/api/appointments/{aid}/lobby_message"
    headers = {"X-CSRF-Token": call["csrf"]}

    forged = await client.post(url, json={"text": LATE})  # no CSRF token
    assert forged.status == 403
    ok = await client.post(url, json={"text": LATE}, headers=headers)
    assert ok.status == 200, await ok.text()
    assert (await js.expect("lobby_message"))["text"] == LATE

    for body in ({"text": "x" * (MAX_LOBBY_MESSAGE + 1)}, {"text": ""}, {}, ["text"]):
        bad = await client.post(url, json=body, headers=headers)
        assert bad.status == 400
        assert (await bad.json())["field"] == "text"
    missing = await client.post(
        "/api/appointments/a_nope/lobby_message", json={"text": LATE}, headers=headers
    )
    assert missing.status == 404

    end = await client.post(f"/api/appointments/{aid}/end", headers=headers)
    assert end.status == 200
    await js.expect("ended")
    over = await client.post(url, json={"text": LATE}, headers=headers)
    assert over.status == 409
    await js.close()
