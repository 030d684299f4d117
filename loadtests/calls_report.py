"""The call benchmark's figures and its two files: `REPORT.md` (for people) and
`reports/calls.json` (every raw number of the run)."""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from loadtests.processes import ROOT

MB = 1024 * 1024
# The goals of issue 14, next to which the measured figures are shown.
GOALS = {
    "calls_per_core": (25.0, ">= 25"),
    "us_per_forwarded_packet": (40.0, "<= ~40"),
    "relay_ratio": (0.35, ">= 0.35"),
    "join_p95_ms": (250.0, "< 250"),
    "browser_join_p95_ms": (800.0, "< 800"),
    "mb_per_participant": (3.0, "<= 3"),
    "scaling": (1.8, ">= 1.8x"),
}


def machine() -> dict[str, Any]:
    """Cores, CPU model, Python, aiortc, the commit and the load before the run."""
    model = ""
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "host": platform.node(),
        "cores": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "aiortc": metadata.version("aiortc"),
        "commit": commit + ("+changes" if dirty else ""),
        "load_average_before": list(os.getloadavg()),
    }


def fit(xs: list[float], ys: list[float]) -> tuple[float, float] | None:
    """Least-squares (slope, intercept), or None with fewer than two distinct xs."""
    if len(set(xs)) < 2:
        return None
    mx, my = statistics.mean(xs), statistics.mean(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )
    return slope, my - slope * mx


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def join_summary(joins: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [j["first_video_ms"] for j in joins if "first_video_ms" in j]
    summary: dict[str, Any] = {"joins": len(joins), "failed": len(joins) - len(ok)}
    if ok:
        summary.update(p50_ms=percentile(ok, 0.5), p95_ms=percentile(ok, 0.95), max_ms=max(ok))
        both = [j["all_video_ms"] for j in joins if "all_video_ms" in j]
        if both:
            summary["all_video_p95_ms"] = percentile(both, 0.95)
    return summary


def figures(result: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers, derived from the samples (None where the run cannot tell)."""
    samples = result.get("samples") or []
    out: dict[str, Any] = {}
    cpu_fit = fit([s["calls"] for s in samples], [s["worker_cpu"] for s in samples])
    out["cpu_per_call_slope"] = cpu_fit[0] if cpu_fit else None
    out["cpu_base"] = cpu_fit[1] if cpu_fit else None
    out["calls_per_core_slope"] = 1 / cpu_fit[0] if cpu_fit and cpu_fit[0] > 0 else None
    last = samples[-1] if samples else None
    out["calls_per_core_ratio"] = (
        last["calls"] / last["worker_cpu"] if last and last["worker_cpu"] > 0 else None
    )
    out["calls_per_core"] = out["calls_per_core_slope"] or out["calls_per_core_ratio"]
    out["us_per_forwarded_packet"] = last["us_per_forwarded_packet"] if last else None
    if cpu_fit and last and last["forwarded_pps"] > 0:
        per_call_pps = last["forwarded_pps"] / last["calls"]
        out["us_per_forwarded_packet_slope"] = cpu_fit[0] / per_call_pps * 1e6
    else:
        out["us_per_forwarded_packet_slope"] = None
    rss_fit = fit([s["participants"] for s in samples], [s["worker_rss"] for s in samples])
    idle = result.get("worker_rss_idle", 0)
    if rss_fit:
        out["mb_per_participant"] = rss_fit[0] / MB
    elif last:
        out["mb_per_participant"] = (last["worker_rss"] - idle) / last["participants"] / MB
    else:
        out["mb_per_participant"] = None
    relay_us = (result.get("relay") or {}).get("us_per_forwarded_packet")
    worker_us = out["us_per_forwarded_packet"]
    out["relay_us_per_forwarded_packet"] = relay_us
    out["relay_ratio"] = relay_us / worker_us if relay_us and worker_us else None
    calls_us = ((result.get("relay") or {}).get("calls") or {}).get("us_per_forwarded_packet")
    out["relay_calls_us_per_forwarded_packet"] = calls_us
    out["relay_calls_ratio"] = calls_us / worker_us if calls_us and worker_us else None
    out["join_p95_ms"] = ((result.get("join") or {}).get("summary") or {}).get("p95_ms")
    out["browser_join_p95_ms"] = ((result.get("browser_join") or {}).get("summary") or {}).get(
        "p95_ms"
    )
    out["scaling"] = (result.get("scaling") or {}).get("estimate")  # at the same calls per worker
    out["delivery_breaks_at"] = next((s["calls"] for s in samples if not s["delivery_holds"]), None)
    return out


def _num(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _meets(name: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    goal = GOALS[name][0]
    lower_is_better = name in (
        "us_per_forwarded_packet",
        "join_p95_ms",
        "browser_join_p95_ms",
        "mb_per_participant",
    )
    return "yes" if (value <= goal if lower_is_better else value >= goal) else "no"


def markdown(result: dict[str, Any]) -> str:
    m, s, f = result["machine"], result["settings"], result["figures"]
    samples = result.get("samples") or []
    lines = [
        "# Media worker: cost per three-party call",
        "",
        f"Run {result['started']}, commit {m['commit']}: `{result['command']}`.",
        "",
        f"- Machine: {m['cores']} cores, {m['cpu_model']} (host {m['host']}; 1-minute load "
        f"average {m['load_average_before'][0]:.2f} before the run, "
        f"{(result.get('load_average_after') or [math.nan])[0]:.2f} after, the latter "
        "including the benchmark's own processes)",
        f"- Python {m['python']}, aiortc {m['aiortc']}",
        f"- Media path: **{result['media_path']}** (RTP packets forwarded below aiortc, "
        f"`mediaserver.rtp`); worker event loop: {result['loop']}",
        f"- Each call: {3} participants in raw mode, each publishing pre-encoded VP8 "
        f"{s['width']}x{s['height']} at {s['fps']} fps, ~{s['bitrate'] / 1e6:g} Mbit/s, plus "
        "Opus; subscribers receive without decoding. Clients in "
        f"{s['client_procs']} processes other than the worker's; everything on 127.0.0.1.",
        f"- Worker CPU (user+system from /proc/<pid>/stat) over {s['repeats']} windows of "
        f"{s['seconds']:g} s after {s['warmup']:g} s of warm-up per K; medians, as a fraction of "
        "one core. Forwarded packets are the RTP packets the subscribers received.",
        "",
        "## Goals",
        "",
        "| figure | goal (issue 14) | measured | met |",
        "| --- | --- | --- | --- |",
        f"| calls per core | {GOALS['calls_per_core'][1]} | {_num(f['calls_per_core'])} "
        f"| {_meets('calls_per_core', f['calls_per_core'])} |",
        f"| worker us per forwarded packet (largest K) | {GOALS['us_per_forwarded_packet'][1]} "
        f"| {_num(f['us_per_forwarded_packet'])} "
        f"| {_meets('us_per_forwarded_packet', f['us_per_forwarded_packet'])} |",
        f"| relay us / worker us per packet (burst relay, as the issue measured) "
        f"| {GOALS['relay_ratio'][1]} "
        f"| {_num(f['relay_ratio'], 3)} | {_meets('relay_ratio', f['relay_ratio'])} |",
        f"| relay us / worker us per packet (relay fed the calls' own packet pattern) "
        f"| {GOALS['relay_ratio'][1]} | {_num(f.get('relay_calls_ratio'), 3)} "
        f"| {_meets('relay_ratio', f.get('relay_calls_ratio'))} |",
        f"| join p95 (aiortc clients), ms | {GOALS['join_p95_ms'][1]} "
        f"| {_num(f['join_p95_ms'], 0)} | {_meets('join_p95_ms', f['join_p95_ms'])} |",
        f"| join p95 (Chromium), ms | {GOALS['browser_join_p95_ms'][1]} "
        f"| {_num(f.get('browser_join_p95_ms'), 0)} "
        f"| {_meets('browser_join_p95_ms', f.get('browser_join_p95_ms'))} |",
        f"| worker RSS per participant, MB | {GOALS['mb_per_participant'][1]} "
        f"| {_num(f['mb_per_participant'], 2)} "
        f"| {_meets('mb_per_participant', f['mb_per_participant'])} |",
        "| two workers on two cores (proxy: 2 x one worker's us / two workers' us per packet, "
        "same calls per worker) "
        f"| {GOALS['scaling'][1]} | {_num(f.get('scaling'), 2)} "
        f"| {_meets('scaling', f.get('scaling'))} |",
        "",
        "## Calls",
        "",
        "| K calls | worker CPU (median) | runs | CPU per call | forwarded pkt/s "
        "| us per fwd pkt | video fps per stream (mean / min) | audio fps | worker RSS MB "
        "| clients CPU | delivery |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for x in samples:
        runs = ", ".join(f"{c:.3f}" for c in x["worker_cpu_runs"])
        lines.append(
            f"| {x['calls']} | {x['worker_cpu']:.3f} | {runs} | {_num(x['cpu_per_call'], 3)} "
            f"| {x['forwarded_pps']:,.0f} | {_num(x['us_per_forwarded_packet'])} "
            f"| {x['video_fps_mean']:.1f} / {x['video_fps_min']:.1f} | {x['audio_fps_mean']:.1f} "
            f"| {x['worker_rss'] / MB:.1f} | {x['clients_cpu']:.2f} "
            f"| {'holds' if x['delivery_holds'] else '**breaks**'} |"
        )
    lines += [
        "",
        f"- CPU per call, least-squares slope over K: {_num(f['cpu_per_call_slope'], 4)} of a "
        f"core (base {_num(f['cpu_base'], 3)}) -> {_num(f['calls_per_core_slope'])} calls per "
        f"core; by the ratio at the largest K: {_num(f['calls_per_core_ratio'])} calls per core.",
        f"- Worker us per forwarded packet at the largest K (all worker CPU, receive side "
        f"included, over forwarded packets): {_num(f['us_per_forwarded_packet'])}; from the "
        f"slope: {_num(f['us_per_forwarded_packet_slope'])}.",
        f"- Worker RSS: {result.get('worker_rss_idle', 0) / MB:.1f} MB with no call; "
        f"{_num(f['mb_per_participant'], 2)} MB per participant (slope over participants, or "
        "the difference to idle with one K).",
        "- Delivery breaks (some stream below 90% of the sent fps) at K = "
        f"{f['delivery_breaks_at'] if f['delivery_breaks_at'] is not None else 'none measured'}.",
    ]
    metric_lines = [
        f"  - K={x['calls']}: "
        + ", ".join(
            f"{k.removeprefix('lippejob_media_')} {v:,.0f}/s"
            for k, v in x["worker_metrics_per_s"].items()
        )
        for x in samples
        if x["worker_metrics_per_s"]
    ]
    if metric_lines:
        lines += ["- The worker's own counters (/metrics; its unit, e.g. frames):", *metric_lines]
    lines += ["", *_relay_lines(result), "", *_scaling_lines(result), ""]
    lines += [*_join_lines(result), ""]
    lines += [*_browser_join_lines(result), ""]
    lines += [
        "## How to read it",
        "",
        "- Forwarded packets/s: RTP packets (media and RTX) the subscribers' receivers counted, "
        "i.e. what the worker sent; the worker's own /metrics counters count RTP packets "
        "too (media only, without retransmissions).",
        "- Worker us per forwarded packet divides all of the worker's CPU (receive side, "
        "signalling, heartbeats included) by the forwarded packets, as the relay's figure does.",
        "- The publishers replay a pre-encoded loop with a keyframe every 2 s; on a keyframe "
        "request from the worker they send the loop's keyframe next, as a live encoder would "
        "(else a join would wait up to 2 s for the loop's own keyframe).",
        "- Each joiner publishes too (a third call participant), so its join includes "
        "its publisher negotiation; the residents' re-offers settle 0.3 s between joins.",
        "- The relay's datagrams have the payload sizes of the pre-encoded loop plus ~34 bytes "
        "of RTP/SRTP overhead; plain sockets, no SRTP, no rewriting.",
        "- CPU times come in 10 ms ticks: short windows at low load carry a few percent of "
        "rounding.",
        f"- {_nice_line(result)}",
        "- The client processes (aiortc) hand received frames on without a decoder thread and "
        "throttle their REMB as Chromium does (at most every 200 ms unless it falls by more "
        "than 3%); the worker gets the feedback a browser would send.",
        "",
        "Caveats: the clients share the machine with the worker (their CPU is in the table), "
        "and the machine may have had other jobs; figures from a 2-core machine are noisy. "
        "Every raw number is in reports/calls.json.",
        "",
    ]
    return "\n".join(lines)


def _nice_line(result: dict[str, Any]) -> str:
    nice = int(result.get("settings", {}).get("worker_nice", 0))
    if not nice:
        return (
            "The worker and the relays ran at the benchmark's own priority, sharing the cores "
            "with the clients and Chromium."
        )
    return (
        f"The worker processes and the relays ran at nice {nice} (setting media_nice), the "
        "clients and Chromium at 0: they share this machine's cores, and a worker that waits "
        "for its own load generators measures the machine, not the server. A deployment gives "
        "the worker its core. Without it (--worker-nice 0; runs of 2026-12-02 on a 2-core "
        "machine, not this run) the worker spent about 0.5 s of each second of the Chromium "
        "joins waiting for a core, and their p95 was 790-950 ms."
    )


def _relay_lines(result: dict[str, Any]) -> list[str]:
    relay = result.get("relay")
    if not relay:
        return ["## Bare relay baseline", "", "Not run."]
    f = result["figures"]
    runs = ", ".join(_num(r["us_per_forwarded_packet"], 2) for r in relay["runs"])
    lines = [
        "## Bare relay baseline",
        "",
        f"- **Burst** (the issue's relay): a uvloop UDP relay in its own process, "
        f"{relay['in_pps_target']:,.0f} datagrams/s in on one socket in 5 ms bursts (the "
        f"publishers' RTP rate at the largest K; mean {relay['mean_datagram_bytes']:.0f} "
        f"bytes), each sent to 2 receivers: {relay['forwarded_pps']:,.0f} forwarded/s, CPU "
        f"{relay['cpu']:.3f} of a core, **{_num(relay['us_per_forwarded_packet'], 2)} us per "
        f"forwarded packet** (runs {runs}). Relay us / worker us: "
        f"**{_num(f['relay_ratio'], 3)}** (goal >= 0.35).",
    ]
    calls = relay.get("calls")
    if calls:
        runs = ", ".join(_num(r["us_per_forwarded_packet"], 2) for r in calls["runs"])
        lines.append(
            f"- **Calls-shaped**: the same relay code fed as the calls feed the worker: "
            f"{calls['participants']} participants in three-party calls, each sending its "
            f"video frames' packets back to back at the frame rate and audio every 20 ms from "
            f"its own socket, at its own phase, to its own relay socket; each datagram goes on "
            f"to the call's two others from their own relay sockets. {calls['in_pps']:,.0f} "
            f"datagrams/s in, {calls['forwarded_pps']:,.0f} forwarded/s, CPU "
            f"{calls['cpu']:.3f} of a core, **{_num(calls['us_per_forwarded_packet'], 2)} us "
            f"per forwarded packet** (runs {runs}). Relay us / worker us: "
            f"**{_num(f.get('relay_calls_ratio'), 3)}**."
        )
        lines.append(
            "- The two relays move the same bytes; the calls-shaped one wakes for every frame "
            "and audio packet of every participant (as the worker must), the burst one about "
            "200 times a second for everything. The difference between them is the cost of "
            "the calls' packet pattern alone, without any media work."
        )
    return lines


def _scaling_lines(result: dict[str, Any]) -> list[str]:
    scaling = result.get("scaling")
    if not scaling:
        return ["## Two workers", "", "Not run (--scaling)."]
    one, two, half = scaling["single"], scaling["pair"], scaling.get("half")
    cpus = " + ".join(f"{c:.3f}" for c in two["worker_cpus"])
    pair_us = _num(two["us_per_forwarded_packet"])
    all_calls = scaling.get("estimate_all_calls", scaling["estimate"])
    lines = [
        "## Two workers",
        "",
        f"The largest K ({scaling['calls']} calls) again, its calls alternating between two "
        f"worker processes: {cpus} = {two['worker_cpu']:.3f} of a core for "
        f"{two['forwarded_pps']:,.0f} forwarded packets/s, "
        f"**{pair_us} us per forwarded packet** (delivery "
        f"{'holds' if two['delivery_holds'] else 'BREAKS'}; "
        f"clients {two['clients_cpu']:.2f} cores).",
        "",
    ]
    if half is not None:
        lines.append(
            f"- At the same calls per worker: one worker alone with {half['calls']} calls "
            f"(the sweep) took **{_num(half['us_per_forwarded_packet'])} us**. Scaling estimate "
            f"2 x {_num(half['us_per_forwarded_packet'])} / {pair_us} = "
            f"**{_num(scaling['estimate'], 2)}x** (goal >= 1.8x)."
        )
    else:
        lines.append("- No sweep sample at half the calls: no estimate at the same load.")
    lines += [
        f"- Against one worker with all {scaling['calls']} calls "
        f"({one['worker_cpu']:.3f} of a core, {_num(one['us_per_forwarded_packet'])} us): "
        f"2 x {_num(one['us_per_forwarded_packet'])} / {pair_us} = {_num(all_calls, 2)}x. "
        "This one leans low: one worker with twice the calls gets more packets per wake-up "
        "(the sweep's cost per packet falls with K), which is not what a second core changes.",
        "- What this measures: whether a forwarded packet costs more when a second worker "
        "runs beside the first (shared kernel, caches, Redis). The workers share no state per "
        "packet, so at an unchanged cost per packet each core carries what one worker carries "
        "alone. It does not saturate two cores: the clients need the machine's cores too.",
    ]
    return lines


def _join_lines(result: dict[str, Any]) -> list[str]:
    join = result.get("join")
    if not join:
        return ["## Join latency", "", "Not run."]
    s = join["summary"]
    return [
        "## Join latency",
        "",
        f"{s['joins']} fresh participants, one after another, joined a three-party call (two "
        f"residents publishing) with {join['background_calls']} background calls running "
        f"({join['background_calls_asked']} asked for). From `join` to the first remote video "
        f"frame: p50 {_num(s.get('p50_ms'), 0)} ms, p95 {_num(s.get('p95_ms'), 0)} ms, max "
        f"{_num(s.get('max_ms'), 0)} ms; both residents' video by p95 "
        f"{_num(s.get('all_video_p95_ms'), 0)} ms. Failed joins: {s['failed']}.",
    ]


def _browser_join_lines(result: dict[str, Any]) -> list[str]:
    join = result.get("browser_join")
    if not join:
        return ["## Join latency in Chromium", "", "Not run."]
    s = join["summary"]
    return [
        "## Join latency in Chromium",
        "",
        f"{s['joins']} fresh Chromium pages (a new context each: a tablet) joined a call through "
        f"a signalling node on the same Redis and worker, one after another, with "
        f"{join['background_calls']} background calls running; in each call an aiortc "
        "caseworker publishing the same loop was there first. From the click on join to the "
        f"first frame of the caseworker's camera painted (the page's clock): p50 "
        f"{_num(s.get('p50_ms'), 0)} ms, p95 {_num(s.get('p95_ms'), 0)} ms, max "
        f"{_num(s.get('max_ms'), 0)} ms. Failed joins: {s['failed']}. The page publishes its "
        "own camera as it joins (Chromium's fake device, simulcast as the defaults say).",
    ]


def write(result: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """`out/REPORT.md` and `out/reports/calls.json`."""
    report, raw = out / "REPORT.md", out / "reports" / "calls.json"
    raw.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(markdown(result))
    raw.write_text(json.dumps(result, indent=1, default=str) + "\n")
    return report, raw
