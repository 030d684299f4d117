"""Issue 10, item 1 in Chromium: `kill -9` of the media worker that hosts two pages' call.

The signalling server runs on a real Redis with no SFU of its own; two real `lippejob media`
processes (the default heartbeat and registration ttl) host the media. The worker with the
call is killed with SIGKILL: no drain, no goodbye. Signalling sees its registration lapse and
tells both pages `media_moved`; they reconnect by themselves, the room is placed on the other
worker and each page plays the other's camera again. The outage is printed: from the kill
until each page has shown three frames of the other's new stream (polled every 50 ms, so up
to ~0.3 s late); tests/faults/test_media_worker_kill.py does the same with aiortc clients.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from signalling.room.ws import HUB
from tests.browser.conftest import LiveServer, NewContext, tile_video, video_playing
from tests.browser.test_call import caseworker_and_jobseeker_in_call
from tests.faults.test_media_worker_kill import NOTICE_BOUND, two_workers
from tests.media.test_ws_call import WorkerProcess
from testsupport.wait import wait_for_sync as wait_for

__all__ = ["two_workers"]  # a fixture, used by name

pytestmark = [pytest.mark.redis, pytest.mark.timeout(180)]

# The id of the stream a video element shows, and how many frames it has shown.
STREAM = """(sel) => { const v = document.querySelector(sel);
    return v && v.srcObject ? [v.srcObject.id, v.getVideoPlaybackQuality().totalVideoFrames]
                            : ['', 0]; }"""
NEW_FRAMES = 3  # a quarter of a second of the test camera's 12 frames a second


def test_a_killed_media_worker_moves_the_pages_call(
    two_workers: list[WorkerProcess], redis_url: str, tmp_path: Path, new_context: NewContext
) -> None:
    server = LiveServer(tmp_path / "live", redis_url=redis_url)
    server.start()
    try:
        registry = server.ephemeral

        async def registered() -> int:
            return len(await registry.list_workers())

        wait_for(lambda: server.run(registered()) == 2, "both media workers registered", 30)
        s, worker_page, seeker_page = caseworker_and_jobseeker_in_call(server, new_context)
        room = s.appointment.id
        people = (s.ids["caseworker"], s.ids["jobseeker"])
        first = server.run(registry.get_room_worker(room))
        assert first is not None
        hosting = next(w for w in two_workers if first in w.log.read_text(errors="replace"))

        async def connections() -> list[str]:
            found = [server.app[HUB].local_connection(room, pid) for pid in people]
            return [c.conn_id if c is not None else "" for c in found]

        # Each page's view of the other's camera: its stream's id and frames shown.
        views = ((seeker_page, tile_video(people[0])), (worker_page, tile_video(people[1])))

        def streams() -> list[tuple[str, int]]:
            return [tuple(page.evaluate(STREAM, selector)) for page, selector in views]

        before, shown = server.run(connections()), streams()
        hosting.proc.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()

        def both_reconnected() -> bool:
            now = server.run(connections())
            return all(n and n != b for n, b in zip(now, before, strict=True))

        wait_for(both_reconnected, "both pages to reconnect after media_moved", 20, 0.05)
        reconnected = time.monotonic() - killed_at

        def both_showing_new_frames() -> bool:
            return all(
                stream != old and frames >= NEW_FRAMES
                for (stream, frames), (old, _) in zip(streams(), shown, strict=True)
            )

        wait_for(both_showing_new_frames, "both pages to show the other's new stream", 20, 0.05)
        back = time.monotonic() - killed_at
        print(f"pages reconnected {reconnected:.2f}s after the kill; video again after {back:.2f}s")
        for page, selector in views:
            video_playing(page, selector)  # and it goes on

        moved_to = server.run(registry.get_room_worker(room))
        assert moved_to is not None and moved_to != first
        # Told by signalling's watch (within the aiortc test's bound, plus the pages' own
        # reconnect), not found out by the pages' own media watchdogs (11-13 s before item 1).
        assert reconnected <= NOTICE_BOUND + 5, f"reconnected only after {reconnected:.1f}s"
        for page in (worker_page, seeker_page):
            page.locator("#reconnect-banner").wait_for(state="hidden")
    finally:
        server.stop()
