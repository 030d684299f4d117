"""`finish`: clean-up that runs to its end even when its caller is cancelled."""

from __future__ import annotations

import asyncio

import pytest

from core.tasks import Lifetime, finish


async def test_the_work_ends_although_the_caller_is_cancelled() -> None:
    started, release = asyncio.Event(), asyncio.Event()
    ended: list[str] = []

    async def clean_up() -> None:
        started.set()
        await release.wait()
        ended.append("written")

    caller = asyncio.create_task(finish(clean_up()))
    await started.wait()
    caller.cancel()
    await asyncio.sleep(0.05)
    caller.cancel()  # twice: still not cut off
    await asyncio.sleep(0.05)
    assert not caller.done() and ended == []
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await caller  # the cancellation goes on once the work is done
    assert ended == ["written"]


async def test_result_and_errors_pass_through() -> None:
    async def value() -> int:
        return 7

    async def broken() -> None:
        raise LookupError("gone")

    assert await finish(value()) == 7
    with pytest.raises(LookupError):
        await finish(broken())


async def test_a_pause_ends_early_when_the_lifetime_ends() -> None:
    lifetime = Lifetime()
    assert await lifetime.pause(0.01) is True  # the time passed: go on
    pausing = asyncio.create_task(lifetime.pause(3600))
    await asyncio.sleep(0.01)
    lifetime.end()
    assert await asyncio.wait_for(pausing, 1) is False  # over: stop
    assert lifetime.over and await lifetime.pause(3600) is False
