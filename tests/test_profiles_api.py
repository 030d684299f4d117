"""The console's profile API: create, find, edit, space links, scheduling for a profile."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from core.clock import FakeClock
from tests.harness import appointment_body, login

Client = TestClient[Any, Any]


@pytest.fixture
def backend_kind() -> str:
    """Profiles are durable records (SQL); the ephemeral backend does not matter here."""
    return "memory"


async def create(client: Client, csrf: str, **body: Any) -> dict[str, Any]:
    resp = await client.post("/api/profiles", json=body, headers={"X-CSRF-Token": csrf})
    assert resp.status == 201, await resp.text()
    profile: dict[str, Any] = (await resp.json())["profile"]
    return profile


async def test_create_find_and_edit(client: Client) -> None:
    csrf = await login(client)
    ayse = await create(client, csrf, name=" Ayşe Yılmaz ", lang="tr", phone="+49 5231 1234")  # noqa: RUF001
    assert ayse["id"].startswith("j_") and len(ayse["id"]) == 18
    assert (ayse["name"], ayse["lang"], ayse["phone"]) == ("Ayşe Yılmaz", "tr", "+49 5231 1234")  # noqa: RUF001
    assert ayse["space_link"] is False and ayse["created_by"] == "becker"
    lange = await create(client, csrf, name="Herr Lange", lang="de")
    assert lange["phone"] is None

    found = await (await client.get("/api/profiles", params={"q": "LANG"})).json()
    assert [p["id"] for p in found["profiles"]] == [lange["id"]]
    every = await (await client.get("/api/profiles")).json()
    assert {p["id"] for p in every["profiles"]} == {ayse["id"], lange["id"]}

    resp = await client.patch(
        f"/api/profiles/{lange['id']}",
        json={"lang": "ar", "phone": "0521 999"},
        headers={"X-CSRF-Token": csrf},
    )
    assert resp.status == 200
    edited = (await resp.json())["profile"]
    assert (edited["name"], edited["lang"], edited["phone"]) == ("Herr Lange", "ar", "0521 999")
    got = await (await client.get(f"/api/profiles/{lange['id']}")).json()
    assert got["profile"] == edited and got["appointments"] == []


@pytest.mark.parametrize(
    "body, field",
    [
        ({"lang": "de"}, "name"),
        ({"name": "", "lang": "de"}, "name"),
        ({"name": "A\u0000B", "lang": "de"}, "name"),
        ({"name": "x" * 101, "lang": "de"}, "name"),
        ({"name": "Anna", "lang": "fr"}, "lang"),
        ({"name": "Anna", "lang": "de", "phone": "call me"}, "phone"),
        ({"name": "Anna", "lang": "de", "phone": 123}, "phone"),
        ({"name": "Anna", "lang": "de", "email": "a@b"}, None),
    ],
)
async def test_bad_profiles_are_refused(client: Client, body: Any, field: str | None) -> None:
    csrf = await login(client)
    resp = await client.post("/api/profiles", json=body, headers={"X-CSRF-Token": csrf})
    assert resp.status == 400
    answer = await resp.json()
    assert answer["code"] == "invalid" and answer.get("field") == field


async def test_bad_requests_answer_json(client: Client) -> None:
    csrf = await login(client)
    headers = {"X-CSRF-Token": csrf}
    resp = await client.post(
        "/api/profiles", data="{", headers={**headers, "Content-Type": "application/json"}
    )
    assert (resp.status, (await resp.json())["code"]) == (400, "bad_json")
    resp = await client.post("/api/profiles", data="name=x", headers=headers)
    assert (resp.status, (await resp.json())["code"]) == (415, "unsupported_media_type")
    for path in ("/api/profiles/j_0000", "/api/profiles/nope", "/api/profiles/" + "j_" + "a" * 80):
        resp = await client.get(path)
        assert (resp.status, (await resp.json())["code"]) == (404, "not_found")
    resp = await client.patch("/api/profiles/j_0000", json={"name": "x"}, headers=headers)
    assert resp.status == 404
    resp = await client.get("/api/profiles", params={"q": "x" * 101})
    assert (resp.status, (await resp.json())["field"]) == (400, "q")
    ayse = await create(client, csrf, name="Ayşe", lang="tr")
    resp = await client.patch(f"/api/profiles/{ayse['id']}", json={}, headers=headers)
    assert (resp.status, (await resp.json())["code"]) == (400, "invalid")


async def test_login_and_csrf_required(client: Client) -> None:
    assert (await client.get("/api/profiles")).status == 401
    resp = await client.post("/api/profiles", json={"name": "A", "lang": "de"})
    assert (resp.status, (await resp.json())["code"]) == (401, "unauthenticated")
    csrf = await login(client)
    ayse = await create(client, csrf, name="Ayşe", lang="tr")
    pid = ayse["id"]
    for method, path, body in [
        ("POST", "/api/profiles", {"name": "A", "lang": "de"}),
        ("PATCH", f"/api/profiles/{pid}", {"name": "B"}),
        ("POST", f"/api/profiles/{pid}/space-link", None),
        ("DELETE", f"/api/profiles/{pid}/space-link", None),
    ]:
        for headers in ({}, {"X-CSRF-Token": "forged"}):
            resp = await client.request(method, path, json=body, headers=headers)
            assert (resp.status, (await resp.json())["code"]) == (403, "csrf"), (method, path)
    assert (await (await client.get(f"/api/profiles/{pid}")).json())["profile"]["name"] == "Ayşe"


async def test_schedule_for_a_profile(client: Client, fake_clock: FakeClock) -> None:
    csrf = await login(client)
    headers = {"X-CSRF-Token": csrf}
    lange = await create(client, csrf, name="Herr Lange", lang="ar")
    body = appointment_body(fake_clock.now(), profile_id=lange["id"])
    body["participants"] = [{"role": "caseworker", "name": "Frau Becker", "lang": "de"}]
    resp = await client.post("/api/appointments", json=body, headers=headers)
    assert resp.status == 201, await resp.text()
    data = await resp.json()
    jobseeker = data["appointment"]["participants"][-1]
    # The invitation's name and language are the profile's.
    assert (jobseeker["role"], jobseeker["name"], jobseeker["lang"]) == (
        "jobseeker",
        "Herr Lange",
        "ar",
    )
    assert [u["role"] for u in data["join_urls"]] == ["caseworker", "jobseeker"]
    got = await (await client.get(f"/api/profiles/{lange['id']}")).json()
    assert [a["id"] for a in got["appointments"]] == [data["appointment"]["id"]]
    # The invite link of the profile's participant works as any other.
    code = data["join_urls"][1]["url"].rsplit("/j/", 1)[1]
    joined = await client.post("/api/join", json={"code": code})
    assert (await joined.json())["participant"]["lang"] == "ar"

    # A jobseeker listed besides the profile, or an unknown profile, is refused.
    twice = appointment_body(fake_clock.now(), profile_id=lange["id"])
    resp = await client.post("/api/appointments", json=twice, headers=headers)
    assert (resp.status, (await resp.json())["field"]) == (400, "participants")
    for bad in ("j_0000", 42, "../x"):
        resp = await client.post(
            "/api/appointments", json={**body, "profile_id": bad}, headers=headers
        )
        assert (resp.status, (await resp.json())["field"]) == (400, "profile_id")


async def test_space_link_issue_reissue_revoke(client: Client) -> None:
    csrf = await login(client)
    headers = {"X-CSRF-Token": csrf}
    ayse = await create(client, csrf, name="Ayşe", lang="tr")
    path = f"/api/profiles/{ayse['id']}/space-link"
    first = await (await client.post(path, headers=headers)).json()
    assert first["profile"]["space_link"] is True
    _base, code = first["url"].rsplit("/s/", 1)
    assert len(code) == 22  # 128 bits, URL-safe base64
    second = await (await client.post(path, headers=headers)).json()
    assert second["url"] != first["url"]
    revoked = await (await client.delete(path, headers=headers)).json()
    assert revoked["profile"]["space_link"] is False
    assert (await client.post("/api/profiles/j_0000/space-link", headers=headers)).status == 404
