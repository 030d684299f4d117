"""Browser tests: the real server (signalling app and in-process SFU) on 127.0.0.1 in its own
thread and event loop, and headless Chromium with fake camera and microphone.

Nothing leaves the machine: the SFU announces 127.0.0.1 only, no ICE servers are configured,
and Chromium runs with background networking off.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    ViewportSize,
    sync_playwright,
)

from core.bus.base import Bus
from core.bus.memory import MemoryBus
from core.bus.redisbus import RedisBus
from core.clock import SystemClock
from core.model import Appointment, StaffUser
from core.settings import load_settings
from core.store.base import EphemeralStore, Stores
from core.store.memory import MemoryStore
from core.store.redisstore import RedisStore
from core.store.sql import SqlStore
from mediaserver.config import MediaConfig
from mediaserver.worker import MediaWorker
from signalling.app import build_services, create_app
from signalling.appointments import schedule
from signalling.auth.keys import ensure_keyring
from signalling.auth.staff import hash_password
from tests.harness import migrated_sqlite
from testsupport.chromium import CHROMIUM, CHROMIUM_ARGS
from testsupport.wait import wait_for_sync as wait_for

T = TypeVar("T")

TABLET: ViewportSize = {"width": 768, "height": 1024}
LANDSCAPE: ViewportSize = {"width": 1024, "height": 768}
PHONE: ViewportSize = {"width": 390, "height": 844}
STAFF_USER = "becker"
STAFF_PASSWORD = "correct-horse-battery"
ROOT = Path(__file__).resolve().parents[2]
CUSTOM_TTL = 12  # seconds: room tokens of `custom_server` (refreshed after about 9)
CUSTOM_ZONE = "Asia/Tokyo"  # `custom_server`'s timezone setting (no summer time; far from Berlin)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Scheduled:
    appointment: Appointment
    urls: dict[str, str]  # role -> join URL (first participant of each role)
    ids: dict[str, str] = field(default_factory=dict)  # role -> participant id


def invited_in(lang: str, caseworker: str = "de") -> tuple[tuple[str, str, str], ...]:
    """A caseworker and a jobseeker whose invitation is in `lang` (the join page's language)."""
    return (("caseworker", "Frau Becker", caseworker), ("jobseeker", "Ayşe Yılmaz", lang))  # noqa: RUF001


class LiveServer:
    """`lippejob serve`'s pieces, started in a thread with its own loop: presence and bus in
    memory with an SFU in process, or, with `redis_url`, on that Redis with no SFU of its own
    (the test starts `lippejob media` processes)."""

    def __init__(self, tmp: Path, redis_url: str | None = None, **settings: Any) -> None:
        self.tmp = tmp
        self.redis_url = redis_url
        self.overrides = settings  # Settings fields that differ from the test default
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="live-server", daemon=True
        )
        self.captured: list[bytes] = []  # video frames the SFU forwarded (see capture_frames)
        self._capture: dict[str, Any] = {"limit": 0}

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run a coroutine on the server's loop and wait for it."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def start(self) -> None:
        self.thread.start()
        self.run(self._start())

    async def _start(self) -> None:
        settings: dict[str, Any] = {
            "media_announce_ips": ["127.0.0.1"],
            # A small picture: the test machine has two cores, and three pages in a call each
            # encode one picture and decode two (a third less time for the call tests).
            "camera_width": 320,
            "camera_height": 240,
            "camera_frame_rate": 12,
            # One camera layer: three pages each encoding three sizes is too much for the two
            # cores here, and the frame-capturing tests read one stream. tests/browser/
            # test_simulcast.py turns it on.
            "simulcast": False,
            **self.overrides,
        }
        self.settings = load_settings(
            env={},
            host="127.0.0.1",
            port=self.port,
            http=True,
            keys_dir=self.tmp / "keys",
            data_dir=self.tmp / "data",
            **settings,
        )
        self.clock = SystemClock()
        # Records in SQLite (`store`, which tests read), presence and registry in memory or
        # on Redis.
        self.store = SqlStore.from_url(await migrated_sqlite(self.tmp / "lippejob.db"), self.clock)
        self.ephemeral: EphemeralStore
        self.bus: Bus
        if self.redis_url is None:
            self.ephemeral, self.bus = MemoryStore(self.clock), MemoryBus()
        else:
            self.ephemeral = await RedisStore.from_url(self.redis_url, self.clock)
            self.bus = await RedisBus.from_url(self.redis_url)
        keyring = ensure_keyring(self.settings.keys_dir, self.clock)
        services = build_services(
            self.settings, self.clock, Stores.of(self.store, self.ephemeral), self.bus, keyring
        )
        await self.store.put_staff(
            StaffUser(STAFF_USER, "Frau Becker", hash_password(STAFF_PASSWORD), self.clock.now())
        )
        self.app = create_app(services, reconnect_grace=20.0)
        self._worker: MediaWorker | None = None
        if self.redis_url is None:
            self._worker = MediaWorker(
                "media-test",
                self.ephemeral,
                self.bus,
                self.clock,
                MediaConfig.from_settings(self.settings),
            )
            await self._worker.start()
        self.runner = web.AppRunner(self.app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    @property
    def worker(self) -> MediaWorker:
        """The SFU in this process (none with `redis_url`)."""
        assert self._worker is not None, "this server's media workers are processes"
        return self._worker

    async def _stop(self) -> None:
        if self._worker is not None:
            await self._worker.close()
        await self.runner.cleanup()
        await self.bus.close()
        await self.store.close()
        await self.ephemeral.close()

    def stop(self) -> None:
        try:
            self.run(self._stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()

    # ---- fixtures for tests ------------------------------------------------------------

    def schedule(
        self,
        *,
        starts_in: float = -60,
        duration: float = 3600,
        waiting_room: bool = True,
        roles: tuple[tuple[str, str, str], ...] = (
            ("caseworker", "Frau Becker", "de"),
            ("jobseeker", "Ayşe Yılmaz", "tr"),  # noqa: RUF001
        ),
        title: str = "Beratung",
        created_by: str = STAFF_USER,
    ) -> Scheduled:
        """An appointment put straight into the store (it may lie in the past), scheduled by
        `created_by` (a colleague's, when not the staff user tests log in as)."""

        async def put() -> Scheduled:
            now = self.clock.now()
            starts = now + starts_in
            result = schedule(
                {
                    "title": title,
                    "starts_at": starts,
                    "ends_at": starts + duration,
                    "waiting_room": waiting_room,
                    "participants": [{"role": r, "name": n, "lang": lang} for r, n, lang in roles],
                },
                now=min(now, starts),
                settings=self.settings,
                created_by=created_by,
            )
            await self.store.put_appointment(result.appointment)
            urls: dict[str, str] = {}
            ids: dict[str, str] = {}
            for p in result.appointment.participants:
                urls.setdefault(p.role, f"{self.url}/j/{result.codes[p.id]}")
                ids.setdefault(p.role, p.id)
            return Scheduled(result.appointment, urls, ids)

        return self.run(put())

    def capture_frames(self, limit: int) -> None:
        """Record `limit` video frames the SFU hands to subscribers, from the next keyframe."""
        self.captured.clear()
        self._capture.pop("track", None)
        self._capture.pop("parts", None)
        self._capture["limit"] = limit

    def install_capture(self) -> None:
        """Record what `capture_frames` asks for: VP8 frames put together again from the
        packets one down track sends (descriptor stripped, up to the marker bit), from a
        keyframe on (a decoder could start there). One down track only: one decoder cannot
        follow interleaved streams."""
        from mediaserver.rtp import payload
        from mediaserver.rtp.downtrack import DownTrack

        original = DownTrack.forward
        captured, capture = self.captured, self._capture

        def forward(
            track: Any,
            source: Any,
            data: bytes,
            seq: int,
            ts: int,
            start: int,
            key: bool,
            ast: bytes,
            now: float,
        ) -> None:
            original(track, source, data, seq, ts, start, key, ast, now)
            if track.kind != "video" or len(captured) >= capture["limit"] or track.held:
                return
            # While capturing, every packet comes through here: the steady state would take
            # the C path (whose bytes are Python's, tests/media/test_wire.py) past this hook.
            track._fast = None
            owner = capture.get("track")
            if source is not track.current:
                return  # not (yet) what this track forwards
            if owner is None and not (key and not track.waiting_keyframe):
                return
            if owner is not None and owner is not track:
                return
            capture["track"] = track
            body = data[start : len(data) - (data[-1] if data[0] & 0x20 else 0)]
            descriptor = payload.vp8_descriptor(body)
            if descriptor is None:
                return
            parts = capture.setdefault("parts", [])
            parts.append(body[descriptor.size :])
            if data[1] & 0x80:  # the frame's last packet
                captured.append(b"".join(parts))
                parts.clear()

        DownTrack.forward = forward  # type: ignore[method-assign]


@pytest.fixture(scope="session", autouse=True)
def _browsers_first() -> None:
    """Under pytest-xdist the browser tests share the machine with the other worker's tests.
    Their calls are bound by time (a video must play within seconds), the others mostly are
    not: where the run may (as root, as in CI), the worker that runs them, and the servers
    and browsers it starts from now on, get a higher CPU priority. A CI run with equal
    priorities lost a screen share's renegotiation to the load once in 1039 tests."""
    if os.environ.get("PYTEST_XDIST_WORKER") and os.geteuid() == 0:
        # Linux: the calling thread; threads and processes started later inherit it.
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, 0, -5)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("live"))
    server.start()
    server.install_capture()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def custom_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A second server, configured unlike the default: 12-second room tokens, Tokyo time."""
    server = LiveServer(
        tmp_path_factory.mktemp("custom"), token_ttl=CUSTOM_TTL, timezone=CUSTOM_ZONE
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="package")
def playwright_instance() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    b = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield b
    b.close()


@pytest.fixture(scope="session")
def shots_dir() -> Path:
    """test-artifacts/screenshots/<run>: one folder per test run."""
    run = os.environ.get("LIPPEJOB_TEST_RUN") or time.strftime("%Y%m%d-%H%M%S")
    path = ROOT / "test-artifacts" / "screenshots" / run
    path.mkdir(parents=True, exist_ok=True)
    return path


NewContext = Callable[..., BrowserContext]


@pytest.fixture
def new_context(browser: Browser) -> Iterator[NewContext]:
    """Browser contexts (one per person) closed after the test; tablet-sized by default."""
    made: list[BrowserContext] = []
    problems: list[str] = []

    def on_console(msg: ConsoleMessage) -> None:
        # A page answered 404/410 on purpose (a link that does not work) is logged by Chromium.
        if msg.type == "error" and "Failed to load resource" not in msg.text:
            problems.append(f"console: {msg.text}")

    def make(
        lang: str = "de", viewport: ViewportSize | None = None, **kwargs: Any
    ) -> BrowserContext:
        ctx = browser.new_context(
            viewport=viewport or TABLET,
            locale=lang,
            extra_http_headers={"Accept-Language": lang},
            permissions=["camera", "microphone"],
            **kwargs,
        )
        ctx.on("console", on_console)
        ctx.on("weberror", lambda error: problems.append(f"page error: {error.error}"))
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.close()
    # Script errors and CSP refusals (no inline script or style) fail the test.
    assert not problems, "\n".join(problems)


def video_playing(page: Page, selector: str, timeout: float = 20.0) -> None:
    """The video element under `selector` has a picture, its time advances and new frames
    keep arriving (a stalled stream keeps its size and, in Chromium, its clock running)."""
    script = """(sel) => { const v = document.querySelector(sel);
        return v ? {w: v.videoWidth, t: v.currentTime,
                    n: v.getVideoPlaybackQuality().totalVideoFrames} : null; }"""
    first = wait_for(
        lambda: (lambda r: r if r and r["w"] > 0 and r["t"] > 0 else None)(
            page.evaluate(script, selector)
        ),
        f"video at {selector} to play",
        timeout,
    )
    wait_for(
        lambda: (lambda r: r is not None and r["t"] > first["t"] + 0.3 and r["n"] > first["n"] + 3)(
            page.evaluate(script, selector)
        ),
        f"video at {selector} to advance with new frames",
        timeout,
    )


def tile_video(pid: str, source: str = "camera") -> str:
    """The selector of one participant's video tile in the call view."""
    return f'#tiles li[data-pid="{pid}"][data-source="{source}"] video'


def log_in(page: Page, server: LiveServer) -> None:
    """Log `page` in to `server`'s console as the staff user; it ends on the console."""
    page.goto(f"{server.url}/console/login")
    page.locator("#username").fill(STAFF_USER)
    page.locator("#password").fill(STAFF_PASSWORD)
    page.locator("button[type=submit]").click()
    page.wait_for_url(f"{server.url}/console")


def join(page: Page, url: str) -> None:
    """Open a join link, agree, and press join."""
    page.goto(url)
    page.locator("#consent").check()
    page.locator("#join-button").click()


def axe_check(page: Page, name: str) -> None:
    """axe-core on the page: no serious or critical violations."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    summary = [
        f"{v['id']} ({v['impact']}): {v['help']} -> "
        + "; ".join(str(n.get("target")) for n in v["nodes"][:5])
        for v in bad
    ]
    assert not bad, f"axe on {name}:\n" + "\n".join(summary)


AsyncFn = Callable[[], Awaitable[Any]]
