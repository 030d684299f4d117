"""A client process of the call benchmark (`loadtests.bench_calls`): it runs its share of the
three-party calls as `SyntheticClient`s in raw mode (pre-encoded VP8 and Opus out, encoded frames
in, nothing decoded) and answers the benchmark's commands, one JSON object a line:

    {"cmd": "start", "rooms": [...]}   join 3 participants per room, wait until each receives
                                       audio and video from the other two
    {"cmd": "stop", "rooms": [...]}    leave those rooms
    {"cmd": "snapshot"}                frames received per (room, subscriber, publisher) and
                                       the RTP packets received and sent so far
    {"cmd": "quit"}                    leave everything and exit

Every command gets one JSON line back on stdout; anything else the process prints goes to
stderr. Run only by the benchmark: `python -m loadtests.call_clients --redis URL --worker ID`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sys
import time
from collections.abc import Iterable
from contextlib import suppress
from typing import Any, TextIO

from aiortc.mediastreams import MediaStreamTrack

from core.bus.base import Bus
from core.bus.redisbus import RedisBus
from testsupport.client import ClientMedia, EncodedLoop, EncodedTrack, MediaPeer, SyntheticClient

PARTICIPANTS = 3
FORCE_KEYFRAME = "_RTCRtpSender__force_keyframe"  # set by aiortc's sender on a PLI or FIR


class KeyframeLoopTrack(EncodedTrack):
    """A pre-encoded video loop that answers a keyframe request as a live encoder does: the
    next frame sent is the loop's first keyframe (aiortc's sender only flags its encoder,
    which pre-encoded packets bypass). Without this a new subscriber would wait for the loop's
    next keyframe, up to a GOP, and join latency would measure the loop, not the server."""

    def __init__(self, loop: EncodedLoop, label: str) -> None:
        super().__init__("video", loop, label=label)
        self.sender: Any = None
        self.keyframes_forced = 0
        self._first_key = loop.keyframes.index(True)

    def _next_index(self) -> int:
        # Looked at when the frame is due, not before waiting for it: aiortc's sender reads
        # its keyframe flag when it encodes a captured frame, so a live encoder answers a
        # request with the next frame; looked at before the wait, the answer came a frame
        # later (33 ms at 30 fps) on every join.
        if self.sender is not None and getattr(self.sender, FORCE_KEYFRAME, False):
            setattr(self.sender, FORCE_KEYFRAME, False)
            count = len(self._loop.packets)
            start = self._first_key
            self._items = itertools.cycle([*range(start, count), *range(start)])
            self.keyframes_forced += 1
        return super()._next_index()


class LoopTracks(MediaPeer):
    """Publishes the shared pre-encoded loops (`video_loop`, `audio_loop`), sending a keyframe
    when the server asks for one; mixed into a client class before it."""

    def _make_track(self, source: str) -> MediaStreamTrack:
        if source != "audio" and self.video_loop is not None:
            return KeyframeLoopTrack(self.video_loop, source)
        return super()._make_track(source)

    @property
    def keyframes_forced(self) -> int:
        """Keyframes sent on the server's request so far."""
        if self.pub_pc is None:
            return 0
        tracks = [t.sender.track for t in self.pub_pc.getTransceivers()]
        return sum(t.keyframes_forced for t in tracks if isinstance(t, KeyframeLoopTrack))

    async def publish(self, sources: Iterable[str]) -> None:
        await super().publish(sources)
        assert self.pub_pc is not None
        for transceiver in self.pub_pc.getTransceivers():
            track = transceiver.sender.track
            if isinstance(track, KeyframeLoopTrack):
                track.sender = transceiver.sender


class CallClient(LoopTracks, SyntheticClient):
    """A benchmark call participant on the media bus."""

    def __init__(
        self,
        bus: Bus,
        worker: str,
        room: str,
        participant: str,
        media: ClientMedia,
        video: EncodedLoop,
        audio: EncodedLoop,
    ) -> None:
        super().__init__(bus, worker, room, participant, media=media)
        self.video_loop = video
        self.audio_loop = audio


def call_media(args: argparse.Namespace) -> ClientMedia:
    """What every participant of a benchmark call publishes and how it receives."""
    return ClientMedia(
        publish=("audio", "video"),
        width=args.width,
        height=args.height,
        fps=args.fps,
        raw=True,
        video_bitrate=args.bitrate,
        keep_digests=False,
    )


def rtp_received(client: SyntheticClient) -> int:
    """RTP packets (media and RTX) that reached `client`'s subscriber connection. Read from
    the receivers' per-SSRC counters: `getStats` gives all SSRCs of a receiver one id."""
    pc = client.sub_pc
    if pc is None:
        return 0
    total = 0
    for receiver in pc.getReceivers():
        streams = getattr(receiver, "_RTCRtpReceiver__remote_streams", {})
        total += sum(s.packets_received for s in streams.values())
    return total


def rtp_sent(client: SyntheticClient) -> int:
    """RTP packets `client`'s publisher connection sent."""
    pc = client.pub_pc
    if pc is None:
        return 0
    return sum(int(getattr(s, "_RTCRtpSender__packet_count", 0)) for s in pc.getSenders())


class Calls:
    """The calls this process runs, by room id."""

    def __init__(self, bus: RedisBus, args: argparse.Namespace) -> None:
        self.bus = bus
        self.args = args
        self.rooms: dict[str, list[CallClient]] = {}
        self.video = EncodedLoop.vp8(
            args.width, args.height, args.fps, seconds=4, bitrate=args.bitrate, gop=args.fps * 2
        )
        self.audio = EncodedLoop.opus()

    def client(self, room: str, participant: str) -> CallClient:
        """A call participant publishing the shared pre-encoded loops."""
        media = call_media(self.args)
        return CallClient(
            self.bus, self.args.worker, room, participant, media, self.video, self.audio
        )

    async def start(self, rooms: list[str]) -> dict[str, Any]:
        started = time.monotonic()
        for room in rooms:
            clients = [self.client(room, f"{room}-p{i}") for i in range(PARTICIPANTS)]
            self.rooms[room] = clients
            for client in clients:
                await client.join()
        failed = []
        for room in rooms:
            clients = self.rooms[room]
            for client in clients:
                for other in clients:
                    if other is client:
                        continue
                    try:
                        await client.wait_frames(other.id, count=1, within=self.args.within)
                    except TimeoutError:
                        failed.append(f"{client.id}<-{other.id}")
        return {"ok": not failed, "failed": failed, "seconds": time.monotonic() - started}

    async def stop(self, rooms: list[str]) -> dict[str, Any]:
        for room in rooms:
            for client in self.rooms.pop(room, []):
                with suppress(Exception):
                    await client.leave()
        return {"ok": True}

    def snapshot(self) -> dict[str, Any]:
        streams = []
        received = sent = 0
        for room, clients in self.rooms.items():
            for client in clients:
                received += rtp_received(client)
                sent += rtp_sent(client)
                for other in clients:
                    if other is not client:
                        streams.append(
                            {
                                "room": room,
                                "sub": client.id,
                                "pub": other.id,
                                "video": client.frames(other.id, "video"),
                                "audio": client.frames(other.id, "audio"),
                            }
                        )
        return {
            "t": time.monotonic(),
            "streams": streams,
            "rtp_received": received,
            "rtp_sent": sent,
        }


async def serve(args: argparse.Namespace, out: TextIO) -> None:
    bus = await RedisBus.from_url(args.redis)
    calls = Calls(bus, args)

    def reply(message: dict[str, Any]) -> None:
        out.write(json.dumps(message) + "\n")
        out.flush()

    reply({"ready": True, "pid": os.getpid()})
    try:
        while True:
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:
                break
            command = json.loads(line)
            name = command.get("cmd")
            if name == "start":
                reply(await calls.start(list(command["rooms"])))
            elif name == "stop":
                reply(await calls.stop(list(command["rooms"])))
            elif name == "snapshot":
                reply(calls.snapshot())
            elif name == "quit":
                break
            else:
                reply({"ok": False, "error": f"unknown command {name!r}"})
    finally:
        await calls.stop(list(calls.rooms))
        await bus.close()
        reply({"ok": True, "bye": True})


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtests.call_clients")
    parser.add_argument("--redis", required=True)
    parser.add_argument("--worker", required=True)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--bitrate", type=int, default=1_000_000)
    parser.add_argument("--within", type=float, default=20.0, help="seconds to first frames")
    args = parser.parse_args()
    # The replies own stdout; whatever else writes there (a library's print) goes to stderr.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    asyncio.run(serve(args, out))


if __name__ == "__main__":
    main()
