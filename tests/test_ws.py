"""The room WebSocket over a real app and a real store/bus (memory and Redis)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import structlog
from aiohttp.test_utils import TestClient

from core.audit import Action, verify
from core.clock import FakeClock
from core.contracts.client import CloseCode
from signalling.context import Services
from tests.harness import (
    RoomClient,
    join_token,
    schedule_now,
)
from testsupport.wait import wait_for

Client = TestClient[Any, Any]
ROLES = ("caseworker", "jobseeker", "employer")


async def _call(client: Client, fake_clock: FakeClock, **overrides: Any) -> dict[str, Any]:
    return await schedule_now(client, fake_clock.now(), **overrides)


async def _connect(client: Client, created: dict[str, Any], role: str) -> RoomClient:
    return await RoomClient.connect(client, await join_token(client, created["codes"][role]))


async def test_waiting_room_admit_and_chat(client: Client, fake_clock: FakeClock) -> None:
    call = await _call(client, fake_clock)
    ids = call["ids"]
    cw = await _connect(client, call, "caseworker")
    hello = await cw.expect("hello")
    assert hello["v"] == 1 and hello["participant"]["id"] == ids["caseworker"]
    assert hello["grants"]["admit"] is True
    assert await cw.expect("lobby", waiting=[])

    js = await _connect(client, call, "jobseeker")
    waiting = await js.expect("waiting")
    assert waiting["host"]["name"] == "Frau Becker"
    lobby = await cw.expect("lobby")
    assert [w["participant"] for w in lobby["waiting"]] == [ids["jobseeker"]]
    assert lobby["waiting"][0]["role"] == "jobseeker"

    await js.send({"type": "chat", "text": "hello?"})  # not yet admitted
    assert await js.expect("error", code="not_admitted")

    await cw.send({"type": "admit", "participant": ids["jobseeker"]})
    js_hello = await js.expect("hello")
    states = {p["id"]: p["state"] for p in js_hello["participants"]}
    assert states == {
        ids["caseworker"]: "joined",
        ids["jobseeker"]: "joined",
        ids["employer"]: "absent",
    }
    await cw.expect("presence", participant=ids["jobseeker"], state="joined")
    await cw.expect("lobby", waiting=[])

    await js.send({"type": "chat", "text": "  Guten Morgen  "})
    for room in (cw, js):
        chat = await room.expect("chat")
        assert chat["from"] == ids["jobseeker"] and chat["text"] == "Guten Morgen"

    detail = await (await client.get(f"/api/appointments/{call['appointment']['id']}")).json()
    assert detail["appointment"]["live"]["state"] == "in_call"
    events = [(e["participant"], e["event"]) for e in detail["attendance"]]
    assert (ids["jobseeker"], "admitted") in events
    await cw.close()
    await js.close()


async def test_waiting_room_off_lets_everyone_in(client: Client, fake_clock: FakeClock) -> None:
    call = await _call(client, fake_clock, waiting_room=False)
    js = await _connect(client, call, "jobseeker")
    await js.expect("hello")
    await js.close()


async def test_deny_revokes_and_closes(client: Client, fake_clock: FakeClock) -> None:
    call = await _call(client, fake_clock)
    cw = await _connect(client, call, "caseworker")
    await cw.expect("hello")
    token = await join_token(client, call["codes"]["jobseeker"])
    js = await RoomClient.connect(client, token)
    await js.expect("waiting")
    await cw.send({"type": "deny", "participant": call["ids"]["jobseeker"]})
    await js.expect("denied")
    assert await js.closed() == CloseCode.DENIED
    again = await RoomClient.connect(client, token)
    assert await again.closed() == CloseCode.AUTH_FAILED
    assert again.ws.close_code == CloseCode.AUTH_FAILED
    await cw.close()


async def test_only_moderators_admit_and_end(client: Client, fake_clock: FakeClock) -> None:
    call = await _call(client, fake_clock, waiting_room=False)
    js = await _connect(client, call, "jobseeker")
    await js.expect("hello")
    await js.send({"type": "end"})
    assert await js.expect("error", code="forbidden")
    await js.send({"type": "admit", "participant": call["ids"]["employer"]})
    assert await js.expect("error", code="forbidden")
    await js.close()


async def test_end_closes_everyone_and_revokes(client: Client, fake_clock: FakeClock) -> None:
    call = await _call(client, fake_clock, waiting_room=False)
    cw = await _connect(client, call, "caseworker")
    await cw.expect("hello")
    token = await join_token(client, call["codes"]["jobseeker"])
    js = await RoomClient.connect(client, token)
    await js.expect("hello")
    await cw.send({"type": "end"})
    for room in (cw, js):
        await room.expect("ended")
        assert await room.closed() == CloseCode.ENDED
    late = await RoomClient.connect(client, token)
    assert await late.closed() in (CloseCode.AUTH_FAILED, CloseCode.ENDED)
    resp = await client.post("/api/join", json={"code": call["codes"]["employer"]})
    assert resp.status == 410


async def test_end_revokes_the_tokens_in_use(
    client: Client, fake_clock: FakeClock, services: Services
) -> None:
    call = await _call(client, fake_clock, waiting_room=False)
    cw = await _connect(client, call, "caseworker")
    await cw.expect("hello")
    token = await join_token(client, call["codes"]["jobseeker"])
    jti = services.verifier.verify(token).jti
    js = await RoomClient.connect(client, token)
    await js.expect("hello")
    assert not await services.presence.is_revoked(jti)
    await cw.send({"type": "end"})
    await js.expect("ended")
    assert await services.presence.is_revoked(jti)


async def test_token_refresh(client: Client, fake_clock: FakeClock, services: Services) -> None:
    call = await _call(client, fake_clock, waiting_room=False)
    js = await _connect(client, call, "jobseeker")
    await js.expect("hello")
    fake_clock.advance(300)
    await js.send({"type": "token"})
    fresh = await js.expect("token")
    claims = services.verifier.verify(fresh["token"], room=call["appointment"]["id"])
    assert claims.iat == int(fake_clock.now()) and fresh["exp"] == claims.exp
    await js.close()


async def test_leave_and_presence(client: Client, fake_clock: FakeClock) -> None:
    call = await _call(client, fake_clock, waiting_room=False)
    cw = await _connect(client, call, "caseworker")
    await cw.expect("hello")
    js = await _connect(client, call, "jobseeker")
    await js.expect("hello")
    await cw.expect("presence", participant=call["ids"]["jobseeker"], state="joined")
    await js.send({"type": "leave"})
    assert await js.closed() == CloseCode.NORMAL
    await cw.expect("presence", participant=call["ids"]["jobseeker"], state="left")
    await cw.close()


async def test_lost_socket_reconnects_without_leaving(
    client: Client, fake_clock: FakeClock
) -> None:
    call = await _call(client, fake_clock)
    jid = call["ids"]["jobseeker"]
    cw = await _connect(client, call, "caseworker")
    await cw.expect("hello")
    token = await join_token(client, call["codes"]["jobseeker"])
    js = await RoomClient.connect(client, token)
    await js.expect("waiting")
    await cw.send({"type": "admit", "participant": jid})
    await js.expect("hello")
    await js.close()  # the network drops: no leave message
    await cw.expect("presence", participant=jid, state="reconnecting")
    back = await RoomClient.connect(client, token)
    await back.expect("hello")  # straight back in, no waiting room again
    await cw.expect("presence", participant=jid, state="joined")
    await back.close()
    await cw.expect("presence", participant=jid, state="reconnecting")
    await cw.expect("presence", participant=jid, state="left", timeout=3)  # grace is 0.5 s
    await cw.close()


async def test_second_connection_replaces_the_first(client: Client, fake_clock: FakeClock) -> None:
    call = await _call(client, fake_clock, waiting_room=False)
    cw = await _connect(client, call, "caseworker")
    await cw.expect("hello")
    token = await join_token(client, call["codes"]["jobseeker"])
    first = await RoomClient.connect(client, token)
    await first.expect("hello")
    second = await RoomClient.connect(client, token)
    await second.expect("hello")
    await first.expect("replaced")
    assert await first.closed() == CloseCode.REPLACED
    await second.send({"type": "chat", "text": "still here"})
    await cw.expect("chat", text="still here")
    assert not any(
        m.get("type") == "presence" and m.get("state") in ("left", "reconnecting")
        for m in cw.received
    )
    await second.close()
    await cw.close()


async def test_relays_mute_panel_and_e2ee(client: Client, fake_clock: FakeClock) -> None:
    call = await _call(client, fake_clock, waiting_room=False)
    ids = call["ids"]
    rooms = {r: await _connect(client, call, r) for r in ("caseworker", "jobseeker", "employer")}
    for room in rooms.values():
        await room.expect("hello")
    cw, js, em = rooms["caseworker"], rooms["jobseeker"], rooms["employer"]
    await js.send({"type": "mute", "kind": "audio", "muted": True})
    muted = await cw.expect("mute")
    assert muted["participant"] == ids["jobseeker"] and muted["muted"] is True
    assert "missing" not in muted
    # No camera at all: the others are told, so they can say so on the tile.
    await js.send({"type": "mute", "kind": "video", "muted": True, "missing": True})
    missing = await em.expect("mute", missing=True)
    assert missing["kind"] == "video"
    assert missing["participant"] == ids["jobseeker"] and missing["missing"] is True
    await cw.send({"type": "panel", "action": "open", "panel": "folder", "state": {"page": 2}})
    panel = await em.expect("panel")
    assert panel["from"] == ids["caseworker"] and panel["state"] == {"page": 2}
    await js.send({"type": "e2ee", "to": ids["employer"], "data": {"wrapped": "abc"}})
    relayed = await em.expect("e2ee")
    assert relayed == {"type": "e2ee", "data": {"wrapped": "abc"}, "from": ids["jobseeker"]}
    await js.send({"type": "e2ee", "to": "p_nobody", "data": {}})
    assert await js.expect("error", code="unknown_participant")
    await js.send({"type": "chat", "text": "sync"})
    await cw.expect("chat", text="sync")
    assert not any(m.get("type") == "e2ee" for m in cw.received)  # it went to the employer only
    for room in rooms.values():
        await room.close()


async def test_media_status_reaches_the_others_and_the_log(
    client: Client, fake_clock: FakeClock
) -> None:
    call = await _call(client, fake_clock, waiting_room=False)
    ids = call["ids"]
    cw = await _connect(client, call, "caseworker")
    js = await _connect(client, call, "jobseeker")
    await cw.expect("hello")
    await js.expect("hello")
    history = ["new", "checking", "failed"]
    with structlog.testing.capture_logs() as logs:
        await js.send(
            {
                "type": "media_status",
                "state": "failed",
                "pc": "pub",
                "reason": "timeout",
                "history": history,
            }
        )
        failed = await cw.expect("media_status")
    assert failed == {"type": "media_status", "participant": ids["jobseeker"], "state": "failed"}
    entry = next(e for e in logs if e["event"] == "media_status")
    assert (
        entry["participant"] == ids["jobseeker"]
        and entry["appointment"] == call["appointment"]["id"]
    )
    assert entry["ice"] == history and entry["pc"] == "pub" and entry["log_level"] == "warning"
    assert entry["reason"] == "timeout"
    # Ids and states only: nothing that names a person, a token or an address.
    assert set(entry) == {"event", "log_level", "appointment", "participant", "role", "state"} | {
        "pc",
        "reason",
        "ice",
    }
    # Who comes later learns it from `hello`.
    em = await _connect(client, call, "employer")
    hello = await em.expect("hello")
    seeker = next(p for p in hello["participants"] if p["id"] == ids["jobseeker"])
    assert seeker["media"] == "failed"
    assert all("media" not in p for p in hello["participants"] if p["id"] != ids["jobseeker"])
    await js.send({"type": "media_status", "state": "ok"})
    await cw.expect("media_status", state="ok")
    await em.expect("media_status", state="ok")
    assert not any(m.get("type") == "media_status" for m in js.received)  # not echoed
    for room in (cw, js, em):
        await room.close()


BAD_MESSAGES = [
    ("not json", "bad_json"),
    ("[1]", "bad_message"),
    ('{"type": "dance"}', "unknown_type"),
    ('{"type": "chat"}', "bad_field"),
    ('{"type": "chat", "text": ""}', "bad_field"),
    ('{"type": "chat", "text": "' + "x" * 2001 + '"}', "too_long"),
    ('{"type": "chat", "text": "hi", "extra": 1}', "bad_field"),
    ('{"type": "mute", "kind": "smell", "muted": true}', "bad_field"),
    ('{"type": "offer", "pc": "both", "sdp": "v=0"}', "bad_field"),
    ('{"type": "offer", "pc": "sub", "sdp": "v=0"}', "bad_field"),
    ('{"type": "answer", "pc": "pub", "sdp": "v=0"}', "bad_field"),
    ('{"type": "candidate", "pc": "pub", "candidate": 5}', "bad_field"),
    ('{"type": "e2ee", "data": "string"}', "bad_field"),
]


@pytest.mark.parametrize("raw, code", BAD_MESSAGES)
async def test_bad_messages_get_errors(
    client: Client, fake_clock: FakeClock, raw: str, code: str
) -> None:
    call = await _call(client, fake_clock, waiting_room=False)
    js = await _connect(client, call, "jobseeker")
    await js.expect("hello")
    await js.ws.send_str(raw)
    assert await js.expect("error", code=code)
    await js.close()


async def test_repeated_abuse_closes_4400(client: Client, fake_clock: FakeClock) -> None:
    call = await _call(client, fake_clock, waiting_room=False)
    js = await _connect(client, call, "jobseeker")
    await js.expect("hello")
    for _ in range(5):
        await js.ws.send_str('{"type": "nope"}')
    assert await js.closed() == CloseCode.BAD_MESSAGES


async def test_oversized_message_closes(client: Client, fake_clock: FakeClock) -> None:
    call = await _call(client, fake_clock, waiting_room=False)
    js = await _connect(client, call, "jobseeker")
    await js.expect("hello")
    await js.ws.send_str('{"type": "chat", "text": "' + "x" * 70_000 + '"}')
    assert await js.closed() == 1009  # message too big


async def test_auth_failures(client: Client, fake_clock: FakeClock, services: Services) -> None:
    call = await _call(client, fake_clock)
    token = await join_token(client, call["codes"]["jobseeker"])
    silent = await RoomClient.connect(client)
    assert await silent.closed(timeout=5) == CloseCode.AUTH_TIMEOUT
    wrong_first = await RoomClient.connect(client)
    await wrong_first.send({"type": "chat", "text": "hi"})
    assert await wrong_first.closed() == CloseCode.AUTH_FAILED
    garbage = await RoomClient.connect(client, "not.a.token")
    assert await garbage.closed() == CloseCode.AUTH_FAILED
    tampered = await RoomClient.connect(
        client, token[:-4] + ("AAAA" if token[-4:] != "AAAA" else "BBBB")
    )
    assert await tampered.closed() == CloseCode.AUTH_FAILED
    assert "bad_signature" in tampered.close_reason or "malformed" in tampered.close_reason
    fake_clock.advance(601)
    expired = await RoomClient.connect(client, token)
    assert await expired.closed() == CloseCode.AUTH_FAILED
    assert expired.close_reason == "token expired"


async def test_token_of_another_deployment_is_refused(
    client: Client, fake_clock: FakeClock, tmp_path: Any
) -> None:
    from core.model import Participant
    from signalling.auth.keys import ensure_keyring
    from signalling.auth.tokens import TokenIssuer

    call = await _call(client, fake_clock)
    stranger = TokenIssuer(ensure_keyring(tmp_path / "other", fake_clock), fake_clock, "lippejob")
    participant = Participant(call["ids"]["jobseeker"], "jobseeker", "X", "de", "h")
    token, _ = stranger.mint(call["appointment"]["id"], participant, fake_clock.now() + 60)
    room = await RoomClient.connect(client, token)
    assert await room.closed() == CloseCode.AUTH_FAILED
    assert room.close_reason == "token unknown_key"


async def test_foreign_origin_is_refused(client: Client) -> None:
    resp = await client.get(
        "/ws",
        headers={
            "Origin": "https://evil.example",
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
        },
    )
    assert resp.status == 403
    assert (await resp.json())["code"] == "bad_origin"


async def test_console_admits_over_http(client: Client, fake_clock: FakeClock) -> None:
    call = await _call(client, fake_clock)
    aid, jid = call["appointment"]["id"], call["ids"]["jobseeker"]
    js = await _connect(client, call, "jobseeker")
    await js.expect("waiting")

    async def waiting() -> bool:
        detail = await (await client.get(f"/api/appointments/{aid}")).json()
        return bool(detail["appointment"]["live"]["members"].get(jid) == "waiting")

    await wait_for(waiting, "the jobseeker to be listed as waiting")
    headers = {"X-CSRF-Token": call["csrf"]}
    bad = await client.post(
        f"/api/appointments/{aid}/admit", json={"participant": "p_x"}, headers=headers
    )
    assert bad.status == 400
    ok = await client.post(
        f"/api/appointments/{aid}/admit", json={"participant": jid}, headers=headers
    )
    assert ok.status == 200
    await js.expect("hello")
    end = await client.post(f"/api/appointments/{aid}/end", headers=headers)
    assert end.status == 200
    await js.expect("ended")
    await js.close()


async def test_presence_of_a_dead_node_is_not_shown(
    client: Client, fake_clock: FakeClock, services: Services
) -> None:
    from core.model import Member

    call = await _call(client, fake_clock)
    aid, jid = call["appointment"]["id"], call["ids"]["jobseeker"]
    # A node that crashed left the jobseeker "waiting" and the employer "admitted" behind.
    await services.presence.set_member(aid, Member(jid, "waiting", "sig-dead", "c1", 0.0))
    await services.presence.set_member(
        aid, Member(call["ids"]["employer"], "admitted", "sig-dead", "c2", 0.0)
    )
    cw = await _connect(client, call, "caseworker")
    hello = await cw.expect("hello")
    states = {p["id"]: p["state"] for p in hello["participants"]}
    assert states[jid] == "absent" and states[call["ids"]["employer"]] == "absent"
    assert await cw.expect("lobby", waiting=[])
    detail = await (await client.get(f"/api/appointments/{aid}")).json()
    assert set(detail["appointment"]["live"]["members"]) == {call["ids"]["caseworker"]}
    await cw.close()


async def test_sockets_attaching_at_once_get_each_event_once(
    client: Client, services: Services, fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Everyone in a room connecting in the same moment (as after a media worker moved the
    call) subscribes the node to the room once: every event arrives once, not twice."""
    subscribe = services.bus.subscribe

    async def slow_subscribe(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.2)  # a busy Redis: the sockets' attaches overlap
        return await subscribe(*args, **kwargs)

    monkeypatch.setattr(services.bus, "subscribe", slow_subscribe)
    call = await _call(client, fake_clock, waiting_room=False)
    tokens = [await join_token(client, call["codes"][role]) for role in ROLES]
    sockets = await asyncio.gather(*(RoomClient.connect(client, token) for token in tokens))
    for socket in sockets:
        await socket.expect("hello")
    await sockets[0].send({"type": "chat", "text": "once"})
    for socket in sockets[1:]:
        await socket.expect("chat", text="once")
    for socket in sockets[1:]:
        with pytest.raises(AssertionError, match="no 'chat' message"):
            await socket.expect("chat", timeout=0.5, text="once")


async def test_admission_join_and_leave_are_in_the_audit_trail(
    client: Client, services: Services, fake_clock: FakeClock
) -> None:
    call = await _call(client, fake_clock)
    ids = call["ids"]
    cw = await _connect(client, call, "caseworker")
    await cw.expect("hello")
    js = await _connect(client, call, "jobseeker")
    await js.expect("waiting")
    await cw.send({"type": "admit", "participant": ids["jobseeker"]})
    await js.expect("hello")
    await js.send({"type": "leave"})
    await cw.expect("presence", participant=ids["jobseeker"], state="left")
    await cw.close()
    entries = await services.documents.audit.entries()
    seen = [(e.record.action, e.record.actor, e.record.subject) for e in entries]
    assert (Action.ADMIT, ids["caseworker"], ids["jobseeker"]) in seen
    assert (Action.JOIN, ids["caseworker"], None) in seen
    assert (Action.JOIN, ids["jobseeker"], None) in seen
    assert (Action.LEAVE, ids["jobseeker"], None) in seen
    assert {e.record.appointment for e in entries} == {call["appointment"]["id"]}
    assert verify(entries).ok
