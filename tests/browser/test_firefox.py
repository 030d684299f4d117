"""Mixed calls with Firefox ESR (Debian's stock browser, headless over WebDriver BiDi) and
Chromium, through the real server and SFU, in both role orders: every page plays every other
camera, the call is end-to-end encrypted with one safety code on every screen, a Chromium
screen share plays in Firefox, chat goes both ways, and someone leaves. And Firefox sends its
camera as simulcast: a Chromium page gets the full layer in a large tile, the half one in the
background."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.browser.conftest import (
    LANDSCAPE,
    ROOT,
    LiveServer,
    NewContext,
    Scheduled,
    join,
    tile_video,
    video_playing,
    wait_for,
)
from tests.browser.firefox.bidi import FIREFOX, Firefox, FirefoxPage
from tests.browser.test_simulcast import HIDDEN, SHOWN

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

THREE = (
    ("caseworker", "Frau Becker", "de"),
    ("jobseeker", "Ayşe Yılmaz", "de"),  # noqa: RUF001
    ("employer", "Herr Wolf", "de"),
)
AnyPage = Page | FirefoxPage


# Firefox gathers no loopback ICE candidates (media.peerconnection.ice.loopback
# notwithstanding) and pairs a loopback candidate only with a local one, so with the SFU on
# 127.0.0.1 alone its ICE never completes: it needs an address on another interface. Test
# traffic may use loopback and networks the test makes itself, never the machine's own
# interfaces. So these calls run in a network namespace of their own (`unshare --net`), where a
# veth pair, both ends inside it, gives the SFU and Firefox PRIVATE_ADDRESS; nothing in that
# namespace can reach any other network. `test_firefox_calls_in_a_private_network` makes the
# namespace and runs this module again inside it.
NETNS_ENV = "LIPPEJOB_TEST_NETNS"
PRIVATE_ADDRESS = "10.213.0.1"
LOG_LINE = re.compile(r"^[.sFE]*\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[")
IN_PRIVATE_NETWORK = os.environ.get(NETNS_ENV) == "1"
NETNS_SETUP = (
    "ip link set lo up"
    " && ip link add lj0 type veth peer name lj1"
    f" && ip addr add {PRIVATE_ADDRESS}/24 dev lj0"
    " && ip addr add 10.213.0.2/24 dev lj1"
    " && ip link set lj0 up && ip link set lj1 up"
    # Firefox looks for a default route to pick its interface (a UDP connect, no packet sent);
    # a packet that took it would reach lj1, inside this namespace, and go no further.
    " && ip route add default via 10.213.0.2 dev lj0"
    ' && exec "$@"'
)
in_private_network = pytest.mark.skipif(
    not IN_PRIVATE_NETWORK,
    reason="runs inside its own network namespace: see test_firefox_calls_in_a_private_network",
)


@pytest.mark.skipif(IN_PRIVATE_NETWORK, reason="this is the wrapper that made the namespace")
@pytest.mark.timeout(1500)
def test_firefox_calls_in_a_private_network(tmp_path: Path) -> None:
    """The Firefox tests below, run by a second pytest inside a fresh network namespace."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.fail("unshare (util-linux) and ip (iproute2) are needed: scripts/test installs them")
    unshare = ["unshare", "--net"]
    if os.geteuid() != 0:
        unshare = ["unshare", "--user", "--map-root-user", "--net"]
    command = [
        *unshare,
        *("sh", "-c", NETNS_SETUP, "netns"),
        *(sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfE"),
        *("--basetemp", str(tmp_path / "inner"), "-k", "not private_network"),
        str(Path(__file__).relative_to(ROOT)),
    ]
    env = {**os.environ, NETNS_ENV: "1"}
    proc = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1400, check=False
    )
    output = proc.stdout + proc.stderr
    (tmp_path / "inner-output.txt").write_text(output)
    summary = output.strip().splitlines()[-1] if output.strip() else ""
    # The servers' log lines crowd out the steps and the traceback: leave them out here.
    story = "\n".join(line for line in output.splitlines() if not LOG_LINE.match(line))
    assert proc.returncode == 0, story[-12000:]
    passed = re.search(r"(\d+) passed", summary)
    assert passed is not None and int(passed.group(1)) == 3, summary
    assert "skipped" not in summary, summary


@pytest.fixture(scope="module")
def firefox_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live server whose SFU binds and announces 127.0.0.1 (Chromium pairs there) and the
    private network's address (Firefox pairs there)."""
    server = LiveServer(
        tmp_path_factory.mktemp("firefox"), media_announce_ips=["127.0.0.1", PRIVATE_ADDRESS]
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def simulcast_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """As `firefox_server`, with pages sending their 640x480 camera as simulcast."""
    server = LiveServer(
        tmp_path_factory.mktemp("firefox-simulcast"),
        media_announce_ips=["127.0.0.1", PRIVATE_ADDRESS],
        simulcast=True,
        camera_width=640,
        camera_height=480,
        camera_frame_rate=15,
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def firefox() -> Iterator[Firefox]:
    if shutil.which(FIREFOX) is None:
        pytest.fail(f"{FIREFOX} is missing: scripts/test installs Debian's firefox-esr")
    browser = Firefox()
    yield browser
    browser.close()


@pytest.fixture
def firefox_pages(firefox: Firefox) -> Iterator[list[FirefoxPage]]:
    """Pages opened by the test (closed after it); no script errors in any of them."""
    opened: list[FirefoxPage] = []
    seen = len(firefox.console)
    yield opened
    for page in opened:
        page.close()
    errors = [
        f"{e.get('type')}: {e.get('text')}"
        for e in firefox.console[seen:]
        if e.get("level") == "error"
    ]
    assert not errors, "\n".join(errors)


class Steps:
    """Prints how long the test has run at each step (pytest shows it when a test fails)."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, what: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {what}")


def ff_join(page: FirefoxPage, url: str) -> None:
    page.goto(url)
    wait_for(lambda: page.visible("#consent"), "the consent box in Firefox")
    page.click("#consent")
    page.click("#join-button")


def visible(page: AnyPage, selector: str) -> bool:
    if isinstance(page, FirefoxPage):
        return page.visible(selector)
    return page.locator(selector).is_visible()


def click(page: AnyPage, selector: str) -> None:
    if isinstance(page, FirefoxPage):
        page.click(selector)
    else:
        # Not waiting for navigations a click may schedule: on a loaded machine that wait
        # outlasted Playwright's timeout although the click was done.
        page.locator(selector).first.click(no_wait_after=True)


def e2ee(page: AnyPage) -> dict[str, str]:
    result: dict[str, str] = page.evaluate(
        """() => ({state: document.getElementById('e2ee-status').dataset.state,
                   code: document.getElementById('safety-code').textContent})"""
    )
    return result


def text(page: AnyPage, selector: str) -> str:
    found: str = page.evaluate(
        "(sel) => { const e = document.querySelector(sel); return e ? e.textContent : ''; }",
        selector,
    )
    return found


def send_chat(page: AnyPage, message: str) -> None:
    page.evaluate(
        """(m) => { const input = document.getElementById('chat-input'); input.value = m;
                    document.getElementById('chat-form').requestSubmit(); }""",
        message,
    )


def chat_log(page: AnyPage) -> str:
    return text(page, "#chat-log")


def admit_next(worker: AnyPage, guest: AnyPage) -> None:
    wait_for(lambda: visible(guest, "#waiting"), "the guest in the waiting room")
    wait_for(lambda: visible(worker, "#lobby-list button[data-action=admit]"), "an admit button")
    click(worker, "#lobby-list button[data-action=admit]")
    wait_for(lambda: visible(guest, "#call"), "the admitted guest in the call")


# Frames painted into the element, counted by requestVideoFrameCallback: Firefox's
# getVideoPlaybackQuality() counts no frames for a MediaStream, so conftest's check cannot be
# used there. Undecryptable frames are dropped before the decoder and paint nothing.
PAINTED = """(sel) => { const v = document.querySelector(sel);
  if (!v) return null;
  if (!v.ljPainted) {
    v.ljPainted = {n: 0};
    const tick = () => { v.ljPainted.n += 1; v.requestVideoFrameCallback(tick); };
    v.requestVideoFrameCallback(tick);
  }
  return {w: v.videoWidth, t: v.currentTime, n: v.ljPainted.n}; }"""


def playing(page: AnyPage, selector: str, timeout: float = 60) -> None:
    """The video under `selector` has a picture and new frames keep being painted."""
    if not isinstance(page, FirefoxPage):
        video_playing(page, selector, timeout)
        return
    first = wait_for(
        lambda: (lambda r: r if r and r["w"] > 0 else None)(page.evaluate(PAINTED, selector)),
        f"video at {selector} to have a picture in Firefox",
        timeout,
    )
    wait_for(
        lambda: (lambda r: r is not None and r["t"] > first["t"] + 0.3 and r["n"] > first["n"] + 3)(
            page.evaluate(PAINTED, selector)
        ),
        f"video at {selector} to paint new frames in Firefox",
        timeout,
    )


def all_see_all(pages: dict[str, AnyPage], s: Scheduled) -> None:
    for role, page in pages.items():
        for other, pid in s.ids.items():
            if other != role:
                playing(page, tile_video(pid))


def one_code(pages: list[AnyPage]) -> str:
    def codes() -> str | None:
        states = [e2ee(p) for p in pages]
        found = {st["code"] for st in states}
        ready = all(st["state"] == "on" for st in states) and len(found) == 1
        code = next(iter(found))
        return code if ready and code.replace(" ", "").isdigit() else None

    code: str = wait_for(codes, "'End-to-end encrypted' and one safety code on every page", 40)
    return code


def published(server: LiveServer, room: str) -> set[tuple[str, str]]:
    async def read() -> set[tuple[str, str]]:
        found = server.worker.rooms.get(room)
        return set(found.publications()) if found is not None else set()

    return server.run(read())


def screen_from_chromium_plays_in(sharer: Page, viewers: list[AnyPage], pid: str) -> None:
    def pressed() -> str | None:
        return sharer.locator("#btn-screen").get_attribute("aria-pressed")

    click(sharer, "#btn-screen")
    # The button shows "pressed" once the publisher connection is offered again and
    # answered; that waits behind pending subscriber answers, which a loaded machine slows.
    wait_for(lambda: pressed() == "true", "the pressed share button", 60)
    for viewer in viewers:
        playing(viewer, tile_video(pid, "screen"))
        size: list[int] = viewer.evaluate(
            "(sel) => [document.querySelector(sel).videoWidth,"
            " document.querySelector(sel).videoHeight]",
            tile_video(pid, "screen"),
        )
        assert size[0] > size[1] and size != [320, 240], size  # the screen, not the camera
    click(sharer, "#btn-screen")
    wait_for(lambda: pressed() == "false", "the released share button", 60)
    for viewer in viewers:
        wait_for(
            lambda v=viewer: (
                not v.evaluate(  # type: ignore[misc]
                    "(sel) => !!document.querySelector(sel)", tile_video(pid, "screen")
                )
            ),
            "the screen tile to go",
        )


def chat_both_ways(a: AnyPage, b: AnyPage, tag: str) -> None:
    for page in (a, b):
        if not visible(page, "#chat-input"):
            click(page, "#btn-chat")
    send_chat(a, f"Hallo aus {tag} A")
    wait_for(lambda: f"Hallo aus {tag} A" in chat_log(b), "the chat message A -> B")
    send_chat(b, f"Hallo aus {tag} B")
    wait_for(lambda: f"Hallo aus {tag} B" in chat_log(a), "the chat message B -> A")


def leaves(leaver: AnyPage, stayers: list[AnyPage], old_code: str) -> None:
    click(leaver, "#btn-leave")
    click(leaver, "#leave-confirm")  # Leave asks first
    wait_for(lambda: visible(leaver, "#ended"), "the end screen of the one who left")

    def new_code() -> bool:
        states = [e2ee(p) for p in stayers]
        return all(st["state"] == "on" for st in states) and (
            len({st["code"] for st in states}) == 1 and states[0]["code"] not in ("", old_code)
        )

    wait_for(new_code, "a new common safety code for those who stay", 20)


@in_private_network
def test_chromium_caseworker_with_firefox_jobseeker_and_employer(
    firefox_server: LiveServer,
    new_context: NewContext,
    firefox: Firefox,
    firefox_pages: list[FirefoxPage],
    shots_dir: Path,
) -> None:
    """The Firefox employer joins last, after the others' keys are exchanged: the newcomer
    case of issue #13 (it got no media key and showed black tiles)."""
    step = Steps()
    s = firefox_server.schedule(roles=THREE)
    room = s.appointment.id
    worker = new_context("de", viewport=LANDSCAPE).new_page()
    seeker, boss = firefox.new_page(), firefox.new_page()
    firefox_pages += [seeker, boss]
    pages: dict[str, AnyPage] = {"caseworker": worker, "jobseeker": seeker, "employer": boss}

    join(worker, s.urls["caseworker"])
    worker.locator("#call").wait_for(state="visible")
    ff_join(seeker, s.urls["jobseeker"])
    admit_next(worker, seeker)
    playing(worker, tile_video(s.ids["jobseeker"]))
    ff_join(boss, s.urls["employer"])
    admit_next(worker, boss)

    step("all in the call")
    all_see_all(pages, s)
    step("every camera plays on every page")
    # The SFU takes in Firefox's camera (port-0 bundle-only m-line) as well as its audio.
    for role in ("jobseeker", "employer"):
        assert {(s.ids[role], "audio"), (s.ids[role], "video")} <= published(firefox_server, room)
    code = one_code(list(pages.values()))
    step("one safety code")
    worker.screenshot(path=shots_dir / "firefox-mixed-chromium-caseworker.png")

    # A screen shared from Chromium to Firefox is shown by the next test: three pages decoding a
    # screen and two cameras at once is the heaviest moment of these calls, and on a two-core
    # CI machine once is enough.
    chat_both_ways(worker, seeker, "Chromium-Firefox")
    step("chat")
    leaves(boss, [worker, seeker], code)
    step("left, new code")
    playing(seeker, tile_video(s.ids["caseworker"]))
    playing(worker, tile_video(s.ids["jobseeker"]))


@in_private_network
def test_firefox_caseworker_with_chromium_jobseeker_and_employer(
    firefox_server: LiveServer,
    new_context: NewContext,
    firefox: Firefox,
    firefox_pages: list[FirefoxPage],
    shots_dir: Path,
) -> None:
    step = Steps()
    s = firefox_server.schedule(roles=THREE)
    worker = firefox.new_page()
    firefox_pages.append(worker)
    seeker = new_context("de", viewport=LANDSCAPE).new_page()
    boss = new_context("de").new_page()
    pages: dict[str, AnyPage] = {"caseworker": worker, "jobseeker": seeker, "employer": boss}

    ff_join(worker, s.urls["caseworker"])
    wait_for(lambda: worker.visible("#call"), "the Firefox caseworker in the call")
    for guest, role in ((seeker, "jobseeker"), (boss, "employer")):
        join(guest, s.urls[role])
        admit_next(worker, guest)

    step("all in the call")
    all_see_all(pages, s)
    step("every camera plays on every page")
    code = one_code(list(pages.values()))
    step("one safety code")
    seeker.screenshot(path=shots_dir / "firefox-mixed-firefox-caseworker.png")

    screen_from_chromium_plays_in(seeker, [worker, boss], s.ids["jobseeker"])
    step("the screen plays in Firefox")
    chat_both_ways(worker, boss, "Firefox-Chromium")
    step("chat")
    leaves(seeker, [worker, boss], code)
    step("left, new code")
    playing(worker, tile_video(s.ids["employer"]))
    playing(boss, tile_video(s.ids["caseworker"]))


Layers = tuple[str | None, dict[str, int]]


def layers(server: LiveServer, subscriber: str, publisher: str) -> Layers:
    """The layer the SFU forwards `subscriber` of `publisher`'s camera, and the heights of the
    layers that are sending (from their keyframes)."""

    async def read() -> Layers:
        from mediaserver.rtp.simulcast import SimulcastSource

        for room in server.worker.rooms.values():
            member = room.participants.get(subscriber)
            for slot in member.slots if member is not None else []:
                source = slot.track.forwarder
                if slot.carries == (publisher, "video") and isinstance(source, SimulcastSource):
                    now = time.monotonic()
                    sending = {id(layer) for layer in source.ranked(now)}
                    names = {id(layer): rid for rid, layer in source.layers.items()}
                    return names.get(id(slot.track.current)), {
                        rid: layer.height
                        for rid, layer in source.layers.items()
                        if id(layer) in sending and layer.height
                    }
        return None, {}

    return server.run(read())


@in_private_network
def test_firefox_sends_its_camera_as_simulcast(
    simulcast_server: LiveServer,
    new_context: NewContext,
    firefox: Firefox,
    firefox_pages: list[FirefoxPage],
) -> None:
    """Firefox's camera reaches the SFU in two layers (rid, its own SSRCs); a Chromium page
    with a large tile gets the full one, in the background the half one, switched at a
    keyframe with the picture going on."""
    s = simulcast_server.schedule(
        waiting_room=False,
        roles=(("caseworker", "Frau Becker", "de"), ("employer", "Herr Wolf", "de")),
    )
    worker = firefox.new_page()
    firefox_pages.append(worker)
    ff_join(worker, s.urls["caseworker"])
    wait_for(lambda: worker.visible("#call"), "the Firefox caseworker in the call")
    boss = new_context("de", device_scale_factor=2).new_page()
    join(boss, s.urls["employer"])
    camera = tile_video(s.ids["caseworker"])
    playing(boss, camera)

    def sent() -> Layers:
        return layers(simulcast_server, s.ids["employer"], s.ids["caseworker"])

    heights = wait_for(
        lambda: (lambda h: h if {"h", "f"} <= set(h) and h["h"] < h["f"] else None)(sent()[1]),
        "Firefox's camera at the SFU in a half and a full layer",
        60,
    )

    def shown() -> int:
        height: int = boss.evaluate("(sel) => document.querySelector(sel).videoHeight", camera)
        return height

    wait_for(lambda: sent()[0] == "f", "the large tile to get the full layer", 40)
    wait_for(lambda: shown() == heights["f"], "the full picture on the Chromium page", 20)
    boss.evaluate(HIDDEN)  # the page in the background: the smallest layer will do
    wait_for(lambda: sent()[0] == "h", "the hidden page to get the half layer", 30)
    wait_for(lambda: shown() == heights["h"], "the half picture on the Chromium page", 20)
    playing(boss, camera)  # it goes on after the switch
    boss.evaluate(SHOWN)
    wait_for(lambda: sent()[0] == "f", "the page in front to get the full layer again", 30)
