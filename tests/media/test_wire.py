"""The per-packet edge (`mediaserver.rtp.wire`): the C module and the Python version write the
same bytes, refuse the same garbage, and an egress keeps to its own socket.

Real libsrtp sessions (pylibsrtp's), real UDP sockets on loopback. Two sessions made from the
same key protect identically (the packet index is the sequence number), so the C and the Python
egress can be compared byte for byte on the wire."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from typing import Any

import pylibsrtp
import pytest

from mediaserver.rtp import packet as rtp
from mediaserver.rtp import wire
from tests.media.conftest import LOOPBACK_CONFIG, Sfu, running_sfu
from testsupport.client import ClientMedia, SyntheticClient
from testsupport.wait import wait_for

pytestmark = [pytest.mark.media, pytest.mark.timeout(40)]

KEY = bytes(range(30))  # 16-byte key + 14-byte salt (AES_CM_128_HMAC_SHA1_80)
needs_c = pytest.mark.skipif(
    not wire.BUILT, reason="the C module was not built (no compiler at install)"
)


def test_the_c_module_is_built_where_the_setup_script_installs_it() -> None:
    """scripts/test installs a compiler first and sets REQUIRE_COMPILED_WIRE: there, a build
    that failed quietly (the extension is optional) must not pass for the Python path."""
    if os.environ.get("REQUIRE_COMPILED_WIRE") != "1":
        pytest.skip("REQUIRE_COMPILED_WIRE is not set (scripts/test sets it)")
    assert wire.BUILT


def session(direction: int) -> pylibsrtp.Session:
    return pylibsrtp.Session(pylibsrtp.Policy(key=KEY, ssrc_type=direction))


def sending() -> pylibsrtp.Session:
    return session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND)


def receiving() -> pylibsrtp.Session:
    return session(pylibsrtp.Policy.SSRC_ANY_INBOUND)


@pytest.fixture
def sink() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2)
    yield sock
    sock.close()


@pytest.fixture
def source() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    yield sock
    sock.close()


def make(kind: str, srtp: pylibsrtp.Session, sock: socket.socket, to: socket.socket) -> wire.Egress:
    host, port = to.getsockname()
    if kind == "c":
        assert wire.use_compiled(True)
        return wire.egress(srtp, sock.fileno(), host, port)
    return wire.PyEgress(srtp, sock.fileno(), host, port)


def ingress(kind: str, srtp: pylibsrtp.Session) -> wire.Ingress:
    if kind == "c":
        wire.use_compiled(True)
        return wire.ingress(srtp)
    return wire.PyIngress(srtp)


PAYLOAD = bytes(range(256)) * 4
# (first, second, seq, timestamp, ssrc, extension, head, data, start)
PACKETS = [
    (0x80, 96, 1, 3000, 0x11223344, b"", b"", PAYLOAD, 0),
    (
        0x90 | 0x20,
        0x80 | 96,
        2,
        3000,
        0x11223344,
        rtp.extension_block([(1, b"0")]),
        b"",
        PAYLOAD[:101] + b"\x00\x00\x03",
        1,
    ),
    (
        0x90,
        97,
        65535,
        0xFFFFFFFF,
        0xFFFFFFFF,
        rtp.extension_block([(3, b"\x01\x02\x03")]),
        b"\x90\x80\x12\x34",
        PAYLOAD,
        700,
    ),
    (0x80, 111, 7, 960, 1, b"", b"", b"\xfc" * 80, 80),  # an empty payload at the end
]


@needs_c
def test_c_and_python_send_the_same_bytes(source: socket.socket, sink: socket.socket) -> None:
    c_out = make("c", sending(), source, sink)
    py_out = make("python", sending(), source, sink)
    check = receiving()
    for fields in PACKETS:
        assert c_out.rtp(*fields)
        from_c, sender = sink.recvfrom(4096)
        assert py_out.rtp(*fields)
        from_python, _ = sink.recvfrom(4096)
        assert from_c == from_python  # SRTP, byte for byte
        assert sender == source.getsockname()
        first, second, seq, ts, ssrc, ext, head, data, start = fields
        plain = check.unprotect(from_c)
        assert (
            plain == struct.pack("!BBHII", first, second, seq, ts, ssrc) + ext + head + data[start:]
        )
    for report in (bytes.fromhex("80c80006") + b"\x00\x00\x00\x01" + bytes(20),):
        assert c_out.rtcp(report) and py_out.rtcp(report)
        from_c, from_python = sink.recv(4096), sink.recv(4096)
        assert from_c == from_python
        assert check.unprotect_rtcp(from_c) == report


@pytest.mark.parametrize("kind", [pytest.param("c", marks=needs_c), "python"])
def test_ingress_unprotects_and_refuses_forgeries_and_replays(kind: str) -> None:
    protect = sending()
    srtp = ingress(kind, receiving())
    packet = struct.pack("!BBHII", 0x80, 96, 10, 1234, 42) + PAYLOAD[:300]
    protected = protect.protect(packet)
    assert srtp.rtp(protected) == packet
    assert srtp.rtp(protected) is None  # a replay
    forged = bytearray(protect.protect(packet[:2] + b"\x00\x0b" + packet[4:]))
    forged[20] ^= 1
    assert srtp.rtp(bytes(forged)) is None
    assert srtp.rtp(b"\x80\x60") is None  # too short for SRTP
    assert srtp.rtp(os.urandom(3000)) is None  # longer than any packet
    report = bytes.fromhex("80c90001") + b"\x00\x00\x00\x07"
    assert srtp.rtcp(protect.protect_rtcp(report)) == report
    assert srtp.rtcp(b"\x80\xc9" + os.urandom(30)) is None
    with pytest.raises(TypeError):
        srtp.rtp(bytearray(protected))  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", [pytest.param("c", marks=needs_c), "python"])
def test_egress_refuses_bad_input_and_oversized_packets(
    kind: str, source: socket.socket, sink: socket.socket
) -> None:
    out = make(kind, sending(), source, sink)
    with pytest.raises(ValueError):
        out.rtp(0x80, 96, 1, 0, 1, b"", b"", b"abc", 4)  # start past the end
    with pytest.raises((ValueError, TypeError)):
        out.rtp(0x80, 96, 1, 0, 1, b"", b"", b"abc", -1)
    assert not out.rtp(0x80, 96, 1, 0, 1, b"", b"", bytes(2100), 0)  # too large: not sent
    assert not out.rtcp(bytes(2100))
    for host, port in (("example.org", 5000), ("127.0.0.1", 0), ("127.0.0.1", 70000)):
        with pytest.raises(ValueError):
            make_to(kind, source, host, port)


def make_to(kind: str, sock: socket.socket, host: str, port: int) -> wire.Egress:
    if kind == "c":
        wire.use_compiled(True)
        return wire.egress(sending(), sock.fileno(), host, port)
    return wire.PyEgress(sending(), sock.fileno(), host, port)


@pytest.mark.parametrize("kind", [pytest.param("c", marks=needs_c), "python"])
def test_egress_keeps_its_own_socket(kind: str, sink: socket.socket) -> None:
    """The descriptor aioice closes may be handed to the next socket the process opens: the
    egress still sends from the socket it was made for (its own duplicate), and after
    `close()` sends nothing."""
    original = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    original.bind(("127.0.0.1", 0))
    original.setblocking(False)
    port = original.getsockname()[1]
    fd = original.fileno()
    out = make(kind, sending(), original, sink)
    original.close()
    intruder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        intruder.bind(("127.0.0.1", 0))
        assert intruder.fileno() == fd  # the number was given again
        assert out.rtp(0x80, 96, 5, 0, 9, b"", b"", b"hello", 0)
        _, sender = sink.recvfrom(4096)
        assert sender == ("127.0.0.1", port)  # from the call's socket, not the intruder
        out.close()
        assert out.closed
        assert not out.rtp(0x80, 96, 6, 0, 9, b"", b"", b"hello", 0)
        out.close()  # idempotent
    finally:
        intruder.close()


async def test_an_egress_through_a_transport_sends_the_same_bytes(
    source: socket.socket, sink: socket.socket
) -> None:
    """The way for a TURN-relayed pair: through the asyncio transport's own `sendto`."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    try:
        through = wire.PyEgress.through(sending(), transport, sink.getsockname())
        direct = make("python", sending(), source, sink)
        for fields in PACKETS:
            assert through.rtp(*fields) and direct.rtp(*fields)
            assert sink.recv(4096) == sink.recv(4096)
        through.close()
        assert through.closed and not through.rtp(*PACKETS[0])
    finally:
        transport.close()


@needs_c
def test_use_compiled_switches_what_is_made(source: socket.socket, sink: socket.socket) -> None:
    host, port = sink.getsockname()
    try:
        assert not wire.use_compiled(False)
        assert isinstance(wire.egress(sending(), source.fileno(), host, port), wire.PyEgress)
        assert isinstance(wire.ingress(receiving()), wire.PyIngress)
        assert wire.use_compiled(True)
        made = wire.egress(sending(), source.fileno(), host, port)
        assert not isinstance(made, wire.PyEgress)
        made.close()
    finally:
        wire.use_compiled(True)


# --- a call through each wire -----------------------------------------------------------------


@pytest.fixture(
    params=[pytest.param(True, marks=needs_c, id="c"), pytest.param(False, id="python")]
)
async def wired_sfu(request: pytest.FixtureRequest) -> AsyncIterator[Sfu]:
    try:
        async with running_sfu(replace(LOOPBACK_CONFIG, compiled_wire=request.param)) as sfu:
            yield sfu
    finally:
        wire.use_compiled(True)


async def test_a_call_through_each_wire_arrives_byte_identical(
    wired_sfu: Sfu, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mediaserver.rtp.downtrack import DownTrack

    in_python = 0
    forward = DownTrack.forward

    def counted(self: DownTrack, *args: Any) -> None:
        nonlocal in_python
        in_python += 1
        forward(self, *args)

    monkeypatch.setattr(DownTrack, "forward", counted)
    media = ClientMedia(raw=True)
    alice, bob = (
        SyntheticClient(wired_sfu.bus, "w1", "room", n, media=media) for n in ("alice", "bob")
    )
    try:
        await asyncio.gather(alice.join(), bob.join())
        await wait_for(
            lambda: bob.frames("alice", "video") >= 30 and alice.frames("bob", "audio") >= 30,
            "30 frames each way",
        )
        assert alice.video_loop is not None
        video = bob.received[("alice", "video")]
        assert set(video.digests) <= alice.video_loop.digests
        assert len(set(video.digests)) >= 20
        participant = wired_sfu.worker.rooms["room"].participants["bob"]
        transport = participant._downlink.transport
        assert transport is not None and transport.send_errors == 0
        compiled = wired_sfu.worker._config.compiled_wire
        assert isinstance(transport.egress(), wire.PyEgress) is not compiled
        # Over a later window, in the calls' steady state: before it, every packet of a track
        # still waiting for its first keyframe passes Python (however long a busy machine
        # makes that wait).
        python_before, forwarded_before = in_python, wired_sfu.worker.stats.forwarded
        frames = bob.frames("alice", "video")
        await wait_for(lambda: bob.frames("alice", "video") >= frames + 30, "30 frames more")
        in_python -= python_before
        forwarded = wired_sfu.worker.stats.forwarded - forwarded_before
        uplink = wired_sfu.worker.rooms["room"].participants["alice"]._uplink.transport
        assert uplink is not None and uplink.rtp_received > 0 and uplink.failures == 0
        in_c = sum(d.rtp_received for _, d in uplink._demuxes)
        if compiled:  # the steady state in C
            assert in_python < forwarded // 4, (in_python, forwarded)
            assert in_c > uplink.rtp_received // 2  # and received in C, from the socket on
        else:
            assert in_python >= forwarded
            assert in_c == 0
    finally:
        await asyncio.gather(alice.leave(), bob.leave())


# --- the fan-out in C against DownTrack.forward in Python -------------------------------------


class SocketTransport:
    """What a down track needs of an `RtpTransport`: a ready connection and its egress."""

    def __init__(self, out: wire.Egress) -> None:
        self._out = out
        self.ready = True
        self.send_errors = 0

    def egress(self) -> wire.Egress:
        return self._out


def vp8(picture_id: int, key: bool, start: bool = True) -> bytes:
    """A VP8 payload descriptor with a 15-bit picture id (X=1, I=1, M=1), and some payload."""
    first = 0x90 if start else 0x80  # X, and S for a frame's first packet
    descriptor = bytes((first, 0x80, 0x80 | (picture_id >> 8), picture_id & 0xFF))
    if key and start:
        return descriptor + bytes((0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A, 0x80, 0x02, 0xE0, 0x01))
    return descriptor + bytes((0x11,)) + os.urandom(900)


@needs_c
async def test_the_c_fanout_sends_what_python_forward_sends(sink: socket.socket) -> None:
    """Two subscribers of the same streams, one whose packets take the C path and one whose
    egress is Python's (so its down track forwards every packet in Python): through segment
    starts, loss, reordering, duplicates, a mute, a new source and a switch to a stream whose
    picture ids must be rewritten, both get the same datagrams, byte for byte."""
    from mediaserver.metrics import MediaStats
    from mediaserver.rtp.downtrack import DownTrack
    from tests.media.test_rtp_units import BINDING, forwarder, make_packet

    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.0.1", 0))
    other.settimeout(2)
    src = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    src.bind(("127.0.0.1", 0))
    wire.use_compiled(True)
    c_out = make("c", sending(), src, sink)
    py_out = make("python", sending(), src, other)
    first, second = forwarder(), forwarder()
    first.ssrc, second.ssrc = 0x1111, 0x2222
    stats = MediaStats()
    first._stats = second._stats = stats
    tracks = []
    for out in (c_out, py_out):
        track = DownTrack("video")
        track.bind(SocketTransport(out), BINDING)  # type: ignore[arg-type]
        track._next_seq, track._last_ts, track._rtx_seq = 40_000, 123_456, 7
        track.attach(first)
        track.release()
        tracks.append(track)
    ext = [(4, b"0"), (2, b"\x01\x02\x03")]

    def feed(stream: object, seq: int, ts: int, payload: bytes, marker: bool = True) -> None:
        stream.on_rtp(make_packet(seq, ts, payload, marker=marker, extensions=ext))  # type: ignore[attr-defined]

    feed(first, 10, 0, vp8(100, key=False))  # before any keyframe: nothing
    feed(first, 11, 3000, vp8(101, key=True), marker=False)
    for i in range(12, 40):
        feed(first, i, 3000 * (i // 3), vp8(100 + i // 3, key=False, start=i % 3 == 0), i % 3 == 2)
    feed(first, 43, 42_000, vp8(114, key=False))  # 40-42 lost
    feed(first, 41, 41_000, vp8(113, key=False))  # late
    feed(first, 41, 41_000, vp8(113, key=False))  # twice
    first.set_muted(True)
    feed(first, 44, 45_000, vp8(115, key=False))
    first.set_muted(False)
    feed(first, 45, 48_000, vp8(116, key=False))  # waits for a keyframe again
    feed(first, 46, 51_000, vp8(117, key=True))
    feed(first, 47, 54_000, vp8(118, key=False))
    first.new_source(0x1112)
    feed(first, 900, 700_000, vp8(3000, key=True))
    feed(first, 901, 703_000, vp8(3001, key=False))
    for track in tracks:
        track.switch(second)  # a layer switch: the picture ids continue, rewritten
    feed(first, 902, 706_000, vp8(3002, key=False))
    feed(second, 5, 9_000, vp8(20, key=True))
    for i in range(6, 20):
        feed(second, i, 9_000 + 3000 * i, vp8(20 + i, key=False))
    c_packets, py_packets = [], []
    while True:
        try:
            c_packets.append(sink.recv(4096))
            py_packets.append(other.recv(4096))
        except TimeoutError:
            break
        sink.settimeout(0.2)
        other.settimeout(0.2)
    other.close()
    src.close()
    assert len(c_packets) == len(py_packets) == tracks[1].forwarded == tracks[0].forwarded
    assert len(c_packets) > 40
    assert c_packets == py_packets
    # The C path carried the steady state: the Python track counted every packet itself, the
    # C one only the starts of segments (and the rewritten picture ids after the switch).

    assert 25 < stats.forwarded < len(c_packets)


# --- a publisher's stream received in C against RtpForwarder.on_rtp in Python -----------------


@needs_c
@pytest.mark.parametrize("codec", ["video/VP8", "video/H264"])
async def test_the_c_receive_keeps_what_python_on_rtp_keeps(codec: str) -> None:
    """The same packets (a keyframe, loss and its retransmissions, reordering, duplicates, a
    mute, a new source, the frames' abs-send-time for the uplink estimator) through a stream
    received in C and one received in Python: the same state, the same NACKs and estimator
    input, the same packets to a subscriber."""
    from dataclasses import replace

    from mediaserver.metrics import MediaStats
    from mediaserver.rtp.downtrack import DownTrack
    from mediaserver.rtp.forwarder import RtpForwarder
    from tests.media.test_rtp_units import BINDING, FakeTransport, make_packet, no_keyframe

    wire.use_compiled(True)
    runs = []
    # C with a recording estimate, Python with the same, and C feeding the C estimator (which
    # it does without calling Python: the frames it saw are read back from it).
    for mode in ("c", "python", "c_estimator"):
        in_c = mode != "python"
        nacks: list[tuple[int, list[int]]] = []
        estimates: list[tuple[int, ...]] = []
        uplink: Any = Recorder(estimates) if mode != "c_estimator" else wire.estimator()
        stream = RtpForwarder(
            kind="video",
            mime_type=codec,
            clock_rate=90000,
            send_keyframe_request=no_keyframe,
            send_nack=lambda ssrc, lost, n=nacks: n.append((ssrc, lost)),
            min_keyframe_interval=0.3,
            keyframe_retry=1.0,
            log_context={},
            stats=MediaStats(),
            uplink=uplink,
            ast_id=2,
        )
        receive = stream._receive if in_c else stream.on_rtp
        assert stream.receive == stream._receive  # what the uplink routes to, by default
        if mode == "c_estimator":

            def receive_noting(
                packet: bytes,
                inner: Callable[[bytes], None] = receive,
                est: Any = uplink,
                noted: list[tuple[int, ...]] = estimates,
            ) -> None:
                fed = est.frames
                inner(packet)
                if est.frames > fed:
                    noted.append(est.last_frame[1:])

            receive = receive_noting
        stream.ssrc = 0x1111
        track = DownTrack("video")
        out = FakeTransport()
        track.bind(out, replace(BINDING, ast_id=0))  # type: ignore[arg-type]
        track._next_seq, track._last_ts = 500, 9000
        track.attach(stream)
        track.release()
        key = bytes((0x10, 0, 0, 0, 0x9D, 0x01, 0x2A, 0x80, 0x02, 0xE0, 0x01)) + bytes(50)
        if codec == "video/H264":
            key = bytes((0x65, 0x88)) + bytes(60)  # an IDR slice, its first
        delta = (
            bytes((0x10, 0x01)) + bytes(40) if codec == "video/VP8" else bytes((0x41,)) + bytes(40)
        )

        def send(
            seq: int,
            ts: int,
            payload: bytes,
            marker: bool = True,
            ast: int = 0,
            receive: Callable[[bytes], None] = receive,
        ) -> None:
            ext = [(4, b"0"), (2, ast.to_bytes(3, "big"))]
            receive(make_packet(seq, ts, payload, marker=marker, extensions=ext))

        send(99, 0, delta)
        send(100, 3000, key, marker=False, ast=100)
        send(101, 3000, delta, ast=110)
        for seq in range(102, 130):
            send(seq, 3000 * seq, delta, marker=seq % 2 == 1, ast=seq * 10)
        send(135, 3000 * 135, delta)  # 130-134 lost
        send(131, 3000 * 131, delta)  # a retransmission
        send(131, 3000 * 131, delta)  # twice
        send(120, 3000 * 120, delta)  # old, in the history: a duplicate
        send(136, 3000 * 136, key)
        stream.set_muted(True)
        send(137, 3000 * 137, delta)
        stream.set_muted(False)
        send(138, 3000 * 138, key)
        send(0xFFFF, 3000 * 139, delta)  # a jump back: reordered, long before
        stream.new_source(0x2222)
        send(65530, 5, key, ast=1)
        for seq in range(65531, 65545):  # through the wrap of the sequence numbers
            send(seq & 0xFFFF, 5 + 3000 * seq, delta, ast=seq & 0xFF)
        state = (
            stream.packets,
            stream._received,
            stream.bytes_received,
            stream._highest,
            stream._base_seq,
            stream._cycles,
            stream.recovered,
            stream.keyframes,
            stream.height,
            sorted(stream._missing),
            stream.last_timestamp,
            stream._stats.received,
            stream._stats.forwarded + track._stats.forwarded,
            stream.report_block()[:4],  # type: ignore[index]
        )
        runs.append((state, list(stream._history), nacks, estimates, out.packets))
        await stream.close()
    (c_state, c_history, c_nacks, c_estimates, c_out), python, fed = runs
    assert c_state == python[0] == fed[0]
    assert fed[3] == [(ast, size) for ast, size, _ssrc in c_estimates]
    assert c_history == python[1]
    assert c_nacks == python[2] and c_nacks  # the gap was asked for
    assert c_estimates == python[3] and c_estimates
    # The RTP timestamps after a restart follow the wall clock's gap (different per run):
    # compared without them.
    assert [p[:4] + p[8:] for p in c_out] == [p[:4] + p[8:] for p in python[4]]
    assert len(c_out) > 20


class Recorder:
    """An uplink estimate that only notes what it is fed."""

    def __init__(self, frames: list[tuple[int, ...]]) -> None:
        self.frames = frames
        self.bitrate = None

    def frame(self, _arrival_ms: int, ast: int, size: int, ssrc: int) -> None:
        self.frames.append((ast, size, ssrc))


# --- the datagram demultiplexer ---------------------------------------------------------------


@needs_c
def test_the_demux_routes_srtp_and_leaves_the_rest_to_aioice() -> None:
    wire.use_compiled(True)
    protect = sending()
    routed: list[bytes] = []
    unrouted: list[bytes] = []
    reports: list[bytes] = []
    fallback: list[tuple[bytes, object]] = []
    errors: list[BaseException] = []
    routes = {42: routed.append}
    demux = wire.demux(
        routes,
        unrouted.append,
        reports.append,
        lambda data, addr: fallback.append((data, addr)),
        errors.append,
    )
    assert demux is not None
    addr = ("127.0.0.1", 5000)
    known = struct.pack("!BBHII", 0x80, 96, 1, 0, 42) + b"payload"
    stranger = struct.pack("!BBHII", 0x80, 96, 1, 0, 43) + b"payload"
    demux(protect.protect(known), addr)  # before the keys: aioice's way
    assert fallback and not routed
    demux.ingress = wire.ingress(receiving())
    fallback.clear()
    known2 = struct.pack("!BBHII", 0x80, 96, 2, 0, 42) + b"payload"
    demux(protect.protect(known2), addr)
    demux(protect.protect(stranger), addr)
    truncated = struct.pack("!BBHII", 0xA0, 96, 3, 0, 42) + b"ab\x00"  # padding count 0
    demux(protect.protect(truncated), addr)
    report = bytes.fromhex("80c90001") + b"\x00\x00\x00\x07"
    demux(protect.protect_rtcp(report), addr)
    forged = bytearray(protect.protect(struct.pack("!BBHII", 0x80, 96, 4, 0, 42) + b"x" * 20))
    forged[-1] ^= 1
    demux(bytes(forged), addr)
    stun = b"\x00\x01\x00\x00" + bytes(16)
    demux(stun, addr)
    assert routed == [known2]
    assert unrouted == [stranger, truncated]  # the uplink learns the one, counts the other
    assert reports == [report]
    assert fallback == [(stun, addr)]
    assert (demux.rtp_received, demux.rtcp_received, demux.failures) == (3, 1, 1)

    def broken(packet: bytes) -> None:
        raise RuntimeError("handler bug")

    routes[42] = broken
    demux(protect.protect(struct.pack("!BBHII", 0x80, 96, 5, 0, 42) + b"payload"), addr)
    assert demux.failures == 2
    assert [str(e) for e in errors] == ["handler bug"]
    with pytest.raises(TypeError):
        demux(b"\x80")  # type: ignore[call-arg]


@needs_c
async def test_the_c_paths_take_garbage_without_harm(sink: socket.socket) -> None:
    """Random bytes, and random bytes shaped like RTP (any CSRC count, extension length and
    padding), into the C receive, fan-out and demux: refused or forwarded, never a crash."""
    import random

    from mediaserver.rtp.downtrack import DownTrack
    from tests.media.test_rtp_units import BINDING, forwarder

    wire.use_compiled(True)
    rng = random.Random(14)
    stream = forwarder()
    stream.ssrc = 1
    src = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    src.bind(("127.0.0.1", 0))
    track = DownTrack("video")
    track.bind(SocketTransport(make("c", sending(), src, sink)), BINDING)  # type: ignore[arg-type]
    track.attach(stream)
    track.release()
    demux = wire.demux(
        {1: stream._receive}, lambda p: None, lambda p: None, lambda d, a: None, lambda e: None
    )
    demux.ingress = wire.ingress(receiving())
    fanout = wire.fanout()
    protect = sending()
    refused = 0
    for i in range(4000):
        size = rng.choice((0, 1, 11, 12, 13, 16, 20, 40, 200, 1200, 1500))
        data = bytearray(rng.getrandbits(8) for _ in range(size))
        if size >= 12 and i % 2:
            data[0] = 0x80 | (data[0] & 0x3F)  # version 2, anything else random
            data[8:12] = b"\x00\x00\x00\x01"
        packet = bytes(data)
        try:
            stream._receive(packet)
        except ValueError:
            refused += 1
        demux(packet, ("127.0.0.1", 1))
        if size >= 12 and rtp.valid(packet) and i % 3 == 0:
            with contextlib.suppress(pylibsrtp.Error, ValueError):  # libsrtp's own refusals
                demux(protect.protect(packet), ("127.0.0.1", 1))
        with contextlib.suppress(ValueError):
            fanout(
                [track],
                stream,
                packet,
                rng.getrandbits(16),
                0,
                rng.randint(0, size + 2),
                True,
                b"abc",
                0.0,
            )
    assert refused > 1000 and stream.packets > 200  # both kinds were fed
    src.close()
    await stream.close()
