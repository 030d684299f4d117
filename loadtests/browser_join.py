"""Join latency in Chromium (issue 14): from pressing join on the page to the first frame of
the other participant's camera painted, with the media worker carrying background calls.

A signalling node (`lippejob serve --http --no-media`) on the benchmark's Redis places every
call on the benchmark's media worker. Per join: an appointment without a waiting room; its
caseworker, an aiortc client over the room WebSocket publishing the benchmark's pre-encoded
loop (a keyframe when asked), is in the call first; then a fresh Chromium context (a tablet)
opens the jobseeker's link, agrees, and presses join. The page's own clock measures from the
click to the first frame of the caseworker's camera painted (`requestVideoFrameCallback`). The
page sends its own camera too (Chromium's fake device, simulcast as the default settings say),
so a join includes its publisher negotiation. Loopback only; Chromium from the system.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import aiohttp

from loadtests.admission import staff_headers
from loadtests.call_clients import LoopTracks
from loadtests.processes import signalling_node
from testsupport.chromium import CHROMIUM, CHROMIUM_ARGS
from testsupport.client import ClientMedia, EncodedLoop
from testsupport.ws_client import WsClient

# Set before the click: note when the click reaches the page (the event's own timestamp: the
# time before it, Playwright waiting for the button to be stable, is not the page's), and when
# the caseworker's camera tile appears, when its first frame is painted
# (requestVideoFrameCallback's own timestamp, on the same clock).
WATCH = """(pid) => {
  window.__firstFrame = null;
  window.__clicked = null;
  document.addEventListener('click', (event) => { window.__clicked = event.timeStamp; },
    { capture: true, once: true });
  const sel = `#tiles li[data-pid="${pid}"][data-source="camera"] video`;
  const look = () => {
    const v = document.querySelector(sel);
    if (!v) { setTimeout(look, 5); return; }
    v.requestVideoFrameCallback((now) => { window.__firstFrame = now; });
  };
  look();
}"""
TIMEOUT = 15.0  # seconds a join may take before it counts as failed


class WsLoopClient(LoopTracks, WsClient):
    """A participant over the room WebSocket publishing the benchmark's pre-encoded loop."""

    def __init__(
        self, base_url: str, code: str, media: ClientMedia, video: EncodedLoop, audio: EncodedLoop
    ) -> None:
        super().__init__(base_url, code, label="resident", media=media)
        self.video_loop = video
        self.audio_loop = audio


def node_settings() -> dict[str, str]:
    """Only the limits one loopback address running every client would hit are raised."""
    return {
        "join_rate": "100000",
        "join_burst": "1000",
        "media_announce_ips": '["127.0.0.1"]',
    }


async def _schedule(
    session: aiohttp.ClientSession, base: str, headers: dict[str, str]
) -> dict[str, tuple[str, str]]:
    """A call starting now, no waiting room: role -> (participant id, join URL)."""
    now = time.time()
    body = {
        "title": "Join latency",
        "starts_at": now,
        "ends_at": now + 3600,
        "waiting_room": False,
        "participants": [
            {"role": "caseworker", "name": "Bench Caseworker", "lang": "de"},
            {"role": "jobseeker", "name": "Bench Jobseeker", "lang": "de"},
        ],
    }
    async with session.post(f"{base}/api/appointments", json=body, headers=headers) as resp:
        if resp.status != 201:
            raise RuntimeError(f"scheduling answered {resp.status}: {await resp.text()}")
        data = await resp.json()
    return {u["role"]: (u["participant"], u["url"]) for u in data["join_urls"]}


async def measure(
    redis_url: str, joins: int, media: ClientMedia, video: EncodedLoop, audio: EncodedLoop
) -> list[dict[str, Any]]:
    """`joins` Chromium joins one after another; each {"first_video_ms"} or {"error"}."""
    from playwright.async_api import async_playwright

    results: list[dict[str, Any]] = []
    async with (
        signalling_node(node_settings(), redis_url, media=False) as node,
        aiohttp.ClientSession() as session,
        async_playwright() as playwright,
    ):
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        headers = await staff_headers(session, node)
        try:
            for _ in range(joins):
                people = await _schedule(session, node.base_url, headers)
                caseworker_id, caseworker_url = people["caseworker"]
                resident = WsLoopClient(
                    node.base_url, caseworker_url.rsplit("/j/", 1)[1], media, video, audio
                )
                context = await browser.new_context(
                    viewport={"width": 768, "height": 1024},
                    permissions=["camera", "microphone"],
                )
                try:
                    await resident.join()
                    page = await context.new_page()
                    await page.goto(people["jobseeker"][1])
                    await page.locator("#consent").check()
                    await page.evaluate(WATCH, caseworker_id)
                    await page.locator("#join-button").click()
                    await page.wait_for_function(
                        "() => window.__firstFrame !== null", timeout=TIMEOUT * 1000
                    )
                    took = await page.evaluate("() => window.__firstFrame - window.__clicked")
                    results.append({"first_video_ms": float(took)})
                except Exception as exc:  # a failed join is a result, not the end of the run
                    results.append({"error": f"{type(exc).__name__}: {str(exc)[:200]}"})
                finally:
                    await context.close()
                    with contextlib.suppress(Exception):
                        await resident.leave()
        finally:
            await browser.close()
    return results
