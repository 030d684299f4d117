"""Child processes of a benchmark that talk one JSON object a line: commands on their stdin,
replies on their stdout, everything else they print in a log file."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from loadtests.processes import ROOT, cpu_seconds

REPLY_TIMEOUT = 120.0  # seconds: starting a batch of calls is the slowest command


class ChildError(RuntimeError):
    pass


class Child:
    """`python -m <module> <args>` with PYTHONPATH at the repository and the environment
    passed through."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process, log_path: Path) -> None:
        self.name = name
        self.proc = proc
        self.log_path = log_path

    @classmethod
    async def start(cls, name: str, module: str, args: list[str], log_dir: Path) -> Child:
        log_path = log_dir / f"{name}.log"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with log_path.open("ab") as log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                module,
                *args,
                cwd=ROOT,
                env=env,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
            )
        return cls(name, proc, log_path)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def log_tail(self, chars: int = 2000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    async def read(self, wait: float = REPLY_TIMEOUT) -> dict[str, Any]:
        """The next reply line, within `wait` seconds."""
        assert self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), wait)
        except TimeoutError:
            tail = self.log_tail()
            raise ChildError(f"{self.name}: no reply in {wait:.0f}s\n{tail}") from None
        if not line:
            raise ChildError(f"{self.name} exited\n{self.log_tail()}")
        reply: dict[str, Any] = json.loads(line)
        return reply

    async def send(self, command: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        await self.proc.stdin.drain()

    async def call(self, command: dict[str, Any], wait: float = REPLY_TIMEOUT) -> dict[str, Any]:
        await self.send(command)
        return await self.read(wait)

    async def stop(self, quit_command: dict[str, Any] | None = None, grace: float = 15.0) -> None:
        """Ask it to quit (else SIGTERM), kill it if it has not ended after `grace` s."""
        if self.proc.returncode is None:
            with contextlib.suppress(Exception):
                if quit_command is not None:
                    await self.send(quit_command)
                else:
                    self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), grace)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
