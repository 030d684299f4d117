"""/metrics of the signalling app: prometheus-client exposition, one registry per app, join
latency histograms fed by real joins through the room socket."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from core.clock import FakeClock
from signalling.app import create_app
from signalling.context import Services
from signalling.metrics import Metrics
from tests.harness import (
    RoomClient,
    join_token,
    make_backend,
    make_services,
    metrics_get,
    schedule_now,
)

Client = TestClient[Any, Any]


async def scrape(client: Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics by (name, sorted labels)."""
    resp = await metrics_get(client)
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(await resp.text()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


async def test_histograms_after_real_joins(client: Client, fake_clock: FakeClock) -> None:
    call = await schedule_now(client, fake_clock.now())
    before = await scrape(client)
    assert before[("lippejob_join_to_hello_seconds_count", ())] == 0
    assert before[("lippejob_admit_to_hello_seconds_count", ())] == 0

    host = await RoomClient.connect(client, await join_token(client, call["codes"]["caseworker"]))
    await host.expect("hello")  # straight in: the caseworker skips the waiting room
    guest = await RoomClient.connect(client, await join_token(client, call["codes"]["jobseeker"]))
    await guest.expect("waiting")
    await host.send({"type": "admit", "participant": call["ids"]["jobseeker"]})
    await guest.expect("hello")
    await guest.send({"type": "chat", "text": "hallo"})
    await guest.expect("chat")

    after = await scrape(client)
    assert after[("lippejob_join_to_hello_seconds_count", ())] == 1
    assert after[("lippejob_admit_to_hello_seconds_count", ())] == 1
    assert 0 <= after[("lippejob_join_to_hello_seconds_sum", ())] < 5
    assert 0 <= after[("lippejob_admit_to_hello_seconds_sum", ())] < 5
    assert after[("lippejob_admit_to_hello_seconds_bucket", (("le", "+Inf"),))] == 1
    assert after[("lippejob_ws_connections", ())] == 2
    assert after[("lippejob_rooms", ())] == 1
    assert after[("lippejob_ws_messages_total", (("kind", "admit"),))] == 1
    assert after[("lippejob_ws_messages_total", (("kind", "chat"),))] == 1
    assert after[("lippejob_tokens_issued_total", ())] == 2
    text = await (await metrics_get(client)).text()
    for secret in (call["appointment"]["id"], *call["ids"].values(), *call["codes"].values()):
        assert secret not in text
    await host.close()
    await guest.close()


async def test_refused_authentications_by_reason(client: Client, fake_clock: FakeClock) -> None:
    call = await schedule_now(client, fake_clock.now())
    token = await join_token(client, call["codes"]["jobseeker"])
    fake_clock.advance(3600 * 24)  # far past the token's expiry
    room = await RoomClient.connect(client, token)
    await room.closed()
    samples = await scrape(client)
    assert samples[("lippejob_ws_rejected_total", (("kind", "expired"),))] == 1


async def test_each_app_has_its_own_registry(
    services: Services, aiohttp_client: Any, client: Client, fake_clock: FakeClock
) -> None:
    other: Client = await aiohttp_client(create_app(services, with_pages=False))
    call = await schedule_now(client, fake_clock.now())
    await join_token(client, call["codes"]["jobseeker"])
    assert (await scrape(client))[("lippejob_tokens_issued_total", ())] == 1
    assert (await scrape(other))[("lippejob_tokens_issued_total", ())] == 0


async def test_openmetrics_when_asked(client: Client) -> None:
    resp = await metrics_get(client, "application/openmetrics-text")
    assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
    assert (await resp.text()).rstrip().endswith("# EOF")


def test_negative_latencies_count_as_zero() -> None:
    metrics = Metrics()
    metrics.observe_admit_to_hello(-0.2)  # another node's clock ran a little ahead
    body, _ = metrics.render()
    assert b"lippejob_admit_to_hello_seconds_sum 0.0" in body


@pytest.mark.redis
async def test_admit_on_one_node_is_timed_where_the_guest_is(
    tmp_path: Path, fake_clock: FakeClock, redis_url: str, aiohttp_client: Any
) -> None:
    apps: list[Client] = []
    backends = []
    try:
        for node in ("sig-a", "sig-b"):
            store, bus = await make_backend("redis", fake_clock, redis_url)
            backends.append((store, bus))
            services = await make_services(tmp_path, fake_clock, store, bus, node_id=node)
            apps.append(await aiohttp_client(create_app(services, with_pages=False)))
        a, b = apps
        call = await schedule_now(a, fake_clock.now())
        host = await RoomClient.connect(a, await join_token(a, call["codes"]["caseworker"]))
        await host.expect("hello")
        guest = await RoomClient.connect(b, await join_token(b, call["codes"]["jobseeker"]))
        await guest.expect("waiting")
        await host.send({"type": "admit", "participant": call["ids"]["jobseeker"]})  # node A
        await guest.expect("hello")  # node B
        on_a, on_b = await scrape(a), await scrape(b)
        assert on_a[("lippejob_join_to_hello_seconds_count", ())] == 1
        assert on_a[("lippejob_admit_to_hello_seconds_count", ())] == 0
        assert on_b[("lippejob_join_to_hello_seconds_count", ())] == 0
        assert on_b[("lippejob_admit_to_hello_seconds_count", ())] == 1
        assert 0 <= on_b[("lippejob_admit_to_hello_seconds_sum", ())] < 5
        await host.close()
        await guest.close()
    finally:
        for app in apps:  # before what they use: they may still be handling the sockets
            await app.close()
        for store, bus in backends:
            await bus.close()
            await store.close()
