"""A synthetic participant: real aiortc peer connections speaking the media bus contract.

Used by the media tests and by the benchmarks. It publishes generated video (small frames) and
audio on a client-offered publisher connection, answers the server's subscriber offers, and
records what it receives per (participant, source), decoding it (default) or, in `raw` mode,
keeping the encoded frames to compare bytes. In `raw` mode the client also publishes
pre-encoded media (encoded once with PyAV, replayed in a loop), so neither side of the client
runs aiortc's codec classes: any codec call in the process is the server's.

The peer-connection side (publisher offer, subscriber answers, counting what arrives) is
`MediaPeer`, shared with the WebSocket client (`testsupport.ws_client`); `SyntheticClient` adds
only the bus transport and the media `join`.

Everything stays on loopback: explicit empty ICE server lists, host candidates on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import hashlib
import itertools
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np
from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, MediaStreamTrack

from core.bus.base import Bus, Subscription, media_channel, room_channel
from core.contracts import media as media_contract
from core.contracts import room as room_events
from mediaserver import network
from testsupport import encoded, remb
from testsupport.wait import wait_for

LOOPBACK = network.HostPlan(bind=("127.0.0.1",), port_min=0, port_max=0, announce={})
VIDEO_TIME_BASE = fractions.Fraction(1, 90000)
AUDIO_TIME_BASE = fractions.Fraction(1, 48000)


def digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=12).hexdigest()


# --- generated media ----------------------------------------------------------------------


def pattern_frames(width: int, height: int, count: int) -> list[np.ndarray]:
    """`count` distinct yuv420p images: a bright bar moving over a gradient."""
    frames = []
    base = (np.arange(width, dtype=np.uint16)[None, :] * 200 // max(width, 1)).astype(np.uint8)
    for i in range(count):
        y = np.repeat(base, height, axis=0)
        x0 = (i * width // count) % width
        y[:, x0 : x0 + max(2, width // 10)] = 235
        uv = np.full((height // 2, width), 128, dtype=np.uint8)
        uv[:, : width // 2] = (60 + 8 * i) % 256
        frames.append(np.vstack([y, uv]))
    return frames


class _Paced:
    """Paces a generated track at `rate` items per second with pts in `time_base` units."""

    def __init__(self, step: int) -> None:
        self._step = step
        self._start: float | None = None
        self._index = 0

    async def next(self, period: float) -> int:
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._index += 1
            wait = self._start + self._index * period - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        return self._index * self._step


class PatternVideoTrack(MediaStreamTrack):  # type: ignore[misc]
    """Raw frames for aiortc's encoder; the track id carries the source ("screen-...")."""

    kind = "video"

    def __init__(self, width: int, height: int, fps: int, label: str = "video") -> None:
        super().__init__()
        self._id = f"{label}-{uuid.uuid4().hex[:8]}"
        self._fps = fps
        self._images = itertools.cycle(pattern_frames(width, height, fps))
        self._pace = _Paced(90000 // fps)

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        pts = await self._pace.next(1 / self._fps)
        frame = av.VideoFrame.from_ndarray(next(self._images), format="yuv420p")
        frame.pts = pts
        frame.time_base = VIDEO_TIME_BASE
        return frame


class EncodedLoop:
    """Frames encoded once with PyAV (not aiortc's encoder), replayed forever."""

    def __init__(
        self,
        packets: list[bytes],
        keyframes: list[bool],
        period: float,
        step: int,
        time_base: fractions.Fraction,
    ) -> None:
        self.packets = packets
        self.keyframes = keyframes
        self.period = period
        self.step = step
        self.time_base = time_base
        self.digests = {digest(p) for p in packets}

    @classmethod
    def vp8(
        cls,
        width: int,
        height: int,
        fps: int,
        seconds: float = 2.0,
        bitrate: int = 300_000,
        gop: int | None = None,
    ) -> EncodedLoop:
        codec = av.CodecContext.create("libvpx", "w")
        codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
        codec.bit_rate = bitrate
        codec.time_base = fractions.Fraction(1, fps)
        codec.gop_size = gop or fps
        codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
        count = max(1, int(seconds * fps))
        packets: list[bytes] = []
        keys: list[bool] = []
        for i, image in enumerate(pattern_frames(width, height, count)):
            frame = av.VideoFrame.from_ndarray(image, format="yuv420p")
            frame.pts = i
            for packet in codec.encode(frame):
                packets.append(bytes(packet))
                keys.append(bool(packet.is_keyframe))
        for packet in codec.encode(None):
            packets.append(bytes(packet))
            keys.append(bool(packet.is_keyframe))
        assert keys[0], "the loop must start with a keyframe"
        return cls(packets, keys, 1 / fps, 90000 // fps, VIDEO_TIME_BASE)

    @classmethod
    def opus(cls, seconds: float = 1.0) -> EncodedLoop:
        codec = av.CodecContext.create("libopus", "w")
        codec.sample_rate = 48000
        codec.layout = "stereo"
        codec.format = "s16"
        codec.bit_rate = 32000
        codec.time_base = AUDIO_TIME_BASE
        packets: list[bytes] = []
        samples = 960
        for i in range(int(seconds * 50)):
            t = (np.arange(samples) + i * samples) / 48000
            tone = (3000 * np.sin(2 * math.pi * 440 * t)).astype(np.int16)
            frame = av.AudioFrame.from_ndarray(
                np.repeat(tone, 2)[None, :], format="s16", layout="stereo"
            )
            frame.sample_rate = 48000
            frame.pts = i * samples
            packets += [bytes(p) for p in codec.encode(frame)]
        packets += [bytes(p) for p in codec.encode(None)]
        return cls(packets, [True] * len(packets), 0.02, samples, AUDIO_TIME_BASE)


class EncodedTrack(MediaStreamTrack):  # type: ignore[misc]
    """Hands pre-encoded packets to aiortc's sender, which only packetizes them."""

    def __init__(self, kind: str, loop: EncodedLoop, label: str | None = None) -> None:
        super().__init__()
        self.kind = kind
        self._id = f"{label or kind}-{uuid.uuid4().hex[:8]}"
        self._loop = loop
        self._items = itertools.cycle(range(len(loop.packets)))
        self._pace = _Paced(loop.step)
        self.sent = 0

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        pts = await self._pace.next(self._loop.period)
        index = self._next_index()
        packet = av.Packet(self._loop.packets[index])
        packet.pts = pts
        packet.time_base = self._loop.time_base
        self.sent += 1
        return packet

    def _next_index(self) -> int:
        """The loop's next packet, chosen when it is due (as an encoder encodes a frame when
        it is captured)."""
        return next(self._items)


# --- the client ---------------------------------------------------------------------------


@dataclass
class Received:
    """What arrived from one remote (participant, source)."""

    frames: int = 0
    first_at: float | None = None
    last_at: float | None = None
    sizes: set[tuple[int, int]] = field(default_factory=set)
    digests: list[str] = field(default_factory=list)  # raw mode
    keyframes: int = 0
    starts_with_keyframe: bool | None = None  # raw mode: was the first frame a keyframe


@dataclass
class ClientMedia:
    """What a synthetic client publishes and how it receives."""

    publish: tuple[str, ...] = ("audio", "video")
    width: int = 160
    height: int = 120
    fps: int = 15
    raw: bool = False  # pre-encoded publishing, encoded receiving (bytes are compared)
    video_bitrate: int = 300_000
    video_codec: str = ""  # e.g. "video/H264" to offer only that codec (aiortc encodes it)
    keep_digests: bool = True


def new_loopback_pc() -> RTCPeerConnection:
    """A peer connection with an explicit, empty ICE server list and one bundled transport;
    call `network.prepare(pc, LOOPBACK)` before each `setLocalDescription`."""
    return RTCPeerConnection(
        RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
    )


class MediaPeer:
    """The media side of a synthetic participant, whatever carries its signalling.

    A client-offered publisher connection (`{"type": "offer", "pc": "pub", "sdp", "sources":
    {mid: source}}`), answers to the server's subscriber offers (`pc: "sub"`, media mapped by
    mid through the offer's `tracks`) and what arrived per (participant, source). Subclasses
    carry the messages: they implement `signal()` and hand what the server sends to
    `_on_signal()`.
    """

    recv_task_prefix = "peer-recv"  # receiving tasks are named "<prefix>:<label>"

    def __init__(
        self, label: str, media: ClientMedia | None = None, answer_timeout: float = 10.0
    ) -> None:
        self.label = label
        self.media = media or ClientMedia()
        self.answer_timeout = answer_timeout
        self.errors: list[dict[str, Any]] = []
        self.received: dict[tuple[str, str], Received] = {}
        self.tracks: dict[str, dict[str, str]] = {}  # sub mid -> participant/source
        self.offered_tracks: list[dict[str, dict[str, str]]] = []  # `tracks` of every sub offer
        self.first_remote_at: float | None = None  # time.monotonic() of the first remote item
        self.video_loop: EncodedLoop | None = None
        self.audio_loop: EncodedLoop | None = None
        self._pub: RTCPeerConnection | None = None
        self._sub: RTCPeerConnection | None = None
        # The subscriber offer answered last: (seq, offer sdp, answer sdp).
        self._last_answer: tuple[int, str, str] | None = None
        self._pub_sources: dict[Any, str] = {}  # transceiver -> source
        self._answered = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        # What the client does with a subscriber offer; tests replace it to lose or garble one.
        self.on_sub_offer: Callable[[dict[str, Any]], Awaitable[None]] = self.answer_sub_offer

    async def signal(self, msg: dict[str, Any]) -> None:
        """Send one media signalling message to the server."""
        raise NotImplementedError

    async def _on_signal(self, msg: dict[str, Any]) -> None:
        """The server's media messages: the publisher's answer, subscriber offers, errors."""
        kind = msg.get("type")
        if kind == "answer" and msg.get("pc") == "pub":
            if self._pub is not None:
                await self._pub.setRemoteDescription(RTCSessionDescription(msg["sdp"], "answer"))
                self._answered.set()
        elif kind == "offer" and msg.get("pc") == "sub":
            await self.on_sub_offer(msg)
        elif kind == "error":
            self.errors.append(msg)

    # --- publisher connection -------------------------------------------------------------

    async def publish(self, sources: Iterable[str]) -> None:
        """Add tracks for `sources` to the publisher connection and offer it."""
        if self._pub is None:
            self._pub = new_loopback_pc()
        for source in sources:
            track = self._make_track(source)
            transceiver = self._pub.addTransceiver(track, direction="sendonly")
            if source != "audio" and self.media.video_codec:
                transceiver.setCodecPreferences(
                    [
                        c
                        for c in RTCRtpSender.getCapabilities("video").codecs
                        if c.mimeType.lower() == self.media.video_codec.lower()
                    ][:1]
                )
            self._pub_sources[transceiver] = source
        await self._offer_pub()

    async def stop_publishing(self, source: str) -> None:
        """Stop sending `source` (aiortc has no removeTrack: the m-line goes inactive)."""
        assert self._pub is not None
        for transceiver, src in self._pub_sources.items():
            if src == source and transceiver.direction != "inactive":
                transceiver.direction = "inactive"
        await self._offer_pub()

    async def _offer_pub(self) -> None:
        assert self._pub is not None
        network.prepare(self._pub, LOOPBACK)
        self._answered.clear()
        await self._pub.setLocalDescription(await self._pub.createOffer())
        sources = {t.mid: s for t, s in self._pub_sources.items() if t.mid is not None}
        await self.signal(
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
        m = self.media
        if source == "audio":
            if m.raw:
                self.audio_loop = self.audio_loop or EncodedLoop.opus()
                return EncodedTrack("audio", self.audio_loop)
            return AudioStreamTrack()
        if m.raw:
            self.video_loop = self.video_loop or EncodedLoop.vp8(
                m.width, m.height, m.fps, bitrate=m.video_bitrate
            )
            return EncodedTrack("video", self.video_loop, label=source)
        return PatternVideoTrack(m.width, m.height, m.fps, label=source)

    # --- subscriber connection ------------------------------------------------------------

    @property
    def pub_pc(self) -> RTCPeerConnection | None:
        """The publisher connection, once something was published."""
        return self._pub

    @property
    def sub_pc(self) -> RTCPeerConnection | None:
        """The subscriber connection, once the server offered one."""
        return self._sub

    async def answer_sub_offer(self, msg: dict[str, Any]) -> None:
        """Answer a subscriber offer as a well-behaved client does."""
        if self._sub is None:
            self._sub = new_loopback_pc()
            self._sub.on("track", self._on_track)
            self._last_answer = None
        pc = self._sub
        seq = msg.get("seq")
        last = self._last_answer
        if last is not None and (last[0], last[1]) == (seq, msg["sdp"]):
            # A resent offer we answered already: the same answer again.
            await self.signal({"type": "answer", "pc": "sub", "sdp": last[2], "seq": seq})
            return
        self.tracks = dict(msg.get("tracks") or {})
        self.offered_tracks.append(self.tracks)
        await pc.setRemoteDescription(RTCSessionDescription(msg["sdp"], "offer"))
        if self.media.raw:
            encoded.forward_encoded(pc)
        remb.throttle_remb(pc)
        network.prepare(pc, LOOPBACK)
        await pc.setLocalDescription(await pc.createAnswer())
        answer = pc.localDescription.sdp
        if isinstance(seq, int):
            self._last_answer = (seq, msg["sdp"], answer)
        await self.signal({"type": "answer", "pc": "sub", "sdp": answer, "seq": seq})

    def _on_track(self, track: MediaStreamTrack) -> None:
        name = f"{self.recv_task_prefix}:{self.label}"
        task = asyncio.create_task(self._consume(track), name=name)
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
                elif isinstance(item, av.Packet):
                    if self.media.keep_digests:
                        stats.digests.append(digest(bytes(item)))
                    stats.keyframes += bool(item.is_keyframe)
                    if stats.starts_with_keyframe is None:
                        stats.starts_with_keyframe = bool(item.is_keyframe)

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
        """Until at least `count` frames of each source of `participant` arrived."""
        wanted = tuple(sources)
        return await wait_for(
            lambda: all(self.frames(participant, s) >= count for s in wanted),
            f"{self.label} to decode {count} {'/'.join(wanted)} frames from {participant}",
            within,
        )

    # --- closing --------------------------------------------------------------------------

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


class SyntheticClient(MediaPeer):
    """A participant speaking the media bus contract directly (no signalling server)."""

    recv_task_prefix = "client-recv"

    def __init__(
        self,
        bus: Bus,
        worker_id: str,
        room: str,
        participant: str,
        *,
        media: ClientMedia | None = None,
        grants: Iterable[str] | None = None,
        subscribe: bool = True,
        role: str = "jobseeker",
    ) -> None:
        super().__init__(participant, media)
        self.bus = bus
        self.worker_id = worker_id
        self.room = room
        self.id = participant
        self.grants = list(("audio", "video", "screen") if grants is None else grants)
        self.subscribe = subscribe
        self.role = role
        self.conn = uuid.uuid4().hex[:12]
        self.joined_at = 0.0
        self._subscription: Subscription | None = None

    @property
    def sub_offers(self) -> int:
        """How many subscriber offers arrived."""
        return len(self.offered_tracks)

    # --- bus ------------------------------------------------------------------------------

    async def _op(self, op: media_contract.Op) -> None:
        await self.bus.publish(media_channel(self.worker_id), op.to_dict())

    async def signal(self, msg: dict[str, Any]) -> None:
        """Send a client message as is (tests send invalid ones too)."""
        message = {"op": "signal", "room": self.room, "participant": self.id, "conn": self.conn}
        await self.bus.publish(media_channel(self.worker_id), {**message, "msg": msg})

    async def _on_event(self, raw: dict[str, Any]) -> None:
        try:
            event = room_events.parse_event(raw)
        except room_events.EventError:
            return
        if not isinstance(event, room_events.MediaReply):
            return
        if event.participant == self.id and event.conn == self.conn:
            await self._on_signal(event.msg)

    # --- lifecycle ------------------------------------------------------------------------

    async def join(self, publish: bool = True) -> None:
        """Join the room and, unless told not to, publish `media.publish`."""
        if self._subscription is None:
            self._subscription = await self.bus.subscribe(room_channel(self.room), self._on_event)
        self.joined_at = time.monotonic()
        await self._op(
            media_contract.Join(
                self.room, self.id, self.conn, self.role, frozenset(self.grants), self.subscribe
            )
        )
        if publish and self.media.publish:
            await self.publish(self.media.publish)

    async def rejoin(self) -> None:
        """Reconnect as a new connection (what a client does after a network change)."""
        await self._close_pcs()
        self.conn = uuid.uuid4().hex[:12]
        self.received.clear()
        await self.join()

    async def leave(self) -> None:
        await self._op(media_contract.Leave(self.room, self.id, self.conn))
        await self.close()

    async def close(self) -> None:
        # Stop taking events first: a queued re-offer must not open a new connection.
        if self._subscription is not None:
            await self._subscription.close()
            self._subscription = None
        await self._close_pcs()
