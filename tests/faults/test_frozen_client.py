"""Issue 10, item 5: a client that stops answering (a frozen tablet) is shown as `reconnecting`
within seconds, and as `left` once the reconnect grace has passed; a slow client that does
answer, late, keeps its socket.

The frozen client is a raw aiohttp WebSocket with autoping off: it authenticates, then answers
no ping, exactly what a tablet whose browser froze does to the server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType
from aiohttp.test_utils import TestClient

from core.clock import FakeClock
from core.settings import Settings
from signalling.app import create_app
from tests.harness import RoomClient, join_token, make_backend, make_services, schedule_now

# The socket pings ws_heartbeat after the client's last frame and gives up ws_pong_timeout later.
SILENCE = Settings().ws_heartbeat + Settings().ws_pong_timeout
DETECTION_BOUND = SILENCE + 0.5  # slack for the loop on a busy machine
GRACE = 2.0


@dataclass
class Call:
    """A call with a caseworker (a normal client) and a jobseeker on a raw socket that answers
    pings only when the test says so."""

    client: TestClient[Any, Any]
    caseworker: RoomClient
    jobseeker: str
    raw: ClientWebSocketResponse
    last_frame_at: float


@contextlib.asynccontextmanager
async def call_with_a_raw_jobseeker(
    tmp_path: Path, clock: FakeClock, database_url: str, aiohttp_client: Any, **settings: Any
) -> AsyncIterator[Call]:
    stores, bus = await make_backend("memory", clock, None, database_url)
    services = await make_services(tmp_path, clock, stores, bus, **settings)
    client: TestClient[Any, Any] = await aiohttp_client(create_app(services, with_pages=False))
    try:
        call = await schedule_now(client, clock.now(), waiting_room=False)
        jobseeker = call["ids"]["jobseeker"]
        caseworker = await RoomClient.connect(
            client, await join_token(client, call["codes"]["caseworker"])
        )
        await caseworker.expect("hello")
        raw = await client.ws_connect("/ws", autoping=False)
        token = await join_token(client, call["codes"]["jobseeker"])
        await raw.send_str(json.dumps({"type": "auth", "token": token}))
        last_frame_at = time.monotonic()
        assert json.loads((await raw.receive(timeout=5)).data)["type"] == "hello"
        await caseworker.expect("presence", participant=jobseeker, state="joined")
        yield Call(client, caseworker, jobseeker, raw, last_frame_at)
        await raw.close()
        await caseworker.close()
    finally:
        # The app first (it may still be handling the sockets just closed), then what it uses.
        await client.close()
        await bus.close()
        await stores.close()


def test_defaults_show_a_frozen_tablet_within_six_seconds() -> None:
    assert SILENCE <= 6.0
    # ... and give a busy tablet more than aiohttp's half interval (2 s) to answer a ping.
    assert Settings().ws_pong_timeout >= 3.0


async def test_frozen_client_is_reconnecting_then_left(
    tmp_path: Path, fake_clock: FakeClock, database_url: str, aiohttp_client: Any
) -> None:
    # The default heartbeat; only the grace is shortened, through its setting.
    async with call_with_a_raw_jobseeker(
        tmp_path, fake_clock, database_url, aiohttp_client, reconnect_grace=GRACE
    ) as call:
        # The raw socket answers nothing from its auth on, as a frozen tablet.
        caseworker, jobseeker = call.caseworker, call.jobseeker
        await caseworker.expect(
            "presence", participant=jobseeker, state="reconnecting", timeout=DETECTION_BOUND + 2
        )
        shown_after = time.monotonic() - call.last_frame_at
        await caseworker.expect("presence", participant=jobseeker, state="left", timeout=GRACE + 3)
        left_after = time.monotonic() - call.last_frame_at
        print(f"reconnecting after {shown_after:.2f}s, left after {left_after:.2f}s")
        assert shown_after <= DETECTION_BOUND, f"reconnecting only after {shown_after:.1f}s"
        assert left_after - shown_after >= GRACE - 0.2, "left before the grace was over"
        assert left_after <= DETECTION_BOUND + GRACE + 1.0


async def test_a_slow_client_that_answers_late_keeps_its_socket(
    tmp_path: Path, fake_clock: FakeClock, database_url: str, aiohttp_client: Any
) -> None:
    """A loaded tablet answers each ping after 3 s. aiohttp's heartbeat (pong within half the
    interval, 2 s) dropped it, and with it its media; the default settings keep it."""
    async with call_with_a_raw_jobseeker(
        tmp_path, fake_clock, database_url, aiohttp_client
    ) as call:
        caseworker, slow = call.caseworker, call.raw
        # The caseworker keeps reading (and so answering pings) meanwhile.
        listening = asyncio.create_task(caseworker.expect("never sent", timeout=3 * SILENCE + 1))
        pings = 0
        deadline = time.monotonic() + 3 * SILENCE
        while time.monotonic() < deadline:
            try:
                msg = await slow.receive(timeout=deadline - time.monotonic())
            except TimeoutError:
                break
            if msg.type == WSMsgType.PING:
                pings += 1
                await asyncio.sleep(3.0)  # busy: the pong leaves 3 s late
                await slow.pong(msg.data)
                if pings == 2:
                    await asyncio.sleep(1.0)  # the second late pong is taken, too
                    break
            elif msg.type != WSMsgType.TEXT:
                raise AssertionError(f"the slow client lost its socket: {msg.type!r} {msg.data!r}")
        assert pings >= 2, "the server never pinged the silent client"
        assert not slow.closed
        listening.cancel()
        with pytest.raises(asyncio.CancelledError):
            await listening
        states = [
            m.get("state")
            for m in caseworker.received
            if m.get("type") == "presence" and m.get("participant") == call.jobseeker
        ]
        assert "reconnecting" not in states, states
