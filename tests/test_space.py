"""The jobseeker's space over a real app: the personal link, device sessions, the page,
joining from it, signing out, and the manifest."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from core.clock import FakeClock
from signalling.auth.space import SPACE_COOKIE
from signalling.context import Services
from tests.harness import appointment_body, login

Client = TestClient[Any, Any]


@pytest.fixture
def backend_kind() -> str:
    return "memory"


async def device(staff: Client) -> Client:
    """Another browser (its own cookie jar) on the same server."""
    other: Client = TestClient(staff.server)
    await other.start_server()
    return other


async def set_up(staff: Client, now: float) -> dict[str, Any]:
    """A profile with a space link and an appointment scheduled for it starting `now`."""
    csrf = await login(staff)
    headers = {"X-CSRF-Token": csrf}
    resp = await staff.post("/api/profiles", json={"name": "Ayşe", "lang": "tr"}, headers=headers)
    profile = (await resp.json())["profile"]
    body = appointment_body(now, title="Beratung Ayşe", profile_id=profile["id"])
    body["participants"] = [{"role": "caseworker", "name": "Frau Becker", "lang": "de"}]
    appointment = await (await staff.post("/api/appointments", json=body, headers=headers)).json()
    link = await (
        await staff.post(f"/api/profiles/{profile['id']}/space-link", headers=headers)
    ).json()
    return {
        "csrf": csrf,
        "profile": profile,
        "appointment": appointment["appointment"],
        "path": "/s/" + link["url"].rsplit("/s/", 1)[1],
    }


async def open_link(browser: Client, path: str) -> None:
    resp = await browser.get(path, allow_redirects=False)
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "no-store"
    assert '<meta http-equiv="refresh" content="0; url=/space">' in await resp.text()
    morsel = resp.cookies[SPACE_COOKIE]
    assert morsel["httponly"] and morsel["samesite"] == "Strict" and morsel["path"] == "/"
    assert not morsel["secure"]  # plain HTTP in the test; Secure over HTTPS


def signed_in(html: str) -> bool:
    return "/space/signout" in html


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match
    return match.group(1)


async def test_link_opens_the_space_in_the_profiles_language(
    staff: Client, fake_clock: FakeClock
) -> None:
    setup = await set_up(staff, fake_clock.now() + 3600)
    tablet = await device(staff)
    try:
        await open_link(tablet, setup["path"])
        page = await tablet.get("/space")
        html = await page.text()
        assert page.status == 200 and signed_in(html)
        assert '<html lang="tr" dir="ltr">' in html
        assert "Beratung Ayşe" in html
        appointment_id = setup["appointment"]["id"]
        assert f'href="/space/join/{appointment_id}"' in html
        assert 'data-state="too_early"' in html
        assert 'rel="manifest"' in html
        arabic = await (await tablet.get("/space", params={"lang": "ar"})).text()
        assert '<html lang="ar" dir="rtl">' in arabic
    finally:
        await tablet.close()


async def test_join_from_the_space_inside_the_window(staff: Client, fake_clock: FakeClock) -> None:
    setup = await set_up(staff, fake_clock.now() + 3600)
    appointment_id = setup["appointment"]["id"]
    tablet = await device(staff)
    try:
        await open_link(tablet, setup["path"])
        html = await (await tablet.get("/space")).text()
        page = await tablet.get(f"/space/join/{appointment_id}")
        assert page.status == 200
        data = await page.text()
        assert f"/api/space/appointments/{appointment_id}/join" in data
        csrf = re.search(r'"csrf": "([0-9a-f]+)"', data)
        assert csrf and csrf.group(1) == csrf_of(html)
        path = f"/api/space/appointments/{appointment_id}/join"
        headers = {"X-CSRF-Token": csrf.group(1)}
        early = await tablet.post(path, json={"consent": True}, headers=headers)
        assert (early.status, (await early.json())["code"]) == (425, "too_early")
        # Into the window (it opens early_join_margin before the start), without idling
        # past space_idle_timeout on the way.
        fake_clock.advance(1500)
        assert signed_in(await (await tablet.get("/space")).text())
        fake_clock.advance(1500)
        forged = await tablet.post(path, json={"consent": True}, headers={"X-CSRF-Token": "x"})
        assert (forged.status, (await forged.json())["code"]) == (403, "csrf")
        joined = await tablet.post(path, json={"consent": True}, headers=headers)
        assert joined.status == 200, await joined.text()
        body = await joined.json()
        assert body["participant"]["role"] == "jobseeker" and body["token"]
        assert body["participant"]["lang"] == "tr"
        # Another appointment (not this profile's) is not found from the space.
        other = appointment_body(fake_clock.now())
        made = await staff.post(
            "/api/appointments", json=other, headers={"X-CSRF-Token": setup["csrf"]}
        )
        other_id = (await made.json())["appointment"]["id"]
        resp = await tablet.post(
            f"/api/space/appointments/{other_id}/join", json={"consent": True}, headers=headers
        )
        assert (resp.status, (await resp.json())["code"]) == (404, "not_found")
        assert (await tablet.get(f"/space/join/{other_id}")).status == 404
    finally:
        await tablet.close()


async def test_wrong_codes_get_the_same_404(staff: Client, fake_clock: FakeClock) -> None:
    setup = await set_up(staff, fake_clock.now() + 3600)
    stranger = await device(staff)
    try:
        answers = []
        for path in ("/s/" + "A" * 22, "/s/short", "/s/" + "%00" * 30):
            resp = await stranger.get(path, allow_redirects=False)
            assert resp.status == 404
            assert SPACE_COOKIE not in resp.cookies
            answers.append(await resp.text())
        assert answers[0] == answers[1] == answers[2]  # nothing tells them apart
        assert "Ayşe" not in answers[0]
        html = await (await stranger.get("/space")).text()
        assert not signed_in(html) and "Ayşe" not in html
        resp = await stranger.post(
            f"/api/space/appointments/{setup['appointment']['id']}/join", json={}
        )
        assert (resp.status, (await resp.json())["code"]) == (401, "space_signed_out")
    finally:
        await stranger.close()


async def test_wrong_codes_are_rate_limited(staff: Client, services: Services) -> None:
    burst = services.settings.join_burst
    for _ in range(burst):
        assert (await staff.get("/s/" + "B" * 22)).status == 404
    limited = await staff.get("/s/" + "B" * 22)
    assert limited.status == 429 and int(limited.headers["Retry-After"]) >= 1


async def test_reissue_and_revoke_sign_out_every_device(
    staff: Client, fake_clock: FakeClock
) -> None:
    setup = await set_up(staff, fake_clock.now() + 3600)
    headers = {"X-CSRF-Token": setup["csrf"]}
    link_api = f"/api/profiles/{setup['profile']['id']}/space-link"
    tablet, phone = await device(staff), await device(staff)
    try:
        await open_link(tablet, setup["path"])
        await open_link(phone, setup["path"])
        assert signed_in(await (await phone.get("/space")).text())
        new = await (await staff.post(link_api, headers=headers)).json()
        assert not signed_in(await (await tablet.get("/space")).text())
        assert not signed_in(await (await phone.get("/space")).text())
        assert (await tablet.get(setup["path"])).status == 404  # the old link is dead
        await open_link(tablet, "/s/" + new["url"].rsplit("/s/", 1)[1])
        assert signed_in(await (await tablet.get("/space")).text())
        await staff.delete(link_api, headers=headers)
        assert not signed_in(await (await tablet.get("/space")).text())
        assert (await phone.get("/s/" + new["url"].rsplit("/s/", 1)[1])).status == 404
    finally:
        await tablet.close()
        await phone.close()


async def test_idle_expiry_follows_the_clock(
    staff: Client, fake_clock: FakeClock, services: Services
) -> None:
    idle = services.settings.space_idle_timeout
    setup = await set_up(staff, fake_clock.now() + 3600)
    tablet = await device(staff)
    try:
        await open_link(tablet, setup["path"])
        fake_clock.advance(idle - 10)
        assert signed_in(await (await tablet.get("/space")).text())  # moves the expiry on
        fake_clock.advance(idle - 10)
        assert signed_in(await (await tablet.get("/space")).text())
        fake_clock.advance(idle + 1)
        assert not signed_in(await (await tablet.get("/space")).text())
    finally:
        await tablet.close()


async def test_sign_out_on_this_device(staff: Client, fake_clock: FakeClock) -> None:
    setup = await set_up(staff, fake_clock.now() + 3600)
    tablet, phone = await device(staff), await device(staff)
    try:
        await open_link(tablet, setup["path"])
        await open_link(phone, setup["path"])
        html = await (await tablet.get("/space")).text()
        forged = await tablet.post("/space/signout", data={"csrf": "0" * 32}, allow_redirects=False)
        assert forged.status == 403
        resp = await tablet.post(
            "/space/signout", data={"csrf": csrf_of(html)}, allow_redirects=False
        )
        assert resp.status == 303 and resp.headers["Location"] == "/space"
        assert not signed_in(await (await tablet.get("/space")).text())
        assert signed_in(await (await phone.get("/space")).text())  # only this device
    finally:
        await tablet.close()
        await phone.close()


async def test_manifest_without_service_worker(staff: Client) -> None:
    resp = await staff.get("/manifest.webmanifest")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("application/manifest+json")
    manifest = await resp.json(content_type=None)
    assert manifest["start_url"] == "/space" and manifest["display"] == "standalone"
    for icon in manifest["icons"]:
        assert (await staff.get(icon["src"])).status == 200
    assert "serviceWorker" not in (await (await staff.get("/static/js/join.js")).text())
