"""A signalling app behind a trusted reverse proxy on loopback: its clients are told apart by
the `X-Forwarded-For` header the test sends, as nginx would set it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from core.clock import FakeClock
from signalling.app import create_app
from tests.harness import make_backend, make_services


@pytest.fixture
async def proxied_client(
    tmp_path: Path, fake_clock: FakeClock, database_url: str, aiohttp_client: Any
) -> AsyncIterator[TestClient[Any, Any]]:
    """The app with 127.0.0.1 (the test client's own address) as its trusted proxy."""
    stores, bus = await make_backend("memory", fake_clock, None, database_url)
    services = await make_services(
        tmp_path, fake_clock, stores, bus, trusted_proxies=("127.0.0.1/32", "::1")
    )
    client: TestClient[Any, Any] = await aiohttp_client(create_app(services, with_pages=False))
    yield client
    await client.close()  # before what the app uses: it may still be handling requests
    await bus.close()
    await stores.close()


def via(address: str) -> dict[str, str]:
    """Headers of a request that reached the proxy from `address`."""
    return {"X-Forwarded-For": address}
