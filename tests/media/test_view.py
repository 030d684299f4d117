"""The page's `view` message in the SFU: how tall it shows each other participant's camera
reaches the down tracks carrying those cameras, also tracks added after it, and a bad one is
refused without harm."""

from __future__ import annotations

import pytest

from mediaserver.participant import Participant
from tests.media.conftest import Sfu
from testsupport.client import SyntheticClient
from testsupport.wait import wait_for

pytestmark = [pytest.mark.media, pytest.mark.timeout(40)]

ROOM = "r"


def client(sfu: Sfu, name: str) -> SyntheticClient:
    return SyntheticClient(sfu.bus, sfu.worker.id, ROOM, name)


def heights(member: Participant) -> dict[tuple[str, str], int | None]:
    return {s.carries: s.track.view_height for s in member.slots if s.carries is not None}


async def test_the_view_reaches_the_tracks_that_carry_those_cameras(sfu: Sfu) -> None:
    viewer, first = client(sfu, "viewer"), client(sfu, "first")
    late = client(sfu, "late")
    try:
        await viewer.join()
        await first.join()
        await viewer.wait_frames(first.id, ("video",), count=1)
        room = sfu.worker.rooms[ROOM]
        member = room.participants[viewer.id]
        assert heights(member)[(first.id, "video")] is None  # not said yet

        await viewer.signal({"type": "view", "heights": {first.id: 360, late.id: 0}})
        await wait_for(
            lambda: heights(member).get((first.id, "video")) == 360, "the height on the track"
        )
        # Only cameras: the audio track carries no height.
        assert heights(member)[(first.id, "audio")] is None
        # A camera that comes later takes the height the page gave for it.
        await late.join()
        await viewer.wait_frames(late.id, ("video",), count=1)
        assert heights(member)[(late.id, "video")] == 0

        # A bad view is refused (an error to that client) and changes nothing.
        await viewer.signal({"type": "view", "heights": {first.id: -5}})
        await wait_for(lambda: viewer.errors, "the refusal")
        assert viewer.errors[-1]["code"] == "bad_request"
        assert heights(member)[(first.id, "video")] == 360
    finally:
        for c in (viewer, first, late):
            await c.leave()
