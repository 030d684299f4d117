"""A throwaway PostgreSQL cluster on a free loopback port, for the test suite's database
fixture (`tests/postgres_server.py`).

`initdb` into a temporary directory with trust authentication (loopback only, a test cluster),
`postgres` with fsync off and its socket in that directory. PostgreSQL refuses to run as root:
as root, both run as the unprivileged `postgres` user (the Debian package creates it), owning
the directory. The user is switched by `subprocess` itself (no `runuser` in between, which
would not pass our stop signal on), so the process we hold is the server.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testsupport.redis_process import free_port

START_TIMEOUT = 30.0  # seconds until the server must accept connections
START_ATTEMPTS = 3  # a free port can be taken between probing and binding it
SUPERUSER = "postgres"  # the cluster's superuser role (trust authentication)
RUN_AS = "postgres"  # the system user the server runs as when we are root


class PostgresNotStarted(RuntimeError):
    """No PostgreSQL binaries, or the server did not come up."""


def find_bin_dir() -> Path | None:
    """The directory of `initdb`, `postgres` and `pg_ctl`: $LIPPEJOB_PG_BIN, the newest
    /usr/lib/postgresql/*/bin (Debian puts them off PATH), or PATH."""
    configured = os.environ.get("LIPPEJOB_PG_BIN")
    if configured:
        return Path(configured) if (Path(configured) / "initdb").exists() else None
    debian = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if debian:
        return Path(debian[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class PostgresServer:
    proc: subprocess.Popen[bytes]
    root: Path  # temporary directory: data/, the socket, the log
    port: int
    bin_dir: Path
    run_as: dict[str, Any]  # subprocess arguments that drop root, or {}

    def url(self, database: str) -> str:
        """An SQLAlchemy URL (asyncpg) for one database of the cluster, over TCP loopback."""
        return f"postgresql+asyncpg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> None:
        """Run one SQL command as the superuser over the socket; raises on failure."""
        subprocess.run(
            [
                str(self.bin_dir / "psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(self.root),
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                "-d",
                database,
                "-c",
                sql,
            ],
            check=True,
            capture_output=True,
            timeout=60,
            **self.run_as,
        )

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"


def _drop_root(root: Path) -> dict[str, Any]:
    """As root: chown `root` to the postgres user; the subprocess arguments that run a command
    as that user."""
    if os.geteuid() != 0:
        return {}
    try:
        user = pwd.getpwnam(RUN_AS)
    except KeyError:
        raise PostgresNotStarted(
            f"running as root, and there is no {RUN_AS!r} user to run PostgreSQL as"
        ) from None
    os.chown(root, user.pw_uid, user.pw_gid)
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _ready(server: PostgresServer) -> bool:
    probe = subprocess.run(
        [
            str(server.bin_dir / "pg_isready"),
            "-q",
            "-h",
            "127.0.0.1",
            "-p",
            str(server.port),
            "-U",
            SUPERUSER,
        ],
        capture_output=True,
        **server.run_as,
    )
    return probe.returncode == 0


def stop_postgres(server: PostgresServer, *, remove: bool = True) -> None:
    """Stop the server (fast shutdown) and remove its directory."""
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGINT)  # fast shutdown: do not wait for clients
        try:
            server.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(timeout=10)
    if remove:
        shutil.rmtree(server.root, ignore_errors=True)


def start_postgres(
    *, attempts: int = START_ATTEMPTS, timeout: float = START_TIMEOUT
) -> PostgresServer:
    """initdb a new cluster in a temporary directory and start it on a free 127.0.0.1 port,
    once it accepts connections. Raises `PostgresNotStarted` (with the log's tail) if there are
    no binaries or it never started; the directory is removed then."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise PostgresNotStarted("PostgreSQL binaries (initdb, postgres) not found")
    # Not under pytest's base temp: that is private to our user, and the server runs as another.
    root = Path(tempfile.mkdtemp(prefix="lippejob-pg-"))
    try:
        run_as = _drop_root(root)
        data = root / "data"
        init = subprocess.run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                SUPERUSER,
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            capture_output=True,
            timeout=120,
            **run_as,
        )
        if init.returncode != 0:
            raise PostgresNotStarted(f"initdb failed:\n{init.stderr.decode(errors='replace')}")
        for _ in range(attempts):
            port = free_port()
            with (root / "postgres.log").open("ab") as log_file:
                proc = subprocess.Popen(
                    [
                        str(bin_dir / "postgres"),
                        "-D",
                        str(data),
                        "-p",
                        str(port),
                        "-k",
                        str(root),
                        "-c",
                        "listen_addresses=127.0.0.1",
                        # A test cluster: nothing here must survive a crash.
                        "-c",
                        "fsync=off",
                        "-c",
                        "synchronous_commit=off",
                        "-c",
                        "full_page_writes=off",
                    ],
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    **run_as,
                )
            server = PostgresServer(proc, root, port, bin_dir, run_as)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and proc.poll() is None and not _ready(server):
                time.sleep(0.1)
            if proc.poll() is None and _ready(server):
                return server
            stop_postgres(server, remove=False)
        log = (root / "postgres.log").read_text(errors="replace")[-2000:]
        raise PostgresNotStarted(f"postgres did not start after {attempts} attempts:\n{log}")
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
