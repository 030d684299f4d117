"""The public listening socket, with limits aiohttp does not set by itself: a deadline for a
connection's first request head (TLS handshake included), and caps on open connections per
peer address and in total.

The listener accepts connections itself, so that one over a cap is reset before any TLS or
HTTP work is spent on it; the rest go to the aiohttp runner's protocol through a thin wrapper
that enforces the deadline. Later requests on a kept-alive connection are bounded by aiohttp's
`keepalive_timeout` (our `http_idle_timeout`). Trusted proxies are exempt from the
per-address cap (every client behind them shares their address), not from the total.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import structlog
from aiohttp import web

from core.settings import Settings
from signalling.http.client_address import TrustedProxies

log = structlog.get_logger(__name__)

_HEAD_END = b"\r\n\r\n"


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float = 10.0  # seconds from accept to a complete first request head
    idle_timeout: float = 60.0  # a kept-alive connection waiting for its next request
    per_address: int = 200
    total: int = 2000

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionLimits:
        return cls(
            header_timeout=settings.http_header_timeout,
            idle_timeout=settings.http_idle_timeout,
            per_address=settings.max_connections_per_address,
            total=settings.max_connections,
        )


class ConnectionCounts:
    """Open connections by peer address and in total."""

    def __init__(self, limits: ConnectionLimits, exempt: Callable[[str], bool]) -> None:
        self._limits = limits
        self._exempt = exempt
        self._by_address: dict[str, int] = {}
        self.total = 0
        self.refused = 0

    def admit(self, address: str) -> bool:
        """Count a new connection from `address`, or refuse it (False) if over a cap."""
        held = self._by_address.get(address, 0)
        if self.total >= self._limits.total or (
            held >= self._limits.per_address and not self._exempt(address)
        ):
            self.refused += 1
            return False
        self._by_address[address] = held + 1
        self.total += 1
        return True

    def release(self, address: str) -> None:
        held = self._by_address.get(address, 0) - 1
        if held > 0:
            self._by_address[address] = held
        else:
            self._by_address.pop(address, None)
        self.total -= 1

    def held(self, address: str) -> int:
        return self._by_address.get(address, 0)


class _Slot:
    """One counted connection; released exactly once, however it ends."""

    def __init__(self, counts: ConnectionCounts, address: str) -> None:
        self._counts = counts
        self._address = address
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._counts.release(self._address)


class _Guarded(asyncio.Protocol):
    """Hands everything to aiohttp's protocol; closes the connection if no complete request
    head came by the deadline (data trickling in does not move it)."""

    def __init__(self, inner: asyncio.Protocol, deadline: float, slot: _Slot) -> None:
        self._inner = inner
        self._deadline = deadline
        self._slot = slot
        self._head_seen = False
        self._tail = b""
        self._timer: asyncio.TimerHandle | None = None
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's is not a subclass of asyncio.Transport, so no check).
        self._transport = cast(asyncio.Transport, transport)
        self._timer = asyncio.get_running_loop().call_at(self._deadline, self._expire)
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if not self._head_seen:
            window = self._tail + data
            if _HEAD_END in window:
                self._head_seen = True
                self._cancel_timer()
            else:
                self._tail = window[-(len(_HEAD_END) - 1) :]
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        self._slot.release()
        self._inner.connection_lost(exc)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        if not self._head_seen and self._transport is not None:
            self._transport.abort()


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset: the client learns at once, and we keep no TIME_WAIT."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class Listener:
    """Accepts on `host:port` for an aiohttp runner, within `limits`."""

    def __init__(
        self,
        runner: web.BaseRunner,
        limits: ConnectionLimits,
        trusted: TrustedProxies,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._runner = runner
        self._limits = limits
        self._ssl = ssl_context
        self.counts = ConnectionCounts(limits, trusted.__contains__)
        self._sock: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._handshakes: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._sock is not None, "not started"
        return int(self._sock.getsockname()[1])

    async def start(self, host: str, port: int) -> None:
        family, _, _, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.create_server(address[:2], family=family, backlog=1024)
        sock.setblocking(False)
        self._sock = sock
        self._accepting = asyncio.create_task(self._accept(sock))

    async def close(self) -> None:
        """Stop accepting; connections already handed over close with the runner."""
        if self._accepting is not None:
            self._accepting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._accepting
            self._accepting = None
        for task in list(self._handshakes):
            task.cancel()
        if self._handshakes:
            await asyncio.gather(*self._handshakes, return_exceptions=True)
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    async def _accept(self, listening: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, peer = await loop.sock_accept(listening)
            except OSError as exc:  # out of file descriptors, mostly: let some close first
                log.warning("accept_failed", errno=exc.errno)
                await asyncio.sleep(0.1)
                continue
            address = str(peer[0]) if isinstance(peer, tuple) else "unknown"
            if not self.counts.admit(address):
                _reset(sock)
                continue
            slot = _Slot(self.counts, address)
            task = asyncio.create_task(self._hand_over(sock, slot, loop.time()))
            self._handshakes.add(task)
            task.add_done_callback(self._handshakes.discard)

    async def _hand_over(self, sock: socket.socket, slot: _Slot, accepted_at: float) -> None:
        server = self._runner.server
        assert server is not None, "the runner is not set up"
        deadline = accepted_at + self._limits.header_timeout

        def guarded() -> asyncio.Protocol:
            return _Guarded(server(), deadline, slot)

        loop = asyncio.get_running_loop()
        try:
            await loop.connect_accepted_socket(
                guarded,
                sock,
                ssl=self._ssl,
                ssl_handshake_timeout=self._limits.header_timeout if self._ssl else None,
            )
        except (OSError, ssl.SSLError, TimeoutError, asyncio.CancelledError):
            slot.release()  # the handshake failed or timed out: never reached the protocol
            sock.close()
