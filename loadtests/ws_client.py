"""A synthetic participant that joins like the tablet does: invite code, room token, room
WebSocket, waiting room, then real aiortc peer connections negotiated over the socket.

`POST /api/join` exchanges the invite code for a token; `/ws` gets `{"type": "auth"}` first and
answers `waiting` (until someone admits) or `hello`. After `hello` the client offers its publisher
connection (`{"type": "offer", "pc": "pub", "sdp", "sources": {mid: source}}`), answers the
server's subscriber offers (`pc: "sub"`, mapping media by mid through the offer's `tracks`), and
counts what it decodes per (participant, source).

Everything stays on loopback: explicit empty ICE server lists (never aiortc's default STUN
server), host candidates on 127.0.0.1 only (the same pinning as `loadtests.client`). Candidates
travel inside the SDP, so the client does not trickle.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterable
from typing import Any

import aiohttp
import av
from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, MediaStreamTrack

from loadtests.client import LOOPBACK, ClientMedia, PatternVideoTrack, Received, wait_for
from mediaserver import network

__all__ = ["JoinRefused", "WsClient", "new_loopback_pc"]

ANSWER_TIMEOUT = 10.0


class JoinRefused(RuntimeError):
    """`POST /api/join` or the socket's authentication was refused."""


def new_loopback_pc() -> RTCPeerConnection:
    """A peer connection with an explicit, empty ICE server list and one bundled transport;
    call `network.prepare(pc, LOOPBACK)` before each `setLocalDescription`."""
    return RTCPeerConnection(
        RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
    )


class WsClient:
    """One participant speaking the room WebSocket protocol.

    `base_url` is the signalling server's root (`http://127.0.0.1:PORT`). Every client has its
    own HTTP session (like its own tablet) unless one is passed in.
    """

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
        self.base_url = base_url.rstrip("/")
        self.code = code
        self.label = label or "client"
        self.media = media or ClientMedia()
        self.answer_timeout = answer_timeout
        self.token = ""
        self.ws_url = ""
        self.id = ""  # participant id, from /api/join (or hello)
        self.join_response: dict[str, Any] = {}
        self.hello: dict[str, Any] | None = None
        self.status = "new"  # new | connecting | waiting | admitted | closed
        self.messages: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.presence: list[tuple[str, str]] = []  # (participant, state), in arrival order
        self.lobby: list[dict[str, Any]] = []
        self.close_code: int | None = None
        self.received: dict[tuple[str, str], Received] = {}
        self.tracks: dict[str, dict[str, str]] = {}  # sub mid -> participant/source
        self.sub_offers: list[dict[str, dict[str, str]]] = []  # `tracks` of every sub offer
        # Timing (time.monotonic()): the join request, hello, the first remote frame
        self.requested_at = 0.0
        self.hello_at: float | None = None
        self.first_remote_at: float | None = None
        self._session = session
        self._own_session = session is None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self._taken: set[int] = set()
        self._admitted = asyncio.Event()
        self._pub: RTCPeerConnection | None = None
        self._sub: RTCPeerConnection | None = None
        self._pub_sources: dict[Any, str] = {}  # transceiver -> source
        self._answered = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

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
        elif kind == "offer" and msg.get("pc") == "sub":
            await self._on_sub_offer(msg)
        elif kind == "answer" and msg.get("pc") == "pub":
            if self._pub is not None:
                await self._pub.setRemoteDescription(RTCSessionDescription(msg["sdp"], "answer"))
                self._answered.set()
        elif kind == "error":
            self.errors.append(msg)

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

    # --- publisher connection -------------------------------------------------------------

    async def publish(self, sources: Iterable[str]) -> None:
        """Add tracks for `sources` to the publisher connection and offer it."""
        if self._pub is None:
            self._pub = new_loopback_pc()
        for source in sources:
            track = self._make_track(source)
            transceiver = self._pub.addTransceiver(track, direction="sendonly")
            self._pub_sources[transceiver] = source
        await self._offer_pub()

    async def _offer_pub(self) -> None:
        assert self._pub is not None
        network.prepare(self._pub, LOOPBACK)
        self._answered.clear()
        await self._pub.setLocalDescription(await self._pub.createOffer())
        sources = {t.mid: s for t, s in self._pub_sources.items() if t.mid is not None}
        await self.send(
            {
                "type": "offer",
                "pc": "pub",
                "sdp": self._pub.localDescription.sdp,
                "sources": sources,
            }
        )
        try:
            await asyncio.wait_for(self._answered.wait(), self.answer_timeout)
        except TimeoutError:
            raise TimeoutError(
                f"{self.label}: no answer to the publisher offer within "
                f"{self.answer_timeout}s; errors {self.errors}"
            ) from None

    def _make_track(self, source: str) -> MediaStreamTrack:
        if source == "audio":
            return AudioStreamTrack()
        m = self.media
        return PatternVideoTrack(m.width, m.height, m.fps, label=source)

    # --- subscriber connection ------------------------------------------------------------

    async def _on_sub_offer(self, msg: dict[str, Any]) -> None:
        if self._sub is None:
            self._sub = new_loopback_pc()
            self._sub.on("track", self._on_track)
        pc = self._sub
        self.tracks = dict(msg.get("tracks") or {})
        self.sub_offers.append(self.tracks)
        await pc.setRemoteDescription(RTCSessionDescription(msg["sdp"], "offer"))
        network.prepare(pc, LOOPBACK)
        await pc.setLocalDescription(await pc.createAnswer())
        await self.send({"type": "answer", "pc": "sub", "sdp": pc.localDescription.sdp})

    def _on_track(self, track: MediaStreamTrack) -> None:
        task = asyncio.create_task(self._consume(track), name=f"ws-recv:{self.label}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _consume(self, track: MediaStreamTrack) -> None:
        pc = self._sub
        assert pc is not None
        mid = next(t.mid for t in pc.getTransceivers() if t.receiver.track is track)
        with contextlib.suppress(MediaStreamError):
            while True:
                item = await track.recv()
                info = self.tracks.get(mid)
                if info is None or pc is not self._sub:
                    continue
                stats = self.received.setdefault((info["participant"], info["source"]), Received())
                now = time.monotonic()
                stats.frames += 1
                stats.first_at = stats.first_at or now
                stats.last_at = now
                if self.first_remote_at is None:
                    self.first_remote_at = now
                if isinstance(item, av.VideoFrame):
                    stats.sizes.add((item.width, item.height))

    # --- what arrived ---------------------------------------------------------------------

    def frames(self, participant: str, source: str) -> int:
        stats = self.received.get((participant, source))
        return stats.frames if stats else 0

    def first_frame_at(self, participant: str, source: str) -> float | None:
        stats = self.received.get((participant, source))
        return stats.first_at if stats else None

    def reset_received(self) -> None:
        self.received.clear()

    async def wait_frames(
        self,
        participant: str,
        sources: Iterable[str] = ("audio", "video"),
        count: int = 3,
        within: float = 10.0,
    ) -> float:
        """Until at least `count` frames of each source of `participant` were decoded."""
        wanted = tuple(sources)
        return await wait_for(
            lambda: all(self.frames(participant, s) >= count for s in wanted),
            f"{self.label} to decode {count} {'/'.join(wanted)} frames from {participant}",
            within,
        )

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

    async def _close_pcs(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for pc in (self._pub, self._sub):
            if pc is not None:
                await pc.close()
        self._pub = self._sub = None
        self._pub_sources.clear()
        self.tracks = {}

    async def close(self) -> None:
        """Close the socket (first: a late re-offer must not open a new connection), the peer
        connections and the client's own HTTP session; idempotent."""
        await self._close_socket()
        await self._close_pcs()
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None
