"""The `lippejob` command as a user runs it: a real process, a real socket, its logs read."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _lippejob(*args: str) -> list[str]:
    return [sys.executable, "-m", "lippejob.cli", *args]


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], list[str], Path]]:
    """`lippejob serve --demo --http` on a free port; yields the process, its lines, its log."""
    port = _free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log_file:
        proc = subprocess.Popen(
            _lippejob(
                "serve",
                "--demo",
                "--http",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--data-dir",
                str(tmp_path / "var"),
                "--keys-dir",
                str(tmp_path / "keys"),
            ),
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
            cwd=tmp_path,
        )
        lines = []
        # Generous: on a loaded machine, importing the server and starting its SFU is slow.
        deadline = time.monotonic() + 90
        assert proc.stdout is not None
        while len(lines) < 3 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
        try:
            assert len(lines) == 3, f"demo printed {lines}; log: {log_path.read_text()[-2000:]}"
            yield proc, lines, log_path
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            proc.stdout.close()


@pytest.mark.timeout(150)
async def test_demo_prints_links_that_join_and_open_the_socket(
    demo_server: tuple[subprocess.Popen[str], list[str], Path],
) -> None:
    _, lines, log_path = demo_server
    rows = [line.split("\t") for line in lines]
    assert [role for role, _ in rows] == ["caseworker", "jobseeker", "employer"]
    urls = dict(rows)
    base = urls["caseworker"].split("/j/")[0]
    tokens = {}
    async with aiohttp.ClientSession() as http:
        assert (await http.get(f"{base}/healthz")).status == 200
        page = await http.get(urls["jobseeker"])
        assert page.status == 200 and "text/html" in page.headers["Content-Type"]
        for role, url in urls.items():
            resp = await http.post(
                f"{base}/api/join", json={"code": url.rsplit("/j/", 1)[1], "consent": True}
            )
            assert resp.status == 200, await resp.text()
            tokens[role] = (await resp.json())["token"]
        cw = await http.ws_connect(f"{base}/ws")
        await cw.send_json({"type": "auth", "token": tokens["caseworker"]})
        hello = json.loads((await cw.receive(timeout=5)).data)
        assert hello["type"] == "hello" and hello["participant"]["role"] == "caseworker"
        js = await http.ws_connect(f"{base}/ws")
        await js.send_json({"type": "auth", "token": tokens["jobseeker"]})
        assert json.loads((await js.receive(timeout=5)).data)["type"] == "waiting"
        await cw.close()
        await js.close()
    await asyncio.sleep(0.2)
    log = log_path.read_text()
    events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert any(
        e.get("event") == "participant_connected" and e.get("appointment") and e.get("participant")
        for e in events
    )
    # The node runs on uvloop (setting `uvloop`, installed with the package): the listener,
    # WebSockets and the in-process SFU above worked on it.
    assert [e["loop"] for e in events if e.get("event") == "serving"] == ["uvloop"]
    # Its start-up heap is frozen out of the collector's sight (setting gc_young_threshold).
    assert [e["gc_frozen"] > 10_000 for e in events if e.get("event") == "serving"] == [True]
    for secret in [
        *tokens.values(),
        *(u.rsplit("/j/", 1)[1] for u in urls.values()),
        "Frau Becker",
        "Herr Wolf",
        "Ay\u015fe",
    ]:
        assert secret not in log, "a token, invite code or name reached the log"


def test_staff_add_and_keys_generate(tmp_path: Path) -> None:
    env = {**os.environ, "LIPPEJOB_STAFF_PASSWORD": "long enough password"}
    out = subprocess.run(
        _lippejob(
            "staff", "add", "becker", "--display-name", "Frau Becker", "--data-dir", str(tmp_path)
        ),
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "becker" in out.stdout
    database = tmp_path / "lippejob.db"  # the embedded default, made on first use
    with contextlib.closing(sqlite3.connect(database)) as db:
        rows = db.execute("SELECT username, password_hash FROM staff_accounts").fetchall()
    assert [r[0] for r in rows] == ["becker"] and rows[0][1].startswith("scrypt$")
    assert b"long enough password" not in database.read_bytes()
    assert database.stat().st_mode & 0o077 == 0
    weak = subprocess.run(
        _lippejob("staff", "add", "x", "--data-dir", str(tmp_path)),
        env={**os.environ, "LIPPEJOB_STAFF_PASSWORD": "short"},
        capture_output=True,
        text=True,
    )
    assert weak.returncode == 2 and "at least" in weak.stderr
    keys = tmp_path / "keys"
    first = subprocess.run(
        _lippejob("keys", "generate", "--keys-dir", str(keys)),
        capture_output=True,
        text=True,
        check=True,
    )
    second = subprocess.run(
        _lippejob("keys", "generate", "--keys-dir", str(keys)),
        capture_output=True,
        text=True,
        check=True,
    )
    assert first.stdout.split()[3] != second.stdout.split()[3]
    state = json.loads((keys / "keyring.json").read_text())
    assert state["previous"] == first.stdout.split()[3]


def test_world_readable_key_is_refused(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    subprocess.run(
        _lippejob("keys", "generate", "--keys-dir", str(keys)), check=True, capture_output=True
    )
    for key in keys.glob("*.key"):
        key.chmod(0o644)
    out = subprocess.run(
        _lippejob(
            "serve",
            "--http",
            "--port",
            str(_free_port()),
            "--keys-dir",
            str(keys),
            "--data-dir",
            str(tmp_path),
        ),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2 and "error:" in out.stderr


@pytest.mark.timeout(150)
async def test_sigterm_drains_live_calls(
    demo_server: tuple[subprocess.Popen[str], list[str], Path],
) -> None:
    proc, lines, _ = demo_server
    url = lines[0].split("\t")[1]
    base = url.split("/j/")[0]
    async with aiohttp.ClientSession() as http:
        resp = await http.post(f"{base}/api/join", json={"code": url.rsplit("/j/", 1)[1]})
        token = (await resp.json())["token"]
        ws = await http.ws_connect(f"{base}/ws")
        await ws.send_json({"type": "auth", "token": token})
        assert json.loads((await ws.receive(timeout=5)).data)["type"] == "hello"
        assert (await http.get(f"{base}/readyz")).status == 200
        proc.terminate()  # SIGTERM
        deadline = time.monotonic() + 10
        while (await http.get(f"{base}/readyz")).status != 503:
            assert time.monotonic() < deadline, "readyz never reported draining"
            await asyncio.sleep(0.1)
        assert proc.poll() is None, "the server quit with a call still running"
        await ws.close()
    proc.wait(timeout=15)
    assert proc.returncode == 0


@pytest.mark.timeout(180)  # six runs of the command, each importing the whole server
def test_serve_refuses_a_database_without_the_schema_until_db_upgrade(tmp_path: Path) -> None:
    """An explicitly configured database is never migrated behind the operator's back."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'records.db'}"
    common = ["--database", url, "--data-dir", str(tmp_path / "var")]
    port = _free_port()
    refused = subprocess.run(
        _lippejob(
            "serve", "--http", "--port", str(port), "--keys-dir", str(tmp_path / "keys"), *common
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2, refused.stderr
    assert "error:" in refused.stderr and "run `lippejob db upgrade`" in refused.stderr
    staff = subprocess.run(
        _lippejob("staff", "add", "becker", *common),
        env={**os.environ, "LIPPEJOB_STAFF_PASSWORD": "long enough password"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert staff.returncode == 2 and "lippejob db upgrade" in staff.stderr

    upgraded = subprocess.run(
        _lippejob("db", "upgrade", *common), capture_output=True, text=True, timeout=60
    )
    assert upgraded.returncode == 0, upgraded.stderr
    assert "upgraded from revision (empty) to" in upgraded.stdout
    again = subprocess.run(
        _lippejob("db", "upgrade", *common), capture_output=True, text=True, timeout=60
    )
    assert again.returncode == 0 and "up to date" in again.stdout
    assert not (tmp_path / "var" / "lippejob.db").exists()  # the URL, not the default, was used

    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log_file:
        proc = subprocess.Popen(
            _lippejob(
                "serve",
                "--http",
                "--port",
                str(port),
                "--keys-dir",
                str(tmp_path / "keys"),
                "--no-media",
                *common,
            ),
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
    try:
        deadline = time.monotonic() + 30
        while "serving" not in log_path.read_text():
            assert proc.poll() is None, log_path.read_text()[-2000:]
            assert time.monotonic() < deadline, "serve did not start after db upgrade"
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_db_upgrade_refuses_an_unknown_scheme(tmp_path: Path) -> None:
    out = subprocess.run(
        _lippejob("db", "upgrade", "--database", "mysql://localhost/x"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "database_url must start with" in out.stderr


async def test_a_legacy_staff_file_is_imported_once(tmp_path: Path) -> None:
    from core.clock import FakeClock
    from core.model import StaffUser
    from core.settings import Settings
    from core.store.wiring import open_durable
    from lippejob.serve import import_legacy_staff

    settings = Settings(data_dir=tmp_path)
    legacy = [
        StaffUser("becker", "Frau Becker", "scrypt$old", 1.0).to_dict(),
        StaffUser("wolf", "Herr Wolf", "scrypt$w", 2.0).to_dict(),
    ]
    (tmp_path / "staff.json").write_text(json.dumps(legacy))
    store = await open_durable(settings, FakeClock())
    try:
        await store.put_staff(StaffUser("becker", "Frau Becker", "scrypt$new", 3.0))
        assert await import_legacy_staff(settings, store) == 1
        becker = await store.get_staff("becker")
        assert becker is not None and becker.password_hash == "scrypt$new"  # not overwritten
        assert await store.get_staff("wolf") == StaffUser("wolf", "Herr Wolf", "scrypt$w", 2.0)
        assert not (tmp_path / "staff.json").exists()
        assert (tmp_path / "staff.json.imported").exists()
        assert await import_legacy_staff(settings, store) == 0
    finally:
        await store.close()
