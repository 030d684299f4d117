"""Issue 11, item 1: the join page speaks the invitation's language, whatever the browser or an
earlier user of the same tablet chose; a choice on a page lasts for the browser session only."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from core.clock import FakeClock
from signalling.http.i18n import LANG_COOKIE
from tests.harness import appointment_body, login, schedule

Client = TestClient[Any, Any]


@pytest.fixture
def backend_kind() -> str:
    return "memory"


async def tablet(staff: Client) -> Client:
    """A browser of its own (its own cookie jar) on the same server."""
    other: Client = TestClient(staff.server)
    await other.start_server()
    return other


def html_lang(html: str) -> str:
    start = html.index('<html lang="') + len('<html lang="')
    return html[start : html.index('"', start)]


async def test_the_join_page_speaks_the_invitations_language(
    staff: Client, fake_clock: FakeClock
) -> None:
    csrf = await login(staff)
    call = await schedule(staff, csrf, appointment_body(fake_clock.now()))
    path = "/j/" + call["codes"]["jobseeker"]  # invited in Turkish (tests.harness)
    browser = await tablet(staff)
    try:
        # A German browser, and a cookie an earlier user of the tablet left behind.
        browser.session.cookie_jar.update_cookies({LANG_COOKIE: "uk"})
        resp = await browser.get(path, headers={"Accept-Language": "de-DE,de;q=0.9"})
        assert resp.status == 200
        assert html_lang(await resp.text()) == "tr"

        # A choice on the page wins, stays in the address, and sets no cookie for the next link.
        chosen = await browser.get(path, params={"lang": "ar"})
        assert html_lang(await chosen.text()) == "ar"
        assert LANG_COOKIE not in chosen.cookies

        # An unknown language in the address falls back to the invitation's.
        odd = await browser.get(path, params={"lang": "xx"})
        assert html_lang(await odd.text()) == "tr"
    finally:
        await browser.close()


async def test_an_unknown_link_follows_the_browser(staff: Client) -> None:
    browser = await tablet(staff)
    try:
        resp = await browser.get(
            "/j/AAAAAAAAAAAAAAAAAAAAAA", headers={"Accept-Language": "ru-RU,ru;q=0.9"}
        )
        assert resp.status == 404
        assert html_lang(await resp.text()) == "ru"
    finally:
        await browser.close()


async def test_a_language_choice_lasts_for_the_browser_session_only(staff: Client) -> None:
    browser = await tablet(staff)
    try:
        resp = await browser.get("/privacy", params={"lang": "uk"})
        assert resp.status == 200 and html_lang(await resp.text()) == "uk"
        morsel = resp.cookies[LANG_COOKIE]
        assert morsel.value == "uk"
        # No Max-Age or Expires: the browser forgets it when it closes.
        assert not morsel["max-age"] and not morsel["expires"]
        later = await browser.get("/privacy")
        assert html_lang(await later.text()) == "uk"
    finally:
        await browser.close()


async def test_pages_tell_their_scripts_what_to_ask_of_the_camera(staff: Client) -> None:
    """The camera_* and simulcast settings reach devices.js and media.js through the page's
    data (defaults here)."""
    html = await (await staff.get("/privacy")).text()
    start = html.index('<script type="application/json" id="lj-page">') + len(
        '<script type="application/json" id="lj-page">'
    )
    data = json.loads(html[start : html.index("</script>", start)])
    assert data["camera"] == {"width": 640, "height": 480, "frameRate": 24, "simulcast": True}
