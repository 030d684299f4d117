"""Issue 11, item 9: the caseworker joins from the console on her staff session, without her
link (shown once, stored as a hash only), on the memory store and on real Redis."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from core.clock import FakeClock
from core.contracts.client import CloseCode
from signalling.context import Services
from tests.harness import RoomClient, appointment_body, join_token, login, schedule

Client = TestClient[Any, Any]


def _path(appointment_id: str) -> str:
    return f"/api/appointments/{appointment_id}/host-join"


async def _anonymous(client: Client) -> Client:
    """A browser of its own (no staff cookie) on the same server."""
    other: Client = TestClient(client.server)
    await other.start_server()
    return other


async def test_host_join_gives_the_caseworker_a_room_token(
    client: Client, fake_clock: FakeClock, services: Services
) -> None:
    csrf = await login(client)
    call = await schedule(client, csrf, appointment_body(fake_clock.now()))
    aid, ids = call["appointment"]["id"], call["ids"]
    resp = await client.post(_path(aid), json={"consent": True}, headers={"X-CSRF-Token": csrf})
    assert resp.status == 200, await resp.text()
    assert resp.headers["Cache-Control"] == "no-store"
    data = await resp.json()
    assert data["participant"]["id"] == ids["caseworker"]
    assert "url" not in data and "code" not in str(data)  # no new link exists
    claims = services.verifier.verify(data["token"], room=aid)
    assert claims.sub == ids["caseworker"] and claims.role == "caseworker"

    # The token opens the room as the caseworker: she sees the jobseeker waiting and admits.
    host = await RoomClient.connect(client, data["token"])
    hello = await host.expect("hello")
    assert hello["participant"]["id"] == ids["caseworker"] and hello["grants"]["admit"]
    guest = await RoomClient.connect(client, await join_token(client, call["codes"]["jobseeker"]))
    await guest.expect("waiting")
    lobby = await host.expect("lobby")
    while not lobby["waiting"]:
        lobby = await host.expect("lobby")
    assert [w["participant"] for w in lobby["waiting"]] == [ids["jobseeker"]]
    await host.close()
    await guest.close()

    # Her original link still works (nothing was reissued), and consent was recorded.
    assert (
        await client.post("/api/join", json={"code": call["codes"]["caseworker"]})
    ).status == 200
    detail = await (await client.get(f"/api/appointments/{aid}")).json()
    assert ids["caseworker"] in detail["appointment"]["live"]["consents"]


async def test_host_join_tokens_die_with_a_reissued_link(
    client: Client, fake_clock: FakeClock, services: Services
) -> None:
    csrf = await login(client)
    call = await schedule(client, csrf, appointment_body(fake_clock.now()))
    aid, pid = call["appointment"]["id"], call["ids"]["caseworker"]
    resp = await client.post(_path(aid), json={}, headers={"X-CSRF-Token": csrf})
    token = (await resp.json())["token"]
    reissued = await client.post(
        f"/api/appointments/{aid}/participants/{pid}/reissue", headers={"X-CSRF-Token": csrf}
    )
    assert reissued.status == 200
    # Minted for the old link: refused on the socket like any token of a replaced link.
    refused = await RoomClient.connect(client, token)
    assert await refused.closed() == CloseCode.AUTH_FAILED
    # A fresh host join works again, with the new link's id in it.
    again = await client.post(_path(aid), json={}, headers={"X-CSRF-Token": csrf})
    assert again.status == 200
    assert services.verifier.verify((await again.json())["token"], room=aid).sub == pid


async def test_host_join_is_for_staff_with_csrf(client: Client, fake_clock: FakeClock) -> None:
    csrf = await login(client)
    call = await schedule(client, csrf, appointment_body(fake_clock.now()))
    aid = call["appointment"]["id"]
    stranger = await _anonymous(client)
    try:
        resp = await stranger.post(_path(aid), json={}, headers={"X-CSRF-Token": csrf})
        assert resp.status == 401 and (await resp.json())["code"] == "unauthenticated"
    finally:
        await stranger.session.close()
    missing = await client.post(_path(aid), json={})
    assert missing.status == 403 and (await missing.json())["code"] == "csrf"
    forged = await client.post(_path(aid), json={}, headers={"X-CSRF-Token": "forged"})
    assert forged.status == 403 and (await forged.json())["code"] == "csrf"


async def test_host_join_bad_inputs(client: Client, fake_clock: FakeClock) -> None:
    csrf = await login(client)
    headers = {"X-CSRF-Token": csrf}
    now = fake_clock.now()
    for unknown in ("a_nothere", "x" * 65):
        resp = await client.post(_path(unknown), json={}, headers=headers)
        assert resp.status == 404 and (await resp.json())["code"] == "not_found", unknown

    call = await schedule(client, csrf, appointment_body(now))
    aid = call["appointment"]["id"]
    bad_bodies: list[Any] = [[], {"consent": "yes"}, {"code": "x"}]
    for bad in bad_bodies:
        resp = await client.post(_path(aid), json=bad, headers=headers)
        assert resp.status == 400 and "error" in await resp.json(), bad
    text = await client.post(_path(aid), data="{}", headers=headers)
    assert text.status == 415

    later = await schedule(client, csrf, appointment_body(now + 7200))
    early = await client.post(_path(later["appointment"]["id"]), json={}, headers=headers)
    assert early.status == 425 and (await early.json())["code"] == "too_early"

    ended = await client.post(f"/api/appointments/{aid}/end", json={}, headers=headers)
    assert ended.status == 200
    over = await client.post(_path(aid), json={}, headers=headers)
    assert over.status == 410 and (await over.json())["code"] == "expired"

    cancel = await schedule(client, csrf, appointment_body(now))
    cid = cancel["appointment"]["id"]
    await client.post(f"/api/appointments/{cid}/cancel", headers=headers)
    cancelled = await client.post(_path(cid), json={}, headers=headers)
    assert cancelled.status == 409 and (await cancelled.json())["code"] == "cancelled"

    fake_clock.advance(7200 + 1800)  # past the later one's window
    expired = await client.post(_path(later["appointment"]["id"]), json={}, headers=headers)
    assert expired.status == 410 and (await expired.json())["code"] == "expired"


async def test_the_host_join_page_is_for_staff(staff: Client, fake_clock: FakeClock) -> None:
    csrf = await login(staff)
    call = await schedule(staff, csrf, appointment_body(fake_clock.now()))
    aid = call["appointment"]["id"]
    page = await staff.get(f"/console/join/{aid}")
    assert page.status == 200
    html = await page.text()
    assert _path(aid) in html and call["codes"]["caseworker"] not in html
    assert (await staff.get("/console/join/a_nothere")).status == 404
    stranger = await _anonymous(staff)
    try:
        away = await stranger.get(f"/console/join/{aid}", allow_redirects=False)
        assert away.status == 302 and away.headers["Location"] == "/console/login"
    finally:
        await stranger.session.close()
