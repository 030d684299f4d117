"""The JSON API over a real app, on the memory store and on real Redis."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from core.clock import FakeClock
from signalling.auth.login_throttle import LoginLimits
from signalling.context import Services
from signalling.http.api import THROTTLE
from tests.harness import STAFF_USER, appointment_body, login, metrics_get, schedule

Client = TestClient[Any, Any]


async def test_healthz_and_security_headers(client: Client) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert (await resp.json()) == {"status": "ok"}
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    assert (await client.get("/readyz")).status == 200


async def test_login_sets_a_strict_cookie_and_rejects_bad_passwords(client: Client) -> None:
    bad = await client.post("/api/login", json={"username": STAFF_USER, "password": "nope"})
    assert bad.status == 401
    assert (await bad.json())["code"] == "bad_credentials"
    assert (await client.get("/api/me")).status == 401
    await login(client)  # asserts HttpOnly, Secure, SameSite=Strict
    me = await client.get("/api/me")
    assert (await me.json())["user"]["username"] == STAFF_USER


async def test_login_locks_after_repeated_failures(client: Client) -> None:
    for _ in range(5):
        resp = await client.post("/api/login", json={"username": STAFF_USER, "password": "x"})
        assert resp.status == 401
    locked = await client.post(
        "/api/login", json={"username": STAFF_USER, "password": "correct horse battery"}
    )
    assert locked.status == 429


@pytest.mark.parametrize(
    "body, status, code",
    [
        ("not json", 400, "bad_json"),
        ([1, 2], 400, "bad_request"),
        ({"username": "x"}, 400, "bad_request"),
    ],
)
async def test_login_bad_bodies(client: Client, body: Any, status: int, code: str) -> None:
    if isinstance(body, str):
        resp = await client.post(
            "/api/login", data=body, headers={"Content-Type": "application/json"}
        )
    else:
        resp = await client.post("/api/login", json=body)
    assert resp.status == status
    assert (await resp.json())["code"] == code


async def test_api_needs_login_and_csrf(client: Client, fake_clock: FakeClock) -> None:
    body = appointment_body(fake_clock.now())
    resp = await client.post("/api/appointments", json=body)
    assert resp.status == 401 and "error" in await resp.json()
    await login(client)
    resp = await client.post("/api/appointments", json=body)
    assert resp.status == 403
    assert (await resp.json())["code"] == "csrf"
    resp = await client.post("/api/appointments", json=body, headers={"X-CSRF-Token": "forged"})
    assert resp.status == 403


async def test_create_list_get_cancel(client: Client, fake_clock: FakeClock) -> None:
    csrf = await login(client)
    created = await schedule(client, csrf, appointment_body(fake_clock.now() + 3600))
    appointment = created["appointment"]
    assert set(created["codes"]) == {"caseworker", "jobseeker", "employer"}
    assert all(len(code) >= 22 for code in created["codes"].values())  # 128 bits
    assert "invite_hash" not in str(appointment)
    listed = await (await client.get("/api/appointments")).json()
    assert [a["id"] for a in listed["appointments"]] == [appointment["id"]]
    assert listed["appointments"][0]["live"]["state"] == "not_started"
    later = await client.get("/api/appointments", params={"from": fake_clock.now() + 7200})
    assert (await later.json())["appointments"] == []
    got = await (await client.get(f"/api/appointments/{appointment['id']}")).json()
    assert got["appointment"]["title"] == "Beratung"
    resp = await client.post(
        f"/api/appointments/{appointment['id']}/cancel", headers={"X-CSRF-Token": csrf}
    )
    assert resp.status == 200
    assert (await resp.json())["appointment"]["status"] == "cancelled"
    again = await client.post(
        f"/api/appointments/{appointment['id']}/cancel", headers={"X-CSRF-Token": csrf}
    )
    assert again.status == 409
    missing = await client.get("/api/appointments/a_nothere")
    assert missing.status == 404 and (await missing.json())["code"] == "not_found"


def _participants(*roles: str) -> list[dict[str, str]]:
    return [{"role": r, "name": f"Name {i}", "lang": "de"} for i, r in enumerate(roles)]


BAD_BODIES: list[tuple[str, dict[str, Any], str | None]] = [
    ("end before start", {"ends_at": -60}, "ends_at"),
    ("window in the past", {"starts_at": -7200, "ends_at": -3600}, "ends_at"),
    ("unknown role", {"participants": _participants("caseworker", "boss")}, "participants[1].role"),
    ("no caseworker", {"participants": _participants("jobseeker", "employer")}, "participants"),
    ("alone", {"participants": _participants("caseworker")}, "participants"),
    ("long title", {"title": "x" * 201}, "title"),
    ("empty title", {"title": "   "}, "title"),
    (
        "long name",
        {"participants": [{"role": "caseworker", "name": "n" * 101, "lang": "de"}]},
        "participants[0].name",
    ),
    (
        "control chars",
        {"participants": [{"role": "caseworker", "name": "a\u0000b", "lang": "de"}]},
        "participants[0].name",
    ),
    (
        "bad lang",
        {"participants": [{"role": "caseworker", "name": "a", "lang": "xx"}]},
        "participants[0].lang",
    ),
    ("naive time", {"starts_at": "2030-01-01T10:00:00"}, "starts_at"),
    ("garbage time", {"starts_at": "tomorrow"}, "starts_at"),
    ("waiting room not bool", {"waiting_room": "yes"}, "waiting_room"),
    ("unknown field", {"colour": "red"}, None),
    ("too long", {"ends_at": 13 * 3600}, "ends_at"),
    ("too many", {"participants": _participants("caseworker", *["jobseeker"] * 8)}, "participants"),
]


@pytest.mark.parametrize("label, change, field", BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
async def test_bad_appointments_get_400(
    client: Client, fake_clock: FakeClock, label: str, change: dict[str, Any], field: str | None
) -> None:
    csrf = await login(client)
    now = fake_clock.now()
    body = appointment_body(now)
    for key in ("starts_at", "ends_at"):
        if isinstance(change.get(key), int):
            change = {**change, key: now + change[key]}
    body.update(change)
    resp = await client.post("/api/appointments", json=body, headers={"X-CSRF-Token": csrf})
    assert resp.status == 400, label
    data = await resp.json()
    assert data["code"] == "invalid" and data["error"]
    assert data.get("field") == field
    listed = await (await client.get("/api/appointments")).json()
    assert listed["appointments"] == []  # nothing half-created


async def test_iso_times_are_accepted(client: Client, fake_clock: FakeClock) -> None:
    csrf = await login(client)
    body = appointment_body(
        0, starts_at="2099-01-01T10:00:00+01:00", ends_at="2099-01-01T10:30:00Z"
    )
    created = await schedule(client, csrf, body)
    assert created["appointment"]["starts_at"] == 4070941200.0


async def test_join_exchanges_a_code_for_a_token(
    client: Client, fake_clock: FakeClock, services: Services
) -> None:
    csrf = await login(client)
    created = await schedule(client, csrf, appointment_body(fake_clock.now()))
    resp = await client.post(
        "/api/join", json={"code": created["codes"]["jobseeker"], "consent": True}
    )
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "no-store"
    data = await resp.json()
    assert set(data) >= {"token", "ws_url", "ice_servers", "appointment", "participant"}
    assert data["ws_url"].endswith("/ws") and data["ws_url"].startswith("ws://")
    assert data["ice_servers"] == [] and data["ice_transport_policy"] == "all"
    assert data["participant"]["role"] == "jobseeker"
    claims = services.verifier.verify(data["token"], room=created["appointment"]["id"])
    assert claims.sub == created["ids"]["jobseeker"] and claims.exp - claims.iat <= 600
    detail = await (await client.get(f"/api/appointments/{claims.room}")).json()
    consents = detail["appointment"]["live"]["consents"]
    assert consents == {claims.sub: fake_clock.now()}


async def test_join_errors(client: Client, fake_clock: FakeClock) -> None:
    csrf = await login(client)
    now = fake_clock.now()
    created = await schedule(client, csrf, appointment_body(now + 7200))
    code = created["codes"]["jobseeker"]
    unknown = await client.post("/api/join", json={"code": "A" * 22})
    assert unknown.status == 404 and (await unknown.json())["code"] == "unknown_invite"
    junk = await client.post("/api/join", json={"code": "../../etc"})
    assert junk.status == 404
    early = await client.post("/api/join", json={"code": code})
    assert early.status == 425
    early_data = await early.json()
    assert early_data["code"] == "too_early"
    assert early_data["appointment"]["starts_at"] == now + 7200
    fake_clock.advance(7200 - 900)  # the early margin opens the link
    assert (await client.post("/api/join", json={"code": code})).status == 200
    fake_clock.advance(900 + 1800)
    expired = await client.post("/api/join", json={"code": code})
    assert expired.status == 410 and (await expired.json())["code"] == "expired"
    for bad in ({}, {"code": 5}, {"code": code, "consent": "yes"}, {"code": code, "x": 1}):
        resp = await client.post("/api/join", json=bad)
        assert resp.status == 400, bad
        assert "error" in await resp.json()


async def test_cancelled_link_says_so(client: Client, fake_clock: FakeClock) -> None:
    csrf = await login(client)
    created = await schedule(client, csrf, appointment_body(fake_clock.now()))
    aid = created["appointment"]["id"]
    await client.post(f"/api/appointments/{aid}/cancel", headers={"X-CSRF-Token": csrf})
    resp = await client.post("/api/join", json={"code": created["codes"]["jobseeker"]})
    assert resp.status == 409 and (await resp.json())["code"] == "cancelled"


async def test_reissue_invalidates_the_old_link(client: Client, fake_clock: FakeClock) -> None:
    csrf = await login(client)
    created = await schedule(client, csrf, appointment_body(fake_clock.now()))
    aid, pid = created["appointment"]["id"], created["ids"]["jobseeker"]
    resp = await client.post(
        f"/api/appointments/{aid}/participants/{pid}/reissue", headers={"X-CSRF-Token": csrf}
    )
    assert resp.status == 200
    new_code = (await resp.json())["url"].rsplit("/j/", 1)[1]
    old = await client.post("/api/join", json={"code": created["codes"]["jobseeker"]})
    assert old.status == 404
    assert (await client.post("/api/join", json={"code": new_code})).status == 200


async def test_oversized_and_wrong_type_bodies(client: Client) -> None:
    big = await client.post(
        "/api/join", data=b"{" + b" " * 70_000 + b"}", headers={"Content-Type": "application/json"}
    )
    assert big.status == 413 and "error" in await big.json()
    form = await client.post("/api/join", data={"code": "x"})
    assert form.status == 415 and "error" in await form.json()


async def test_unknown_api_route_is_json_404(client: Client) -> None:
    resp = await client.get("/api/nothing")
    assert resp.status == 404
    assert "error" in await resp.json()


async def test_metrics_count_without_ids(client: Client, fake_clock: FakeClock) -> None:
    csrf = await login(client)
    created = await schedule(client, csrf, appointment_body(fake_clock.now()))
    await client.post("/api/join", json={"code": created["codes"]["jobseeker"]})
    assert (await client.get("/metrics")).status == 404  # not on the public port
    text = await (await metrics_get(client)).text()
    assert "lippejob_tokens_issued_total 1" in text
    assert "lippejob_ws_connections 0" in text
    assert created["appointment"]["id"] not in text


async def test_login_guessing_across_usernames_meets_the_address_cap(
    client: Client, fake_clock: FakeClock
) -> None:
    # The cap is loose (tests/security/test_login_throttle.py): twenty failures do not
    # reach it, a hundred from the same address do, for every username from there.
    client.app[THROTTLE].limits = LoginLimits(address_failures=20)
    for i in range(20):
        resp = await client.post("/api/login", json={"username": f"user{i}", "password": "x"})
        assert resp.status == 401
    held = await client.post(
        "/api/login", json={"username": STAFF_USER, "password": "correct horse battery"}
    )
    assert held.status == 429
    assert (await held.json())["code"] == "rate_limited"
    fake_clock.advance(int(held.headers["Retry-After"]))
    assert (
        await client.post(
            "/api/login", json={"username": STAFF_USER, "password": "correct horse battery"}
        )
    ).status == 200
