"""Shared fixtures: a real Redis (tests.redis_server), a movable clock, a signalling app."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from core.clock import FakeClock
from signalling.app import create_app
from signalling.context import Services
from tests.harness import make_backend, make_services

pytest_plugins = ["tests.redis_server"]


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock(start=float(int(time.time())))


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def backend_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def services(
    tmp_path: Path, fake_clock: FakeClock, backend_kind: str, request: pytest.FixtureRequest
) -> AsyncIterator[Services]:
    redis_url = request.getfixturevalue("redis_url") if backend_kind == "redis" else None
    store, bus = await make_backend(backend_kind, fake_clock, redis_url)
    yield await make_services(tmp_path, fake_clock, store, bus)
    await bus.close()
    await store.close()


AppClient = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def client(services: Services, aiohttp_client: Any) -> TestClient[Any, Any]:
    """A test client of the signalling app (no media worker, no pages)."""
    result: TestClient[Any, Any] = await aiohttp_client(
        create_app(services, reconnect_grace=0.5, with_pages=False)
    )
    return result
