"""Issue 10, item 9: POST /api/join is limited per client address with a token bucket; the
429 says when to come back, and other addresses are not held back."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from core.clock import FakeClock
from signalling.http.ratelimit import KeyedTokenBuckets
from tests.harness import appointment_body, login, schedule
from tests.security.conftest import via

Client = TestClient[Any, Any]
GUESS = {"code": "AAAAAAAAAAAAAAAAAAAAAA"}


async def test_guessing_codes_is_throttled_per_address(
    proxied_client: Client, fake_clock: FakeClock
) -> None:
    csrf = await login(proxied_client)
    created = await schedule(proxied_client, csrf, appointment_body(fake_clock.now()))
    guesser, guest = via("198.51.100.7"), via("203.0.113.9")
    for _ in range(20):  # the default burst
        resp = await proxied_client.post("/api/join", json=GUESS, headers=guesser)
        assert resp.status == 404
    limited = await proxied_client.post("/api/join", json=GUESS, headers=guesser)
    assert limited.status == 429
    assert (await limited.json())["code"] == "rate_limited"
    assert limited.headers["Retry-After"] == "1"
    # A real guest elsewhere joins meanwhile.
    code = created["codes"]["jobseeker"]
    assert (
        await proxied_client.post("/api/join", json={"code": code}, headers=guest)
    ).status == 200
    # The bucket refills with time (the injected clock's).
    fake_clock.advance(1)
    assert (await proxied_client.post("/api/join", json=GUESS, headers=guesser)).status == 404


def test_bucket_refills_at_its_rate_and_caps_at_its_burst() -> None:
    clock = FakeClock(start=100.0)
    buckets = KeyedTokenBuckets(rate=2.0, burst=3, clock=clock)
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)
    assert buckets.take("b") == 0.0
    clock.advance(0.5)
    assert buckets.take("a") == 0.0
    clock.advance(3600)
    assert [buckets.take("a") for _ in range(4)][-1] > 0  # refilled to the burst, no more


def test_bucket_memory_is_bounded() -> None:
    clock = FakeClock()
    buckets = KeyedTokenBuckets(rate=1.0, burst=1, clock=clock, max_keys=100)
    for i in range(1000):
        buckets.take(f"10.0.{i // 256}.{i % 256}")
    assert len(buckets) <= 100
