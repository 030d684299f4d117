"""Issue 11, item 12 in real Chromium: the caseworker adds an interpreter to an appointment from
the console, the interpreter joins with their own link, waits, is let in, and everyone sees
the interpreter's label (German and Arabic), with axe at 0 on every screen."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from tests.browser.conftest import (
    LiveServer,
    NewContext,
    axe_check,
    join,
    log_in,
    tile_video,
    video_playing,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

DESKTOP: ViewportSize = {"width": 1280, "height": 800}
LABEL = {"de": "Dolmetscher/in", "ar": "مترجم فوري"}


def person(new_context: NewContext, lang: str, viewport: ViewportSize | None = None) -> Page:
    """A page of its own; patient, for a machine that runs other tests at the same time."""
    context = new_context(lang, viewport=viewport)
    context.set_default_timeout(120_000)
    return context.new_page()


def role_on_tile(page: Page, pid: str) -> str:
    text: str = page.locator(
        f'#tiles li[data-pid="{pid}"][data-source="camera"] .tile-role'
    ).inner_text()
    return text


def test_caseworker_adds_an_interpreter_who_joins_and_is_labelled(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path
) -> None:
    s = live_server.schedule(
        roles=(("caseworker", "Frau Becker", "de"), ("jobseeker", "Amal Nasser", "ar")),
        title="Beratung mit Dolmetscher",
    )
    room = s.appointment.id

    # The console: "Add interpreter" on the appointment opens a small dialog.
    console = person(new_context, "de", DESKTOP)
    log_in(console, live_server)
    card = console.locator(f'li.appointment[data-id="{room}"]')
    card.locator("button[data-action=add-interpreter]").click()
    dialog = console.locator("#interpreter-dialog")
    expect(dialog).to_be_visible()
    expect(console.locator("#interpreter-name")).to_be_focused()
    # An empty name is refused in the dialog, which stays open.
    console.locator("#interpreter-add").click()
    expect(console.locator("#interpreter-error")).to_have_text("Bitte geben Sie einen Namen ein.")
    expect(dialog).to_be_visible()
    console.locator("#interpreter-name").fill("Herr Haddad")
    expect(console.locator("#interpreter-error")).to_be_hidden()
    console.locator("#interpreter-lang").select_option("ar")
    axe_check(console, "the console's interpreter dialog")
    console.screenshot(path=shots_dir / "console-add-interpreter-de.png")
    console.locator("#interpreter-add").click()
    expect(dialog).to_be_hidden()
    link_card = console.locator('#link-list li.link-card[data-role="interpreter"]')
    expect(link_card.locator("h3")).to_contain_text("Herr Haddad (Dolmetscher/in)")
    url = link_card.locator(".link-url").input_value()
    pid = link_card.get_attribute("data-pid")
    assert pid and "/j/" in url
    expect(card.locator(f'li.person[data-pid="{pid}"]')).to_contain_text("Dolmetscher/in")

    # The call: the caseworker is in, the jobseeker and then the interpreter are let in.
    pages = {"caseworker": person(new_context, "de"), "jobseeker": person(new_context, "ar")}
    join(pages["caseworker"], s.urls["caseworker"])
    pages["caseworker"].locator("#call").wait_for(state="visible")
    join(pages["jobseeker"], s.urls["jobseeker"])
    pages["jobseeker"].locator("#waiting").wait_for(state="visible")
    pages["caseworker"].locator("#lobby-list button[data-action=admit]").first.click()
    pages["jobseeker"].locator("#call").wait_for(state="visible")

    pages["interpreter"] = interpreter = person(new_context, "ar")
    join(interpreter, url)
    interpreter.locator("#waiting").wait_for(state="visible")
    interpreter.screenshot(path=shots_dir / "waiting-interpreter-ar.png")
    waiting = pages["caseworker"].locator(f'#lobby-list li[data-pid="{pid}"]')
    expect(waiting).to_contain_text("Herr Haddad (Dolmetscher/in)")
    pages["caseworker"].screenshot(path=shots_dir / "call-interpreter-waiting-caseworker-de.png")
    expect(card.locator(f'li.person[data-pid="{pid}"]')).to_contain_text("wartet", timeout=10_000)
    waiting.locator("button[data-action=admit]").click()
    interpreter.locator("#call").wait_for(state="visible", timeout=120_000)

    ids = {**s.ids, "interpreter": pid}
    for role, page in pages.items():
        for other, other_id in ids.items():
            if other != role:
                video_playing(page, tile_video(other_id), timeout=90)
    assert role_on_tile(pages["caseworker"], pid) == LABEL["de"]
    assert role_on_tile(pages["jobseeker"], pid) == LABEL["ar"]
    # The interpreter sees the others by their roles, in their own language.
    assert role_on_tile(interpreter, s.ids["jobseeker"]) not in ("", "jobseeker")
    expect(card.locator(f'li.person[data-pid="{pid}"]')).to_contain_text(
        "im Gespräch", timeout=10_000
    )

    # axe once with all three in the call (each run is heavy next to three live videos).
    axe_check(pages["jobseeker"], "the call with an interpreter (jobseeker, ar)")
    for role, lang in (("caseworker", "de"), ("jobseeker", "ar"), ("interpreter", "ar")):
        pages[role].screenshot(path=shots_dir / f"call-interpreter-{role}-{lang}.png")
    console.screenshot(path=shots_dir / "console-interpreter-in-call-de.png")
    # The console once the call's pages are closed (axe there is slow next to three videos).
    for page in pages.values():
        page.context.close()
    expect(card.locator(f'li.person[data-pid="{pid}"]')).to_contain_text("Dolmetscher/in")
    axe_check(console, "the console with an interpreter added")
