"""Pure parts of the media worker: the bus protocol, SDP reading, policies, configuration,
network planning."""

from __future__ import annotations

import asyncio

import pytest
from aiortc import RTCPeerConnection
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, pack_remb_fci

from core.bus.memory import MemoryBus
from core.clock import FakeClock
from core.contracts import media as protocol
from core.settings import load_settings
from core.store.memory import MemoryStore
from mediaserver import network, sdp_info
from mediaserver.bandwidth import fresh_estimates, remb_share, remb_target
from mediaserver.config import MediaConfig
from mediaserver.rtp.downlink import Downlink
from mediaserver.rtp.downtrack import DownTrack
from mediaserver.worker import MediaWorker, worker_load

pytestmark = [pytest.mark.media, pytest.mark.timeout(20)]

OFFER = "\r\n".join(
    [
        "v=0",
        "o=- 1 1 IN IP4 0.0.0.0",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0 1 2",
        "m=audio 9 UDP/TLS/RTP/SAVPF 96",
        "c=IN IP4 0.0.0.0",
        "a=mid:0",
        "a=sendonly",
        "a=msid:s1 a1",
        "a=rtpmap:96 opus/48000/2",
        "a=ssrc:111 cname:x",
        "m=video 9 UDP/TLS/RTP/SAVPF 97",
        "c=IN IP4 0.0.0.0",
        "a=mid:1",
        "a=sendonly",
        "a=msid:s1 cam",
        "a=rtpmap:97 VP8/90000",
        "a=ssrc:222 cname:x",
        "m=video 9 UDP/TLS/RTP/SAVPF 97",
        "c=IN IP4 0.0.0.0",
        "a=mid:2",
        "a=inactive",
        "a=msid:desk:screen t3",
        "a=rtpmap:97 VP8/90000",
        "",
    ]
)


def test_join_and_signal_ops_parse() -> None:
    join = protocol.parse_op(
        {
            "op": "join",
            "room": "a",
            "participant": "p",
            "conn": "c",
            "role": "jobseeker",
            "name": "N",
            "publish": ["audio", "screen"],
            "subscribe": True,
        }
    )
    assert join == protocol.Join("a", "p", "c", "jobseeker", frozenset({"audio", "screen"}))
    signal = protocol.parse_op(
        {
            "op": "signal",
            "room": "a",
            "participant": "p",
            "conn": "c",
            "msg": {"type": "candidate", "pc": "pub", "candidate": None},
        }
    )
    assert isinstance(signal, protocol.Signal)
    assert signal.msg == protocol.Candidate(pc="pub", candidate=None)
    assert protocol.parse_op({"op": "close_room", "room": "a"}) == protocol.CloseRoom("a")


@pytest.mark.parametrize(
    "message",
    [
        {"op": "join", "room": "a", "participant": "p", "conn": "c", "publish": ["files"]},
        {
            "op": "signal",
            "room": "a",
            "participant": "p",
            "conn": "c",
            "msg": {"type": "offer", "pc": "sub", "sdp": "x"},
        },  # the server offers "sub"
        {
            "op": "signal",
            "room": "a",
            "participant": "p",
            "conn": "c",
            "msg": {"type": "offer", "pc": "pub", "sdp": "x", "sources": {"0": "files"}},
        },
        {
            "op": "signal",
            "room": "a",
            "participant": "p",
            "conn": "c",
            "msg": {"type": "mute", "kind": "video", "muted": "yes"},
        },
        {"op": "signal", "room": "a", "participant": "p", "conn": "c", "msg": {"type": "chat"}},
        {"op": "leave", "room": "", "participant": "p", "conn": "c"},
        {"op": "dance", "room": "a", "participant": "p", "conn": "c"},
    ],
)
def test_invalid_requests_are_rejected(message: dict[str, object]) -> None:
    with pytest.raises(protocol.ProtocolError):
        protocol.parse_op(message)


def test_offered_tracks_name_sources_by_hint_then_msid() -> None:
    tracks = sdp_info.offered_tracks(OFFER, {})
    assert [(t.mid, t.source, t.sending, t.ssrc) for t in tracks] == [
        ("0", "audio", True, 111),
        ("1", "video", True, 222),
        ("2", "screen", False, None),
    ]
    hinted = sdp_info.offered_tracks(OFFER, {"1": "screen", "0": "video"})
    assert [t.source for t in hinted] == ["audio", "screen", "screen"]
    assert sdp_info.remote_ssrc(OFFER, "1") == 222


def test_remb_target_is_the_slowest_within_limits() -> None:
    assert remb_target([800_000, 400_000], None, minimum=150_000, maximum=1_500_000) == 400_000
    assert remb_target([], 300_000, minimum=150_000, maximum=1_500_000) == 300_000
    assert remb_target([], None, minimum=150_000, maximum=1_500_000) == 1_500_000
    assert remb_target([50_000], None, minimum=150_000, maximum=1_500_000) == 150_000
    assert remb_target([9_000_000], None, minimum=150_000, maximum=1_500_000) == 1_500_000
    assert fresh_estimates([(1, 10.0), None, (2, 1.0)], now=11.0, ttl=5.0) == [1]


def test_config_from_settings_and_validation() -> None:
    settings = load_settings(
        env={},
        media_announce_ips=["203.0.113.7"],
        media_port_min=40000,
        media_port_max=40100,
        ice_servers=[{"urls": "turn:t.example"}],
    )
    config = MediaConfig.from_settings(settings)
    assert config.announce_ips == ("203.0.113.7",)
    assert (config.port_min, config.port_max) == (40000, 40100)
    # The browsers' TURN server is not the SFU's: it has an address of its own, so it makes no
    # relay allocations and contacts no STUN server unless told to (`media_ice_servers`).
    assert config.ice_servers == ()
    assert network.rtc_configuration(config).iceServers == []
    explicit = load_settings(env={}, media_ice_servers=[{"urls": "stun:s.example"}])
    assert MediaConfig.from_settings(explicit).ice_servers == ({"urls": "stun:s.example"},)
    with pytest.raises(ValueError):
        MediaConfig(port_min=5000, port_max=0)
    with pytest.raises(ValueError):
        MediaConfig(min_bitrate=2_000_000, max_bitrate=1_000_000)
    rtc = network.rtc_configuration(MediaConfig())
    assert rtc.iceServers == []  # never None: no fallback to a public STUN server


def test_public_address_is_announced_instead_of_the_bound_one() -> None:
    plan = network.HostPlan.from_config(
        MediaConfig(announce_ips=("203.0.113.7",), bind_ips=("127.0.0.1",))
    )
    assert plan.bind == ("127.0.0.1",) and plan.announce == {"127.0.0.1": "203.0.113.7"}
    sdp = "c=IN IP4 127.0.0.1\r\na=candidate:abc 1 udp 2130706431 127.0.0.1 40001 typ host\r\n"
    assert network.announce(sdp, plan) == (
        "c=IN IP4 203.0.113.7\r\na=candidate:abc 1 udp 2130706431 203.0.113.7 40001 typ host\r\n"
    )
    local = network.HostPlan.from_config(MediaConfig(announce_ips=("127.0.0.1",)))
    assert local.bind == ("127.0.0.1",) and local.announce == {}


async def test_host_candidates_use_the_configured_address_and_ports() -> None:
    plan = network.HostPlan.from_config(
        MediaConfig(announce_ips=("127.0.0.1",), port_min=47100, port_max=47120)
    )
    pc = RTCPeerConnection(network.rtc_configuration(MediaConfig()))
    try:
        pc.addTransceiver("audio")
        pc.addTransceiver("video")
        network.prepare(pc, plan)
        await pc.setLocalDescription(await pc.createOffer())
        candidates = network.candidate_summary(pc)
        assert candidates and all(
            c["host"] == "127.0.0.1" and 47100 <= c["port"] <= 47120 for c in candidates
        )
        assert len(candidates) == 1  # max-bundle: one transport
    finally:
        await pc.close()


def test_load_weights_received_streams() -> None:
    assert worker_load(published=3, forwarded=6) == 12.0


async def test_worker_registers_ignores_junk_and_closes_idempotently() -> None:
    clock = FakeClock()
    bus, store = MemoryBus(), MemoryStore(clock)
    worker = MediaWorker("w9", store, bus, clock, MediaConfig(announce_ips=("127.0.0.1",)))
    await worker.start()
    assert [w.id for w in await store.list_workers()] == ["w9"]
    await bus.publish(
        "media:w9",
        {
            "op": "signal",
            "room": "nowhere",
            "participant": "p",
            "conn": "c",
            "msg": {"type": "mute", "kind": "audio", "muted": True},
        },
    )
    await bus.publish("media:w9", {"op": "bogus"})
    await asyncio.sleep(0.05)
    assert worker.rooms == {}
    await worker.close()
    await worker.close()
    assert await store.list_workers() == []
    await bus.close()


def test_a_connection_wide_remb_is_shared_among_its_streams() -> None:
    assert remb_share(2_400_000, [11]) == 2_400_000
    assert remb_share(2_400_000, [11, 22]) == 1_200_000
    assert remb_share(2_400_000, [11, 22, 22]) == 1_200_000  # an SSRC listed twice counts once
    assert remb_share(2_400_000, []) == 2_400_000
    # RTX SSRCs (here 12) the browser lists do not take a share
    assert remb_share(2_400_000, [11, 12, 22], streams={11, 22, 33}) == 1_200_000


async def test_a_browser_remb_gives_each_named_down_track_its_share() -> None:
    """A browser's REMB names all the video streams of its connection: each down track named
    in it gets its share (RTX SSRCs it lists take none); one not named gets nothing."""
    link = Downlink({})
    tracks = {ssrc: DownTrack("video") for ssrc in (11, 22, 33)}
    link._tracks.update(tracks)

    def remb(bitrate: int, ssrcs: list[int]) -> bytes:
        return bytes(
            RtcpPsfbPacket(
                fmt=RTCP_PSFB_APP, ssrc=1, media_ssrc=0, fci=pack_remb_fci(bitrate, ssrcs)
            )
        )

    link._on_rtcp(remb(3_000_000, [11, 22, 33, 44]))  # 44: an RTX SSRC
    assert [t.estimate[0] if t.estimate else None for t in tracks.values()] == [1_000_000] * 3
    tracks[22].estimate = None
    link._on_rtcp(remb(2_000_000, [11, 33]))
    assert tracks[22].estimate is None and tracks[11].estimate is not None
    assert tracks[11].estimate[0] == 1_000_000  # shared by the two it names
    link._on_rtcp(b"\x81\xce\x00")  # garbage is counted, not raised
    assert link.invalid == 1
