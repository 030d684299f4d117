"""Removal, reissue, grants and abuse on the room socket: what must keep people out."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from core.clock import FakeClock
from core.contracts.client import CloseCode
from signalling.context import Services
from signalling.room.ws import HUB
from tests.harness import RoomClient, appointment_body, join_token, schedule_now

Client = TestClient[Any, Any]


async def _call(client: Client, fake_clock: FakeClock, **overrides: Any) -> dict[str, Any]:
    return await schedule_now(client, fake_clock.now(), **overrides)


async def test_denied_participant_stays_out(client: Client, fake_clock: FakeClock) -> None:
    call = await _call(client, fake_clock, waiting_room=False)
    code, eid = call["codes"]["employer"], call["ids"]["employer"]
    cw = await RoomClient.connect(client, await join_token(client, call["codes"]["caseworker"]))
    await cw.expect("hello")
    spare = await join_token(client, code)  # fetched, never used
    em = await RoomClient.connect(client, await join_token(client, code))
    await em.expect("hello")
    await cw.send({"type": "deny", "participant": eid})  # remove from the call
    await em.expect("denied")
    assert await em.closed() == CloseCode.DENIED
    await cw.expect("presence", participant=eid, state="left")
    again = await client.post("/api/join", json={"code": code})
    assert again.status == 404  # the link is dead
    unused = await RoomClient.connect(client, spare)
    assert await unused.closed() == CloseCode.AUTH_FAILED
    assert unused.close_reason == "token revoked"
    # Staff may give them a new link; that one works.
    aid = call["appointment"]["id"]
    resp = await client.post(
        f"/api/appointments/{aid}/participants/{eid}/reissue",
        headers={"X-CSRF-Token": call["csrf"]},
    )
    new_code = (await resp.json())["url"].rsplit("/j/", 1)[1]
    back = await RoomClient.connect(client, await join_token(client, new_code))
    await back.expect("hello")
    await back.close()
    await cw.close()


async def test_many_refreshes_do_not_outlive_a_denial(
    client: Client, fake_clock: FakeClock
) -> None:
    call = await _call(client, fake_clock, waiting_room=False)
    cw = await RoomClient.connect(client, await join_token(client, call["codes"]["caseworker"]))
    await cw.expect("hello")
    first = await join_token(client, call["codes"]["jobseeker"])
    js = await RoomClient.connect(client, first)
    await js.expect("hello")
    for _ in range(10):
        fake_clock.advance(1)
        await js.send({"type": "token"})
        await js.expect("token")
    await cw.send({"type": "deny", "participant": call["ids"]["jobseeker"]})
    assert await js.closed() == CloseCode.DENIED
    retry = await RoomClient.connect(client, first)
    assert await retry.closed() == CloseCode.AUTH_FAILED
    await cw.close()


async def test_reissue_puts_the_old_holder_out(client: Client, fake_clock: FakeClock) -> None:
    call = await _call(client, fake_clock, waiting_room=False)
    aid, jid = call["appointment"]["id"], call["ids"]["jobseeker"]
    leaked = await RoomClient.connect(client, await join_token(client, call["codes"]["jobseeker"]))
    await leaked.expect("hello")
    resp = await client.post(
        f"/api/appointments/{aid}/participants/{jid}/reissue",
        headers={"X-CSRF-Token": call["csrf"]},
    )
    assert resp.status == 200
    await leaked.expect("error", code="revoked")
    assert await leaked.closed() == CloseCode.AUTH_FAILED
    assert (await client.post("/api/join", json={"code": call["codes"]["jobseeker"]})).status == 404


async def test_console_can_deny_someone_not_connected(
    client: Client, fake_clock: FakeClock
) -> None:
    call = await _call(client, fake_clock)
    aid, eid = call["appointment"]["id"], call["ids"]["employer"]
    resp = await client.post(
        f"/api/appointments/{aid}/deny",
        json={"participant": eid},
        headers={"X-CSRF-Token": call["csrf"]},
    )
    assert resp.status == 200
    assert (await client.post("/api/join", json={"code": call["codes"]["employer"]})).status == 404


async def test_only_document_sharers_steer_panels(client: Client, fake_clock: FakeClock) -> None:
    call = await _call(client, fake_clock, waiting_room=False)
    em = await RoomClient.connect(client, await join_token(client, call["codes"]["employer"]))
    await em.expect("hello")
    await em.send({"type": "panel", "action": "open", "panel": "folder", "state": {}})
    assert await em.expect("error", code="forbidden")
    await em.close()


async def test_binary_abuse_closes_and_counts_as_gone(
    client: Client, fake_clock: FakeClock
) -> None:
    call = await _call(client, fake_clock, waiting_room=False)
    cw = await RoomClient.connect(client, await join_token(client, call["codes"]["caseworker"]))
    await cw.expect("hello")
    js = await RoomClient.connect(client, await join_token(client, call["codes"]["jobseeker"]))
    await js.expect("hello")
    for _ in range(5):
        await js.ws.send_bytes(b"\x00\x01")
    assert await js.closed() == CloseCode.BAD_MESSAGES
    await cw.expect("presence", participant=call["ids"]["jobseeker"], state="reconnecting")
    await cw.close()


async def test_flooding_is_rate_limited(client: Client, fake_clock: FakeClock) -> None:
    call = await _call(client, fake_clock, waiting_room=False)
    js = await RoomClient.connect(client, await join_token(client, call["codes"]["jobseeker"]))
    await js.expect("hello")
    for i in range(200):
        if js.ws.closed:
            break
        await js.send({"type": "chat", "text": f"spam {i}"})
    assert await js.expect("error", code="rate_limited") if not js.ws.closed else True
    assert await js.closed() == CloseCode.BAD_MESSAGES


async def test_nan_and_deep_nesting_are_refused(client: Client, fake_clock: FakeClock) -> None:
    call = await _call(client, fake_clock, waiting_room=False)
    js = await RoomClient.connect(client, await join_token(client, call["codes"]["jobseeker"]))
    await js.expect("hello")
    await js.ws.send_str(
        '{"type": "panel", "action": "sync", "panel": "f", "state": {"page": NaN}}'
    )
    assert await js.expect("error", code="bad_json")
    await js.ws.send_str("[" * 5000 + "]" * 5000)
    assert await js.expect("error", code="bad_json")
    await js.close()
    body = appointment_body(fake_clock.now())
    raw = __import__("json").dumps(body).replace(str(body["starts_at"]), "NaN", 1)
    resp = await client.post(
        "/api/appointments",
        data=raw,
        headers={"Content-Type": "application/json", "X-CSRF-Token": call["csrf"]},
    )
    assert resp.status == 400 and (await resp.json())["code"] == "bad_json"
    far = appointment_body(fake_clock.now(), ends_at=1e300)
    resp = await client.post("/api/appointments", json=far, headers={"X-CSRF-Token": call["csrf"]})
    assert resp.status == 400


async def test_unrefreshed_token_closes_the_socket(client: Client, fake_clock: FakeClock) -> None:
    call = await _call(client, fake_clock, waiting_room=False)
    js = await RoomClient.connect(client, await join_token(client, call["codes"]["jobseeker"]))
    await js.expect("hello")
    fake_clock.advance(601)
    await client.server.app[HUB].sweep_once()
    await js.expect("error", code="token_expired")
    assert await js.closed() == CloseCode.AUTH_FAILED


async def test_guests_learn_names_only_when_admitted(
    client: Client, fake_clock: FakeClock, services: Services
) -> None:
    call = await _call(client, fake_clock)
    resp = await client.post("/api/join", json={"code": call["codes"]["jobseeker"]})
    appointment = (await resp.json())["appointment"]
    assert "participants" not in appointment
    assert appointment["host"] == {"name": "Frau Becker"}
    js = await RoomClient.connect(client, (await resp.json())["token"])
    waiting = await js.expect("waiting")
    assert "Herr Wolf" not in str(waiting)
    await js.close()


async def test_window_end_closes_sockets_and_forgets_presence(
    client: Client, fake_clock: FakeClock, services: Services
) -> None:
    call = await _call(client, fake_clock, waiting_room=False)
    aid = call["appointment"]["id"]
    js = await RoomClient.connect(client, await join_token(client, call["codes"]["jobseeker"]))
    await js.expect("hello")
    fake_clock.advance(1801)  # past the end of the window
    await client.server.app[HUB].sweep_once()
    await js.expect("ended")
    assert await js.closed() == CloseCode.ENDED
    assert await services.presence.get_members(aid) == {}


async def test_expired_token_ends_the_stay_for_the_others(
    client: Client, fake_clock: FakeClock, services: Services
) -> None:
    call = await _call(client, fake_clock, waiting_room=False)
    aid, jid = call["appointment"]["id"], call["ids"]["jobseeker"]
    js = await RoomClient.connect(client, await join_token(client, call["codes"]["jobseeker"]))
    await js.expect("hello")
    fake_clock.advance(300)
    cw = await RoomClient.connect(client, await join_token(client, call["codes"]["caseworker"]))
    await cw.expect("hello")
    fake_clock.advance(301)  # the jobseeker's token has run out; the caseworker's has not
    await client.server.app[HUB].sweep_once()
    assert await js.closed() == CloseCode.AUTH_FAILED
    await cw.expect("presence", participant=jid, state="left")
    assert jid not in await services.presence.get_members(aid)
    await cw.close()
