"""Calls in real Chromium through the real server and SFU: device check, consent, waiting room,
admit, video both ways, three parties, end-to-end encryption, reconnecting and the end screen."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import av
import pytest
from playwright.sync_api import Page

from tests.browser.conftest import (
    LiveServer,
    NewContext,
    axe_check,
    join,
    video_playing,
    wait_for,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(150)]

THREE = (
    ("caseworker", "Frau Becker", "de"),
    ("jobseeker", "Ayşe Yılmaz", "tr"),  # noqa: RUF001
    ("employer", "Herr Wolf", "ar"),
)
NO_TRANSFORMS = (
    "delete window.RTCRtpScriptTransform;delete RTCRtpSender.prototype.createEncodedStreams;"
)


def tile_video(pid: str, source: str = "camera") -> str:
    return f'#tiles li[data-pid="{pid}"][data-source="{source}"] video'


def e2ee(page: Page) -> dict[str, str]:
    result: dict[str, str] = page.evaluate(
        """() => ({state: document.getElementById('e2ee-status').dataset.state,
                   code: document.getElementById('safety-code').textContent})"""
    )
    return result


def announced(page: Page) -> str:
    text: str = page.locator("#announcer").inner_text()
    return text


def _state_is(page: Page, state: str) -> Callable[[], bool]:
    return lambda: e2ee(page)["state"] == state


def decodable(frames: list[bytes]) -> int:
    """How many of the captured frames a VP8 decoder turns into pictures."""
    decoder = av.CodecContext.create("vp8", "r")
    pictures = 0
    for data in frames:
        with contextlib.suppress(av.error.FFmpegError):
            pictures += len(decoder.decode(av.Packet(data)))
    return pictures


@pytest.mark.parametrize("lang", ["de", "ar"])
def test_jobseeker_waits_is_admitted_and_both_see_video(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path, lang: str
) -> None:
    s = live_server.schedule()
    worker = new_context(lang).new_page()
    seeker = new_context(lang).new_page()

    # Device check and consent: preview playing, level meter, consent required.
    seeker.goto(s.urls["jobseeker"])
    assert seeker.locator("html").get_attribute("dir") == ("rtl" if lang == "ar" else "ltr")
    video_playing(seeker, "#preview")
    seeker.locator("#join-button").click()
    assert seeker.locator("#consent-error").is_visible()
    assert seeker.locator("#consent").get_attribute("aria-invalid") == "true"
    seeker.screenshot(path=shots_dir / f"join-prejoin-consent-missing-{lang}.png")
    axe_check(seeker, f"prejoin ({lang})")
    seeker.locator("#consent").check()
    seeker.locator("#join-button").click()

    # The jobseeker waits and sees for whom.
    seeker.locator("#waiting").wait_for(state="visible")
    assert "Frau Becker" in seeker.locator("#waiting-text").inner_text()
    seeker.screenshot(path=shots_dir / f"join-waiting-{lang}.png")
    axe_check(seeker, f"waiting room ({lang})")

    # The caseworker joins (never kept waiting) and sees who waits.
    join(worker, s.urls["caseworker"])
    worker.locator("#call").wait_for(state="visible")
    worker.locator("#lobby-list button[data-action=admit]").wait_for()
    assert "Ayşe" in worker.locator("#lobby-list").inner_text()
    wait_for(lambda: "Ayşe" in announced(worker), "the waiting announcement")
    worker.screenshot(path=shots_dir / f"call-lobby-caseworker-{lang}.png")
    axe_check(worker, f"call with waiting list ({lang})")
    worker.locator("#lobby-list button[data-action=admit]").click()

    seeker.locator("#call").wait_for(state="visible")
    video_playing(worker, tile_video(s.ids["jobseeker"]))
    video_playing(seeker, tile_video(s.ids["caseworker"]))
    assert worker.locator("#lobby").is_hidden()
    wait_for(lambda: "Ayşe" in announced(worker), "the join announcement")
    # Names and roles on the tiles.
    label = seeker.locator(f'#tiles li[data-pid="{s.ids["caseworker"]}"] .tile-label')
    assert "Frau Becker" in label.inner_text()
    wait_for(lambda: e2ee(seeker)["state"] == "on", "end-to-end encryption")
    seeker.screenshot(path=shots_dir / f"call-two-jobseeker-{lang}.png")
    axe_check(seeker, f"call ({lang})")

    # Consent is recorded with its time for this appointment (the console shows it).
    events = live_server.run(live_server.store.list_attendance(s.appointment.id))
    consents = {e.participant_id for e in events if e.event == "consent"}
    assert consents == {s.ids["caseworker"], s.ids["jobseeker"]}

    # Mute shows on the other side; chat arrives.
    seeker.locator("#btn-mic").click()
    assert seeker.locator("#btn-mic").get_attribute("aria-pressed") == "true"
    worker.locator(f'#tiles li[data-pid="{s.ids["jobseeker"]}"] .tile-muted').wait_for(
        state="visible"
    )
    seeker.locator("#btn-chat").click()
    seeker.locator("#chat-input").fill("Guten Morgen")
    seeker.locator("#chat-input").press("Enter")
    wait_for(lambda: worker.locator("#chat-unread").is_visible(), "the unread-chat badge")
    worker.locator("#btn-chat").click()
    assert "Guten Morgen" in worker.locator("#chat-log").inner_text()

    # The caseworker ends the call for everyone: a clear end screen.
    worker.locator("#btn-end").click()
    worker.locator("#btn-end").click()
    seeker.locator("#ended").wait_for(state="visible")
    worker.locator("#ended").wait_for(state="visible")
    seeker.screenshot(path=shots_dir / f"join-ended-{lang}.png")
    axe_check(seeker, f"end screen ({lang})")


def test_three_party_call_end_to_end_encrypted(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path
) -> None:
    s = live_server.schedule(roles=THREE)
    pages = {role: new_context(lang).new_page() for role, _, lang in THREE}
    live_server.capture_frames(40)
    join(pages["caseworker"], s.urls["caseworker"])
    pages["caseworker"].locator("#call").wait_for(state="visible")
    for role in ("jobseeker", "employer"):
        join(pages[role], s.urls[role])
        pages[role].locator("#waiting").wait_for(state="visible")
        pages["caseworker"].locator("#lobby-list button[data-action=admit]").first.click()
        pages[role].locator("#call").wait_for(state="visible")

    for role, page in pages.items():
        for other in s.ids:
            if other != role:
                video_playing(page, tile_video(s.ids[other]))

    def codes() -> set[str] | None:
        states = [e2ee(p) for p in pages.values()]
        found = {st["code"] for st in states}
        ready = all(st["state"] == "on" for st in states) and len(found) == 1
        return found if ready else None

    found = wait_for(codes, "the same safety code on all three screens")
    assert next(iter(found)).replace(" ", "").isdigit()
    pages["employer"].locator("#e2ee-status").click()
    pages["employer"].screenshot(path=shots_dir / "call-three-e2ee-employer-ar.png")
    pages["caseworker"].screenshot(path=shots_dir / "call-three-caseworker-de.png")

    # What the SFU forwarded is ciphertext: marked frames that no decoder can read.
    frames = wait_for(
        lambda: live_server.captured[:] if len(live_server.captured) >= 40 else None,
        "40 forwarded video frames",
    )
    assert all(f.endswith(b"LJ") for f in frames)
    assert decodable(frames) == 0

    # Someone leaves: the others are told and keep a working, re-keyed call.
    old_code = next(iter(found))
    pages["employer"].locator("#btn-leave").click()
    pages["employer"].locator("#ended").wait_for(state="visible")
    wait_for(lambda: "Herr Wolf" in announced(pages["jobseeker"]), "the leave announcement")
    wait_for(
        lambda: e2ee(pages["jobseeker"])["code"] == e2ee(pages["caseworker"])["code"] != old_code,
        "a new safety code for the two who stay",
    )
    video_playing(pages["jobseeker"], tile_video(s.ids["caseworker"]))


def test_without_encoded_transforms_the_call_is_clear_and_says_so(
    live_server: LiveServer, new_context: NewContext
) -> None:
    s = live_server.schedule(waiting_room=False)
    pages = []
    live_server.capture_frames(40)
    for role in ("caseworker", "jobseeker"):
        ctx = new_context("de")
        ctx.add_init_script(NO_TRANSFORMS)
        page = ctx.new_page()
        join(page, s.urls[role])
        page.locator("#call").wait_for(state="visible")
        pages.append(page)
    video_playing(pages[0], tile_video(s.ids["jobseeker"]))
    video_playing(pages[1], tile_video(s.ids["caseworker"]))
    for page in pages:
        wait_for(_state_is(page, "off"), "the not-encrypted badge")
    frames = wait_for(
        lambda: live_server.captured[:] if len(live_server.captured) >= 40 else None,
        "40 forwarded video frames",
    )
    assert not any(f.endswith(b"LJ") for f in frames)
    assert decodable(frames) > 30


def test_a_dropped_socket_reconnects_into_the_same_call(
    live_server: LiveServer, new_context: NewContext
) -> None:
    s = live_server.schedule(waiting_room=False)
    worker = new_context("de").new_page()
    seeker = new_context("de").new_page()
    join(worker, s.urls["caseworker"])
    join(seeker, s.urls["jobseeker"])
    video_playing(worker, tile_video(s.ids["jobseeker"]))

    async def drop() -> None:
        # Close the jobseeker's socket from the server side, as a network drop would.
        from signalling.ws import HUB

        conn = live_server.app[HUB].local_connection(s.appointment.id, s.ids["jobseeker"])
        assert conn is not None
        await conn.ws.close(code=1001)

    live_server.run(drop())
    wait_for(
        lambda: "Ayşe" in announced(worker) and "…" in announced(worker),
        "the reconnecting announcement",
    )
    seeker.locator("#reconnect-banner").wait_for(state="hidden")
    seeker.locator("#call").wait_for(state="visible")
    video_playing(seeker, tile_video(s.ids["caseworker"]))
    video_playing(worker, tile_video(s.ids["jobseeker"]))
