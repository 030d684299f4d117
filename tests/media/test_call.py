"""Calls through an in-process media worker with real aiortc clients over loopback."""

from __future__ import annotations

import asyncio

import pytest

from tests.media.conftest import Sfu
from testsupport.client import ClientMedia, SyntheticClient
from testsupport.wait import wait_for

pytestmark = [pytest.mark.media, pytest.mark.timeout(40)]

ROOM = "appt-1"


def client(sfu: Sfu, name: str, **kwargs: object) -> SyntheticClient:
    return SyntheticClient(sfu.bus, sfu.worker.id, ROOM, name, **kwargs)  # type: ignore[arg-type]


async def joined_pair(sfu: Sfu) -> tuple[SyntheticClient, SyntheticClient]:
    """alice and bob, both joined and publishing audio and video."""
    alice, bob = client(sfu, "alice"), client(sfu, "bob")
    await asyncio.gather(alice.join(), bob.join())
    return alice, bob


async def wait_sees(viewer: SyntheticClient, publisher: SyntheticClient) -> None:
    """Until `viewer` received a video frame from `publisher`."""
    await wait_for(
        lambda: viewer.frames(publisher.id, "video") > 0, f"{viewer.id} to see {publisher.id}"
    )


async def test_three_party_call_each_decodes_the_other_two(sfu: Sfu) -> None:
    clients = [client(sfu, name) for name in ("alice", "bob", "carol")]
    try:
        await asyncio.gather(*(c.join() for c in clients))
        for me in clients:
            for other in clients:
                if other is me:
                    continue
                for source in ("audio", "video"):
                    await wait_for(
                        lambda me=me, o=other, s=source: me.frames(o.id, s) >= 5,
                        f"{me.id} to decode 5 {source} frames from {other.id}",
                    )
        for me in clients:
            assert set(me.received) == {
                (o.id, s) for o in clients if o is not me for s in ("audio", "video")
            }
            for (_, source), stats in me.received.items():
                if source == "video":
                    assert stats.sizes == {(160, 120)}  # real decoded frames
        assert sfu.worker.load > 0
        room = sfu.worker.rooms[ROOM]
        assert room.forwarded_streams == 12 and room.published_streams == 6
        # Media and RTCP pass below aiortc's senders and receivers: none of them was started
        # (no decoder thread, no RTCP loop of their own), yet every m-line carried media.
        transceivers = [
            t
            for member in room.participants.values()
            for pc in (member._pub, member._sub.pc)
            if pc is not None
            for t in pc.getTransceivers()
        ]
        assert len(transceivers) == 6 + 12
        for transceiver in transceivers:
            assert not transceiver.receiver._RTCRtpReceiver__started
            assert not transceiver.sender._RTCRtpSender__started
    finally:
        await asyncio.gather(*(c.leave() for c in clients))


async def test_late_joiner_gets_video_by_a_keyframe_request(sfu: Sfu) -> None:
    alice, bob = await joined_pair(sfu)
    carol = client(sfu, "carol", media=ClientMedia(publish=()))
    try:
        await wait_sees(bob, alice)
        # aiortc's encoder makes one keyframe at the start, then only on request: carol can
        # only start if the server asks alice for one.
        await asyncio.sleep(1.5)
        await carol.join()
        # Without that request the next keyframe would come after kf_max_dist (100 s); how
        # fast it comes is a matter for loadtests/, not for a timed assertion on a busy machine.
        await wait_for(
            lambda: carol.frames("alice", "video") > 0, "carol's first frame from alice", within=5
        )
        publication = next(
            iter(
                p
                for p in sfu.worker.rooms[ROOM].participants["alice"].publications.values()
                if p.source == "video"
            )
        )
        assert publication.forwarder.keyframe_requests >= 2  # bob's and carol's joins
    finally:
        await asyncio.gather(alice.leave(), bob.leave(), carol.leave())


async def test_rejoin_replaces_the_connection(sfu: Sfu) -> None:
    alice, bob = await joined_pair(sfu)
    try:
        await wait_sees(alice, bob)
        stale = bob.conn
        await bob.rejoin()
        assert bob.conn != stale
        alice.reset_received()
        await wait_for(
            lambda: alice.frames("bob", "video") > 3 and alice.frames("bob", "audio") > 3,
            "alice to see bob's new tracks",
        )
        await wait_for(lambda: bob.frames("alice", "video") > 3, "bob to see alice again")
        room = sfu.worker.rooms[ROOM]
        assert room.participants["bob"].conn == bob.conn
        # alice's subscriber m-lines were reused for bob's new tracks, not added
        assert len(room.participants["alice"].slots) == 2
        # a message of the old connection is ignored
        await sfu.bus.publish(
            "media:w1", {"op": "leave", "room": ROOM, "participant": "bob", "conn": stale}
        )
        await asyncio.sleep(0.2)
        assert "bob" in room.participants
    finally:
        await asyncio.gather(alice.leave(), bob.leave())


async def test_screen_share_comes_and_goes(sfu: Sfu) -> None:
    alice, bob = await joined_pair(sfu)
    try:
        await wait_sees(bob, alice)
        offers = bob.sub_offers
        await alice.publish(["screen"])
        # How fast is for loadtests/ to say; a busy test machine only bounds it.
        await wait_for(
            lambda: bob.frames("alice", "screen") > 0, "bob to see the screen share", within=5
        )
        assert bob.sub_offers > offers
        assert {"participant": "alice", "source": "screen"} in bob.tracks.values()
        await alice.stop_publishing("screen")
        await wait_for(
            lambda: {"participant": "alice", "source": "screen"} not in bob.tracks.values(),
            "the screen share to leave bob's offer",
            within=1.0,
        )
        frames = bob.frames("alice", "video")
        await wait_for(lambda: bob.frames("alice", "video") > frames + 3, "camera to go on")
    finally:
        await asyncio.gather(alice.leave(), bob.leave())


async def test_publishing_without_the_grant_is_refused(sfu: Sfu) -> None:
    alice = client(sfu, "alice")
    eve = client(sfu, "eve", grants=["audio"])  # offers audio and video anyway
    await asyncio.gather(alice.join(), eve.join())
    try:
        await wait_for(lambda: alice.frames("eve", "audio") > 3, "alice to hear eve")
        assert [e["code"] for e in eve.errors] == ["publish_not_allowed"]
        await asyncio.sleep(0.5)
        assert alice.frames("eve", "video") == 0
        sources = {
            p.source for p in sfu.worker.rooms[ROOM].participants["eve"].publications.values()
        }
        assert sources == {"audio"}
    finally:
        await asyncio.gather(alice.leave(), eve.leave())


async def test_leave_renegotiates_and_empty_room_is_closed(sfu: Sfu) -> None:
    alice, bob = await joined_pair(sfu)
    await wait_sees(alice, bob)
    offers = alice.sub_offers
    await bob.leave()
    await wait_for(
        lambda: alice.sub_offers > offers and not alice.tracks,
        "alice's re-offer without bob",
        within=1.0,
    )
    await alice.leave()
    await wait_for(lambda: ROOM not in sfu.worker.rooms, "the empty room to close")


async def test_a_newcomers_first_offer_does_not_wait_for_the_batch() -> None:
    """Re-offers are batched (`renegotiate_delay`, here longer than the test); a newcomer's
    first offer is not: it already carries everything published, and the wait would be the
    join's. The others' re-offers for the newcomer's tracks still wait for the batch."""
    from dataclasses import replace

    from tests.media.conftest import LOOPBACK_CONFIG, running_sfu

    async with running_sfu(replace(LOOPBACK_CONFIG, renegotiate_delay=60)) as slow:
        alice = client(slow, "alice")
        bob = client(slow, "bob")
        try:
            await alice.join()
            await bob.join()
            await wait_sees(bob, alice)  # bob's first offer carried alice's tracks at once
            assert bob.sub_offers == 1
            assert alice.sub_offers == 0  # bob's tracks wait for the batch
            assert slow.worker.rooms[ROOM].renegotiation_pending
        finally:
            await asyncio.gather(alice.leave(), bob.leave())
