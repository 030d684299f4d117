"""The safety check in real Chromium (issue 11, item 7): seven pictures from the safety hash,
shown on joining with one plain sentence in a strip on top of the call that leaves the stage its
room (pictures, our own picture and the controls all on screen), the same pictures on every
screen with their names in each page's language in the panel the strip opens, a "same pictures"
tick per participant, and a visible, announced warning that clears the ticks when the pictures
change (someone joins or leaves)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from signalling.http.i18n import load_i18n
from tests.browser.conftest import (
    PHONE,
    LiveServer,
    NewContext,
    axe_check,
    join,
    wait_for,
)
from testsupport.wait import WaitTimeout
from web import STATIC_DIR

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]  # three Chromium pages, axe twice

THREE = (
    ("caseworker", "Frau Becker", "de"),
    ("jobseeker", "Samira Haddad", "ar"),
    ("employer", "Herr Wolf", "tr"),
)
SLOW = 90_000  # ms for page loads and clicks: three Chromium pages on a busy machine
CHANGED = {
    "de": "Die Sicherheitsbilder haben sich geändert.",
    "ar": "تغيّرت صور الأمان.",
}


def safety(page: Page) -> dict[str, Any]:
    """What the page's safety check shows."""
    result: dict[str, Any] = page.evaluate(
        """() => {
          const all = (sel) => [...document.querySelectorAll(sel)];
          const shown = (id) => {
            const node = document.getElementById(id);
            return Boolean(node) && node.getClientRects().length > 0;
          };
          return {
            state: document.getElementById('e2ee-status').dataset.state,
            code: document.getElementById('safety-code').textContent,
            strip: shown('safety-strip-emoji'),
            panel: shown('safety-emoji'),
            emoji: all('#safety-emoji .sas-pic').map((e) => e.textContent),
            stripEmoji: all('#safety-strip-emoji .sas-pic').map((e) => e.textContent),
            names: all('#safety-emoji .sas-name').map((e) => e.textContent),
            indexes: all('#safety-emoji li').map((e) => Number(e.dataset.index)),
            changed: shown('safety-strip-changed'),
            panelChanged: !document.getElementById('safety-changed').hidden,
            ticks: Object.fromEntries(
              all('#safety-people input').map((e) => [e.dataset.pid, e.checked])),
            done: shown('safety-done'),
          };
        }"""
    )
    return result


def stage_fits(page: Page) -> None:
    """The strip on screen, and under it every picture of the call whole above the controls."""
    boxes: dict[str, Any] = page.evaluate(
        """() => {
          const box = (sel) => {
            const b = document.querySelector(sel).getBoundingClientRect();
            return {top: b.top, bottom: b.bottom, left: b.left, right: b.right};
          };
          return {
            strip: box('#safety-strip'), controls: box('nav.controls'),
            tiles: [...document.querySelectorAll('#tiles > li')].map((t) => {
              const b = t.getBoundingClientRect();
              return {top: b.top, bottom: b.bottom, left: b.left, right: b.right};
            }),
            vw: document.documentElement.clientWidth,
          };
        }"""
    )
    strip, controls = boxes["strip"], boxes["controls"]
    assert strip["top"] >= 0 and strip["left"] >= 0 and strip["right"] <= boxes["vw"] + 1, boxes
    assert boxes["tiles"], boxes
    for tile in boxes["tiles"]:
        assert tile["top"] >= strip["bottom"] - 1, ("a picture under the strip", boxes)
        assert tile["bottom"] <= controls["top"] + 1, ("a picture under the controls", boxes)


def sas_list(page: Page) -> list[list[str]]:
    """SAS_EMOJI of web/static/js/sas-emoji.js as the page loads it: [picture, English name]."""
    found: list[list[str]] = page.evaluate(
        "async () => (await import('/static/js/sas-emoji.js')).SAS_EMOJI"
    )
    return found


def wait_agreed(pages: list[Page], what: str, other_than: str = "") -> str:
    """Wait for `agreed`; on a timeout say what each page showed."""
    try:
        code: str = wait_for(lambda: agreed(pages, other_than), what, 60)
    except WaitTimeout as error:
        shown = [{k: safety(p)[k] for k in ("state", "code", "emoji")} for p in pages]
        raise AssertionError(f"{error}; the pages showed {shown}") from error
    return code


def agreed(pages: list[Page], other_than: str = "") -> str | None:
    """The code every page shows once all agree (and it differs from `other_than`)."""
    states = [safety(p) for p in pages]
    codes = {s["code"] for s in states}
    pictures = {tuple(s["emoji"]) for s in states}
    ready = all(
        s["state"] == "on" and len(s["emoji"]) == 7 and s["stripEmoji"] == s["emoji"]
        for s in states
    )
    if ready and len(codes) == 1 and len(pictures) == 1:
        code = next(iter(codes))
        return code if code != other_than else None
    return None


def test_picture_mapping_is_deterministic_and_uses_the_whole_list(
    live_server: LiveServer, new_context: NewContext
) -> None:
    """The unit test of sas-emoji.js, run in the browser that runs it in the call."""
    page = new_context("de").new_page()
    page.goto(f"{live_server.url}/static/js/sas-emoji.js")
    result: dict[str, Any] = page.evaluate(
        """async () => {
          const m = await import('/static/js/sas-emoji.js');
          // Each of the seven six-bit groups set to the value v, for every v.
          const repeated = (v) => {
            let bits = '';
            for (let i = 0; i < 7; i += 1) bits += v.toString(2).padStart(6, '0');
            bits = bits.padEnd(48, '0');
            return Uint8Array.from(bits.match(/.{8}/g), (b) => parseInt(b, 2));
          };
          const everyValue = [...Array(64).keys()].map((v) => m.sasIndices(repeated(v)));
          // Hashes of 3000 different texts: every picture in every position.
          const seen = [...Array(7)].map(() => new Set());
          const again = [];
          for (let i = 0; i < 3000; i += 1) {
            const text = new TextEncoder().encode(`call ${i}`);
            const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', text));
            const indexes = m.sasIndices(digest);
            indexes.forEach((index, position) => seen[position].add(index));
            const twice = JSON.stringify(m.sasIndices(digest.slice()));
            if (i < 20) again.push(JSON.stringify(indexes) === twice);
          }
          let short = null;
          try { m.sasIndices(new Uint8Array(5)); } catch (error) { short = error.name; }
          return {
            count: m.SAS_COUNT,
            emoji: m.SAS_EMOJI.map((e) => e[0]),
            names: m.SAS_EMOJI.map((e) => e[1]),
            known: m.sasIndices(Uint8Array.from([0x04, 0x20, 0xc4, 0x00, 0xff, 0xff])),
            pictures: m.sasEmoji(Uint8Array.from([0xfc, 0, 0, 0, 0, 0])).map((p) => p.emoji),
            everyValue,
            seen: seen.map((s) => s.size),
            again,
            short,
          };
        }"""
    )
    assert result["count"] == 7
    assert len(result["emoji"]) == len(set(result["emoji"])) == 64
    assert len(result["names"]) == len(set(result["names"])) == 64
    assert result["names"][:3] == ["Dog", "Cat", "Lion"]  # Matrix's order, index for index
    assert result["names"][63] == "Pin"
    # 000001 000010 000011 000100 000000 001111 111111 11...
    assert result["known"] == [1, 2, 3, 4, 0, 15, 63]
    assert result["pictures"] == ["\U0001f4cc"] + ["\U0001f436"] * 6  # Pin, then Dog six times
    assert result["everyValue"] == [[v] * 7 for v in range(64)]
    assert result["seen"] == [64] * 7
    assert result["again"] == [True] * 20
    assert result["short"] == "RangeError"
    # Every name is in every catalog, translated (two names may equal English: Panda, Pizza).
    i18n = load_i18n(STATIC_DIR.parent)
    for lang in ("de", "tr", "ar", "uk", "ru"):
        names = [i18n.js_strings[lang][name] for name in result["names"]]
        assert len(set(names)) == 64, f"two pictures share a name in {lang}"
        assert sum(a != b for a, b in zip(names, result["names"], strict=True)) >= 50, lang


def test_pictures_agree_across_languages_and_warn_when_someone_joins_or_leaves(
    live_server: LiveServer, new_context: NewContext, shots_dir: Path
) -> None:
    s = live_server.schedule(roles=THREE, waiting_room=False)
    worker = new_context("de").new_page()
    seeker = new_context("ar", viewport=PHONE).new_page()
    for page in (worker, seeker):
        page.set_default_timeout(SLOW)
    join(worker, s.urls["caseworker"])
    join(seeker, s.urls["jobseeker"])

    # On joining, without touching anything: the pictures in the strip, with the sentence.
    first = wait_agreed([worker, seeker], "the same pictures on both screens")
    assert first.replace(" ", "").isdigit()
    de, ar = safety(worker), safety(seeker)
    assert de["strip"] and ar["strip"]
    assert de["emoji"] == ar["emoji"] and de["indexes"] == ar["indexes"]
    assert "Wenn sie gleich sind, hört niemand mit." in worker.locator("#safety-strip").inner_text()
    assert "إذا كانت متطابقة، فلا أحد يستمع." in seeker.locator("#safety-strip").inner_text()
    assert not de["changed"] and not de["done"]
    # The strip leaves the stage its room: nothing of the call under the controls.
    for page in (worker, seeker):
        stage_fits(page)
    # The details stay closed until asked for: no jargon on screen, the stage untouched.
    assert worker.locator("#e2ee-details").is_hidden() and not de["panel"]
    worker.screenshot(path=shots_dir / "call-safety-strip-de.png")
    seeker.screenshot(path=shots_dir / "call-safety-strip-ar.png")
    axe_check(seeker, "safety strip (ar)")

    # The strip's button opens the panel: the pictures large, with names in each language.
    for page in (worker, seeker):
        page.locator("#safety-open").click()
        assert page.evaluate("document.activeElement.id") == "safety-title"
        assert page.locator("#safety-strip").is_hidden()  # the panel shows them now
    de, ar = safety(worker), safety(seeker)
    assert de["panel"] and ar["panel"]
    sas = sas_list(worker)
    assert de["emoji"] == [sas[i][0] for i in de["indexes"]]
    i18n = load_i18n(STATIC_DIR.parent)
    assert de["names"] == [i18n.js_strings["de"][sas[i][1]] for i in de["indexes"]]
    assert ar["names"] == [i18n.js_strings["ar"][sas[i][1]] for i in ar["indexes"]]
    assert de["names"] != ar["names"]
    assert "Wenn sie gleich sind, hört niemand mit." in worker.locator("#safety").inner_text()
    assert "إذا كانت متطابقة، فلا أحد يستمع." in seeker.locator("#safety").inner_text()
    # No jargon in what is shown; the key agreement only under "technical details".
    assert "ECDH" not in worker.locator("#e2ee-details").inner_text()
    worker.locator(".safety-technical summary").click()
    assert "ECDH X25519" in worker.locator("#e2ee-details").inner_text()
    worker.locator(".safety-technical summary").click()
    # The numbers, for whoever prefers them, under a toggle: the same on both screens.
    assert not seeker.locator("#safety-code").is_visible()
    seeker.locator(".safety-numbers summary").click()
    assert seeker.locator("#safety-code").is_visible()
    # On a phone the pictures wrap: nothing sticks out sideways.
    assert seeker.evaluate(
        """() => { const box = document.getElementById('safety').getBoundingClientRect();
                    return box.left >= 0 && box.right <= window.innerWidth; }"""
    )
    worker.screenshot(path=shots_dir / "call-safety-pictures-de.png")
    seeker.screenshot(path=shots_dir / "call-safety-pictures-ar.png")
    # axe once per language and state (each run takes long on a busy machine).
    axe_check(seeker, "safety pictures with numbers (ar)")

    # "Same pictures" per participant, by mouse and by keyboard.
    worker.locator(f'#safety-people input[data-pid="{s.ids["jobseeker"]}"]').click()
    seeker.locator(f'#safety-people input[data-pid="{s.ids["caseworker"]}"]').focus()
    seeker.keyboard.press("Space")
    assert safety(worker)["ticks"] == {s.ids["jobseeker"]: True}
    assert safety(seeker)["ticks"] == {s.ids["caseworker"]: True}
    assert safety(worker)["done"] and safety(seeker)["done"]
    worker.screenshot(path=shots_dir / "call-safety-compared-de.png")

    # Closed, the pictures make way for the call; the lock button has the focus again, and
    # the strip stays away (compared with everyone).
    for page in (worker, seeker):
        page.locator("#safety-close").click()
        assert page.locator("#e2ee-details").is_hidden()
        assert page.evaluate("document.activeElement.id") == "e2ee-status"
        assert page.locator("#e2ee-status").get_attribute("aria-expanded") == "false"
        assert page.locator("#safety-strip").is_hidden()

    # A third joins: new pictures everywhere, the strip back with a warning, no ticks; the
    # details stay closed (the stage keeps its room).
    third = new_context("tr").new_page()
    third.set_default_timeout(SLOW)
    join(third, s.urls["employer"])
    second = wait_agreed([worker, seeker, third], "new pictures on all three", other_than=first)
    for page, lang in ((worker, "de"), (seeker, "ar")):
        now = safety(page)
        assert now["changed"], f"no warning on the {lang} page"
        assert now["strip"] and not now["panel"]
        assert not any(now["ticks"].values()) and len(now["ticks"]) == 2
        assert not now["done"]
        wait_for(
            lambda p=page, lang=lang: CHANGED[lang] in p.locator("#announcer").inner_text(),
            f"the {lang} announcement of the change",
        )
        stage_fits(page)
    assert safety(third)["strip"] and not safety(third)["changed"]  # its first: no change
    worker.screenshot(path=shots_dir / "call-safety-changed-de.png")
    seeker.screenshot(path=shots_dir / "call-safety-changed-ar.png")
    axe_check(worker, "safety strip changed (de)")

    # Compared again with both: the warning has done its job.
    worker.locator("#safety-open").click()
    assert safety(worker)["panelChanged"]
    for other in ("jobseeker", "employer"):
        worker.locator(f'#safety-people input[data-pid="{s.ids[other]}"]').check()
    now = safety(worker)
    assert now["done"] and not now["changed"] and not now["panelChanged"]
    worker.locator("#safety-close").click()

    # The third closes its strip without comparing: it stays closed, the focus on the lock.
    third.locator("#safety-strip-close").click()
    assert third.locator("#safety-strip").is_hidden()
    assert third.evaluate("document.activeElement.id") == "e2ee-status"

    # The third leaves (Leave asks first): new pictures again, the warning back, the ticks
    # cleared.
    third.locator("#btn-leave").click()
    third.locator("#leave-confirm").click()
    wait_agreed([worker, seeker], "new pictures for the two", other_than=second)
    for page in (worker, seeker):
        now = safety(page)
        assert now["changed"] and now["strip"] and not now["done"]
        assert len(now["ticks"]) == 1 and not any(now["ticks"].values())
    # The two keys of the first pictures again: the same pictures as then.
    assert safety(worker)["code"] == first
