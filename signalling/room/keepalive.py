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
        # Silence counts only while the socket's handler listens: while it works on a message
        # (an auth that waits for the store under a burst of joins), the client's frames wait
        # unread in the socket's queue and would look like silence.
        self.listening_since: float | None = None

    def listening(self) -> None:
        """The handler waits for the next frame from now on."""
        self.listening_since = self._clock()

    def seen(self) -> None:
        self.last_seen = self._clock()
        self.listening_since = None
        self.pinged = False

    def due(self) -> str | None:
        """What to do now: 'ping', 'close' or nothing."""
        if self.listening_since is None:
            return None
        silent = self._clock() - max(self.last_seen, self.listening_since)
        if silent >= self.interval + self.timeout:
            return "close"
        if silent >= self.interval and not self.pinged:
            return "ping"
        return None

    def until_due(self, tick: float) -> float:
        """Seconds until `due()` may change: the next ping or close deadline, if the client
        stays silent; at most `tick` (a busy handler, or a frame, moves the deadlines)."""
        if self.listening_since is None:
            return tick
        silent = self._clock() - max(self.last_seen, self.listening_since)
        deadline = self.interval if not self.pinged else self.interval + self.timeout
        return min(tick, max(deadline - silent, 0.0))

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
                # A frame that arrived while this loop ran late may not have been read yet:
                # let the handler take what is queued, then judge again.
                for _ in range(3):
                    await asyncio.sleep(0)
                if self.due() != "close":
                    continue
                self.lapsed = True
                with contextlib.suppress(ConnectionError, RuntimeError, TimeoutError):
                    await asyncio.wait_for(
                        self.ws.close(code=int(CloseCode.NO_HEARTBEAT), message=b"no heartbeat"),
                        timeout=CLOSE_WAIT,
                    )
                if not self.ws.closed:
                    abort()
                return
            await asyncio.sleep(self.until_due(tick))
