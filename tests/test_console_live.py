"""Issue 11, item 10: the console's live socket tells the caseworker's console at once when
someone starts waiting, is admitted or leaves, when an appointment is scheduled or
cancelled, and when a help request comes in; on the memory store and on real Redis (where a
change on one node reaches a console on another)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from core.clock import FakeClock
from core.contracts.client import CloseCode
from signalling.console_feed import Notice, Topic, announce
from signalling.context import Services
from signalling.http.console_socket import FEED
from tests.harness import RoomClient, appointment_body, join_token, login, schedule
from tests.test_help_api import childcare, signed_in_tablet

Client = TestClient[Any, Any]
LIVE = "/api/console/live"


async def console(client: Client) -> RoomClient:
    live = RoomClient(await client.ws_connect(LIVE))
    await live.expect("ready")
    return live


async def changed(live: RoomClient, appointment: str, timeout: float = 5.0) -> dict[str, Any]:
    """The next `changed` that names `appointment` (others may come first)."""
    while True:
        msg = await live.expect("changed", timeout=timeout)
        if appointment in msg["appointments"]:
            return msg


async def test_the_console_hears_who_waits_is_admitted_and_leaves(
    client: Client, fake_clock: FakeClock
) -> None:
    csrf = await login(client)
    live = await console(client)
    call = await schedule(client, csrf, appointment_body(fake_clock.now()))
    aid, ids = call["appointment"]["id"], call["ids"]
    assert (await changed(live, aid))["help"] is False  # scheduled (by any console)

    guest = await RoomClient.connect(client, await join_token(client, call["codes"]["jobseeker"]))
    await guest.expect("waiting")
    await changed(live, aid)  # she waits

    resp = await client.post(
        f"/api/appointments/{aid}/admit",
        json={"participant": ids["jobseeker"]},
        headers={"X-CSRF-Token": csrf},
    )
    assert resp.status == 200, await resp.text()
    await guest.expect("hello")
    await changed(live, aid)  # admitted

    await guest.send({"type": "leave"})
    await guest.closed()
    await changed(live, aid)  # left

    resp = await client.post(f"/api/appointments/{aid}/cancel", headers={"X-CSRF-Token": csrf})
    assert resp.status == 200
    await changed(live, aid)
    # Ids only: no names, no titles, no texts.
    assert all(set(m) <= {"type", "appointments", "help"} for m in live.received)
    await live.close()


async def test_notices_of_a_burst_arrive_coalesced(client: Client, services: Services) -> None:
    """Forty changes at once (a burst of arrivals) reach a console as one or two messages
    that name every appointment, not as forty refreshes."""
    await login(client)
    live = await console(client)
    rooms = [f"appt-{n}" for n in range(40)]
    for room in rooms:
        await announce(services.bus, Notice(Topic.APPOINTMENT, room))
    told: set[str] = set()
    while told != set(rooms):
        told |= set((await live.expect("changed"))["appointments"])
    assert len([m for m in live.received if m["type"] == "changed"]) <= 2
    await live.close()


@pytest.mark.parametrize("backend_kind", ["memory"])
async def test_a_help_request_reaches_the_console(
    staff: Client, fake_clock: FakeClock, backend_kind: str
) -> None:
    tablet, setup = await signed_in_tablet(staff, fake_clock.now() + 86400)
    try:
        live = await console(staff)
        resp = await tablet.post(
            "/api/space/help", json=childcare(setup["appointment"]["id"]), headers=setup["space"]
        )
        assert resp.status == 201, await resp.text()
        msg = await live.expect("changed")
        while not msg["help"]:
            msg = await live.expect("changed")
        await live.close()
    finally:
        await tablet.close()


async def test_only_a_logged_in_console_of_this_server_may_listen(client: Client) -> None:
    resp = await client.get(LIVE, headers={"Connection": "Upgrade", "Upgrade": "websocket"})
    assert resp.status == 401 and (await resp.json())["code"] == "unauthenticated"
    await login(client)
    resp = await client.get(
        LIVE,
        headers={
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Origin": "https://evil.example",
        },
    )
    # Another site's page cannot ride on the caseworker's cookie (cross-site WebSocket hijack).
    assert resp.status == 403 and (await resp.json())["code"] == "bad_origin"


async def test_the_socket_closes_when_the_session_ends(client: Client) -> None:
    csrf = await login(client)
    client.app[FEED].session_check = 0.2
    live = await console(client)
    resp = await client.post("/api/logout", headers={"X-CSRF-Token": csrf})
    assert resp.status in (200, 204)
    assert await live.closed(timeout=5) == CloseCode.AUTH_FAILED


async def test_a_console_that_sends_is_closed(client: Client) -> None:
    await login(client)
    live = await console(client)
    await live.send({"type": "admit"})
    assert await live.closed() == CloseCode.BAD_MESSAGES


async def test_without_a_feed_the_console_is_told_to_come_back(client: Client) -> None:
    """When the bus cannot subscribe (here: closed; in life, Redis away) the socket closes
    with 1013 and the console keeps polling until it reconnects."""
    await login(client)
    await client.app[FEED].close()
    live = RoomClient(await client.ws_connect(LIVE))
    assert await live.closed() == CloseCode.TRY_AGAIN


async def test_shutdown_closes_console_sockets_going_away(client: Client) -> None:
    await login(client)
    live = await console(client)
    await client.app.shutdown()
    assert await live.closed() == CloseCode.GOING_AWAY


@pytest.mark.redis
async def test_a_change_on_one_node_reaches_a_console_on_another(
    nodes: tuple[Client, Client], fake_clock: FakeClock
) -> None:
    """Two apps with their own Redis connections: a guest waiting on node A is heard by the
    console connected to node B."""
    node_a, node_b = nodes
    csrf = await login(node_a)
    await login(node_b)
    live = await console(node_b)
    call = await schedule(node_a, csrf, appointment_body(fake_clock.now()))
    aid = call["appointment"]["id"]
    await changed(live, aid)
    guest = await RoomClient.connect(node_a, await join_token(node_a, call["codes"]["jobseeker"]))
    await guest.expect("waiting")
    await changed(live, aid)
    await guest.close()
    await changed(live, aid)  # left, on node A
    await live.close()
