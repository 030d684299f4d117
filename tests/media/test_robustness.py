"""Misbehaving or vanished clients: the room cleans up, keeps re-offering and tells the client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest

from core.bus.base import media_channel, room_channel
from core.contracts import media as protocol
from mediaserver import network
from mediaserver.room import Room
from tests.media.conftest import LOOPBACK_CONFIG, Sfu
from testsupport.client import ClientMedia, SyntheticClient
from testsupport.wait import wait_for

pytestmark = [pytest.mark.media, pytest.mark.timeout(40)]

ROOM = "r"
# Parses, but has no ICE credentials.
BROKEN_OFFER = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=sendonly\r\n"


def client(sfu: Sfu, name: str, **kwargs: Any) -> SyntheticClient:
    return SyntheticClient(sfu.bus, sfu.worker.id, ROOM, name, **kwargs)


async def test_vanished_client_is_removed_and_the_empty_room_closes(sfu: Sfu) -> None:
    alice = client(sfu, "alice", media=ClientMedia(raw=True))
    await alice.join()
    room = sfu.worker.rooms[ROOM]
    await wait_for(
        lambda: all(
            pc.connectionState == "connected"
            for pc in room.participants["alice"].peer_connections()
        ),
        "alice's publisher connection",
    )
    await alice.close()  # connections gone, no leave
    await wait_for(lambda: ROOM not in sfu.worker.rooms, "the abandoned room to close", 10)
    await room.wait_closed()
    assert not room.participants


class _Sent:
    def __init__(self) -> None:
        self.messages: list[tuple[str, str, dict[str, Any]]] = []

    async def __call__(self, participant: str, conn: str, msg: dict[str, Any]) -> None:
        self.messages.append((participant, conn, msg))


@pytest.fixture
async def small_room() -> AsyncIterator[Room]:
    config = replace(LOOPBACK_CONFIG, signal_backlog=5, renegotiate_delay=0.01)
    room = Room(ROOM, config, network.HostPlan.from_config(config), _Sent(), lambda _r: None)
    try:
        yield room
    finally:
        await room.close()


async def flood(room: Room, then: Any) -> None:
    """Join alice and bob, then flood bob's signals while the room task is busy, and call
    `then()` while they wait."""
    for name in ("alice", "bob"):
        room.submit(protocol.Join(ROOM, name, f"c-{name}"))
    await wait_for(lambda: len(room.participants) == 2, "both to join")
    gate, stuck = asyncio.Event(), asyncio.Event()
    # Fault injection (no public seam on purpose): the room task hangs in a slow request.
    handle = room._handle

    async def busy(request: Any) -> None:
        stuck.set()
        await gate.wait()
        await handle(request)

    room._handle = busy  # type: ignore[method-assign]
    mute = protocol.Mute("audio", False)
    for _ in range(50):
        room.submit(protocol.Signal(ROOM, "bob", "c-bob", mute))
    await asyncio.wait_for(stuck.wait(), 5)  # the room task took the first and hangs in it
    for _ in range(50):
        room.submit(protocol.Signal(ROOM, "bob", "c-bob", mute))
    then()
    await asyncio.sleep(0.1)  # the re-offer timer fires meanwhile
    gate.set()
    room._handle = handle  # type: ignore[method-assign]


async def test_a_signal_flood_does_not_stop_reoffers(small_room: Room) -> None:
    room = small_room

    await flood(room, lambda: room.reoffer("bob"))
    await wait_for(lambda: not room.renegotiation_pending, "the re-offer to run")
    await wait_for(lambda: room.backlog == 0, "the backlog to drain")
    room.reoffer("bob")  # the next change is re-offered again
    assert room.renegotiation_pending
    await wait_for(lambda: not room.renegotiation_pending, "the next re-offer to run")


async def test_a_signal_flood_does_not_drop_a_leave(small_room: Room) -> None:
    room = small_room
    await flood(room, lambda: room.submit(protocol.Leave(ROOM, "alice", "c-alice")))
    await wait_for(lambda: "alice" not in room.participants, "alice's leave")
    assert room.backlog == 0  # bob's excess signals were dropped, not queued


def on_first_sub_offer(
    peer: SyntheticClient, instead: Callable[[], Awaitable[None]]
) -> Callable[[], int]:
    """Make `peer` handle the first subscriber offer with `instead` (later ones as usual);
    returns how many offers arrived so far."""
    answer = peer.answer_sub_offer
    offers = 0

    async def handle(msg: dict[str, Any]) -> None:
        nonlocal offers
        offers += 1
        await (instead() if offers == 1 else answer(msg))

    peer.on_sub_offer = handle
    return lambda: offers


async def test_a_refused_subscriber_answer_is_reported_and_offered_again(sfu: Sfu) -> None:
    alice = client(sfu, "alice", media=ClientMedia(raw=True))
    bob = client(sfu, "bob", media=ClientMedia(publish=(), raw=True))
    on_first_sub_offer(
        bob, lambda: bob.signal({"type": "answer", "pc": "sub", "sdp": "v=0\r\ngarbage"})
    )
    try:
        await bob.join()
        await alice.join()
        await wait_for(lambda: bob.frames("alice", "video") > 0, "bob to see alice")
        assert [e["code"] for e in bob.errors] == ["bad_answer"]
        bob_at_sfu = sfu.worker.rooms[ROOM].participants["bob"]
        await wait_for(
            lambda: not bob_at_sfu.awaiting_sub_answer, "the answer to the repeated offer"
        )
    finally:
        await asyncio.gather(alice.leave(), bob.leave())


async def test_a_lost_subscriber_offer_is_sent_again(sfu: Sfu) -> None:
    """An offer (or its answer) lost on the way would leave the subscriber connection waiting
    for ever, and every later change with it: after `offer_timeout` the SFU sends it again."""
    alice = client(sfu, "alice", media=ClientMedia(raw=True))
    bob = client(sfu, "bob", media=ClientMedia(publish=(), raw=True))

    async def lost() -> None:
        pass

    offers = on_first_sub_offer(bob, lost)
    try:
        await bob.join()
        await alice.join()
        took = await wait_for(
            lambda: bob.frames("alice", "video") > 0, "bob to see alice", within=15
        )
        assert offers() >= 2 and took > LOOPBACK_CONFIG.offer_timeout - 1, (offers(), took)
        bob_at_sfu = sfu.worker.rooms[ROOM].participants["bob"]
        await wait_for(
            lambda: not bob_at_sfu.awaiting_sub_answer, "the answer to the offer sent again"
        )
        assert not bob.errors
    finally:
        await asyncio.gather(alice.leave(), bob.leave())


async def test_an_answer_to_a_replaced_offer_is_not_taken_for_the_current_one(
    sfu: Sfu,
) -> None:
    """A slow client answers an offer, then its resent copy: by then the server may have
    offered again, and the late answer (to the old offer) must not settle the new offer."""
    alice = client(sfu, "alice", media=ClientMedia(raw=True))
    bob = client(sfu, "bob", media=ClientMedia(publish=(), raw=True))
    carol = client(sfu, "carol", media=ClientMedia(raw=True))
    try:
        await bob.join()
        await alice.join()
        await wait_for(lambda: bob.frames("alice", "video") > 0, "bob to see alice")
        bob_at_sfu = sfu.worker.rooms[ROOM].participants["bob"]
        await wait_for(lambda: not bob_at_sfu.awaiting_sub_answer, "bob's first answer")
        first = bob.sub_pc
        assert first is not None and first.localDescription is not None
        old_answer = first.localDescription.sdp
        answer = bob.answer_sub_offer

        async def late_answer_first(msg: dict[str, Any]) -> None:
            assert msg["seq"] > 1
            await bob.signal({"type": "answer", "pc": "sub", "sdp": old_answer, "seq": 1})
            await answer(msg)

        bob.on_sub_offer = late_answer_first
        await carol.join()
        await wait_for(lambda: bob.frames("carol", "video") > 0, "bob to see carol")
        await wait_for(lambda: not bob_at_sfu.awaiting_sub_answer, "the current answer")
        assert not bob.errors
        assert bob.frames("alice", "video") > 0
    finally:
        await asyncio.gather(alice.leave(), bob.leave(), carol.leave())


async def test_too_many_published_tracks_are_refused(sfu: Sfu) -> None:
    eve = client(sfu, "eve", media=ClientMedia(publish=(), raw=True))
    eve.answer_timeout = 1.0
    bob = client(sfu, "bob", media=ClientMedia(publish=(), raw=True))
    try:
        await asyncio.gather(eve.join(), bob.join())
        with pytest.raises(TimeoutError):
            await eve.publish(["video"] * 12)
        assert [e["code"] for e in eve.errors] == ["too_many_tracks"]
        room = sfu.worker.rooms[ROOM]
        assert room.participants["eve"].publications == {}
        assert room.participants["eve"].peer_connections() == []
        assert room.participants["bob"].slots == []
    finally:
        await asyncio.gather(eve.leave(), bob.leave())


async def test_two_tracks_for_one_source_are_refused(sfu: Sfu) -> None:
    eve = client(sfu, "eve", media=ClientMedia(publish=(), raw=True))
    eve.answer_timeout = 1.0
    try:
        await eve.join()
        with pytest.raises(TimeoutError):
            await eve.publish(["audio", "video", "video"])
        assert [e["code"] for e in eve.errors] == ["too_many_tracks"]
        assert sfu.worker.rooms[ROOM].participants["eve"].publications == {}
    finally:
        await eve.leave()


async def test_invalid_and_failed_requests_are_answered_with_an_error(sfu: Sfu) -> None:
    errors: list[dict[str, Any]] = []

    async def on_event(event: dict[str, Any]) -> None:
        if event.get("participant") == "bob" and event["msg"].get("type") == "error":
            errors.append(event)

    subscription = await sfu.bus.subscribe(room_channel(ROOM), on_event)
    bob = client(sfu, "bob", media=ClientMedia(publish=()))
    try:
        await bob.join()
        # Invalid: an answer for the publisher connection.
        await bob.signal({"type": "answer", "pc": "pub", "sdp": "v=0"})
        await wait_for(lambda: len(errors) == 1, "the protocol error")
        assert errors[0]["conn"] == bob.conn
        assert errors[0]["msg"]["code"] == "bad_request"
        # Failed: an answer while no subscriber offer waits for one.
        await bob.signal({"type": "answer", "pc": "sub", "sdp": "v=0"})
        await wait_for(lambda: len(errors) == 2, "the failed request")
        assert errors[1]["conn"] == bob.conn
        assert errors[1]["msg"]["code"] == "bad_request"
        # Failed: a publisher offer aiortc refuses.
        await sfu.bus.publish(
            media_channel("w1"),
            {
                "op": "signal",
                "room": ROOM,
                "participant": "bob",
                "conn": bob.conn,
                "msg": {"type": "offer", "pc": "pub", "sdp": BROKEN_OFFER},
            },
        )
        await wait_for(lambda: len(errors) == 3, "the failed offer")
        assert errors[2]["conn"] == bob.conn
        assert errors[2]["msg"]["code"] == "request_failed"
    finally:
        await bob.leave()
        await subscription.close()


async def test_a_draining_worker_lets_calls_end_on_their_own(sfu: Sfu) -> None:
    alice = client(sfu, "alice")
    await alice.join()
    await sfu.store.assign_room(ROOM, sfu.worker.id, 60)
    drain = asyncio.create_task(sfu.worker.drain(grace=30))
    await wait_for(lambda: sfu.worker.draining, "the worker to drain")
    registered = await sfu.store.list_workers()
    assert [(w.id, w.draining) for w in registered] == [(sfu.worker.id, True)]
    await asyncio.sleep(0.3)
    assert not drain.done()  # the call goes on
    # A join for a room this worker does not run is turned away (its placement released),
    # so that signalling places that room on another worker.
    await sfu.store.assign_room("other", sfu.worker.id, 60)
    late = SyntheticClient(sfu.bus, sfu.worker.id, "other", "carol")
    await late.join(publish=False)
    await wait_for(lambda: [e.get("code") for e in late.errors] == ["media_moved"], "turn-away")
    assert "other" not in sfu.worker.rooms
    assert await sfu.store.get_room_worker("other") is None
    await late.close()
    await alice.leave()
    assert await asyncio.wait_for(drain, 5) == 0  # ended on its own: nobody moved
    assert not [e for e in alice.errors if e.get("code") == "media_moved"]


async def test_a_hurried_drain_moves_the_calls_still_going(sfu: Sfu) -> None:
    alice, bob = client(sfu, "alice"), client(sfu, "bob")
    await asyncio.gather(alice.join(), bob.join())
    await sfu.store.assign_room(ROOM, sfu.worker.id, 60)
    hurry = asyncio.Event()
    drain = asyncio.create_task(sfu.worker.drain(grace=30, hurry=hurry))
    await wait_for(lambda: sfu.worker.draining, "the worker to drain")
    hurry.set()  # a second SIGTERM
    assert await asyncio.wait_for(drain, 5) == 2
    for peer in (alice, bob):
        assert [e["code"] for e in peer.errors] == ["media_moved"]
    # Out of the registry and the placement, so the rejoins land on another worker.
    assert await sfu.store.list_workers() == []
    assert await sfu.store.get_room_worker(ROOM) is None
    await asyncio.gather(alice.close(), bob.close())


async def test_udp_garbage_at_the_media_port_is_dropped_and_the_call_goes_on(sfu: Sfu) -> None:
    """Stray datagrams at a publisher connection's port (random bytes, RTP- and RTCP-looking
    ones that fail SRTP authentication, DTLS- and STUN-looking ones) are dropped and counted;
    the call's media keeps flowing."""
    import random
    import socket

    alice, bob = client(sfu, "alice"), client(sfu, "bob")
    await asyncio.gather(alice.join(), bob.join())
    try:
        await wait_for(lambda: bob.frames("alice", "video") >= 5, "bob to see alice")
        member = sfu.worker.rooms[ROOM].participants["alice"]
        pc = member.peer_connections()[0]
        dtls = pc.getTransceivers()[0].receiver.transport
        transport = dtls._lippejob_rtp
        port = dtls.transport._connection._nominated[1].protocol.transport.get_extra_info(
            "sockname"
        )[1]
        shapes = [
            lambda r: r.randbytes(r.randrange(1, 1400)),
            lambda r: b"\x80" + r.randbytes(r.randrange(11, 1200)),  # RTP-looking
            lambda r: b"\x80\xc8" + r.randbytes(r.randrange(10, 200)),  # RTCP-looking
            lambda r: b"\x90\x60" + b"\x00" * 10 + b"\xbe\xde\xff\xff",  # huge extension
            lambda r: b"\x16\xfe\xfd" + r.randbytes(60),  # DTLS-looking
            lambda r: b"\x00\x01\x00\x00\x21\x12\xa4\x42" + r.randbytes(12),  # STUN-looking
            lambda r: b"",
        ]
        failures_before = transport.failures
        frames_before = bob.frames("alice", "video")
        rng = random.Random(32)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for i in range(1400):
                sock.sendto(shapes[i % len(shapes)](rng), ("127.0.0.1", port))
                if i % 100 == 0:
                    await asyncio.sleep(0.01)
        await wait_for(
            lambda: bob.frames("alice", "video") >= frames_before + 30,
            "alice's video to keep arriving",
        )
        assert transport.failures - failures_before >= 400  # the SRTP-looking ones, refused
        assert pc.connectionState == "connected"
    finally:
        await asyncio.gather(alice.leave(), bob.leave())
