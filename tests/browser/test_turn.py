"""A call through a real TURN server (Debian's coturn on loopback), as when an employer's
company network lets no UDP through to the SFU: the pages are told to use relay candidates
only, and their media reaches the SFU through the TURN server."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import structlog
from playwright.sync_api import Page

from mediaserver.network import candidate_summary
from signalling.context import SERVICES
from tests.browser.conftest import (
    LiveServer,
    NewContext,
    axe_check,
    free_port,
    join,
    tile_video,
    video_playing,
    wait_for,
)

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

# The candidate types of each live connection's selected pair, e.g. [["relay", "host"]].
SELECTED_PAIRS = """async () => {
  const out = [];
  for (const pc of window.__pcs) {
    if (pc.connectionState !== 'connected') continue;
    const stats = await pc.getStats();
    for (const s of stats.values()) {
      if (s.type !== 'transport' || !s.selectedCandidatePairId) continue;
      const pair = stats.get(s.selectedCandidatePairId);
      out.push([stats.get(pair.localCandidateId).candidateType,
                stats.get(pair.remoteCandidateId).candidateType]);
    }
  }
  return out;
}"""


def stun_answers(port: int) -> bool:
    """Whether a STUN binding request to 127.0.0.1:`port` (UDP) gets an answer."""
    request = struct.pack("!HHI12s", 0x0001, 0, 0x2112A442, os.urandom(12))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(0.3)
        udp.sendto(request, ("127.0.0.1", port))
        try:
            answer = udp.recv(2048)
        except OSError:
            return False
    return answer[:2] == b"\x01\x01" and answer[8:20] == request[8:20]


@dataclass(frozen=True)
class Turn:
    """A running coturn: the URL to configure, and its log (verbose: one line per allocation)."""

    url: str
    port: int
    log: Path


@pytest.fixture(scope="module")
def turn_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Turn]:
    """coturn on 127.0.0.1 with one long-term user."""
    binary = shutil.which("turnserver")
    assert binary, (
        "coturn's turnserver is missing: scripts/test installs it (apt-get install coturn)"
    )
    port = free_port()
    home = tmp_path_factory.mktemp("turn")
    log = home / "turn.log"
    proc = subprocess.Popen(
        [
            binary,
            "-n",  # no configuration file
            "--listening-ip=127.0.0.1",
            f"--listening-port={port}",
            "--relay-ip=127.0.0.1",
            "--allow-loopback-peers",  # the SFU is on loopback too
            "--lt-cred-mech",
            f"--user={TURN_USER}:{TURN_PASSWORD}",
            "--realm=lippejob.test",
            "--no-tls",
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
        while not stun_answers(port):
            assert proc.poll() is None, f"turnserver died: {log.read_text(errors='replace')}"
            assert time.monotonic() < deadline, f"no STUN answer: {log.read_text(errors='replace')}"
        yield Turn(f"turn:127.0.0.1:{port}?transport=udp", port, log)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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


def own_sockets_talking_to(port: int) -> list[str]:
    """UDP sockets of this process (which runs the SFU) connected to 127.0.0.1:`port`, as
    aioice's TURN client connects its socket to the TURN server (Chromium's are not
    connected, so its own allocations do not show here)."""
    peers: dict[int, str] = {}
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
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


def pairs(page: Page) -> list[list[str]]:
    result: list[Any] = page.evaluate(SELECTED_PAIRS)
    return [list(p) for p in result]


def test_a_call_over_turn_only(
    relay_server: LiveServer, new_context: NewContext, turn_server: Turn
) -> None:
    before = allocations(turn_server)
    s = relay_server.schedule(waiting_room=False)
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
    for page in pages:
        # Both connections (publisher, subscriber) of each page go through the TURN server.
        selected = wait_for(
            lambda p=page: (lambda found: found if len(found) == 2 else None)(pairs(p)),
            "both connections' selected candidate pairs",
        )
        assert all(local == "relay" for local, _ in selected), selected

    # coturn allocated relays for the browsers (it logs each one) but none for the media
    # server, which has a reachable address of its own: no socket of the SFU talks to coturn,
    # and its peer connections hold host candidates only.
    assert allocations(turn_server) - before, "coturn logged no allocation at all"
    assert own_sockets_talking_to(turn_server.port) == []
    assert sfu_candidate_types(relay_server, s.appointment.id) == {"host"}


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
