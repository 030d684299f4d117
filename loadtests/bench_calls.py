"""Benchmark: a media worker's cost per three-party call, measured from outside (issue 14).

One media worker runs as its own process (`python -m mediaserver.worker`, on a throwaway
loopback redis-server), with this process's environment passed through, and the commit it
ran noted in the report (the RTP-level path, `mediaserver.rtp`, since issue 14). K three-party
calls of `SyntheticClient`s in raw mode (pre-encoded VP8 640x480 ~1 Mbit/s and Opus out, encoded
frames in, nothing decoded) run in `--client-procs` other processes (`loadtests.call_clients`).
For each K: warm-up, then the worker's CPU from /proc over `--repeats` windows of `--seconds`,
the RTP packets the subscribers received (the forwarded packets), the frames each subscriber
received per remote stream, the worker's counters from its /metrics and its RSS. With
`--scaling`, the largest K again over two workers (a process each, the calls alternating), for
the two-core scaling estimate. Then a bare uvloop UDP relay (`loadtests.udp_relay`) moving the
same packets at the largest K's rate, in two shapes (5 ms bursts on one socket, and the calls'
own pattern), and join latency with `--background-calls` calls running: `--joins` fresh
participants, one after another, joining a three-party call, from `join` to the first remote
video frame; and, with the calls still running, `--browser-joins` Chromium pages joining
through a signalling node, from the click on join to the first remote frame painted
(`loadtests.browser_join`).

    python -m loadtests.bench_calls --calls 1,2,4 --seconds 5 --repeats 3 --joins 50

Writes `<out>/REPORT.md` and `<out>/reports/calls.json` (default out: loadtests/). Loopback only.
Not part of the test suite (tests/test_bench_calls_smoke.py runs it in small).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from core.bus.redisbus import RedisBus
from core.clock import SystemClock
from core.store.redisstore import RedisStore
from loadtests import browser_join, calls_report
from loadtests.call_clients import PARTICIPANTS, CallClient, call_media
from loadtests.children import Child
from loadtests.processes import ROOT, cpu_seconds, redis_server, rss_bytes, start_worker
from testsupport.client import EncodedLoop
from testsupport.redis_process import free_port

WORKER = "bench-calls-worker"
JOIN_ROOM = "join-room"
KEYFRAME_REQUESTS = "lippejob_media_keyframe_requests_total"
RTP_PAYLOAD = 1290  # bytes of VP8 per RTP packet as aiortc packetizes (1300 minus descriptor)
# Bytes around a payload on the wire: RTP header 12, header extensions ~12, VP8 descriptor or
# nothing, SRTP auth tag 10. The relay's datagrams are this much bigger than the payloads.
RTP_OVERHEAD = 34
DELIVERY_FLOOR = 0.9  # delivery holds while every stream gets this share of the sent fps


@dataclass
class Bench:
    """The processes of one run and what they need to be measured."""

    args: argparse.Namespace
    redis_url: str
    worker: subprocess.Popen[bytes]
    metrics_url: str
    clients: list[Child]
    log_dir: Path
    # More workers (the scaling run): (process, metrics URL); client process n calls through
    # worker n % (1 + len(others)), so calls alternate between them.
    others: list[tuple[subprocess.Popen[bytes], str]] = field(default_factory=list)
    running: list[str] = field(default_factory=list)  # room ids of the calls running
    placed: dict[str, Child] = field(default_factory=dict)

    async def start_calls(self, count: int) -> list[str]:
        """Start calls until `count` run, spread over the client processes; returns the
        streams that got no frames in time."""
        batches: dict[int, list[str]] = {}
        for index in range(len(self.running), count):
            room = f"call-{index}"
            slot = index % len(self.clients)
            batches.setdefault(slot, []).append(room)
            self.placed[room] = self.clients[slot]
            self.running.append(room)
        replies = await asyncio.gather(
            *(self.clients[s].call({"cmd": "start", "rooms": r}) for s, r in batches.items())
        )
        return [f for reply in replies for f in reply.get("failed", [])]

    async def stop_calls(self, count: int) -> None:
        """Stop the newest calls until `count` run."""
        gone = self.running[count:]
        del self.running[count:]
        batches: dict[Child, list[str]] = {}
        for room in gone:
            batches.setdefault(self.placed.pop(room), []).append(room)
        await asyncio.gather(*(c.call({"cmd": "stop", "rooms": r}) for c, r in batches.items()))

    async def snapshot(self) -> dict[str, Any]:
        """Every client process's counters, the workers' CPU and metrics, read together."""
        workers = [(self.worker, self.metrics_url), *self.others]
        replies, scraped = await asyncio.gather(
            asyncio.gather(*(c.call({"cmd": "snapshot"}) for c in self.clients)),
            asyncio.gather(*(scrape(url) for _, url in workers)),
        )
        worker_metrics: dict[str, float] = {}
        for values in scraped:
            for k, v in values.items():
                worker_metrics[k] = worker_metrics.get(k, 0.0) + v
        streams = {
            (s["sub"], s["pub"]): (s["video"], s["audio"]) for r in replies for s in r["streams"]
        }
        cpus = [cpu_seconds(w.pid) for w, _ in workers]
        return {
            "t": time.monotonic(),
            "cpu": sum(cpus),
            "worker_cpus": cpus,
            "clients_cpu": sum(c.cpu() for c in self.clients),
            "rtp_received": sum(r["rtp_received"] for r in replies),
            "rtp_sent": sum(r["rtp_sent"] for r in replies),
            "streams": streams,
            "metrics": worker_metrics,
        }

    async def window(self, seconds: float) -> dict[str, Any]:
        """Rates over one measuring window of `seconds`."""
        before = await self.snapshot()
        await asyncio.sleep(seconds)
        after = await self.snapshot()
        span = after["t"] - before["t"]
        video, audio = [], []
        for key, (v1, a1) in after["streams"].items():
            v0, a0 = before["streams"].get(key, (0, 0))
            video.append((v1 - v0) / span)
            audio.append((a1 - a0) / span)
        return {
            "seconds": span,
            "worker_cpu": (after["cpu"] - before["cpu"]) / span,
            "worker_cpus": [
                (a - b) / span
                for a, b in zip(after["worker_cpus"], before["worker_cpus"], strict=True)
            ],
            "clients_cpu": (after["clients_cpu"] - before["clients_cpu"]) / span,
            "forwarded_pps": (after["rtp_received"] - before["rtp_received"]) / span,
            "published_pps": (after["rtp_sent"] - before["rtp_sent"]) / span,
            "video_fps": video,
            "audio_fps": audio,
            "worker_metrics_per_s": {
                k: (after["metrics"][k] - before["metrics"].get(k, 0.0)) / span
                for k in after["metrics"]
                if k.endswith("_total")
            },
        }

    def delivery_holds(self, window: dict[str, Any]) -> bool:
        floor = DELIVERY_FLOOR * self.args.fps
        return bool(window["video_fps"]) and min(window["video_fps"]) >= floor


async def scrape(url: str) -> dict[str, float]:
    """The worker's lippejob_media_* samples ({} when it serves no /metrics)."""
    values: dict[str, float] = {}
    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
            session.get(url) as resp,
        ):
            text = await resp.text()
        for line in text.splitlines():
            match = re.fullmatch(r"(lippejob_media_\w+) ([-+0-9.eE]+|NaN)", line.strip())
            if match:
                values[match[1]] = float(match[2])
    return values


@contextlib.asynccontextmanager
async def bench(
    args: argparse.Namespace, worker_args: list[str], workers: int = 1
) -> AsyncIterator[Bench]:
    log_dir = Path(tempfile.mkdtemp(prefix="bench-calls-"))
    ids = [WORKER if n == 0 else f"{WORKER}-{n + 1}" for n in range(workers)]
    ports = [free_port() for _ in ids]
    async with redis_server(args.redis) as (url, _):
        processes = [
            start_worker(
                url,
                worker_id,
                {
                    "LIPPEJOB_MEDIA_METRICS_PORT": str(port),
                    "LIPPEJOB_HOST": "127.0.0.1",
                    "LIPPEJOB_MEDIA_DRAIN_TIMEOUT": "1",
                    "LIPPEJOB_MEDIA_NICE": str(args.worker_nice),
                },
                log_dir / f"{worker_id}.log",
                worker_args,
            )
            for worker_id, port in zip(ids, ports, strict=True)
        ]
        clients: list[Child] = []
        try:
            store = await RedisStore.from_url(url, SystemClock())
            try:
                for _ in range(300):
                    for worker_id, worker in zip(ids, processes, strict=True):
                        if worker.poll() is not None:
                            log = (log_dir / f"{worker_id}.log").read_text(errors="replace")
                            raise SystemExit(f"the media worker exited at start:\n{log[-2000:]}")
                    if set(ids) <= {w.id for w in await store.list_workers()}:
                        break
                    await asyncio.sleep(0.1)
                else:
                    raise SystemExit("the media workers did not register within 30 s")
            finally:
                await store.close()
            for n in range(max(args.client_procs, workers)):
                client_args = ["--redis", url, "--worker", ids[n % workers]]
                client_args += ["--fps", str(args.fps), "--bitrate", str(args.bitrate)]
                client_args += ["--width", str(args.width), "--height", str(args.height)]
                clients.append(
                    await Child.start(
                        f"clients-{n}", "loadtests.call_clients", client_args, log_dir
                    )
                )
            for child in clients:
                await child.read()  # ready (the loops are encoded)
            urls = [f"http://127.0.0.1:{port}/metrics" for port in ports]
            yield Bench(
                args,
                url,
                processes[0],
                urls[0],
                clients,
                log_dir,
                others=list(zip(processes[1:], urls[1:], strict=True)),
            )
        finally:
            await asyncio.gather(*(c.stop({"cmd": "quit"}) for c in clients))
            for worker in processes:
                worker.send_signal(signal.SIGINT)  # drain (1 s), then close
            for worker in processes:
                try:
                    await asyncio.to_thread(worker.wait, 15)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    await asyncio.to_thread(worker.wait, 10)
            if not args.keep_logs:
                shutil.rmtree(log_dir, ignore_errors=True)
            else:
                print(f"logs in {log_dir}", flush=True)


SAMPLE_FIGURES = ("calls", "worker_cpu", "forwarded_pps", "us_per_forwarded_packet")


async def scaling(
    args: argparse.Namespace, single: dict[str, Any], half: dict[str, Any] | None
) -> dict[str, Any]:
    """The largest K again, its calls alternating between two workers (a process each): what
    one more worker costs per forwarded packet. On a machine whose cores the clients also use,
    this is the proxy for scaling: the workers share nothing per packet, so if a forwarded
    packet costs two workers side by side what it costs one alone, two cores carry twice the
    calls. Compared at the same calls per worker (`half`: the sweep's sample at K/2, 2 x its
    us / the pair's us), and against one worker with all K (`single`), which leans low: one
    worker with twice the calls gets more packets per wake-up."""
    count = single["calls"]
    async with bench(args, [], workers=2) as b:
        failed = await b.start_calls(count)
        await asyncio.sleep(args.warmup)
        windows = [await b.window(args.seconds) for _ in range(args.repeats)]
        pair = summarise(b, count, windows, failed)
    per_worker = [statistics.median(w["worker_cpus"][n] for w in windows) for n in range(2)]
    single_us, pair_us = single["us_per_forwarded_packet"], pair["us_per_forwarded_packet"]
    half_us = half["us_per_forwarded_packet"] if half is not None else None
    return {
        "calls": count,
        "single": {k: single[k] for k in SAMPLE_FIGURES},
        "pair": {
            "worker_cpu": pair["worker_cpu"],
            "worker_cpus": per_worker,
            "forwarded_pps": pair["forwarded_pps"],
            "us_per_forwarded_packet": pair_us,
            "delivery_holds": pair["delivery_holds"],
            "clients_cpu": pair["clients_cpu"],
            "windows": windows,
        },
        "estimate_all_calls": 2 * single_us / pair_us if single_us and pair_us else None,
        "half": None if half is None else {k: half[k] for k in SAMPLE_FIGURES},
        "estimate": 2 * half_us / pair_us if half_us and pair_us else None,
    }


async def sweep(b: Bench, counts: list[int]) -> tuple[int, list[dict[str, Any]]]:
    """The measured sample of each K; and the worker's RSS with no call."""
    rss_idle = rss_bytes(b.worker.pid)
    samples = []
    for count in counts:
        failed = await b.start_calls(count)
        await asyncio.sleep(b.args.warmup)
        windows = [await b.window(b.args.seconds) for _ in range(b.args.repeats)]
        sample = summarise(b, count, windows, failed)
        samples.append(sample)
        runs = ", ".join(f"{w['worker_cpu']:.3f}" for w in windows)
        print(
            f"K={count}: worker CPU {sample['worker_cpu']:.3f} of a core (runs {runs}), "
            f"{sample['forwarded_pps']:.0f} forwarded pkt/s, video "
            f"{sample['video_fps_mean']:.1f} fps per stream (min {sample['video_fps_min']:.1f})"
            f"{'' if sample['delivery_holds'] else ' DELIVERY BREAKS'}",
            flush=True,
        )
    return rss_idle, samples


def summarise(
    b: Bench, count: int, windows: list[dict[str, Any]], failed: list[str]
) -> dict[str, Any]:
    median = statistics.median
    cpu = median(w["worker_cpu"] for w in windows)
    forwarded = median(w["forwarded_pps"] for w in windows)
    video = [fps for w in windows for fps in w["video_fps"]]
    metric_names = sorted({k for w in windows for k in w["worker_metrics_per_s"]})
    return {
        "calls": count,
        "participants": count * PARTICIPANTS,
        "worker_cpu": cpu,
        "worker_cpu_runs": [w["worker_cpu"] for w in windows],
        "cpu_per_call": cpu / count if count else None,
        "clients_cpu": median(w["clients_cpu"] for w in windows),
        "forwarded_pps": forwarded,
        "published_pps": median(w["published_pps"] for w in windows),
        "us_per_forwarded_packet": cpu / forwarded * 1e6 if forwarded else None,
        "video_fps_mean": statistics.mean(video) if video else 0.0,
        "video_fps_min": min(video) if video else 0.0,
        "audio_fps_mean": statistics.mean(f for w in windows for f in w["audio_fps"])
        if video
        else 0.0,
        "delivery_holds": not failed and all(b.delivery_holds(w) for w in windows),
        "start_failures": failed,
        "worker_metrics_per_s": {
            k: median(w["worker_metrics_per_s"].get(k, 0.0) for w in windows) for k in metric_names
        },
        "worker_rss": rss_bytes(b.worker.pid),
        "windows": windows,
    }


async def background_calls(b: Bench, held: int) -> int:
    """Bring the running calls to `--background-calls`, fewer where the worker cannot carry
    them (delivery broke in the sweep, or breaks in a short check when adding more)."""
    target = int(b.args.background_calls)
    if target <= len(b.running) and target <= held:
        await b.stop_calls(target)
        return target
    if len(b.running) > held:
        await b.stop_calls(held)
        return held
    while len(b.running) < target:
        failed = await b.start_calls(len(b.running) + 1)
        await asyncio.sleep(b.args.warmup)
        if failed or not b.delivery_holds(await b.window(min(b.args.seconds, 3.0))):
            print(f"{len(b.running)} background calls break delivery: one less", flush=True)
            await b.stop_calls(len(b.running) - 1)
            break
    return len(b.running)


def loops(args: argparse.Namespace) -> tuple[EncodedLoop, EncodedLoop]:
    """The pre-encoded video (a keyframe every 2 s) and audio a joining call's residents send."""
    video = EncodedLoop.vp8(
        args.width, args.height, args.fps, seconds=4, bitrate=args.bitrate, gop=args.fps * 2
    )
    return video, EncodedLoop.opus()


async def join_latency(b: Bench) -> list[dict[str, Any]]:
    """`--joins` fresh participants join a three-party call one after another; from `join`
    to the first remote video frame (and to the first remote frame of any kind)."""
    bus = await RedisBus.from_url(b.redis_url)
    args = b.args
    video, audio = loops(args)

    def client(name: str) -> CallClient:
        return CallClient(bus, WORKER, JOIN_ROOM, name, call_media(args), video, audio)

    residents = [client("resident-0"), client("resident-1")]
    joins: list[dict[str, Any]] = []
    try:
        for resident in residents:
            await resident.join()
        await residents[0].wait_frames(residents[1].id, count=1, within=20)
        for n in range(args.joins):
            joiner = client(f"joiner-{n}")
            forced = sum(r.keyframes_forced for r in residents)
            requests = (await scrape(b.metrics_url)).get(KEYFRAME_REQUESTS, 0.0)
            try:
                await joiner.join()
                for resident in residents:
                    await joiner.wait_frames(resident.id, ("video",), count=1, within=10)
                firsts = [joiner.first_frame_at(r.id, "video") or math.inf for r in residents]
                joins.append(
                    {
                        "first_video_ms": (min(firsts) - joiner.joined_at) * 1000,
                        "all_video_ms": (max(firsts) - joiner.joined_at) * 1000,
                        "first_any_ms": ((joiner.first_remote_at or math.inf) - joiner.joined_at)
                        * 1000,
                        "keyframes_forced": sum(r.keyframes_forced for r in residents) - forced,
                        "worker_keyframe_requests": (await scrape(b.metrics_url)).get(
                            KEYFRAME_REQUESTS, 0.0
                        )
                        - requests,
                    }
                )
            except TimeoutError as exc:
                joins.append({"error": str(exc)})
            finally:
                await joiner.leave()
            await asyncio.sleep(0.3)  # the others' re-offers settle before the next join
    finally:
        for resident in residents:
            with contextlib.suppress(Exception):
                await resident.leave()
        await bus.close()
    return joins


def frame_datagrams(frame: bytes) -> list[int]:
    """The datagram sizes of one video frame, split as aiortc packetizes it, with overhead."""
    parts = max(1, math.ceil(len(frame) / RTP_PAYLOAD))
    return [math.ceil(len(frame) / parts) + RTP_OVERHEAD] * parts


def relay_sizes(video: EncodedLoop, audio: EncodedLoop, fps: int) -> list[int]:
    """Datagram sizes in the proportions one publisher sends them: each video frame split
    as aiortc packetizes it, audio packets interleaved at their rate."""
    sizes: list[int] = []
    audio_per_frame = (1 / audio.period) / fps
    owed = 0.0
    audio_index = 0
    for frame in video.packets:
        sizes += frame_datagrams(frame)
        owed += audio_per_frame
        while owed >= 1:
            sizes.append(len(audio.packets[audio_index % len(audio.packets)]) + RTP_OVERHEAD)
            audio_index += 1
            owed -= 1
    return sizes


def call_frames(video: EncodedLoop) -> list[str]:
    """The loop's video frames as the calls-shaped traffic takes them: each frame's datagram
    sizes (split as aiortc packetizes it, plus the overhead) joined by +."""
    return ["+".join(map(str, frame_datagrams(frame))) for frame in video.packets]


async def relay_baseline(
    args: argparse.Namespace, rate: float, participants: int, log_dir: Path
) -> dict[str, Any]:
    """The bare uvloop relay, each datagram sent on to 2 receivers, in both shapes
    (`loadtests.udp_relay`): `burst` receiving `rate` datagrams/s on one socket in 5 ms bursts,
    `calls` receiving `participants`' frames and audio as the calls send them."""
    video, audio = loops(args)
    sizes = relay_sizes(video, audio, args.fps)
    burst = await _measure_relay(
        args,
        ["traffic", "--rate", f"{rate:.1f}", "--sizes", ",".join(map(str, sizes))],
        None,
        log_dir,
    )
    burst["in_pps_target"] = rate
    burst["mean_datagram_bytes"] = statistics.mean(sizes)
    calls = await _measure_relay(
        args,
        [
            "traffic",
            "--participants",
            str(participants),
            "--fps",
            str(args.fps),
            "--frames",
            ",".join(call_frames(video)),
            "--audio-sizes",
            ",".join(str(len(p) + RTP_OVERHEAD) for p in audio.packets),
        ],
        participants,
        log_dir,
    )
    calls["participants"] = participants
    return {**burst, "calls": calls}


async def _measure_relay(
    args: argparse.Namespace, traffic_args: list[str], participants: int | None, log_dir: Path
) -> dict[str, Any]:
    traffic = await Child.start("traffic", "loadtests.udp_relay", traffic_args, log_dir)
    relay: Child | None = None
    try:
        receivers = (await traffic.read())["receivers"]
        if participants is None:
            relay_args = ["relay", "--to", ",".join(map(str, receivers))]
        else:
            relay_args = ["relay", "--participants", str(participants)]
        relay_args += ["--nice", str(args.worker_nice)]
        relay = await Child.start("relay", "loadtests.udp_relay", relay_args, log_dir)
        if participants is None:
            port = (await relay.read(30))["port"]
            await traffic.call({"cmd": "start", "relay": port})
        else:
            ports = (await relay.read(30))["ports"]
            await relay.call({"receivers": receivers})
            await traffic.call({"cmd": "start", "relays": ports})
        await asyncio.sleep(min(args.warmup, 2.0))
        runs = []
        for _ in range(args.repeats):
            c0, n0 = relay.cpu(), await traffic.call({"cmd": "count"})
            await asyncio.sleep(args.seconds)
            c1, n1 = relay.cpu(), await traffic.call({"cmd": "count"})
            span = n1["t"] - n0["t"]
            forwarded = n1["received"] - n0["received"]
            runs.append(
                {
                    "cpu": (c1 - c0) / span,
                    "in_pps": (n1["sent"] - n0["sent"]) / span,
                    "forwarded_pps": forwarded / span,
                    "us_per_forwarded_packet": (c1 - c0) / forwarded * 1e6 if forwarded else None,
                }
            )
        us = [r["us_per_forwarded_packet"] for r in runs if r["us_per_forwarded_packet"]]
        return {
            "runs": runs,
            "cpu": statistics.median(r["cpu"] for r in runs),
            "in_pps": statistics.median(r["in_pps"] for r in runs),
            "forwarded_pps": statistics.median(r["forwarded_pps"] for r in runs),
            "us_per_forwarded_packet": statistics.median(us) if us else None,
        }
    finally:
        await traffic.stop({"cmd": "quit"})
        if relay is not None:
            await relay.stop()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    counts = sorted({int(k) for k in args.calls.split(",") if int(k) > 0})
    # The worker runs on uvloop when installed unless LIPPEJOB_MEDIA_UVLOOP says otherwise
    # (the media_uvloop setting); --asyncio sets it off for this run.
    if args.asyncio:
        os.environ["LIPPEJOB_MEDIA_UVLOOP"] = "false"
    wanted = os.environ.get("LIPPEJOB_MEDIA_UVLOOP", "true").lower() not in ("false", "0", "no")
    loop = "uvloop" if wanted and importlib.util.find_spec("uvloop") else "asyncio"
    worker_args: list[str] = []
    result: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": f"python -m loadtests.bench_calls {' '.join(sys.argv[1:])}".strip(),
        "machine": calls_report.machine(),
        "media_path": "rtp",
        "loop": loop,
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
    }
    async with bench(args, worker_args) as b:
        rss_idle, samples = await sweep(b, counts)
        result["worker_rss_idle"] = rss_idle
        result["samples"] = samples
        held = max((s["calls"] for s in samples if s["delivery_holds"]), default=0)
        ran = await background_calls(b, held)
        join: dict[str, Any] = {"background_calls_asked": args.background_calls}
        join["background_calls"] = ran
        result["join"] = join
        print(f"join latency: {args.joins} joins with {ran} background calls", flush=True)
        result["join"]["joins"] = await join_latency(b)
        result["join"]["summary"] = calls_report.join_summary(result["join"]["joins"])
        if args.browser_joins > 0:
            print(f"Chromium join latency: {args.browser_joins} joins", flush=True)
            video, audio = loops(args)
            joins = await browser_join.measure(
                b.redis_url, args.browser_joins, call_media(args), video, audio
            )
            result["browser_join"] = {
                "background_calls": ran,
                "joins": joins,
                "summary": calls_report.join_summary(joins),
            }
        rate = samples[-1]["published_pps"] if samples else 0.0
        log_dir = b.log_dir
        if args.scaling and samples:
            await b.stop_calls(0)
            print(f"scaling: K={samples[-1]['calls']} over two workers", flush=True)
            largest = samples[-1]
            half = next((s for s in samples if 2 * s["calls"] == largest["calls"]), None)
            result["scaling"] = await scaling(args, largest, half)
        if args.relay and rate > 0:
            await b.stop_calls(0)
            print(f"relay baseline at {rate:.0f} datagrams/s in", flush=True)
            participants = samples[-1]["participants"]
            result["relay"] = await relay_baseline(args, rate, participants, log_dir)
    result["load_average_after"] = list(os.getloadavg())
    result["figures"] = calls_report.figures(result)
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtests.bench_calls")
    parser.add_argument("--calls", default="1,2,4", help="K values, comma-separated")
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of a window")
    parser.add_argument("--repeats", type=int, default=3, help="windows per K")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--joins", type=int, default=50)
    parser.add_argument("--background-calls", type=int, default=10)
    parser.add_argument(
        "--browser-joins",
        type=int,
        default=30,
        help="Chromium joins through a signalling node (0: none; loadtests.browser_join)",
    )
    parser.add_argument("--no-relay", dest="relay", action="store_false")
    parser.add_argument(
        "--scaling",
        action="store_true",
        help="run the largest K again over two workers (one process each) and compare",
    )
    parser.add_argument(
        "--worker-nice",
        type=int,
        default=-10,
        help="nice value of the worker processes and the relays (setting media_nice; 0: "
        "unchanged): the clients and Chromium share the cores, the worker would wait for them",
    )
    parser.add_argument(
        "--asyncio", action="store_true", help="run the worker on asyncio's loop, not uvloop"
    )
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--bitrate", type=int, default=1_000_000)
    parser.add_argument("--redis", help="an existing Redis URL (default: start one)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "loadtests", help="writes REPORT.md, reports/calls.json"
    )
    args = parser.parse_args(argv)
    if args.client_procs < 1 or args.repeats < 1 or args.seconds <= 0:
        parser.error("--client-procs and --repeats must be at least 1, --seconds positive")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    result = asyncio.run(run(args))
    calls_report.write(result, args.out)
    print(calls_report.markdown(result))


if __name__ == "__main__":
    main()
