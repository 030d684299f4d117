"""The per-tile connection-quality indicator (issue 15, item 2): bars from the subscriber
connection's statistics (round trip, loss, frame rate), with words on hover and focus."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.conftest import (
    LiveServer,
    NewContext,
    axe_check,
    join,
    tile_video,
    video_playing,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

# Lets the test make the page's statistics report a slow round trip (0.9 s) on demand.
SLOW_ROUND_TRIP = """(() => {
  const original = RTCPeerConnection.prototype.getStats;
  RTCPeerConnection.prototype.getStats = async function (...args) {
    const report = await original.apply(this, args);
    if (!window.__slow) return report;
    const out = new Map();
    for (const [id, s] of report) {
      out.set(id, s.type === 'candidate-pair' ? { ...s, currentRoundTripTime: 0.9 } : s);
    }
    return out;
  };
})();"""

RATINGS = """async () => {
  const { rate } = await import('/static/js/quality.js');
  return [
    rate({}),
    rate({ rtt: 0.05, loss: 0, fps: 30 }),
    rate({ rtt: 0.5, loss: 0, fps: 30 }),
    rate({ rtt: 0.05, loss: 0.1, fps: 30 }),
    rate({ rtt: 0.05, loss: 0, fps: 4 }),
    rate({ rtt: 0.05, loss: 0.01, fps: null }),
  ];
}"""


def test_each_tile_says_how_good_the_connection_is(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path
) -> None:
    s = live_server.schedule(waiting_room=False)
    context = new_context("de")
    context.add_init_script(script=SLOW_ROUND_TRIP)
    worker = context.new_page()
    seeker = new_context("tr").new_page()
    join(worker, s.urls["caseworker"])
    join(seeker, s.urls["jobseeker"])
    video_playing(worker, tile_video(s.ids["jobseeker"]))
    assert worker.evaluate(RATINGS) == ["unknown", "good", "weak", "weak", "weak", "good"]

    quality = worker.locator(f'#tiles li[data-pid="{s.ids["jobseeker"]}"] .tile-quality')
    quality.wait_for(state="visible")
    worker.wait_for_function(
        "(el) => el.dataset.level === 'good'", arg=quality.element_handle(), timeout=10_000
    )
    assert quality.get_attribute("aria-label") == "Gute Verbindung"
    words = quality.locator(".tile-quality-text")
    assert words.is_hidden()
    quality.focus()  # keyboard users get the words too, not only a hover title
    assert words.inner_text() == "Gute Verbindung"
    # No indicator on our own tile: it would describe nobody's stream.
    assert worker.locator(f'#tiles li[data-pid="{s.ids["caseworker"]}"] .tile-quality').is_hidden()

    worker.evaluate("window.__slow = true")
    worker.wait_for_function(
        "(el) => el.dataset.level === 'weak'", arg=quality.element_handle(), timeout=10_000
    )
    assert quality.get_attribute("aria-label") == "Schwache Verbindung"
    assert words.inner_text() == "Schwache Verbindung"
    worker.screenshot(path=shots_dir / "call-quality-weak-de.png")
    axe_check(worker, "connection quality (de)")
