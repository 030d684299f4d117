"""Benchmark: CPU of a media worker process per forwarded video stream.

Starts a media worker as its own process (`python -m mediaserver.worker`) on a Redis (a
throwaway `redis-server` on loopback unless --redis is given), one publisher sending
pre-encoded VP8 (encoded once, replayed, so the publisher costs little) and K subscribers that
receive without decoding. For each K it reads the worker's CPU time from /proc/<pid>/stat over
several windows and takes the median; the cost per forwarded stream is the least-squares slope
of CPU over K. Writes a markdown report (default loadtests/reports/forwarding.md).

    python -m loadtests.bench_forwarding --subscribers 0,2,4,8,12 --seconds 5 --repeats 3

Not part of the test suite. Everything stays on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from core.bus.redisbus import RedisBus
from core.clock import SystemClock
from core.store.redisstore import RedisStore
from loadtests.processes import cpu_seconds, redis_server, start_worker
from testsupport.client import ClientMedia, EncodedLoop, SyntheticClient
from testsupport.wait import wait_for

ROOT = Path(__file__).resolve().parents[1]
WORKER = "bench-worker"
ROOM = "bench-room"
RTP_PAYLOAD = 1290  # bytes of VP8 per RTP packet as aiortc packetizes (1300 minus descriptor)


@dataclass
class Sample:
    subscribers: int
    cpu: list[float]  # fraction of one core, per window
    frames_per_s: float  # received per subscriber

    @property
    def median(self) -> float:
        return statistics.median(self.cpu)


async def run(args: argparse.Namespace) -> tuple[list[Sample], dict[str, float]]:
    counts = sorted({int(k) for k in args.subscribers.split(",")})
    loop = EncodedLoop.vp8(
        args.width, args.height, args.fps, seconds=4, bitrate=args.bitrate, gop=args.fps * 2
    )
    packets_per_frame = statistics.mean(math.ceil(len(p) / RTP_PAYLOAD) for p in loop.packets)
    bitrate = sum(len(p) for p in loop.packets) * 8 / (len(loop.packets) / args.fps)
    media = ClientMedia(
        publish=("video",),
        width=args.width,
        height=args.height,
        fps=args.fps,
        raw=True,
        keep_digests=False,
    )
    samples: list[Sample] = []
    async with redis_server(args.redis) as (url, _):
        bus = await RedisBus.from_url(url)
        store = await RedisStore.from_url(url, SystemClock())
        worker = start_worker(url, WORKER)
        publisher = SyntheticClient(bus, WORKER, ROOM, "publisher", media=media)
        publisher.video_loop = loop
        subscribers: list[SyntheticClient] = []
        try:
            for _ in range(100):
                if WORKER in [w.id for w in await store.list_workers()]:
                    break
                await asyncio.sleep(0.1)
            await publisher.join()
            for count in counts:
                while len(subscribers) < count:
                    sub = SyntheticClient(
                        bus,
                        WORKER,
                        ROOM,
                        f"sub-{len(subscribers)}",
                        media=ClientMedia(publish=(), raw=True, keep_digests=False),
                    )
                    await sub.join()
                    subscribers.append(sub)
                for sub in subscribers:
                    await wait_for(
                        lambda s=sub: s.frames("publisher", "video") > 0,
                        f"{sub.id} to receive",
                        within=10,
                    )
                await asyncio.sleep(args.warmup)
                cpu = []
                frames_before = sum(s.frames("publisher", "video") for s in subscribers)
                started = time.monotonic()
                for _ in range(args.repeats):
                    t0, c0 = time.monotonic(), cpu_seconds(worker.pid)
                    await asyncio.sleep(args.seconds)
                    cpu.append((cpu_seconds(worker.pid) - c0) / (time.monotonic() - t0))
                frames = sum(s.frames("publisher", "video") for s in subscribers) - frames_before
                rate = frames / max(1, len(subscribers)) / (time.monotonic() - started)
                samples.append(Sample(count, cpu, rate))
                print(
                    f"K={count}: worker CPU {statistics.median(cpu):.3f} of a core "
                    f"(runs {', '.join(f'{c:.3f}' for c in cpu)}), {rate:.1f} frames/s each",
                    flush=True,
                )
        finally:
            for client in [publisher, *subscribers]:
                with suppress(Exception):
                    await client.leave()
            worker.terminate()
            with suppress(subprocess.TimeoutExpired):
                worker.wait(timeout=10)
            if worker.poll() is None:
                worker.kill()
            await bus.close()
            await store.close()
    return samples, {"packets_per_frame": packets_per_frame, "bitrate": bitrate}


def slope(samples: list[Sample]) -> tuple[float, float]:
    """Least-squares fit of median CPU over K: (per stream, base)."""
    xs = [s.subscribers for s in samples]
    ys = [s.median for s in samples]
    if len(set(xs)) < 2:
        return 0.0, ys[0] if ys else 0.0
    mx, my = statistics.mean(xs), statistics.mean(ys)
    k = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )
    return k, my - k * mx


def report(args: argparse.Namespace, samples: list[Sample], info: dict[str, float]) -> str:
    per_stream, base = slope(samples)
    pps = args.fps * info["packets_per_frame"]
    lines = [
        "# Forwarding benchmark",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.node()} "
        f"({os.cpu_count()} cores, Python {platform.python_version()}), "
        f"`python -m loadtests.bench_forwarding {' '.join(sys.argv[1:])}`.",
        "",
        "Setup: one media worker process (`python -m mediaserver.worker`, default asyncio loop) "
        "on a loopback Redis; one publisher sending pre-encoded VP8 "
        f"{args.width}x{args.height} at {args.fps} fps, about {info['bitrate'] / 1e6:.2f} "
        f"Mbit/s (~{info['packets_per_frame']:.1f} RTP packets per frame, ~{pps:.0f} packets/s); "
        "K subscribers receiving without decoding (all clients in one other process). Worker "
        "CPU is user+system time from /proc/<pid>/stat over "
        f"{args.repeats} windows of {args.seconds:g} s after {args.warmup:g} s of warm-up; the "
        "table shows the median and the runs, as a fraction of one core.",
        "",
        "| subscribers K | worker CPU (median) | runs | frames/s per subscriber "
        "| forwarded pkt/s |",
        "| --- | --- | --- | --- | --- |",
    ]
    for s in samples:
        runs = ", ".join(f"{c:.3f}" for c in s.cpu)
        lines.append(
            f"| {s.subscribers} | {s.median:.3f} | {runs} | {s.frames_per_s:.1f} | "
            f"{s.subscribers * pps:.0f} |"
        )
    lines += [
        "",
        f"**CPU per forwarded video stream: {per_stream:.4f} of a core** (least-squares slope "
        f"over K; {per_stream * 100:.2f}% of one core), base cost with the publisher alone "
        f"{base:.3f}. Per forwarded packet: {per_stream / pps * 1e6:.0f} us.",
        f"At that rate one core forwards about {1 / per_stream if per_stream > 0 else 0:.0f} "
        "such streams (ignoring the receive side); a three-party call forwards 6 video and "
        "6 audio streams.",
        "",
        "Caveats: a 2-core machine shared with the client process (and possibly other jobs), "
        "so figures are noisy; the clients' own CPU is not included.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench_forwarding")
    parser.add_argument("--subscribers", default="0,2,4,8,12")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--bitrate", type=int, default=1_000_000)
    parser.add_argument("--redis", help="an existing Redis URL (default: start one)")
    parser.add_argument("--report", type=Path, default=ROOT / "loadtests/reports/forwarding.md")
    args = parser.parse_args()
    samples, info = asyncio.run(run(args))
    text = report(args, samples, info)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
