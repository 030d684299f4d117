"""Issue 10, item 4: a burst of people joining at once, against one node on a real Redis.

300 people take their token (`POST /api/join`) at once, then authenticate on their open room
sockets at the same moment: each authentication starts with Redis commands (revocation,
presence), so far more commands are in flight than the process has pooled connections (100).
A blocking pool makes the burst wait for a free connection instead of failing: no 5xx, no
socket lost, everyone in."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter

import aiohttp
import pytest

from core.clock import FakeClock
from tests.faults.conftest import Node
from tests.harness import appointment_body, login, schedule

pytestmark = [
    pytest.mark.redis,
    # No join throttle in the way: all 300 come from 127.0.0.1.
    pytest.mark.node_settings(join_rate=10_000.0, join_burst=10_000),
]

PEOPLE = 300


async def _token(session: aiohttp.ClientSession, base: str, code: str) -> tuple[int, str]:
    async with session.post(f"{base}/api/join", json={"code": code, "consent": True}) as resp:
        if resp.status != 200:
            return resp.status, ""
        return 200, str((await resp.json())["token"])


async def _enter(
    session: aiohttp.ClientSession, base: str, token: str, ready: list[int], go: asyncio.Event
) -> str:
    """Open the socket, wait for everyone, authenticate; the first message that is not
    someone else's presence or an error (no media worker here) says how it went."""
    async with session.ws_connect(f"{base}/ws") as ws:
        ready.append(1)
        await go.wait()
        await ws.send_str(json.dumps({"type": "auth", "token": token}))
        while True:
            msg = await ws.receive(timeout=90)
            if msg.type != aiohttp.WSMsgType.TEXT:
                return f"closed {ws.close_code}"
            kind = str(json.loads(msg.data)["type"])
            if kind not in ("presence", "error"):
                return kind


@pytest.mark.timeout(240)
async def test_300_people_joining_at_once_get_no_5xx(
    redis_node: Node, fake_clock: FakeClock
) -> None:
    client = redis_node.client
    csrf = await login(client)
    codes: list[str] = []
    while len(codes) < PEOPLE:
        created = await schedule(
            client, csrf, appointment_body(fake_clock.now(), waiting_room=False)
        )
        codes.extend(created["codes"].values())
    base = str(client.make_url("")).rstrip("/")
    connector = aiohttp.TCPConnector(limit=0)  # the burst reaches the server all at once
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.monotonic()
        tokens = await asyncio.gather(*(_token(session, base, c) for c in codes[:PEOPLE]))
        tokens_took = time.monotonic() - started
        statuses = Counter(status for status, _ in tokens)
        assert statuses == {200: PEOPLE}, statuses

        ready: list[int] = []
        go = asyncio.Event()
        tasks = [
            asyncio.create_task(_enter(session, base, token, ready, go)) for _, token in tokens
        ]
        try:
            await asyncio.wait_for(_all_ready(ready), 60)
            started = time.monotonic()
            go.set()
            outcomes = Counter(await asyncio.gather(*tasks))
        finally:
            for task in tasks:
                task.cancel()
        took = time.monotonic() - started
    print(
        f"{PEOPLE} tokens in {tokens_took:.1f}s (HTTP {dict(statuses)}); "
        f"{PEOPLE} socket authentications at once in {took:.1f}s: {dict(outcomes)}"
    )
    assert outcomes == {"hello": PEOPLE}


async def _all_ready(ready: list[int]) -> None:
    from testsupport.wait import wait_for

    await wait_for(lambda: len(ready) == PEOPLE, f"{PEOPLE} open sockets", within=60)
