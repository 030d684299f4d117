"""Issue 10, item 7: guessing a staff password is slowed per (user, address) with growing
delays, without locking the real user out from elsewhere, and without every client behind
the reverse proxy sharing one cap."""

from __future__ import annotations

from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from core.clock import FakeClock
from signalling.auth.login_throttle import LoginLimits, LoginThrottle
from signalling.http.client_address import TrustedProxies
from tests.harness import STAFF_PASSWORD, STAFF_USER
from tests.security.conftest import via

Client = TestClient[Any, Any]
GUESSER, REAL_USER = "198.51.100.7", "203.0.113.9"


async def _login(
    client: Client, password: str, address: str | None = None, user: str = STAFF_USER
) -> ClientResponse:
    headers = via(address) if address else {}
    return await client.post(
        "/api/login", json={"username": user, "password": password}, headers=headers
    )


async def test_wrong_passwords_elsewhere_do_not_lock_the_real_user(
    proxied_client: Client,
) -> None:
    for _ in range(5):
        assert (await _login(proxied_client, "wrong", GUESSER)).status == 401
    held = await _login(proxied_client, STAFF_PASSWORD, GUESSER)
    assert held.status == 429
    assert (await held.json())["code"] == "rate_limited"
    assert int(held.headers["Retry-After"]) >= 1
    # The real user, at their own desk, gets in at once.
    assert (await _login(proxied_client, STAFF_PASSWORD, REAL_USER)).status == 200


async def test_many_failures_from_one_address_do_not_lock_every_login(client: Client) -> None:
    # No trusted proxy: every client behind an (unconfigured) proxy shares its address.
    for i in range(20):
        assert (await _login(client, "x", user=f"user{i}")).status == 401
    assert (await _login(client, STAFF_PASSWORD)).status == 200


async def test_the_delay_grows_and_then_lets_the_pair_try_again(
    proxied_client: Client, fake_clock: FakeClock
) -> None:
    for _ in range(5):
        assert (await _login(proxied_client, "wrong", GUESSER)).status == 401
    waits = []
    for _ in range(4):
        held = await _login(proxied_client, "wrong", GUESSER)
        assert held.status == 429
        wait = int(held.headers["Retry-After"])
        waits.append(wait)
        fake_clock.advance(wait)
        assert (await _login(proxied_client, "wrong", GUESSER)).status == 401
    assert waits == [1, 2, 4, 8]
    fake_clock.advance(16)
    assert (await _login(proxied_client, STAFF_PASSWORD, GUESSER)).status == 200


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(client: Client) -> None:
    # Without trusted proxies a guesser cannot name a fresh address for every try.
    for i in range(5):
        assert (await _login(client, "wrong", f"192.0.2.{i}")).status == 401
    assert (await _login(client, "wrong", "192.0.2.99")).status == 429


def test_backoff_is_capped_and_the_address_cap_is_looser() -> None:
    limits = LoginLimits()
    throttle = LoginThrottle(limits)
    now = 1000.0
    delays = []
    for _ in range(20):
        now += throttle.retry_after("becker", GUESSER, now)
        throttle.failed("becker", GUESSER, now)
        delays.append(throttle.retry_after("becker", GUESSER, now))
    assert delays[:5] == [0.0] * 4 + [1.0]
    assert delays[5:9] == [2.0, 4.0, 8.0, 16.0]
    assert max(delays) == limits.max_delay == delays[-1]
    assert throttle.retry_after("becker", REAL_USER, now) == 0.0
    # One address trying many accounts meets the address cap, and only that address.
    spray = LoginThrottle(limits)
    for i in range(limits.address_failures):
        assert spray.retry_after(f"user{i}", GUESSER, now) == 0.0
        spray.failed(f"user{i}", GUESSER, now)
    assert spray.retry_after("becker", GUESSER, now) == limits.address_window
    assert spray.retry_after("becker", REAL_USER, now) == 0.0
    assert spray.retry_after("becker", GUESSER, now + limits.address_window) == 0.0


def test_client_address_walks_forwarded_for_past_trusted_proxies_only() -> None:
    proxies = TrustedProxies(["10.0.0.0/8", "127.0.0.1"])
    assert proxies.client("127.0.0.1", None) == "127.0.0.1"
    assert proxies.client("127.0.0.1", "203.0.113.9") == "203.0.113.9"
    # The client may prepend anything; only hops our proxies added count.
    assert proxies.client("127.0.0.1", "1.2.3.4, 203.0.113.9, 10.1.2.3") == "203.0.113.9"
    assert proxies.client("192.0.2.1", "203.0.113.9") == "192.0.2.1"  # not a proxy of ours
    assert proxies.client("127.0.0.1", "garbage, 10.1.2.3") == "10.1.2.3"
    assert proxies.client("::ffff:127.0.0.1", "2001:db8::1") == "2001:db8::1"
    assert TrustedProxies().client("127.0.0.1", "203.0.113.9") == "127.0.0.1"
