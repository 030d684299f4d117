"""The floor the call benchmark compares the media worker with: a bare uvloop UDP relay that
sends every datagram it receives on to two receivers (what an SFU does for a three-party call,
minus SRTP, RTP rewriting and everything else), and the traffic for it. Two shapes:

- **burst** (the issue's relay): one socket in, the datagrams sent in 5 ms bursts, each sent
  on to the same two receivers from that socket.

      python -m loadtests.udp_relay relay --to PORT,PORT     (uvloop; prints {"port": P})
      python -m loadtests.udp_relay traffic --rate N --sizes 1200,1180,...

- **calls**: the packets as the calls send them. Every participant of K three-party calls
  has its own socket to the relay and its own receiving socket; it sends a video frame's
  packets back to back every 1/fps s and an audio packet every 20 ms, each participant at
  its own phase. The relay receives each participant on its own socket and sends every
  datagram on to the call's two other participants, each from that participant's own relay
  socket (as the worker receives on a publisher's connection and sends on each subscriber's).

      python -m loadtests.udp_relay relay --participants N    (prints {"ports": [P, ...]},
                                                                then reads the receivers' ports)
      python -m loadtests.udp_relay traffic --participants N --fps F --frames 3000+1200,...
                                            --audio-sizes 120,...

`traffic` (plain asyncio) binds the receivers and prints {"receivers": [P, ...]}, then takes
commands on stdin, one JSON object a line: {"cmd": "start", "relay": P} (burst) or
{"cmd": "start", "relays": [P, ...]} (calls) starts sending; {"cmd": "count"} answers
{"sent", "received", "t"}; {"cmd": "quit"} ends it. Everything on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import sys
import time
from collections.abc import Callable
from typing import Any, cast

HOST = "127.0.0.1"
TICK = 0.005  # the burst sender catches up with its rate every 5 ms
AUDIO_PERIOD = 0.02
CALL = 3  # participants per call


class Relay(asyncio.DatagramProtocol):
    """Every datagram in goes out to each target."""

    def __init__(self, targets: list[tuple[str, int]]) -> None:
        self.targets = targets
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's UDP transport is not an asyncio.DatagramTransport subclass, but one in kind.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        assert self.transport is not None
        for target in self.targets:
            self.transport.sendto(data, target)


async def relay(ports: list[int]) -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: Relay([(HOST, p) for p in ports]), local_addr=(HOST, 0)
    )
    print(json.dumps({"port": transport.get_extra_info("sockname")[1]}), flush=True)
    await asyncio.Event().wait()  # until the benchmark ends the process


class CallRelay(asyncio.DatagramProtocol):
    """One participant's socket at the calls-shaped relay: what arrives goes on to the call's
    two other participants, each from that participant's own socket."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.others: list[tuple[asyncio.DatagramTransport, tuple[str, int]]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        for transport, target in self.others:
            transport.sendto(data, target)


async def call_relay(participants: int) -> None:
    loop = asyncio.get_running_loop()
    transports: list[asyncio.DatagramTransport] = []
    protocols: list[CallRelay] = []
    for _ in range(participants):
        transport, protocol = await loop.create_datagram_endpoint(CallRelay, local_addr=(HOST, 0))
        transports.append(transport)
        protocols.append(protocol)
    ports = [t.get_extra_info("sockname")[1] for t in transports]
    print(json.dumps({"ports": ports}), flush=True)
    line = await asyncio.to_thread(sys.stdin.readline)
    receivers = [(HOST, int(p)) for p in json.loads(line)["receivers"]]
    for index, protocol in enumerate(protocols):
        first = index - index % CALL
        protocol.others = [
            (transports[other], receivers[other])
            for other in range(first, first + CALL)
            if other != index
        ]
    print(json.dumps({"ok": True}), flush=True)
    await asyncio.Event().wait()  # until the benchmark ends the process


class Counter(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received = 0

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.received += 1


async def traffic(rate: float, sizes: list[int]) -> None:
    loop = asyncio.get_running_loop()
    receivers = []
    counters = []
    for _ in range(2):
        transport, counter = await loop.create_datagram_endpoint(Counter, local_addr=(HOST, 0))
        receivers.append(transport)
        counters.append(counter)
    sender, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=(HOST, 0))
    payloads = [bytes(size) for size in sizes]
    state = {"sent": 0}

    async def send(port: int) -> None:
        cycle = itertools.cycle(payloads)
        started = time.monotonic()
        while True:
            due = int((time.monotonic() - started) * rate)
            while state["sent"] < due:
                sender.sendto(next(cycle), (HOST, port))
                state["sent"] += 1
            await asyncio.sleep(TICK)

    await _serve_commands(
        receivers, counters, state, lambda c: [asyncio.create_task(send(int(c["relay"])))]
    )


async def _serve_commands(
    receivers: list[Any],
    counters: list[Counter],
    state: dict[str, int],
    start: Callable[[dict[str, Any]], list[asyncio.Task[None]]],
) -> None:
    """Prints the receivers' ports, then answers the benchmark's commands (module docstring)
    until it says quit; `start` starts the senders."""
    ports = [t.get_extra_info("sockname")[1] for t in receivers]
    print(json.dumps({"receivers": ports}), flush=True)
    tasks: list[asyncio.Task[None]] = []
    while True:
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            break
        command = json.loads(line)
        if command["cmd"] == "start" and not tasks:
            tasks = start(command)
            print(json.dumps({"ok": True}), flush=True)
        elif command["cmd"] == "count":
            received = sum(c.received for c in counters)
            reply = {"sent": state["sent"], "received": received, "t": time.monotonic()}
            print(json.dumps(reply), flush=True)
        else:
            break
    for task in tasks:
        task.cancel()


async def call_traffic(
    participants: int, fps: float, frames: list[list[int]], audio_sizes: list[int]
) -> None:
    """Each participant sends its frames' packets back to back every 1/fps s and an audio
    packet every 20 ms, from its own socket to its own relay socket, at its own phase."""
    loop = asyncio.get_running_loop()
    counters: list[Counter] = []
    receivers = []
    senders = []
    for _ in range(participants):
        transport, counter = await loop.create_datagram_endpoint(Counter, local_addr=(HOST, 0))
        receivers.append(transport)
        counters.append(counter)
        sender, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=(HOST, 0)
        )
        senders.append(sender)
    video = [[bytes(size) for size in frame] for frame in frames]
    audio = [bytes(size) for size in audio_sizes]
    state = {"sent": 0}

    async def send(sender: Any, target: tuple[str, int], period: float, items: list[Any]) -> None:
        await asyncio.sleep(random.random() * period)  # each stream at its own phase
        started = time.monotonic()
        for n, item in enumerate(itertools.cycle(items)):
            for datagram in item if isinstance(item, list) else (item,):
                sender.sendto(datagram, target)
                state["sent"] += 1
            await asyncio.sleep(max(0.0, started + (n + 1) * period - time.monotonic()))

    def start(command: dict[str, Any]) -> list[asyncio.Task[None]]:
        tasks = []
        for sender, port in zip(senders, command["relays"], strict=True):
            target = (HOST, int(port))
            tasks.append(asyncio.create_task(send(sender, target, 1 / fps, video)))
            tasks.append(asyncio.create_task(send(sender, target, AUDIO_PERIOD, audio)))
        return tasks

    await _serve_commands(receivers, counters, state, start)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtests.udp_relay")
    roles = parser.add_subparsers(dest="role", required=True)
    relay_args = roles.add_parser("relay")
    relay_args.add_argument("--to", help="burst: receiver ports, comma-separated")
    relay_args.add_argument("--participants", type=int, help="calls: participants (3 a call)")
    relay_args.add_argument("--nice", type=int, default=0, help="nice value (as the worker's)")
    traffic_args = roles.add_parser("traffic")
    traffic_args.add_argument("--rate", type=float, help="burst: datagrams per second")
    traffic_args.add_argument("--sizes", help="burst: datagram sizes, comma-separated")
    traffic_args.add_argument("--participants", type=int, help="calls: participants")
    traffic_args.add_argument("--fps", type=float, default=30.0, help="calls: video frames/s")
    traffic_args.add_argument(
        "--frames", help="calls: a frame's datagram sizes joined by +, frames by commas"
    )
    traffic_args.add_argument("--audio-sizes", help="calls: audio datagram sizes, commas")
    args = parser.parse_args()
    if args.role == "relay":
        import uvloop

        if args.nice:
            os.setpriority(os.PRIO_PROCESS, 0, args.nice)

        if args.participants:
            uvloop.run(call_relay(args.participants))
        else:
            uvloop.run(relay([int(p) for p in args.to.split(",")]))
    elif args.participants:
        frames = [[int(s) for s in f.split("+")] for f in args.frames.split(",")]
        audio_sizes = [int(s) for s in args.audio_sizes.split(",")]
        asyncio.run(call_traffic(args.participants, args.fps, frames, audio_sizes))
    else:
        asyncio.run(traffic(args.rate, [int(s) for s in args.sizes.split(",")]))


if __name__ == "__main__":
    main()
