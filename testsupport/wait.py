"""The one way tests and benchmarks wait: poll a condition, and on timeout say what was awaited.

`wait_for` is for asyncio code and takes a plain or an async condition; `wait_for_sync` is its
twin for the synchronous Playwright tests, which cannot await.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

DEFAULT_WITHIN = 10.0


class WaitTimeout(TimeoutError):
    """A condition did not hold in time; the message names it and its last value."""


async def wait_for(
    condition: Callable[[], Any | Awaitable[Any]],
    what: str,
    within: float = DEFAULT_WITHIN,
    interval: float = 0.02,
) -> float:
    """Poll until `condition()` is truthy; returns the seconds it took."""
    start = time.monotonic()
    deadline = start + within
    while True:
        last = condition()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return time.monotonic() - start
        if time.monotonic() > deadline:
            raise WaitTimeout(f"timed out after {within:.1f}s waiting for {what} (last: {last!r})")
        await asyncio.sleep(interval)


def wait_for_sync(
    condition: Callable[[], Any], what: str, within: float = 20.0, interval: float = 0.2
) -> Any:
    """Poll until `condition()` is truthy and return its value (for synchronous tests)."""
    deadline = time.monotonic() + within
    while True:
        last = condition()
        if last:
            return last
        if time.monotonic() > deadline:
            raise WaitTimeout(f"timed out after {within:.1f}s waiting for {what} (last: {last!r})")
        time.sleep(interval)
