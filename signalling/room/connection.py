"""One room socket as this signalling node holds it: its token's claims, its state, a rate
limit, and sends that cannot stall the node (a slow socket is closed, not waited for)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiohttp import web

from core.contracts.client import CloseCode
from core.model import MemberState
from signalling.auth.tokens import RoomClaims

log = structlog.get_logger(__name__)

RATE_PER_SECOND = 20.0  # messages a socket may send, sustained
RATE_BURST = 60.0  # ... and in a burst (a trickle of ICE candidates, a chat flurry)
SEND_TIMEOUT = 5.0  # seconds a socket may take to accept one message


@dataclass(eq=False)
class Connection:
    """One authenticated room socket on this node."""

    ws: web.WebSocketResponse
    claims: RoomClaims
    conn_id: str = field(default_factory=lambda: secrets.token_hex(8))
    status: MemberState = MemberState.WAITING
    closing: bool = False  # replaced, denied or ended: its close must not count as leaving
    stored: bool = False  # its presence was written (an attaching socket's is not yet)
    exp: int = 0  # expiry of the newest token this socket holds (refresh moves it)
    authed_at: float = field(default_factory=time.monotonic)  # its auth message arrived
    admitted_at: float | None = None  # wall time of the admit that let it in, if any
    welcomed: bool = False  # its `waiting` was sent: room messages to the waiting may follow
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _closer: asyncio.Task[None] | None = None
    _allowance: float = RATE_BURST
    _checked_at: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.exp = self.claims.exp

    def allow(self) -> bool:
        """Token bucket: RATE_PER_SECOND messages a second, bursts up to RATE_BURST."""
        now = time.monotonic()
        self._allowance = min(
            RATE_BURST, self._allowance + (now - self._checked_at) * RATE_PER_SECOND
        )
        self._checked_at = now
        if self._allowance < 1:
            return False
        self._allowance -= 1
        return True

    @property
    def room(self) -> str:
        return self.claims.room

    @property
    def pid(self) -> str:
        return self.claims.sub

    async def send(self, message: dict[str, Any]) -> None:
        """Send, unless closed; a reader too slow to take it within SEND_TIMEOUT is closed
        rather than allowed to hold up the room."""
        if self.ws.closed:
            return
        async with self._lock:
            try:
                # asyncio.timeout, not wait_for: no task per message (several per admission)
                async with asyncio.timeout(SEND_TIMEOUT):
                    await self.ws.send_json(message)
            except TimeoutError:
                log.warning("ws_slow_consumer", appointment=self.room, participant=self.pid)
                self.close_soon(CloseCode.SLOW, "too slow to keep up", handled=False)
            except (ConnectionError, RuntimeError):
                pass

    async def close(self, code: CloseCode, reason: str) -> None:
        self.closing = True
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.ws.close(code=int(code), message=reason.encode())

    def close_soon(self, code: CloseCode, reason: str, *, handled: bool = True) -> None:
        """Close from another task than the socket's reader: the close handshake waits for
        the reader, and the socket's handler waits for the close (`wait_closed`). Unless
        `handled`, the close then counts as a lost socket (presence, media) like any other."""
        if handled:
            self.closing = True
        if self._closer is None:
            self._closer = asyncio.create_task(self.close(code, reason), name="ws-close")

    async def wait_closed(self) -> None:
        if self._closer is not None:
            await self._closer
