"""Loss on both sides of the SFU (RTP path): the SFU asks publishers again for what it missed
(NACK, RTX back), answers subscribers' NACKs from its history (RTX), and every frame that
arrives is intact.

The loss is made at the SFU's own socket edge (the kernel here has no netem): a seeded share of
the SRTP datagrams the worker receives is dropped before it unprotects them, and a share of
what it sends is dropped instead of written, so both the publisher-side and the subscriber-side
recovery are needed. Everything else (ICE, DTLS, the aiortc clients' own NACK and RTX) is
real."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from typing import Any

import pytest

from mediaserver.rtp import wire
from mediaserver.rtp.transport import RtpTransport
from tests.media.conftest import Sfu
from testsupport.client import ClientMedia, SyntheticClient
from testsupport.wait import wait_for

pytestmark = [pytest.mark.media, pytest.mark.timeout(60)]

LOSS = 0.03


class Loss:
    def __init__(self, share: float, seed: int = 14) -> None:
        self.share = share
        self.random = random.Random(seed)
        self.dropped_in = 0
        self.dropped_out = 0


class LossyEgress:
    """Drops a share of the RTP packets an egress is given (RTCP passes)."""

    def __init__(self, egress: wire.Egress, loss: Loss) -> None:
        self._egress, self._loss = egress, loss

    def rtp(self, *fields: Any) -> bool:
        if self._loss.random.random() < self._loss.share:
            self._loss.dropped_out += 1
            return True  # gone on the way
        return self._egress.rtp(*fields)

    def rtcp(self, packet: bytes) -> bool:
        return self._egress.rtcp(packet)


@pytest.fixture
def lossy_edge(monkeypatch: pytest.MonkeyPatch) -> Iterator[Loss]:
    loss = Loss(LOSS)
    receive, egress = RtpTransport._datagram, RtpTransport.egress

    def lossy_receive(self: RtpTransport, data: bytes, component: int) -> None:
        srtp = bool(data) and 127 < data[0] < 192 and not 191 < data[1] < 224  # not SRTCP
        if srtp and loss.random.random() < loss.share:
            loss.dropped_in += 1
            return
        receive(self, data, component)

    def lossy_egress(self: RtpTransport) -> LossyEgress | None:
        out = egress(self)
        return None if out is None else LossyEgress(out, loss)

    # A wrapped egress is not the C module's: the SFU's down tracks forward every packet in
    # Python then (the C path's bytes equal Python's, tests/media/test_wire.py).
    monkeypatch.setattr(RtpTransport, "_datagram", lossy_receive)
    # Received SRTP passes `_datagram` (where the loss is made) only on the Python path: no
    # C demultiplexer in front of it.
    monkeypatch.setattr(RtpTransport, "_install_demuxes", lambda self: None)
    monkeypatch.setattr(RtpTransport, "egress", lossy_egress)
    yield loss


async def test_every_frame_arrives_intact_under_loss_both_ways(sfu: Sfu, lossy_edge: Loss) -> None:
    media = ClientMedia(raw=True)
    alice, bob = (SyntheticClient(sfu.bus, "w1", "room", n, media=media) for n in ("alice", "bob"))
    try:
        await asyncio.gather(alice.join(), bob.join())
        await wait_for(
            lambda: bob.frames("alice", "video") >= 150 and alice.frames("bob", "video") >= 150,
            "150 video frames each way under loss",
            within=40,
        )
        room = sfu.worker.rooms["room"]
        assert lossy_edge.dropped_in > 0 and lossy_edge.dropped_out > 0
        for me, other in ((bob, alice), (alice, bob)):
            assert other.video_loop is not None
            video = me.received[(other.id, "video")]
            # Intact: every frame received is one the publisher sent, byte for byte.
            assert set(video.digests) <= other.video_loop.digests
            assert len(set(video.digests)) >= 20
            publication = next(
                p for p in room.participants[other.id].publications.values() if p.kind == "video"
            )
            forwarder = publication.forwarder
            seen = (forwarder.packets, forwarder._received, forwarder._highest, other.id)
            assert forwarder.nacks_sent > 0, seen  # the SFU asked the publisher
            assert forwarder.recovered > 0  # ... and got RTX back
            slot = next(s for s in room.participants[me.id].slots if s.carries == publication.key)
            assert getattr(slot.track, "retransmitted", 0) > 0  # it answered the subscriber
    finally:
        await asyncio.gather(alice.leave(), bob.leave())
