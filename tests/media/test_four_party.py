"""A four-party call through the SFU (issue 11, item 12): caseworker, jobseeker, employer and an
interpreter added to the appointment afterwards, real aiortc peers that all decode each other.
No cap below four: the room takes up to `max_participants` (8)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from core.clock import SystemClock
from core.store.sql import SqlStore
from tests.harness import appointment_body, login, schedule
from tests.media.test_ws_call import InProcess, close_all, host_and_admit, start_in_process
from testsupport.ws_client import WsClient

pytestmark = [pytest.mark.media]


@pytest.fixture
async def env(tmp_path: Path, aiohttp_client: Any, database_url: str) -> AsyncIterator[InProcess]:
    records = SqlStore.from_url(database_url, SystemClock())
    result, worker = await start_in_process(tmp_path, aiohttp_client, records)
    try:
        yield result
    finally:
        await worker.close()


@pytest.mark.timeout(180)
async def test_four_party_call_with_an_added_interpreter(env: InProcess) -> None:
    csrf = await login(env.client)
    call = await schedule(env.client, csrf, appointment_body(time.time()))
    resp = await env.client.post(
        f"/api/appointments/{call['appointment']['id']}/participants",
        json={"role": "interpreter", "name": "Herr Haddad", "lang": "ar"},
        headers={"X-CSRF-Token": csrf},
    )
    assert resp.status == 201, await resp.text()
    added = await resp.json()
    codes = {**call["codes"], "interpreter": added["join_url"]["url"].rsplit("/j/", 1)[1]}
    order = ("caseworker", "jobseeker", "employer", "interpreter")
    clients = [WsClient(env.url, codes[role], label=role) for role in order]
    try:
        await host_and_admit(clients)  # everyone decodes everyone else's audio and video
        interpreter = clients[-1]
        assert interpreter.hello is not None
        assert interpreter.hello["participant"]["role"] == "interpreter"
        room = env.worker.rooms[call["appointment"]["id"]]
        assert set(room.participants) == {c.id for c in clients}
        assert room.published_streams == 8 and room.forwarded_streams == 24
        assert not [e for c in clients for e in c.errors], [c.errors for c in clients]
    finally:
        await close_all(clients)
