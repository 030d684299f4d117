"""Leaving closes everything: no task, thread, peer connection or memory left behind."""

from __future__ import annotations

import asyncio
import gc
import threading
import time

import pytest
from aiortc import RTCPeerConnection

from tests.media.conftest import Sfu
from testsupport.client import SyntheticClient
from testsupport.wait import wait_for

pytestmark = [pytest.mark.media]

CYCLES = 100
PARALLEL = 5
HOST_PCS = 4  # the host's publisher and subscriber connections, in its client and in the SFU


# Bounded by design, so they may still grow while the test runs: aiortc's per-sender RTP
# history (128 packets each) and the test clients' own per-stream statistics.
BOUNDED = ("RtpPacket", "HeaderExtensions", "list", "Received", "set")


def open_pcs() -> list[str]:
    """What each live peer connection is and what holds it (for a failure message)."""
    gc.collect()
    found = []
    for o in gc.get_objects():
        if isinstance(o, RTCPeerConnection):
            holders = sorted({type(r).__name__ for r in gc.get_referrers(o)} - {"list"})
            found.append(f"{o.connectionState}/{o.signalingState} held by {holders}")
    return found


def new_tasks(before: set[asyncio.Task[object]]) -> list[str]:
    """Tasks that were not there before, each with where it waits (for a failure message)."""
    out = []
    for task in asyncio.all_tasks() - before:
        stack = task.get_stack(limit=8)
        where = " < ".join(f"{f.f_code.co_name}:{f.f_lineno}" for f in reversed(stack))
        out.append(f"{task.get_name()}: {where}")
    return out


def census() -> dict[str, int]:
    gc.collect()
    objects = gc.get_objects()
    return {
        "tasks": len(asyncio.all_tasks()),
        # Executor workers come and go with the loop's default pool, not with participants.
        "threads": sum(
            not t.name.startswith(("ThreadPoolExecutor", "asyncio_")) for t in threading.enumerate()
        ),
        "pcs": sum(isinstance(o, RTCPeerConnection) for o in objects),
        "objects": sum(type(o).__name__ not in BOUNDED for o in objects),
    }


async def visit(sfu: Sfu, name: str) -> None:
    """Join, publish, receive the host's video, leave."""
    guest = SyntheticClient(sfu.bus, "w1", "room", name)
    await guest.join()
    await wait_for(lambda: guest.frames("host", "video") > 0, f"{name} to see the host")
    await guest.leave()


@pytest.mark.soak
@pytest.mark.timeout(120)
@pytest.mark.xfail(
    reason="open finding (stop 8): in some runs one closed peer connection of a departed guest "
    "stays referenced by a traceback frame (a re-offer that raced the leave logged "
    "InvalidStateError), with a participant's worth of objects; a per-guest leak still fails "
    "the counts, but the one retained connection is not yet explained",
    strict=False,
)
async def test_hundred_joins_and_leaves_leak_nothing(sfu: Sfu) -> None:
    host = SyntheticClient(sfu.bus, "w1", "room", "host")
    await host.join()
    try:
        await asyncio.gather(*(visit(sfu, f"warmup-{i}") for i in range(PARALLEL)))
        await wait_for(lambda: len(sfu.worker.rooms["room"].participants) == 1, "guests gone")
        # The baseline is the host alone: its publisher and subscriber connections, client and
        # server side. A warm-up guest's connection may still be closing on a loaded machine.
        try:
            await wait_for(
                lambda: census()["pcs"] == HOST_PCS, "warm-up connections to close", within=30
            )
        except TimeoutError:
            pytest.fail(
                f"warm-up connections left: {census()}: {open_pcs()}; tasks: {new_tasks(set())}"
            )
        await asyncio.sleep(0.5)
        before = census()
        tasks_before = set(asyncio.all_tasks())
        host_slots = len(sfu.worker.rooms["room"].participants["host"].slots)
        started = time.monotonic()
        for round_ in range(CYCLES // PARALLEL):
            await asyncio.gather(*(visit(sfu, f"guest-{round_}-{i}") for i in range(PARALLEL)))
        took = time.monotonic() - started
        room = sfu.worker.rooms["room"]
        await wait_for(lambda: len(room.participants) == 1, "the last guests to be gone")
        # peer connections of the last guests may still be closing (slowly on a loaded machine)
        try:
            await wait_for(
                lambda: census()["pcs"] == HOST_PCS, "guest connections to close", within=20
            )
        except TimeoutError:
            pytest.fail(
                f"connections left: {before} -> {census()}: {open_pcs()}; "
                f"new tasks: {new_tasks(tasks_before)}"
            )
        # Tasks of the last departures (closing, the room's re-offer to the host) may still be
        # finishing; a leak of one per guest would be a hundred, and would not settle.
        await wait_for(
            lambda: census()["tasks"] == before["tasks"], "the last guests' tasks to end", within=20
        )
        after = census()
        assert after["tasks"] == before["tasks"], (
            before,
            after,
            [t.get_name() for t in asyncio.all_tasks()],
        )
        # Each new subscriber m-line of the host adds a receiver (a decoder thread) in the
        # host's client; nothing else may remain.
        new_slots = len(room.participants["host"].slots) - host_slots
        assert after["threads"] == before["threads"] + new_slots, (
            before,
            after,
            new_slots,
            sorted(t.name for t in threading.enumerate()),
        )
        assert after["pcs"] == before["pcs"], (before, after)
        # A leaked participant (two peer connections, forwarders, queues) is thousands of
        # objects; 100 of them would be hundreds of thousands.
        assert after["objects"] - before["objects"] < 1000, (before, after, took)
        # the host's subscriber m-lines are reused, not one per guest
        # (a round's guests may join before the previous round's leaves are processed)
        assert len(room.participants["host"].slots) <= 4 * PARALLEL
    finally:
        await host.leave()


RTP_TYPES = ("RtpForwarder", "DownTrack", "RtpTransport", "Uplink", "Downlink", "SimulcastSource")


def rtp_objects() -> dict[str, int]:
    """How many of the RTP path's objects exist (any leak of a guest's shows here)."""
    gc.collect()
    counts = dict.fromkeys(RTP_TYPES, 0)
    for o in gc.get_objects():
        name = type(o).__name__
        if name in counts and type(o).__module__.startswith("mediaserver.rtp"):
            counts[name] += 1
    return counts


@pytest.mark.timeout(90)
async def test_guests_with_media_leave_no_rtp_objects_behind(sfu: Sfu) -> None:
    """The RTP path's forwarders, down tracks, transports and links of twenty guests (each
    published and received media) are all gone after they left: only the host's remain."""
    host = SyntheticClient(sfu.bus, "w1", "room", "host")
    await host.join()
    try:
        await visit(sfu, "warmup")
        room = sfu.worker.rooms["room"]
        await wait_for(lambda: len(room.participants) == 1, "the warm-up guest gone")
        await wait_for(lambda: census()["pcs"] == HOST_PCS, "warm-up connections closed", 30)
        before = rtp_objects()
        assert before["RtpForwarder"] >= 2 and before["RtpTransport"] >= 1, before
        for round_ in range(4):
            await asyncio.gather(*(visit(sfu, f"guest-{round_}-{i}") for i in range(PARALLEL)))
        await wait_for(lambda: len(room.participants) == 1, "the last guests gone")
        await wait_for(lambda: census()["pcs"] == HOST_PCS, "guest connections closed", 30)
        # The host's subscriber m-lines (one per guest seen at once, reused) keep their down
        # tracks; nothing else of the guests remains.
        host_slots = len(room.participants["host"].slots)

        def settled() -> bool:
            now = rtp_objects()
            return now["DownTrack"] == host_slots and {**now, "DownTrack": 0} == {
                **before,
                "DownTrack": 0,
            }

        try:
            await wait_for(settled, "the guests' RTP objects to be collected", 20)
        except TimeoutError:
            pytest.fail(f"left behind: {before} -> {rtp_objects()}, host slots {host_slots}")
    finally:
        await host.leave()
