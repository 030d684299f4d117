"""Issue 10, item 11: every HTTPS response carries Strict-Transport-Security, error answers
included: the API's JSON errors, aiohttp's own 404 and 405, raised HTTP errors and a 500."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from core.clock import FakeClock
from lippejob.tlsdev import ensure_dev_certificate, ssl_context
from signalling.app import create_app
from tests.harness import make_backend, make_services

Client = TestClient[Any, Any]


async def _boom(request: web.Request) -> web.Response:
    raise RuntimeError("a bug")


async def _teapot(request: web.Request) -> web.Response:
    raise web.HTTPForbidden(text="no")


@pytest.fixture
async def https_client(
    tmp_path: Path, fake_clock: FakeClock, database_url: str
) -> AsyncIterator[Client]:
    stores, bus = await make_backend("memory", fake_clock, None, database_url)
    services = await make_services(tmp_path, fake_clock, stores, bus, http=False)
    app = create_app(services, with_pages=True)
    app.router.add_get("/api/boom", _boom)
    app.router.add_get("/boom", _boom)
    app.router.add_get("/forbidden", _teapot)
    cert, key = ensure_dev_certificate(tmp_path / "certs", ["127.0.0.1"])
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(ssl=ssl_context(cert, key))
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    client: Client = TestClient(server, connector=aiohttp.TCPConnector(ssl=insecure))
    await client.start_server()
    yield client
    await client.close()
    await bus.close()
    await stores.close()


@pytest.mark.parametrize(
    "method, path, status",
    [
        ("GET", "/healthz", 200),
        ("GET", "/api/nothing", 404),  # JSON from the API's error middleware
        ("GET", "/nothing", 404),  # aiohttp's own
        ("DELETE", "/healthz", 405),
        ("POST", "/api/join", 415),
        ("POST", "/api/appointments", 401),
        ("GET", "/forbidden", 403),  # an HTTPException a handler raised
        ("GET", "/api/boom", 500),
        ("GET", "/boom", 500),
    ],
)
async def test_every_https_answer_carries_hsts(
    https_client: Client, method: str, path: str, status: int
) -> None:
    resp = await https_client.request(method, path)
    assert resp.status == status
    assert resp.headers.get("Strict-Transport-Security") == "max-age=31536000"
    assert resp.headers.get("X-Content-Type-Options") == "nosniff"
    if path.startswith("/api/"):
        body = await resp.json()
        assert body["code"] and "bug" not in str(body)
