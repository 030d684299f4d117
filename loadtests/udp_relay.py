"""The floor the call benchmark compares the media worker with: a bare uvloop UDP relay that
sends every datagram it receives on to two receivers (what an SFU does for a three-party call,
minus SRTP, RTP rewriting and everything else), and the traffic for it.

    python -m loadtests.udp_relay relay --to PORT,PORT     (uvloop; prints {"port": P})
    python -m loadtests.udp_relay traffic --rate N --sizes 1200,1180,...

`traffic` (plain asyncio) binds the two receivers and prints {"receivers": [P, P]}, then takes
commands on stdin, one JSON object a line: {"cmd": "start", "relay": P} starts sending `--rate`
datagrams a second of the `--sizes` in turn; {"cmd": "count"} answers {"sent", "received", "t"};
{"cmd": "quit"} ends it. Everything on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
from typing import Any, cast

HOST = "127.0.0.1"
TICK = 0.005  # the sender catches up with its rate every 5 ms


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

    ports = [t.get_extra_info("sockname")[1] for t in receivers]
    print(json.dumps({"receivers": ports}), flush=True)
    task: asyncio.Task[None] | None = None
    while True:
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            break
        command = json.loads(line)
        if command["cmd"] == "start" and task is None:
            task = asyncio.create_task(send(int(command["relay"])))
            print(json.dumps({"ok": True}), flush=True)
        elif command["cmd"] == "count":
            received = sum(c.received for c in counters)
            reply = {"sent": state["sent"], "received": received, "t": time.monotonic()}
            print(json.dumps(reply), flush=True)
        else:
            break
    if task is not None:
        task.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtests.udp_relay")
    roles = parser.add_subparsers(dest="role", required=True)
    relay_args = roles.add_parser("relay")
    relay_args.add_argument("--to", required=True, help="receiver ports, comma-separated")
    traffic_args = roles.add_parser("traffic")
    traffic_args.add_argument("--rate", type=float, required=True, help="datagrams per second")
    traffic_args.add_argument("--sizes", required=True, help="datagram sizes, comma-separated")
    args = parser.parse_args()
    if args.role == "relay":
        import uvloop

        uvloop.run(relay([int(p) for p in args.to.split(",")]))
    else:
        asyncio.run(traffic(args.rate, [int(s) for s in args.sizes.split(",")]))


if __name__ == "__main__":
    main()
