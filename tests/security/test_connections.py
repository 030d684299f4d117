"""Issue 10, item 8: with real sockets against a real listening server, connections that do
not finish their request head are closed after the header timeout (trickling bytes does not
help), and one address cannot hold more than its cap while another is still served."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from core.clock import FakeClock
from signalling.app import create_app
from signalling.http.client_address import TrustedProxies
from signalling.http.listener import ConnectionLimits, Listener
from tests.harness import make_backend, make_services

LIMITS = ConnectionLimits(header_timeout=0.6, idle_timeout=5.0, per_address=4, total=6)
PARTIAL = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"


@pytest.fixture
async def listener(
    tmp_path: Path, fake_clock: FakeClock, database_url: str
) -> AsyncIterator[Listener]:
    stores, bus = await make_backend("memory", fake_clock, None, database_url)
    services = await make_services(tmp_path, fake_clock, stores, bus)
    runner = web.AppRunner(
        create_app(services, with_pages=False), keepalive_timeout=LIMITS.idle_timeout
    )
    await runner.setup()
    served = Listener(runner, LIMITS, TrustedProxies())
    await served.start("127.0.0.1", 0)
    yield served
    await served.close()
    await runner.cleanup()
    await bus.close()
    await stores.close()


Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _open(port: int, source: str = "127.0.0.1") -> Stream:
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    """True if the server closed (EOF or reset) within `seconds`, without answering."""
    try:
        data = await asyncio.wait_for(reader.read(1024), seconds)
    except TimeoutError:
        return False
    except ConnectionError:
        return True
    return data == b""


async def _healthz(port: int, source: str) -> bytes:
    reader, writer = await _open(port, source)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return answer


async def test_partial_headers_are_cut_off_after_the_timeout(listener: Listener) -> None:
    reader, writer = await _open(listener.port)
    writer.write(PARTIAL)
    started = time.monotonic()
    # Trickle a header byte every 0.1 s: the deadline does not move.
    closed = False
    for _ in range(30):
        writer.write(b"X")
        with_data = await _closed_within(reader, 0.1)
        if with_data:
            closed = True
            break
    waited = time.monotonic() - started
    assert closed, "a connection without a complete request head stayed open"
    assert LIMITS.header_timeout - 0.1 <= waited < LIMITS.header_timeout + 1.5
    writer.close()
    await asyncio.sleep(0.05)
    assert listener.counts.total == 0  # its slot is free again


async def test_one_address_is_capped_while_another_is_served(listener: Listener) -> None:
    held = [await _open(listener.port) for _ in range(LIMITS.per_address)]
    for _, writer in held:
        writer.write(PARTIAL)
    await asyncio.sleep(0.05)
    assert listener.counts.held("127.0.0.1") == LIMITS.per_address
    extra_reader, extra_writer = await _open(listener.port)
    started = time.monotonic()
    assert await _closed_within(extra_reader, 0.3), "the connection over the cap was kept"
    assert time.monotonic() - started < 0.3
    # A second loopback address is still answered.
    answer = await _healthz(listener.port, "127.0.0.2")
    assert answer.startswith(b"HTTP/1.1 200")
    for _, writer in (*held, (extra_reader, extra_writer)):
        writer.close()


async def test_the_total_cap_holds_across_addresses(listener: Listener) -> None:
    held = [await _open(listener.port, "127.0.0.1") for _ in range(LIMITS.per_address)]
    held += [await _open(listener.port, "127.0.0.2") for _ in range(LIMITS.total - len(held))]
    await asyncio.sleep(0.05)
    reader, writer = await _open(listener.port, "127.0.0.3")
    assert await _closed_within(reader, 0.3)
    for _, w in (*held, (reader, writer)):
        w.close()
    # Slots come back when connections close.
    for _ in range(50):
        if listener.counts.total == 0:
            break
        await asyncio.sleep(0.02)
    assert (await _healthz(listener.port, "127.0.0.3")).startswith(b"HTTP/1.1 200")


async def test_a_complete_request_is_not_cut_off(listener: Listener) -> None:
    reader, writer = await _open(listener.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 200")
    await asyncio.sleep(LIMITS.header_timeout + 0.3)  # kept alive past the head deadline
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    rest = await asyncio.wait_for(reader.read(), 5)
    assert b"HTTP/1.1 200" in rest
    writer.close()
