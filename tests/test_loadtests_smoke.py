"""The admission load test (issue 10, item 4) in small: the same program as the hand-run
benchmark (`python -m loadtests.admission`, run here as its own process: tests never import
loadtests), against a real signalling node process on a real redis-server and again on the
embedded default (no Redis), and in the production shape (Redis and a real PostgreSQL cluster
for the records), with 50 waiting guests admitted at 50 a second. Correctness only:
every admitted guest got `hello`, nothing failed, and the report files hold their figures. No
timing is asserted (CI machines vary)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUESTS = 50

pytestmark = pytest.mark.redis


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "scenarios",
    [
        pytest.param(("redis", "embedded"), id="redis-embedded"),
        pytest.param(("postgres",), id="postgres", marks=pytest.mark.postgres),
    ],
)
def test_admission_load_smoke_admits_everyone_and_writes_the_report(
    tmp_path: Path, scenarios: tuple[str, ...]
) -> None:
    # Its own session: if it hangs, the node and the redis-server it started go with it.
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "loadtests.admission",
            "--guests",
            str(GUESTS),
            "--rate",
            "50",
            "--runs",
            "1",
            "--hold",
            "0.2",
            "--hello-timeout",
            "60",
            "--scenarios",
            ",".join(scenarios),
            "--out-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=110)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"the load test did not finish in 110 s: {stderr[-3000:]}")
    assert proc.returncode == 0, (stdout[-2000:], stderr[-3000:])

    report = json.loads((tmp_path / "admission.json").read_text())
    assert report["errors"] == 0
    assert report["machine"]["cpu_count"] >= 1 and report["machine"]["python"]
    assert int(report["node_settings"]["max_connections_per_address"]) > GUESTS
    assert list(report["scenarios"]) == list(scenarios)
    for scenario in scenarios:
        (run,) = report["scenarios"][scenario]["runs"]
        assert run["guests"] == GUESTS and run["hellos"] == GUESTS, scenario
        assert run["errors"] == [] and run["notices"] == [], scenario
        assert run["not_waiting_at_admit"] == 0
        assert 0 < run["p50_ms"] <= run["p95_ms"] <= run["p99_ms"] <= run["max_ms"]
        assert run["achieved_rate"] > 0 and run["node_cpu_ms_per_admission"] > 0
        assert (run["redis_cpu"] is not None) == (scenario in ("redis", "postgres"))
        # The postmaster and its backends, who wrote every admission's records.
        assert (run["postgres_cpu"] is not None) == (scenario == "postgres")
        assert run["postgres_cpu"] is None or run["postgres_cpu"] > 0
        assert report["scenarios"][scenario]["median"]["p95_ms"] == run["p95_ms"]

    text = (tmp_path / "admission.md").read_text()
    for scenario in scenarios:
        assert f"| {scenario} | 1 | 50/50 | 0 | 0 |" in text
    assert ("PostgreSQL notes:" in text) == ("postgres" in scenarios)
    assert "Limits raised for the benchmark" in text
