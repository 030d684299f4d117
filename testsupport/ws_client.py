"""A synthetic participant that joins like the tablet does: invite code, room token, room
WebSocket, waiting room, then real aiortc peer connections negotiated over the socket.

`POST /api/join` exchanges the invite code for a token; `/ws` gets `{"type": "auth"}` first and
answers `waiting` (until someone admits) or `hello`. After `hello` the client offers its publisher
connection (`{"type": "offer", "pc": "pub", "sdp", "sources": {mid: source}}`), answers the
server's subscriber offers (`pc: "sub"`, mapping media by mid through the offer's `tracks`), and
counts what it decodes per (participant, source).

Everything stays on loopback: explicit empty ICE server lists (never aiortc's default STUN
server), host candidates on 127.0.0.1 only (the same pinning as `testsupport.client`). Candidates
travel inside the SDP, so the client does not trickle.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import aiohttp

from testsupport.client import ClientMedia, MediaPeer, new_loopback_pc

__all__ = ["JoinRefused", "WsClient", "new_loopback_pc"]

ANSWER_TIMEOUT = 10.0


class JoinRefused(RuntimeError):
    """`POST /api/join` or the socket's authentication was refused."""


class WsClient(MediaPeer):
    """One participant speaking the room WebSocket protocol.

    `base_url` is the signalling server's root (`http://127.0.0.1:PORT`). Every client has its
    own HTTP session (like its own tablet) unless one is passed in.
    """

    recv_task_prefix = "ws-recv"

    def __init__(
        self,
        base_url: str,
        code: str | None = None,
        *,
        label: str = "",
        media: ClientMedia | None = None,
        session: aiohttp.ClientSession | None = None,
        answer_timeout: float = ANSWER_TIMEOUT,
    ) -> None:
        super().__init__(label or "client", media, answer_timeout)
        self.base_url = base_url.rstrip("/")
        self.code = code
        self.token = ""
        self.ws_url = ""
        self.id = ""  # participant id, from /api/join (or hello)
        self.join_response: dict[str, Any] = {}
        self.hello: dict[str, Any] | None = None
        self.status = "new"  # new | connecting | waiting | admitted | closed
        self.messages: list[dict[str, Any]] = []
        self.presence: list[tuple[str, str]] = []  # (participant, state), in arrival order
        self.lobby: list[dict[str, Any]] = []
        self.close_code: int | None = None
        # Timing (time.monotonic()): the join request, hello
        self.requested_at = 0.0
        self.hello_at: float | None = None
        self._session = session
        self._own_session = session is None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._taken: set[int] = set()
        self._admitted = asyncio.Event()
        # A media worker that shuts down says `media_moved`: the client comes back (new socket,
        # new peer connections) as a tablet does, and lands on another worker.
        self.moves = 0
        self._moving: asyncio.Task[None] | None = None

    @property
    def sub_offers(self) -> list[dict[str, dict[str, str]]]:
        """The `tracks` of every subscriber offer, in arrival order."""
        return self.offered_tracks

    # --- HTTP and socket ------------------------------------------------------------------

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def fetch_token(self) -> str:
        """`POST /api/join` with the invite code (consenting): the room token."""
        assert self.code is not None, "no invite code"
        self.requested_at = time.monotonic()
        async with self.session.post(
            f"{self.base_url}/api/join", json={"code": self.code, "consent": True}
        ) as resp:
            body = await resp.json()
            if resp.status != 200:
                raise JoinRefused(f"/api/join answered {resp.status}: {body}")
        self.join_response = body
        self.token = body["token"]
        self.ws_url = body["ws_url"]
        self.id = body["participant"]["id"]
        return self.token

    async def connect(self, token: str | None = None) -> None:
        """Open the room socket and authenticate (with `token`, else the fetched one)."""
        if token is not None:
            self.token = token
        if not self.token:
            await self.fetch_token()
        if not self.requested_at:
            self.requested_at = time.monotonic()
        url = self.ws_url or f"{self.base_url.replace('http', 'ws', 1)}/ws"
        self._admitted.clear()
        self.status = "connecting"
        self.close_code = None
        self._ws = await self.session.ws_connect(url)
        await self._ws.send_str(json.dumps({"type": "auth", "token": self.token}))
        self._reader = asyncio.create_task(self._read(self._ws), name=f"ws-read:{self.label}")

    async def send(self, message: dict[str, Any]) -> None:
        assert self._ws is not None, "not connected"
        await self._ws.send_str(json.dumps(message))

    async def signal(self, msg: dict[str, Any]) -> None:
        await self.send(msg)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            async for raw in ws:
                if raw.type != aiohttp.WSMsgType.TEXT:
                    continue
                msg = json.loads(raw.data)
                self.messages.append(msg)
                try:
                    await self._on_message(msg)
                except Exception as exc:  # keep reading: the test sees it in `errors`
                    self.errors.append({"type": "client_error", "message": repr(exc)})
        finally:
            if ws is self._ws:
                self.close_code = ws.close_code
                self.status = "closed"

    async def _on_message(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind == "hello":
            self.hello = msg
            self.hello_at = time.monotonic()
            self.id = msg["participant"]["id"]
            self.status = "admitted"
            self._admitted.set()
        elif kind == "waiting":
            self.status = "waiting"
        elif kind == "presence":
            self.presence.append((msg["participant"], msg["state"]))
        elif kind == "lobby":
            self.lobby = list(msg["waiting"])
        elif kind == "error" and msg.get("code") == "media_moved":
            self.moves += 1
            # Not in this reader: rejoining closes the socket it reads.
            self._moving = asyncio.create_task(self.rejoin(), name=f"ws-move:{self.label}")
        else:
            await self._on_signal(msg)

    async def expect(self, kind: str, within: float = 5.0, **fields: Any) -> dict[str, Any]:
        """The oldest not yet expected message of `kind` with `fields`, waiting for it."""
        deadline = time.monotonic() + within
        while True:
            for index, msg in enumerate(self.messages):
                if index in self._taken:
                    continue
                if msg.get("type") == kind and all(msg.get(k) == v for k, v in fields.items()):
                    self._taken.add(index)
                    return msg
            if time.monotonic() > deadline:
                seen = [m.get("type") for m in self.messages]
                raise TimeoutError(f"{self.label}: no {kind!r} {fields} in {within}s; saw {seen}")
            await asyncio.sleep(0.02)

    # --- joining --------------------------------------------------------------------------

    async def join(self, publish: bool = True, admitted_within: float = 10.0) -> None:
        """Token, socket, waiting room (until admitted), then publish `media.publish`."""
        await self.connect()
        await self.wait_admitted(admitted_within)
        if publish and self.media.publish:
            await self.publish(self.media.publish)

    async def wait_admitted(self, within: float = 10.0) -> None:
        try:
            await asyncio.wait_for(self._admitted.wait(), within)
        except TimeoutError:
            raise JoinRefused(
                f"{self.label}: not admitted within {within}s (status {self.status}, "
                f"close code {self.close_code}, saw {[m.get('type') for m in self.messages]})"
            ) from None

    async def admit(self, participant: str) -> None:
        await self.send({"type": "admit", "participant": participant})

    # --- what arrived ---------------------------------------------------------------------

    def join_latency(self, participant: str | None = None, source: str = "video") -> float | None:
        """Seconds from `POST /api/join` (or the socket's auth) to the first decoded remote
        frame (of `participant`'s `source`, if given)."""
        first = (
            self.first_remote_at
            if participant is None
            else self.first_frame_at(participant, source)
        )
        return None if first is None else first - self.requested_at

    # --- leaving --------------------------------------------------------------------------

    async def leave(self) -> None:
        """Say `leave`, then close everything."""
        if self._ws is not None and not self._ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.send({"type": "leave"})
        await self.close()

    async def drop(self) -> None:
        """Lose the socket without `leave` (a network change) and the peer connections with
        it; the token is kept for `rejoin`."""
        await self._close_socket()
        await self._close_pcs()

    async def rejoin(self, publish: bool = True) -> None:
        """Come back with the same token: new socket, new peer connections."""
        await self._close_socket()
        await self._close_pcs()
        self.reset_received()
        self.first_remote_at = None
        self.hello = None
        self.requested_at = time.monotonic()
        await self.connect()
        await self.wait_admitted()
        if publish and self.media.publish:
            await self.publish(self.media.publish)

    async def _close_socket(self) -> None:
        ws, reader = self._ws, self._reader
        if ws is not None:
            await ws.close()
        if reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        self._reader = None
        self.status = "closed"

    async def close(self) -> None:
        """Close the socket (first: a late re-offer must not open a new connection), the peer
        connections and the client's own HTTP session; idempotent."""
        if self._moving is not None and not self._moving.done():
            self._moving.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._moving
        await self._close_socket()
        await self._close_pcs()
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None
