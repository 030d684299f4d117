"""The audit trail as people read it, over a real app on SQLite and PostgreSQL: changes to a
profile and its space link, and space sign-in and sign-out are entries; the jobseeker's space
lists who has seen their documents, naming nobody; caseworkers read a profile's trail."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from core.audit import Action, AuditRecord, verify
from core.clock import FakeClock
from core.documents.access import Viewer, ViewerKind, audit_record
from signalling.context import Services
from signalling.folder import FOLDER
from tests.documents.test_api import form
from tests.documents.test_intake import pdf
from tests.harness import appointment_body, login, make_backend, make_services
from tests.test_space import csrf_of, device, open_link

Client = TestClient[Any, Any]


@pytest.fixture
async def services(tmp_path: Path, fake_clock: FakeClock, url: str) -> AsyncIterator[Services]:
    """Records on SQLite or PostgreSQL (`url`), ephemeral state in memory."""
    stores, bus = await make_backend("memory", fake_clock, None, url)
    yield await make_services(tmp_path, fake_clock, stores, bus)
    await bus.close()
    await stores.close()


OPENED: list[Client] = []


@pytest.fixture(autouse=True)
async def close_devices() -> AsyncIterator[None]:
    yield
    while OPENED:
        await OPENED.pop().close()


async def tablet_of(staff: Client, path: str) -> Client:
    tablet = await device(staff)
    OPENED.append(tablet)
    await open_link(tablet, path)
    return tablet


async def a_profile(staff: Client, csrf: str, name: str = "Ayşe Yılmaz") -> dict[str, Any]:  # noqa: RUF001
    """A profile with a space link (the link's path under `path`)."""
    headers = {"X-CSRF-Token": csrf}
    resp = await staff.post("/api/profiles", json={"name": name, "lang": "tr"}, headers=headers)
    assert resp.status == 201, await resp.text()
    profile: dict[str, Any] = (await resp.json())["profile"]
    link = await (
        await staff.post(f"/api/profiles/{profile['id']}/space-link", headers=headers)
    ).json()
    profile["path"] = "/s/" + link["url"].rsplit("/s/", 1)[1]
    return profile


async def test_profile_and_space_link_changes_are_in_the_trail(
    staff: Client, services: Services
) -> None:
    csrf = await login(staff)
    headers = {"X-CSRF-Token": csrf}
    profile = await a_profile(staff, csrf)
    api = f"/api/profiles/{profile['id']}"
    assert (await staff.patch(api, json={"phone": "0521 999"}, headers=headers)).status == 200
    assert (await staff.patch(api, json={"phone": "0521 999"}, headers=headers)).status == 200
    await staff.post(api + "/space-link", headers=headers)  # reissue
    tablet = await tablet_of(staff, (await a_link(staff, api, csrf)))
    html = await (await tablet.get("/space")).text()
    await tablet.post("/space/signout", data={"csrf": csrf_of(html)}, allow_redirects=False)
    await staff.delete(api + "/space-link", headers=headers)

    entries = list(reversed(await services.documents.audit.for_profile(profile["id"])))
    got = [(e.record.action, e.record.actor_role, dict(e.record.detail)) for e in entries]
    session = entries[5].record.detail["session"]
    assert got == [
        (Action.PROFILE, "caseworker", {"change": "create"}),
        (Action.SPACE_LINK, "caseworker", {"change": "issue", "version": 1}),
        (Action.PROFILE, "caseworker", {"change": "edit", "fields": "phone"}),  # once: no-op edit
        (Action.SPACE_LINK, "caseworker", {"change": "reissue", "version": 2}),
        (Action.SPACE_LINK, "caseworker", {"change": "reissue", "version": 3}),
        (Action.SIGN_IN, "jobseeker", {"session": session}),
        (Action.SIGN_OUT, "jobseeker", {"session": session}),
        (Action.SPACE_LINK, "caseworker", {"change": "revoke", "version": 4}),
    ]
    assert len(str(session)) == 16
    assert {e.record.actor for e in entries if e.record.actor_role == "caseworker"} == {"becker"}
    assert {e.record.actor for e in entries if e.record.actor_role == "jobseeker"} == {
        profile["id"]
    }
    assert verify(await services.documents.audit.entries()).ok
    # ids only: no name, no phone number (the whole number: hashes are hex and may hold "0521")
    assert "Ayşe" not in repr(entries) and "0521 999" not in repr(entries)


async def a_link(staff: Client, api: str, csrf: str) -> str:
    link = await (await staff.post(api + "/space-link", headers={"X-CSRF-Token": csrf})).json()
    return "/s/" + str(link["url"]).rsplit("/s/", 1)[1]


async def test_the_space_lists_who_has_seen_my_documents(
    staff: Client, services: Services, fake_clock: FakeClock
) -> None:
    csrf = await login(staff)
    headers = {"X-CSRF-Token": csrf}
    profile = await a_profile(staff, csrf)
    starts = fake_clock.now() + 600
    body = appointment_body(starts, title="Vorstellung", profile_id=profile["id"])
    body["participants"] = [
        {"role": "caseworker", "name": "Frau Becker", "lang": "de"},
        {"role": "employer", "name": "Herr Wolf", "lang": "de"},
    ]
    call = (await (await staff.post("/api/appointments", json=body, headers=headers)).json())[
        "appointment"
    ]
    employer = next(p["id"] for p in call["participants"] if p["role"] == "employer")
    upload = await staff.post(
        f"/api/profiles/{profile['id']}/documents",
        data=form(("cv.pdf", pdf(2), "application/pdf")),
        headers=headers,
    )
    doc = (await upload.json())["document"]
    tablet = await tablet_of(staff, profile["path"])

    # The caseworker looks at both pages in the console and downloads the file ...
    for number in (1, 2):
        assert (await staff.get(f"/api/documents/{doc['id']}/pages/{number}?w=200")).status == 200
    assert (await staff.get(f"/api/documents/{doc['id']}/original")).status == 200
    # ... the jobseeker looks at it too (not listed: they know) ...
    assert (await tablet.get(f"/api/space/documents/{doc['id']}/pages/1?w=200")).status == 200
    # ... and in the call the jobseeker allows it, and the employer sees page 2 (the entries
    # the call's endpoints write: tests/documents/test_call.py runs that flow).
    meta = await services.documents.get_document(doc["id"])
    assert meta is not None
    jobseeker = next(p["id"] for p in call["participants"] if p["role"] == "jobseeker")
    own = Viewer(ViewerKind.OWNER, jobseeker, profile=profile["id"], appointment=call["id"])
    guest = Viewer(ViewerKind.GUEST, employer, appointment=call["id"])
    fake_clock.advance(700)
    await services.documents.audit.append(
        audit_record(own, Action.CONSENT, meta[0], fake_clock.now())
    )
    fake_clock.advance(5)
    await services.documents.audit.append(
        audit_record(guest, Action.VIEW, meta[0], fake_clock.now(), detail={"page": 2})
    )

    resp = await tablet.get("/api/space/seen")
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    (trail,) = (await resp.json())["documents"]
    assert (trail["document"], trail["title"]) == (doc["id"], "Lebenslauf")
    got = [(s["action"], s["who"], s["appointment"], s["pages"]) for s in trail["seen"]]
    assert got == [
        ("document.view", "employer", call["id"], [2]),
        ("document.consent", "you", call["id"], []),
        ("document.download", "caseworker", None, []),
        ("document.view", "caseworker", None, [1, 2]),
    ]
    assert trail["seen"][0]["appointment_starts"] == starts
    assert "becker" not in await resp.text() and "Wolf" not in await resp.text()

    # The page shows the same, in the profile's language (Turkish), nobody named.
    html = await (await tablet.get("/space")).text()
    assert html.count('class="seen-line"') == 4
    assert 'data-who="employer"' in html and "Wolf" not in html and "becker" not in html

    # A deleted document stays in the list, without its title.
    gone = await staff.delete(f"/api/documents/{doc['id']}", headers=headers)
    assert gone.status == 200
    (trail,) = (await (await tablet.get("/api/space/seen")).json())["documents"]
    assert trail["title"] is None and len(trail["seen"]) == 4


async def test_the_caseworkers_trail_of_a_profile(
    staff: Client, services: Services, fake_clock: FakeClock
) -> None:
    csrf = await login(staff)
    headers = {"X-CSRF-Token": csrf}
    profile = await a_profile(staff, csrf)
    other = await a_profile(staff, csrf, name="Herr Lange")
    body = appointment_body(fake_clock.now() + 600, title="Beratung", profile_id=profile["id"])
    body["participants"] = [{"role": "caseworker", "name": "Frau Becker", "lang": "de"}]
    call = (await (await staff.post("/api/appointments", json=body, headers=headers)).json())[
        "appointment"
    ]
    doc = (
        await (
            await staff.post(
                f"/api/profiles/{profile['id']}/documents",
                data=form(("cv.pdf", pdf(1), "application/pdf")),
                headers=headers,
            )
        ).json()
    )["document"]
    caseworker = next(p["id"] for p in call["participants"] if p["role"] == "caseworker")
    # A join, as the room writes it: no profile, only the appointment.
    await services.documents.audit.append(
        AuditRecord(
            fake_clock.now(), caseworker, "participant", Action.JOIN, appointment=call["id"]
        )
    )

    resp = await staff.get(f"/api/profiles/{profile['id']}/audit")
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    entries = (await resp.json())["entries"]
    assert [e["action"] for e in entries] == [
        "call.join",
        "document.upload",
        "profile.space_link",
        "profile.change",
    ]
    join, upload = entries[0], entries[1]
    assert join["appointment"] == {
        "id": call["id"],
        "title": "Beratung",
        "starts_at": call["starts_at"],
    }
    assert join["role_in_call"] == "caseworker" and join["actor"] == caseworker
    assert upload["document"] == {"id": doc["id"], "title": "Lebenslauf"}
    assert upload["actor_role"] == "caseworker" and upload["detail"]["pages"] == 1
    assert [e["seq"] for e in entries] == sorted((e["seq"] for e in entries), reverse=True)
    limited = await (await staff.get(f"/api/profiles/{profile['id']}/audit?limit=2")).json()
    assert [e["seq"] for e in limited["entries"]] == [e["seq"] for e in entries[:2]]

    # Another profile's trail holds only its own entries.
    theirs = await (await staff.get(f"/api/profiles/{other['id']}/audit")).json()
    assert [e["action"] for e in theirs["entries"]] == ["profile.space_link", "profile.change"]
    # Reading the trail is not an entry of its own.
    assert len(await services.documents.audit.entries()) == 6


async def test_bad_requests_for_the_trails(staff: Client, fake_clock: FakeClock) -> None:
    # Nobody logged in, no space session.
    assert (await staff.get("/api/profiles/j_0123456789abcdef/audit")).status == 401
    signed_out = await staff.get("/api/space/seen")
    assert signed_out.status == 401
    assert (await signed_out.json())["code"] == "space_signed_out"

    csrf = await login(staff)
    profile = await a_profile(staff, csrf)
    for path in ("/api/profiles/j_0123456789abcdef/audit", "/api/profiles/nonsense/audit"):
        resp = await staff.get(path)
        assert resp.status == 404 and (await resp.json())["code"] == "not_found"
    for limit in ("0", "-1", "abc", "1001", "1.5"):
        resp = await staff.get(f"/api/profiles/{profile['id']}/audit?limit={limit}")
        body = await resp.json()
        assert resp.status == 400 and body["field"] == "limit", (limit, body)
    # A staff session is not a space session; and a document of another profile never shows.
    assert (await staff.get("/api/space/seen")).status == 401
    other = await a_profile(staff, csrf, name="Herr Lange")
    await staff.post(
        f"/api/profiles/{profile['id']}/documents",
        data=form(("cv.pdf", pdf(1), "application/pdf")),
        headers={"X-CSRF-Token": csrf},
    )
    folder = staff.server.app[FOLDER]
    (doc,) = await folder.documents.list_documents(profile["id"])
    assert (await staff.get(f"/api/documents/{doc.id}/pages/1?w=200")).status == 200
    theirs = await tablet_of(staff, other["path"])
    assert (await (await theirs.get("/api/space/seen")).json()) == {"documents": []}
    mine = await tablet_of(staff, profile["path"])
    assert len((await (await mine.get("/api/space/seen")).json())["documents"]) == 1


async def test_deleting_a_profile_erases_it_and_keeps_the_trail(
    staff: Client, services: Services, fake_clock: FakeClock
) -> None:
    csrf = await login(staff)
    headers = {"X-CSRF-Token": csrf}
    profile = await a_profile(staff, csrf)
    api = f"/api/profiles/{profile['id']}"
    for title in ("Lebenslauf", "Zeugnis"):
        resp = await staff.post(
            api + "/documents",
            data=form(("a.pdf", pdf(1), "application/pdf"), title=title),
            headers=headers,
        )
        assert resp.status == 201
    tablet = await tablet_of(staff, profile["path"])
    root = services.settings.documents_path()
    assert len([p for p in root.rglob("d_*") if p.is_file()]) == 2

    # Not while an appointment for the profile is still to come.
    body = appointment_body(fake_clock.now() + 600, profile_id=profile["id"])
    body["participants"] = [{"role": "caseworker", "name": "Frau Becker", "lang": "de"}]
    resp = await staff.post("/api/appointments", json=body, headers=headers)
    assert resp.status == 201, await resp.text()
    refused = await staff.delete(api, headers=headers)
    assert refused.status == 409 and (await refused.json())["code"] == "conflict"
    assert (await staff.get(api)).status == 200
    fake_clock.advance(600 + 1800 + 1)  # it is over

    assert (await staff.delete(api)).status == 403  # no CSRF token
    resp = await staff.delete(api, headers=headers)
    assert resp.status == 200 and await resp.json() == {"deleted": True, "documents": 2}
    assert (await staff.get(api)).status == 404
    assert (await staff.delete(api, headers=headers)).status == 404
    assert [p for p in root.rglob("d_*") if p.is_file()] == []
    assert await services.documents.list_documents(profile["id"]) == []
    assert (await tablet.get("/api/space/seen")).status == 401  # its devices are signed out
    assert (await tablet.get(profile["path"])).status == 404  # and its link is dead

    entries = await services.documents.audit.for_profile(profile["id"])
    assert [(e.record.action, dict(e.record.detail)) for e in entries[:3]] == [
        (Action.PROFILE, {"change": "delete", "documents": 2}),
        (Action.DELETE, {}),
        (Action.DELETE, {}),
    ]
    assert verify(await services.documents.audit.entries()).ok
    assert "Ayşe" not in repr(await services.documents.audit.entries())


async def test_deleting_needs_a_caseworker(staff: Client) -> None:
    assert (await staff.delete("/api/profiles/j_0123456789abcdef")).status == 401
    csrf = await login(staff)
    resp = await staff.delete("/api/profiles/j_0123456789abcdef", headers={"X-CSRF-Token": csrf})
    assert resp.status == 404 and (await resp.json())["code"] == "not_found"
