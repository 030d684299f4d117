"""Liveness of one room socket: ping a client that has gone silent, close one that stays silent.

aiohttp's own heartbeat waits for a pong only half the ping interval: a detection bound of
6 s then leaves a client 2 s to answer, and a busy tablet (or a loaded test machine) that
answers in 3 s lost its socket and, with it, its media, which everyone else's connection then
had to renegotiate. Here the two are separate settings: ping after `interval` seconds of
silence, give up after `interval + timeout` (2 + 4 = 6 s by default, a pong may take 4 s).

Any frame from the client counts as a sign of life, so a talkative client is never pinged.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import structlog
from aiohttp import web

from core.contracts.client import CloseCode

log = structlog.get_logger(__name__)

Clock = Callable[[], float]
CLOSE_WAIT = 1.0  # seconds a lapsed client gets to answer the close frame


class Keepalive:
    """Watches one socket; call `seen()` for every frame that arrives, run `watch()` as a task."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        *,
        interval: float,
        timeout: float,
        clock: Clock = time.monotonic,
    ) -> None:
        self.ws = ws
        self.interval = interval
        self.timeout = timeout
        self._clock = clock
        self.last_seen = clock()
        self.pinged = False
        self.lapsed = False

    def seen(self) -> None:
        self.last_seen = self._clock()
        self.pinged = False

    def due(self) -> str | None:
        """What to do now: 'ping', 'close' or nothing."""
        silent = self._clock() - self.last_seen
        if silent >= self.interval + self.timeout:
            return "close"
        if silent >= self.interval and not self.pinged:
            return "ping"
        return None

    async def watch(self, abort: Callable[[], None]) -> None:
        """Until the socket closes: ping when due; when the client stayed silent, close the
        socket (a close frame, then `abort()` drops the connection if no answer comes soon:
        a frozen client reads nothing)."""
        tick = min(self.interval, self.timeout) / 4
        while not self.ws.closed:
            action = self.due()
            if action == "ping":
                self.pinged = True
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await self.ws.ping()
            elif action == "close":
                self.lapsed = True
                with contextlib.suppress(ConnectionError, RuntimeError, TimeoutError):
                    await asyncio.wait_for(
                        self.ws.close(code=int(CloseCode.NO_HEARTBEAT), message=b"no heartbeat"),
                        timeout=CLOSE_WAIT,
                    )
                if not self.ws.closed:
                    abort()
                return
            await asyncio.sleep(tick)
