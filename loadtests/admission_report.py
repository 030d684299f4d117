"""The admission load test's results: one run's figures, the medians over runs, and the
report files (admission.md for people, admission.json for tools)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from testsupport.postgres_process import find_bin_dir

ROOT = Path(__file__).resolve().parents[1]
# Figures whose median over runs the report gives, per scenario.
MEDIAN_FIELDS = (
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "max_ms",
    "achieved_rate",
    "node_cpu_ms_per_admission",
    "node_core_fraction",
    "redis_cpu_ms_per_admission",
    "postgres_cpu_ms_per_admission",
    "generator_core_fraction",
)


def percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 when empty)."""
    if not ordered:
        return 0.0
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass
class RunResult:
    """One run: every guest waiting, then admitted at the target rate."""

    scenario: str
    run: int
    guests: int
    rooms: int
    target_rate: float
    set_up_seconds: float
    held_seconds: float
    not_waiting_at_admit: int  # guests whose socket was gone or had errors before admits
    latencies: list[float]  # admit sent -> hello received, seconds, ascending
    errors: list[str]
    notices: list[str]  # media_unavailable after hello: admitted, but no media
    sent_seconds: float  # first admit sent -> last admit sent
    window_seconds: float  # first admit sent -> last hello received
    node_cpu: float  # CPU seconds of the node over the window (and the wait for stragglers)
    redis_cpu: float | None
    generator_cpu: float
    # The postmaster and its backends (loadtests.processes.tree_cpu_between); None: no PostgreSQL.
    postgres_cpu: float | None = None

    def figures(self) -> dict[str, float | int | None]:
        hellos = len(self.latencies)
        per = max(1, hellos)
        window = max(self.window_seconds, 1e-9)
        return {
            "hellos": hellos,
            "error_count": len(self.errors),
            "media_notices": len(self.notices),
            "p50_ms": percentile(self.latencies, 50) * 1000,
            "p95_ms": percentile(self.latencies, 95) * 1000,
            "p99_ms": percentile(self.latencies, 99) * 1000,
            "max_ms": percentile(self.latencies, 100) * 1000,
            "sent_rate": self.guests / max(self.sent_seconds, 1e-9),
            "achieved_rate": hellos / window,
            "node_cpu_ms_per_admission": self.node_cpu / per * 1000,
            "node_core_fraction": self.node_cpu / window,
            "redis_cpu_ms_per_admission": (
                None if self.redis_cpu is None else self.redis_cpu / per * 1000
            ),
            "postgres_cpu_ms_per_admission": (
                None if self.postgres_cpu is None else self.postgres_cpu / per * 1000
            ),
            "generator_core_fraction": self.generator_cpu / window,
        }

    def summary(self) -> str:
        f = self.figures()
        return (
            f"{self.scenario} run {self.run}: {f['hellos']}/{self.guests} hello, "
            f"{f['error_count']} errors; admit->hello p50 {f['p50_ms']:.1f} ms, p95 "
            f"{f['p95_ms']:.1f} ms, p99 {f['p99_ms']:.1f} ms, max {f['max_ms']:.1f} ms; "
            f"{f['achieved_rate']:.0f}/s achieved (target {self.target_rate:g}/s); node "
            f"{f['node_cpu_ms_per_admission']:.2f} ms CPU per admission"
        )


def medians(results: list[RunResult]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for name in MEDIAN_FIELDS:
        values = [r.figures()[name] for r in results]
        present = [float(v) for v in values if v is not None]
        out[name] = statistics.median(present) if present else None
    return out


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "host": platform.node(),
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "redis": _redis_version(),
        "postgres": _postgres_version(),
        "commit": _output(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
        "loadavg": loadavg(),
        "nice": os.getpriority(os.PRIO_PROCESS, 0),  # the node and Redis inherit it
    }


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages (a shared machine: how busy it was)."""
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return ""


def _redis_version() -> str:
    found = re.search(r"v=(\S+)", _output(["redis-server", "--version"]))
    return found.group(1) if found else ""


def _postgres_version() -> str:
    """The version of the PostgreSQL binaries the postgres scenario starts ('' if none)."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        return ""
    found = re.search(r"(\d+(?:\.\d+)+)", _output([str(bin_dir / "postgres"), "--version"]))
    return found.group(1) if found else ""


def _output(command: list[str]) -> str:
    if shutil.which(command[0]) is None:
        return ""
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return done.stdout.strip()


def write_reports(
    out_dir: Path,
    results: list[RunResult],
    settings: dict[str, str],
    *,
    fd_limit: int,
    command: str,
    load_before: str,
    media: bool = True,
) -> dict[str, Any]:
    """admission.json and admission.md in `out_dir`; returns the JSON's content."""
    scenarios = sorted({r.scenario for r in results}, key=[r.scenario for r in results].index)
    by_scenario = {s: [r for r in results if r.scenario == s] for s in scenarios}
    data: dict[str, Any] = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": command,
        "media": media,
        "machine": machine(),
        "loadavg_before": load_before,
        "node_settings": settings,
        "fd_soft_limit": fd_limit,
        "errors": sum(len(r.errors) for r in results),
        "media_notices": sum(len(r.notices) for r in results),
        "scenarios": {
            s: {
                "median": medians(runs),
                "runs": [
                    {
                        **{k: v for k, v in asdict(r).items() if k != "latencies"},
                        "errors": r.errors[:50],
                        "notices": r.notices[:50],
                        **r.figures(),
                    }
                    for r in runs
                ],
            }
            for s, runs in by_scenario.items()
        },
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "admission.json").write_text(json.dumps(data, indent=2) + "\n")
    (out_dir / "admission.md").write_text(markdown(data))
    return data


def _ms(value: Any) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def markdown(data: dict[str, Any]) -> str:
    """The report for people, from what admission.json holds (so it can be rendered again)."""
    m = data["machine"]
    scenarios: dict[str, Any] = data["scenarios"]
    first = next(iter(scenarios.values()))["runs"][0]
    target = first["target_rate"]
    media = "its media worker in process" if data.get("media", True) else "`--no-media`"
    # Reports from before the postgres scenario recorded no PostgreSQL version.
    postgres = f"PostgreSQL {m['postgres'] or '(none found)'}, " if "postgres" in m else ""
    lines = [
        "# Admission load test",
        "",
        f"Run {data['when']} on {m['host']}: {m['cpu_count']} cores ({m['cpu_model']}), "
        f"Python {m['python']}, Redis {m['redis'] or '(none found)'}, {postgres}"
        f"commit {m['commit']}; load average (1/5/15 min) {data['loadavg_before']} before, "
        f"{m['loadavg']} after; niceness {m['nice']} (generator, node, Redis and PostgreSQL). "
        f"`{data['command']}`.",
        "",
        f"Setup: one signalling node (`lippejob serve --http`, {media}), "
        f"{first['guests']} guests in {first['rooms']} appointments (a caseworker and "
        f"{-(-first['guests'] // first['rooms'])} guests each), all from one load-generator "
        "process on the same machine. Scenarios: `redis` (presence and bus on a throwaway "
        "loopback redis-server, records in the node's SQLite file), `embedded` (the default "
        "without Redis: presence and bus in memory, records in SQLite) and `postgres` (the "
        "production shape: presence and bus on Redis, records in a throwaway loopback "
        "PostgreSQL cluster, migrated with `lippejob db upgrade` before the node starts; the "
        "staff account is written there too). Per run: appointments scheduled through the "
        "staff API, a room token per person (`POST /api/join`), the caseworkers' sockets in "
        f"their calls, every guest's socket answered `waiting` and held open "
        f"{first['held_seconds']:g} s, then the caseworkers' sockets send `admit` at "
        f"{target:g}/s, round robin over the rooms. Latency is admit sent -> the guest's "
        "`hello` received (one clock, the load generator's). An admitted guest without "
        "`hello`, an error message or a socket closed by the node is an error. CPU is "
        "user+system time from /proc/<pid>/stat over the window from the first admit to the "
        "last `hello`; PostgreSQL's is the postmaster's and all its children's (the backends "
        "serving the node's pooled connections, the background processes), see the notes. "
        "n/a: the scenario has no such server.",
        "",
        "| scenario | run | hello | errors | media notices | p50 ms | p95 ms | p99 ms | max ms "
        "| admitted/s | node CPU ms/admission | node cores busy | Redis CPU ms/admission "
        "| PostgreSQL CPU ms/admission | generator cores busy |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- "
        "| --- |",
    ]
    for scenario, entry in scenarios.items():
        for f in entry["runs"]:
            lines.append(
                f"| {scenario} | {f['run']} | {f['hellos']}/{f['guests']} | {f['error_count']} "
                f"| {f['media_notices']} "
                f"| {_ms(f['p50_ms'])} | {_ms(f['p95_ms'])} | {_ms(f['p99_ms'])} "
                f"| {_ms(f['max_ms'])} | {f['achieved_rate']:.0f} "
                f"| {f['node_cpu_ms_per_admission']:.2f} | {f['node_core_fraction']:.2f} "
                f"| {_ms(f['redis_cpu_ms_per_admission'])} "
                f"| {_ms(f.get('postgres_cpu_ms_per_admission'))} "
                f"| {f['generator_core_fraction']:.2f} |"
            )
        med = entry["median"]
        lines.append(
            f"| **{scenario} median** | | | | | **{_ms(med['p50_ms'])}** "
            f"| **{_ms(med['p95_ms'])}** "
            f"| **{_ms(med['p99_ms'])}** | **{_ms(med['max_ms'])}** "
            f"| **{med['achieved_rate']:.0f}** | **{med['node_cpu_ms_per_admission']:.2f}** "
            f"| {med['node_core_fraction']:.2f} | {_ms(med['redis_cpu_ms_per_admission'])} "
            f"| {_ms(med.get('postgres_cpu_ms_per_admission'))} "
            f"| {med['generator_core_fraction']:.2f} |"
        )
    lines += ["", "Ratios and per-core figures (medians of runs):", ""]
    for scenario, entry in scenarios.items():
        med = entry["median"]
        cost = med["node_cpu_ms_per_admission"]
        threads = "media threads" if scenario == "postgres" else "SQLite and media threads"
        sent = statistics.median(float(r["sent_rate"]) for r in entry["runs"])
        # The window ends with the last hello: a node that keeps up shows the sent rate less
        # the last admission's latency (500 sent over 2.5 s, the last hello 40 ms later: 197/s).
        kept_up = med["achieved_rate"] >= 0.97 * sent
        lines.append(
            f"- {scenario}: admits sent at {sent:.0f}/s, achieved "
            f"{med['achieved_rate'] / target:.2f} of the target rate (hellos over first admit "
            "-> last hello) "
            f"with the node {med['node_core_fraction']:.2f} of a core busy (one event loop; "
            f"its {threads} add some). At {cost:.1f} ms of CPU per admission "
            f"one core of this machine admits ~{1000 / cost if cost else 0:.0f} guests a second; "
            f"{target:g}/s would take ~{target * cost / 1000:.1f} cores' worth of nodes. "
            + (
                "The node kept up with the admits as they were sent: the latency percentiles "
                "are an admission's own work and scheduling, not a queue."
                if kept_up
                else "Above that rate the admits queue, so the latency percentiles are mostly "
                "waiting in line, not the work of one admission."
            )
        )
        servers = _servers_line(med, target)
        if servers:
            lines.append(servers)
    for over, under, label, note in (
        (
            "redis",
            "embedded",
            "redis / embedded",
            "the node's own CPU: Redis itself spends little, see its column",
        ),
        (
            "postgres",
            "redis",
            "postgres / redis (the same Redis, records in PostgreSQL instead of SQLite)",
            "the node's own CPU; PostgreSQL's is in its column",
        ),
    ):
        line = _ratio_line(scenarios, over, under, label, note)
        if line:
            lines.append(line)
    raised = ", ".join(f"`{k}={v}`" for k, v in data["node_settings"].items())
    lines += [
        "",
        f"Limits raised for the benchmark (LIPPEJOB_* environment of the node; the defaults are "
        f"unchanged): {raised}. The per-address limits exist against one abusive address; here "
        "one address is every client. The load generator lifted its open-file soft limit to "
        f"{data['fd_soft_limit']} (the node inherits it). Everything else is the default "
        "(Redis pool of 100 connections with a 5 s wait, room sockets pinged after 2 s of "
        "silence, records in SQLite, or "
        "in PostgreSQL through SQLAlchemy's default pool of 5 connections plus 10 overflow, "
        "with attendance and audit entries written for every join and admission, logs at "
        "info).",
        "",
        f"Errors over all runs: {data['errors']}. Media notices (`media_unavailable` after "
        f"`hello`: admitted, but the call's media could not start) over all runs: "
        f"{data['media_notices']}. The in-process media worker hosts at most 200 rooms "
        "(mediaserver.config.MediaConfig.max_rooms); a run's rooms come on top of those of "
        "the run before that the worker has not closed yet.",
        "",
        "Caveats: a 2-core machine shared with other people's jobs while this ran, and the load "
        "generator (one Python process holding every socket) runs on the same cores as the node "
        "and Redis (and PostgreSQL), so latencies include its own scheduling delays; hence "
        "medians of runs and CPU per admission rather than wall-clock throughput. Run 1 of each "
        "scenario includes the node's warm-up.",
        "",
    ]
    if "postgres" in scenarios:
        lines += [POSTGRES_NOTES, ""]
    return "\n".join(lines)


POSTGRES_NOTES = (
    "PostgreSQL notes: the cluster is the test suite's throwaway one "
    "(testsupport.postgres_process: loopback TCP, trust authentication, `fsync=off`, "
    "`synchronous_commit=off`, `full_page_writes=off`): a commit does not wait for the disk, so "
    "the latencies (and, a little, PostgreSQL's CPU) are a lower bound for a production cluster "
    "with durable commits on another machine. Its CPU is the postmaster's and its children's "
    "(backends, checkpointer, WAL writer, autovacuum): the children are the processes whose "
    "/proc/<pid>/stat names the postmaster as parent, sampled at the window's start and end, "
    "each known by pid and start time (a pid used again is a new process). A process alive at "
    "both counts its growth, one that started in the window its whole time, one that ended in "
    "the window its time after the start: its whole time reaches the postmaster's "
    "cutime/cstime once the postmaster has waited for it (at once), and what it had spent "
    "before the start is taken off; one not yet waited for is still listed, so counted as "
    "alive. Exact to the clock tick, but the two samples are not atomic: each takes a few "
    "milliseconds to read, while backends keep running."
)


def _servers_line(med: dict[str, Any], target: float) -> str:
    """Node + Redis + PostgreSQL CPU per admission, where the scenario has a server besides
    the node ('' where it has none)."""
    redis = med.get("redis_cpu_ms_per_admission")
    postgres = med.get("postgres_cpu_ms_per_admission")
    if redis is None and postgres is None:
        return ""
    parts = [f"node {med['node_cpu_ms_per_admission']:.2f}"]
    if redis is not None:
        parts.append(f"Redis {redis:.2f}")
    if postgres is not None:
        parts.append(f"PostgreSQL {postgres:.2f}")
    total = med["node_cpu_ms_per_admission"] + (redis or 0.0) + (postgres or 0.0)
    return (
        f"  All its processes together: {' + '.join(parts)} = {total:.2f} ms of CPU per "
        f"admission, ~{target * total / 1000:.1f} cores' worth at {target:g}/s."
    )


def _ratio_line(
    scenarios: dict[str, Any], over: str, under: str, label: str, note: str
) -> str | None:
    """p95 and node CPU per admission of scenario `over` against `under` (medians), if both
    ran and `under`'s figures are not zero."""
    if not {over, under} <= set(scenarios):
        return None
    a, b = scenarios[over]["median"], scenarios[under]["median"]
    if not (b["p95_ms"] and b["node_cpu_ms_per_admission"]):
        return None
    return (
        f"- {label}: p95 {a['p95_ms'] / b['p95_ms']:.2f}x, node CPU per admission "
        f"{a['node_cpu_ms_per_admission'] / b['node_cpu_ms_per_admission']:.2f}x ({note})."
    )


def main() -> None:
    """`python -m loadtests.admission_report [DIR]`: render admission.md again from the
    admission.json in DIR (default loadtests/reports)."""
    import sys

    out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "loadtests" / "reports"
    data = json.loads((out_dir / "admission.json").read_text())
    (out_dir / "admission.md").write_text(markdown(data))


if __name__ == "__main__":
    main()
