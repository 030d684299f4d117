"""Issue 10, item 10: /metrics is not on the public port; `serve` shows it on a listener of its
own, on loopback unless configured otherwise."""

from __future__ import annotations

import socket
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from core.settings import Settings
from signalling.metrics import METRICS, serve_metrics

Client = TestClient[Any, Any]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_public_port_has_no_metrics(client: Client) -> None:
    resp = await client.get("/metrics")
    assert resp.status == 404
    assert "lippejob_" not in await resp.text()


async def test_metrics_listener_is_internal_by_default(client: Client) -> None:
    defaults = Settings()
    assert defaults.metrics_host == "127.0.0.1" and defaults.metrics_port == 0  # off
    port = _free_port()
    runner = await serve_metrics(client.app[METRICS], defaults.metrics_host, port)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                assert resp.status == 200
                assert "lippejob_tokens_issued_total" in await resp.text()
            async with http.get(f"http://127.0.0.1:{port}/healthz") as other:
                assert other.status == 404  # nothing else on it
        assert all(addr[0] == "127.0.0.1" for addr in runner.addresses)
    finally:
        await runner.cleanup()
