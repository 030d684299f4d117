"""A call through a real TURN server (Debian's coturn on loopback), as when an employer's
company network lets no UDP through to the SFU: the pages are told to use relay candidates
only, and their media reaches the SFU through the TURN server, over UDP or, as through a
firewall that allows only HTTPS, over TLS on port 443."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import os
import re
import shutil
import socket
import ssl
import struct
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import structlog
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from playwright.sync_api import Browser, Page, Playwright

from lippejob.tlsdev import ensure_dev_certificate
from mediaserver.network import candidate_summary
from signalling.context import SERVICES
from tests.browser.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LiveServer,
    NewContext,
    Scheduled,
    axe_check,
    free_port,
    join,
    tile_video,
    video_playing,
    wait_for,
)
from tests.browser.lossy import LossyRelay

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

TURN_USER, TURN_PASSWORD = "lippejob", "turn-test-secret"

# Keeps every peer connection the page makes, so the test can read their statistics.
KEEP_PEER_CONNECTIONS = """(() => {
  const Original = window.RTCPeerConnection;
  window.__pcs = [];
  window.RTCPeerConnection = function (...args) {
    const pc = new Original(...args);
    window.__pcs.push(pc);
    return pc;
  };
  window.RTCPeerConnection.prototype = Original.prototype;
  Object.setPrototypeOf(window.RTCPeerConnection, Original);
})();"""

# Each live connection's selected pair: the candidate types and, for a relay, how the page
# reaches its TURN server, e.g. [["relay", "host", "tls"]].
SELECTED_PAIRS = """async () => {
  const out = [];
  for (const pc of window.__pcs) {
    if (pc.connectionState !== 'connected') continue;
    const stats = await pc.getStats();
    for (const s of stats.values()) {
      if (s.type !== 'transport' || !s.selectedCandidatePairId) continue;
      const pair = stats.get(s.selectedCandidatePairId);
      const local = stats.get(pair.localCandidateId);
      out.push([local.candidateType, stats.get(pair.remoteCandidateId).candidateType,
                local.relayProtocol || null]);
    }
  }
  return out;
}"""


def binding_request() -> bytes:
    return struct.pack("!HHI12s", 0x0001, 0, 0x2112A442, os.urandom(12))


def is_binding_answer(answer: bytes, request: bytes) -> bool:
    return answer[:2] == b"\x01\x01" and answer[8:20] == request[8:20]


def stun_answers(port: int) -> bool:
    """Whether a STUN binding request to 127.0.0.1:`port` (UDP) gets an answer."""
    request = binding_request()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(0.3)
        udp.sendto(request, ("127.0.0.1", port))
        try:
            answer = udp.recv(2048)
        except OSError:
            return False
    return is_binding_answer(answer, request)


def stun_answers_over_tls(port: int) -> bool:
    """Whether a STUN binding request over TLS to 127.0.0.1:`port` gets an answer (the
    certificate is not checked: this only asks whether coturn is up yet)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    request = binding_request()
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=0.5) as tcp,
            context.wrap_socket(tcp) as tls,
        ):
            tls.sendall(request)
            answer = tls.recv(2048)
    except OSError:
        return False
    return is_binding_answer(answer, request)


@dataclass(frozen=True)
class Turn:
    """A running coturn: the URL to configure, and its log (verbose: one line per allocation)."""

    url: str
    port: int
    log: Path


@dataclass(frozen=True)
class TlsTurn(Turn):
    """A coturn that takes TURN over TLS only, and how a browser is told to trust it."""

    spki: str  # base64 of the SHA-256 of its certificate's SubjectPublicKeyInfo


@contextlib.contextmanager
def coturn(home: Path, listeners: list[str], ready: Callable[[], bool]) -> Iterator[Path]:
    """coturn on 127.0.0.1 with one long-term user, its `listeners` options, until it is
    `ready`; yields its log."""
    binary = shutil.which("turnserver")
    assert binary, (
        "coturn's turnserver is missing: scripts/test installs it (apt-get install coturn)"
    )
    log = home / "turn.log"
    proc = subprocess.Popen(
        [
            binary,
            "-n",  # no configuration file
            "--listening-ip=127.0.0.1",
            *listeners,
            "--relay-ip=127.0.0.1",
            "--allow-loopback-peers",  # the SFU is on loopback too
            "--lt-cred-mech",
            f"--user={TURN_USER}:{TURN_PASSWORD}",
            "--realm=lippejob.test",
            "--no-dtls",
            "--no-cli",
            f"--log-file={log}",
            f"--pidfile={home / 'turn.pid'}",
            f"--userdb={home / 'turndb'}",
            "--simple-log",
            "--verbose",  # logs each allocation with the relayed address it made
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 15
        while not ready():
            assert proc.poll() is None, f"turnserver died: {log.read_text(errors='replace')}"
            assert time.monotonic() < deadline, f"no STUN answer: {log.read_text(errors='replace')}"
        yield log
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def turn_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Turn]:
    """coturn taking TURN over UDP (and TCP) on a free port, without TLS."""
    port = free_port()
    listeners = [f"--listening-port={port}", "--no-tls"]
    with coturn(tmp_path_factory.mktemp("turn"), listeners, lambda: stun_answers(port)) as log:
        yield Turn(f"turn:127.0.0.1:{port}?transport=udp", port, log)


def https_port_free() -> bool:
    """Whether 127.0.0.1:443 can be bound (root only; nothing else, such as this test run
    by someone else at the same time, holding it)."""
    if os.geteuid() != 0:
        return False
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", 443))
        except OSError:
            return False
    return True


def spki_sha256(cert: Path) -> str:
    """What Chromium's --ignore-certificate-errors-spki-list takes for `cert`."""
    public_key = x509.load_pem_x509_certificate(cert.read_bytes()).public_key()
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


@pytest.fixture(scope="module")
def tls_turn_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsTurn]:
    """coturn taking TURN over TLS only (no UDP, TCP or DTLS listener), with a self-signed
    certificate made here, on port 443 as a deployment behind HTTPS-only firewalls would.
    Binding 443 takes root (CI runs as root); elsewhere, or while 443 is taken, a free port
    stands in, which tests the same TLS path."""
    home = tmp_path_factory.mktemp("turns")
    cert, key = ensure_dev_certificate(home / "certs", [])  # localhost, 127.0.0.1, ::1
    port = 443 if https_port_free() else free_port()
    listeners = [
        f"--tls-listening-port={port}",
        f"--listening-port={free_port()}",  # unused: no UDP or TCP listener starts
        "--no-udp",
        "--no-tcp",
        f"--cert={cert}",
        f"--pkey={key}",
        "--no-tlsv1",
        "--no-tlsv1_1",
    ]
    with coturn(home, listeners, lambda: stun_answers_over_tls(port)) as log:
        yield TlsTurn(f"turns:127.0.0.1:{port}?transport=tcp", port, log, spki_sha256(cert))


@pytest.fixture(scope="module")
def relay_server(
    tmp_path_factory: pytest.TempPathFactory, turn_server: Turn
) -> Iterator[LiveServer]:
    server = LiveServer(
        tmp_path_factory.mktemp("relay"),
        ice_servers=[{"urls": turn_server.url, "username": TURN_USER, "credential": TURN_PASSWORD}],
        ice_transport_policy="relay",
    )
    server.start()
    yield server
    server.stop()


# coturn --verbose writes one such line per allocation it grants.
RELAY_ADDRESS = re.compile(r"Local relay addr: (\S+)")


def allocations(turn: Turn) -> set[str]:
    """The relayed addresses of every allocation coturn granted so far."""
    return set(RELAY_ADDRESS.findall(turn.log.read_text(errors="replace")))


def own_sockets_talking_to(port: int, proto: str = "udp") -> list[str]:
    """`proto` ("udp" or "tcp") sockets of this process (which runs the SFU) connected to
    127.0.0.1:`port`, as aioice's TURN client connects its socket to the TURN server
    (Chromium's sockets belong to its own processes, so its allocations do not show here)."""
    peers: dict[int, str] = {}
    for line in Path(f"/proc/net/{proto}").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], int(fields[9])
        if remote == f"0100007F:{port:04X}":
            peers[inode] = local
    mine = []
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:[") and int(target[8:-1]) in peers:
                mine.append(peers[int(target[8:-1])])
    return mine


def sfu_candidate_types(server: LiveServer, room: str) -> set[str]:
    """The types of the local candidates of every SFU peer connection in `room`."""

    async def read() -> set[str]:
        found = server.worker.rooms[room]
        return {
            c["type"]
            for participant in found.participants.values()
            for pc in participant.peer_connections()
            for c in candidate_summary(pc)
        }

    return server.run(read())


def pairs(page: Page) -> list[list[str | None]]:
    result: list[Any] = page.evaluate(SELECTED_PAIRS)
    return [list(p) for p in result]


def selected_pairs(page: Page) -> list[list[str | None]]:
    """The selected pairs of the page's two connections (publisher, subscriber), once both
    have one."""
    found: list[list[str | None]] = wait_for(
        lambda: (lambda got: got if len(got) == 2 else None)(pairs(page)),
        "both connections' selected candidate pairs",
    )
    return found


def call_two_pages(server: LiveServer, new_context: NewContext) -> tuple[Scheduled, list[Page]]:
    """A caseworker and a jobseeker in one call, each seeing the other's video."""
    s = server.schedule(waiting_room=False)
    pages = []
    for role in ("caseworker", "jobseeker"):
        context = new_context("de")
        context.add_init_script(script=KEEP_PEER_CONNECTIONS)
        page = context.new_page()
        join(page, s.urls[role])
        pages.append(page)
    worker, seeker = pages
    video_playing(worker, tile_video(s.ids["jobseeker"]))
    video_playing(seeker, tile_video(s.ids["caseworker"]))
    return s, pages


def test_a_call_over_turn_only(
    relay_server: LiveServer, new_context: NewContext, turn_server: Turn
) -> None:
    before = allocations(turn_server)
    s, pages = call_two_pages(relay_server, new_context)
    for page in pages:
        # Both connections (publisher, subscriber) of each page go through the TURN server.
        selected = selected_pairs(page)
        assert all(local == "relay" and via == "udp" for local, _, via in selected), selected

    # coturn allocated relays for the browsers (it logs each one) but none for the media
    # server, which has a reachable address of its own: no socket of the SFU talks to coturn,
    # and its peer connections hold host candidates only.
    assert allocations(turn_server) - before, "coturn logged no allocation at all"
    assert own_sockets_talking_to(turn_server.port) == []
    assert sfu_candidate_types(relay_server, s.appointment.id) == {"host"}


@pytest.fixture(scope="module")
def tls_relay_server(
    tmp_path_factory: pytest.TempPathFactory, tls_turn_server: TlsTurn
) -> Iterator[LiveServer]:
    server = LiveServer(
        tmp_path_factory.mktemp("tls-relay"),
        ice_servers=[
            {"urls": tls_turn_server.url, "username": TURN_USER, "credential": TURN_PASSWORD}
        ],
        ice_transport_policy="relay",
    )
    server.start()
    yield server
    server.stop()


# coturn logs each session's TLS version when it opens, then each allocation it grants.
TLS_SESSION = re.compile(r"session (\d+): new, .*, method=(TLS\S+)")
ALLOCATED = re.compile(r"session (\d+): .*ALLOCATE processed, success")


def tls_allocations(turn: Turn) -> set[str]:
    """The coturn sessions that came in over TLS and were granted an allocation."""
    text = turn.log.read_text(errors="replace")
    return {m[1] for m in TLS_SESSION.finditer(text)} & set(ALLOCATED.findall(text))


class TestTurnOverTls:
    """A call whose only way to the SFU is TURN over TLS (port 443 under root)."""

    @pytest.fixture
    def browser(
        self, playwright_instance: Playwright, tls_turn_server: TlsTurn
    ) -> Iterator[Browser]:
        """A Chromium of its own (`new_context` takes its contexts from this one in this class)
        that trusts coturn's self-signed certificate, and no other: the SPKI list is the flag
        Chromium's certificate check honours for TURN over TLS too (its network service does
        the TLS; without the flag the page gets error 701 and no relay candidate)."""
        b = playwright_instance.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                *CHROMIUM_ARGS,
                f"--ignore-certificate-errors-spki-list={tls_turn_server.spki}",
            ],
        )
        yield b
        b.close()

    def test_a_call_over_turn_on_tls_only(
        self, tls_relay_server: LiveServer, new_context: NewContext, tls_turn_server: TlsTurn
    ) -> None:
        before = tls_allocations(tls_turn_server)
        s, pages = call_two_pages(tls_relay_server, new_context)
        for page in pages:
            # Both connections of each page reach the SFU through a relay the page asked
            # for over TLS.
            selected = selected_pairs(page)
            assert all(local == "relay" and via == "tls" for local, _, via in selected), selected
        # coturn saw the pages' allocations come in over TLS; nothing of the SFU's process
        # talks to it, and the SFU's own candidates are host candidates.
        assert tls_allocations(tls_turn_server) - before, "coturn logged no TLS allocation"
        assert own_sockets_talking_to(tls_turn_server.port, "tcp") == []
        assert sfu_candidate_types(tls_relay_server, s.appointment.id) == {"host"}


SUPPORT_PHONE = "+49 5231 123-0"


@pytest.fixture(scope="module")
def blocked_server(
    tmp_path_factory: pytest.TempPathFactory, turn_server: Turn
) -> Iterator[LiveServer]:
    """Relay only, with a TURN password coturn refuses: no media can flow (issue 15)."""
    server = LiveServer(
        tmp_path_factory.mktemp("blocked"),
        ice_servers=[{"urls": turn_server.url, "username": TURN_USER, "credential": "wrong"}],
        ice_transport_policy="relay",
        support_phone=SUPPORT_PHONE,
    )
    server.start()
    yield server
    server.stop()


def shown_within(page: Page, selector: str, since: float, within: float) -> float:
    """Wait until `selector` is visible; the seconds since `since`."""
    wait_for(lambda: page.locator(selector).is_visible(), f"{selector} to show", within)
    return time.monotonic() - since


@pytest.mark.timeout(240)
def test_media_that_cannot_flow_is_explained_everywhere_and_recovers(
    blocked_server: LiveServer, new_context: NewContext, turn_server: Turn, shots_dir: Path
) -> None:
    s = blocked_server.schedule(
        waiting_room=False,
        roles=(("caseworker", "Frau Becker", "de"), ("jobseeker", "Herr Wolf", "ar")),
    )
    seeker_id = s.ids["jobseeker"]
    with structlog.testing.capture_logs() as logs:
        pages: dict[str, Page] = {}
        shown: dict[str, float] = {}
        for role, lang in (("caseworker", "de"), ("jobseeker", "ar")):
            page = new_context(lang).new_page()
            join(page, s.urls[role])
            page.locator("#call").wait_for(state="visible")
            shown[role] = time.monotonic()
            pages[role] = page
        worker, seeker = pages["caseworker"], pages["jobseeker"]
        # Each page says, in its own language, that its media does not get through, and
        # what may help (another network; the job centre's line).
        for role, page in pages.items():
            took = shown_within(page, "#media-help", shown[role], 10)
            assert took <= 10, f"{role}: the message took {took:.1f}s"
        assert worker.locator("#media-help h2").inner_text() == (
            "Ihr Bild und Ihr Ton kommen nicht durch."
        )
        assert seeker.locator("#media-help h2").inner_text() == "صورتك وصوتك لا يصلان."
        phone = seeker.locator("#media-help a[href^='tel:']")
        assert phone.inner_text() == SUPPORT_PHONE
        assert phone.get_attribute("href") == "tel:+495231123-0"
        # Audio only cannot help a connection that never connected: not offered.
        assert not seeker.locator("#media-audio-only").is_visible()
        # The caseworker is told whose media cannot connect, and what to do.
        took = shown_within(worker, "#media-notice", shown["jobseeker"], 10)
        notice = worker.locator("#media-notice").inner_text()
        assert "Bild und Ton von Herr Wolf kommen nicht durch." in notice, notice
        assert "im Chat schreiben" in notice, notice
        # The jobseeker learns about the caseworker too (perhaps on a retry's `hello`).
        wait_for(
            lambda: "Frau Becker" in seeker.locator("#media-notice").inner_text(),
            "the jobseeker to be told about the caseworker",
            10,
        )
        worker.screenshot(path=shots_dir / "media-failed-caseworker-de.png")
        seeker.screenshot(path=shots_dir / "media-failed-jobseeker-ar.png")
        axe_check(worker, "media cannot get through (de)")
        axe_check(seeker, "media cannot get through (ar)")
        # The server logged it with the participant id and ICE states, nothing else.
        entry = wait_for(
            lambda: next(
                (e for e in logs if e["event"] == "media_status" and e["participant"] == seeker_id),
                None,
            ),
            "the server to log the jobseeker's media_status",
        )
    assert entry["state"] == "failed" and entry["appointment"] == s.appointment.id
    assert entry["ice"] and set(entry["ice"]) <= {"new", "checking", "failed", "connecting"}
    # A refused TURN password leaves relay-only ICE without a single candidate.
    assert entry["reason"] in ("no_candidates", "timeout"), entry
    assert set(entry) == {"event", "log_level", "appointment", "participant", "role"} | {
        "state",
        "pc",
        "reason",
        "ice",
    }

    # The TURN password is put right: the pages' next attempt (they keep trying on their own)
    # connects, and every message goes away.
    async def fix_turn() -> None:
        services = blocked_server.app[SERVICES]
        good = [{"urls": turn_server.url, "username": TURN_USER, "credential": TURN_PASSWORD}]
        services.settings = dataclasses.replace(services.settings, ice_servers=tuple(good))

    blocked_server.run(fix_turn())
    video_playing(worker, tile_video(seeker_id), timeout=60)
    video_playing(seeker, tile_video(s.ids["caseworker"]), timeout=60)
    for page in pages.values():
        wait_for(lambda p=page: p.locator("#media-help").is_hidden(), "the help to go", 30)
        wait_for(lambda p=page: p.locator("#media-notice").is_hidden(), "the notice to go", 30)
    assert worker.locator(f'#tiles li[data-pid="{seeker_id}"] .tile-state').is_hidden()


# The height of the camera picture a page sends now (its publisher's outbound video).
SENT_HEIGHT = """async () => {
  for (const pc of window.__pcs) {
    if (pc.connectionState !== 'connected') continue;
    for (const s of (await pc.getStats()).values()) {
      if (s.type === 'outbound-rtp' && s.kind === 'video' && s.frameHeight) return s.frameHeight;
    }
  }
  return null;
}"""

# The uplink adapter's decisions for made-up samples (pure logic, no connection).
ADAPTER_STEPS = """async () => {
  const { UplinkAdapter } = await import('/static/js/quality.js');
  const a = new UplinkAdapter();
  const good = { rtt: 0.05, loss: 0 };
  const lossy = { rtt: 0.05, loss: 0.2 };
  const out = [];
  for (const s of [good, lossy, lossy, lossy, lossy, { ...good, limited: true }, good]) {
    out.push(a.observe(s));
  }
  for (let i = 0; i < 8; i += 1) a.observe(good);
  out.push(a.scale);
  for (let i = 0; i < 8; i += 1) a.observe(good);
  out.push(a.scale);
  return out;
}"""


@pytest.fixture(scope="module")
def lossy_relay(turn_server: Turn) -> Iterator[LossyRelay]:
    relay = LossyRelay(("127.0.0.1", turn_server.port), loss=0.0)
    relay.start()
    yield relay
    relay.stop()


@pytest.fixture(scope="module")
def lossy_server(
    tmp_path_factory: pytest.TempPathFactory, lossy_relay: LossyRelay
) -> Iterator[LiveServer]:
    """Relay only, through a TURN server the pages reach over a link that loses packets."""
    server = LiveServer(
        tmp_path_factory.mktemp("lossy"),
        ice_servers=[
            {
                "urls": f"turn:127.0.0.1:{lossy_relay.port}?transport=udp",
                "username": TURN_USER,
                "credential": TURN_PASSWORD,
            }
        ],
        ice_transport_policy="relay",
    )
    server.start()
    yield server
    server.stop()


def video_height(page: Page, selector: str) -> int:
    height: int = page.evaluate(
        "(sel) => { const v = document.querySelector(sel); return v ? v.videoHeight : 0; }",
        selector,
    )
    return height


def test_a_weak_uplink_sends_a_smaller_picture_and_says_so(
    lossy_server: LiveServer, lossy_relay: LossyRelay, new_context: NewContext, shots_dir: Path
) -> None:
    """Issue 15, item 2: when a quarter of what a page sends is lost on the way, the page
    says its connection is weak, sends a smaller picture, and the other side keeps seeing a
    moving picture, now smaller."""
    lossy_relay.loss = 0.0
    s = lossy_server.schedule(
        waiting_room=False,
        roles=(("caseworker", "Frau Becker", "de"), ("jobseeker", "Amal Haddad", "ar")),
    )
    pages = []
    for role, lang in (("caseworker", "de"), ("jobseeker", "ar")):
        context = new_context(lang)
        context.add_init_script(script=KEEP_PEER_CONNECTIONS)
        page = context.new_page()
        join(page, s.urls[role])
        pages.append(page)
    worker, seeker = pages
    seen = tile_video(s.ids["jobseeker"])
    video_playing(worker, seen)
    assert seeker.evaluate(ADAPTER_STEPS) == [1, 1, 2, 2, 4, 4, 4, 2, 1]
    full: int = wait_for(lambda: seeker.evaluate(SENT_HEIGHT), "the sent picture's height")
    assert seeker.locator("#uplink-notice").is_hidden()

    lossy_relay.loss = 0.25  # from now on a quarter of each page's packets is lost
    notice = seeker.locator("#uplink-notice")
    notice.wait_for(state="visible", timeout=45_000)
    assert "ضعيف" in notice.inner_text()  # "weak", in the page's Arabic
    own = seeker.locator(f'#tiles li[data-pid="{s.ids["jobseeker"]}"] .tile-quality')
    assert own.get_attribute("data-level") == "weak"
    wait_for(
        lambda: (lambda h: h is not None and h <= full // 2)(seeker.evaluate(SENT_HEIGHT)),
        f"the page to send at most half of its {full} px height",
        45,
    )
    # The caseworker still sees a moving picture of the jobseeker, a smaller one.
    wait_for(
        lambda: 0 < video_height(worker, seen) <= full // 2,
        "the caseworker to receive the smaller picture",
        45,
    )
    video_playing(worker, seen)
    seeker.screenshot(path=str(shots_dir / "call-weak-uplink-ar.png"))
    worker.screenshot(path=str(shots_dir / "call-weak-uplink-de.png"))
    axe_check(seeker, "the weak-uplink notice (ar)")
    assert lossy_relay.dropped > 0 and lossy_relay.forwarded > 0
    lossy_relay.loss = 0.0
