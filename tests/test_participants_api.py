"""The interpreter role and adding a participant to an existing appointment (issue 11, item
12), over the real app on SQLite and PostgreSQL records."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from core.audit import Action
from core.clock import FakeClock
from core.model import AppointmentStatus, Role, StaffUser, grants_for
from signalling.app import create_app
from signalling.auth.staff import SESSION_COOKIE, hash_password
from signalling.context import Services
from tests.harness import appointment_body, join_token, login, make_backend, make_services, schedule

Client = TestClient[Any, Any]
OTHER_USER, OTHER_PASSWORD = "meier", "another horse battery"


@pytest.fixture
async def setup(
    tmp_path: Path, fake_clock: FakeClock, url: str, aiohttp_client: Any
) -> AsyncIterator[tuple[Client, Services]]:
    stores, bus = await make_backend("memory", fake_clock, None, url)
    services = await make_services(tmp_path, fake_clock, stores, bus)
    client: Client = await aiohttp_client(
        create_app(services, reconnect_grace=0.5, with_pages=False)
    )
    yield client, services
    # The app first: its shutdown still writes (stays end, sockets close), and a store closed
    # under it would open a PostgreSQL connection that nobody closes.
    await client.close()
    await bus.close()
    await stores.close()


def path(appointment: dict[str, Any]) -> str:
    return f"/api/appointments/{appointment['id']}/participants"


INTERPRETER = {"role": "interpreter", "name": "Herr Haddad", "lang": "ar"}


def test_interpreter_grants_are_an_employers() -> None:
    assert Role("interpreter") is Role.INTERPRETER
    grants = grants_for(Role.INTERPRETER)
    assert grants == grants_for(Role.EMPLOYER)
    assert not (grants.admit or grants.moderate or grants.share_documents)
    assert set(grants.publish) == {"audio", "video", "screen"}


async def test_add_an_interpreter_to_an_existing_appointment(
    setup: tuple[Client, Services], fake_clock: FakeClock
) -> None:
    client, services = setup
    csrf = await login(client)
    created = await schedule(client, csrf, appointment_body(fake_clock.now()))
    appointment = created["appointment"]
    resp = await client.post(path(appointment), json=INTERPRETER, headers={"X-CSRF-Token": csrf})
    assert resp.status == 201, await resp.text()
    data = await resp.json()
    pid = data["participant"]["id"]
    assert data["participant"] == {
        "id": pid,
        "role": "interpreter",
        "name": "Herr Haddad",
        "lang": "ar",
    }
    assert data["join_url"]["role"] == "interpreter" and "/j/" in data["join_url"]["url"]
    assert "invite_hash" not in str(data)
    # Stored: the appointment lists them, and their own link mints an interpreter's token.
    got = await (await client.get(f"/api/appointments/{appointment['id']}")).json()
    roles = [p["role"] for p in got["appointment"]["participants"]]
    assert roles == ["caseworker", "jobseeker", "employer", "interpreter"]
    code = data["join_url"]["url"].rsplit("/j/", 1)[1]
    token = await join_token(client, code)
    claims = services.verifier.verify(token)
    assert (claims.role, claims.sub, claims.room) == ("interpreter", pid, appointment["id"])
    assert not claims.grants.admit and not claims.grants.share_documents
    # The others' links still work.
    await join_token(client, created["codes"]["jobseeker"])
    # Audited with ids and the role only: no name, no language.
    entries = [e.record for e in await services.documents.audit.entries()]
    added = [r for r in entries if r.action is Action.PARTICIPANT]
    assert len(added) == 1
    record = added[0]
    assert (record.actor, record.actor_role, record.appointment, record.subject) == (
        "becker",
        "caseworker",
        appointment["id"],
        pid,
    )
    assert dict(record.detail) == {"role": "interpreter"}
    assert "Haddad" not in str(record.canonical())


async def test_an_interpreter_at_scheduling_time(
    setup: tuple[Client, Services], fake_clock: FakeClock
) -> None:
    client, _ = setup
    csrf = await login(client)
    body = appointment_body(fake_clock.now())
    body["participants"].append(INTERPRETER)
    created = await schedule(client, csrf, body)
    assert set(created["codes"]) == {"caseworker", "jobseeker", "employer", "interpreter"}
    resp = await client.post(
        "/api/join", json={"code": created["codes"]["interpreter"], "consent": True}
    )
    assert resp.status == 200
    assert (await resp.json())["participant"]["role"] == "interpreter"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"role": "translator", "name": "X", "lang": "de"}, "role"),
        ({"role": "caseworker", "name": "Frau Zweite", "lang": "de"}, "role"),
        ({"role": "jobseeker", "name": "Zweiter", "lang": "de"}, "role"),  # has one already
        ({"name": "X", "lang": "de"}, "role"),
        ({"role": 7, "name": "X"}, "role"),
        ({"role": "interpreter", "name": "", "lang": "de"}, "name"),
        ({"role": "interpreter", "name": "x" * 500, "lang": "de"}, "name"),
        ({"role": "interpreter", "name": "A\u0000B", "lang": "de"}, "name"),
        ({"role": "interpreter", "name": "X", "lang": "fr"}, "lang"),
        ({"role": "interpreter", "name": "X", "lang": "de", "phone": "1"}, None),
        (["interpreter"], None),
    ],
)
async def test_bad_bodies_get_400(
    setup: tuple[Client, Services], fake_clock: FakeClock, body: Any, field: str | None
) -> None:
    client, services = setup
    csrf = await login(client)
    appointment = (await schedule(client, csrf, appointment_body(fake_clock.now())))["appointment"]
    resp = await client.post(path(appointment), json=body, headers={"X-CSRF-Token": csrf})
    assert resp.status == 400
    data = await resp.json()
    assert data["code"] == "invalid" and data["error"] and data.get("field") == field
    stored = await services.appointments.get_appointment(appointment["id"])
    assert stored is not None and len(stored.participants) == 3


async def test_refusals(setup: tuple[Client, Services], fake_clock: FakeClock) -> None:
    client, services = setup
    csrf = await login(client)
    headers = {"X-CSRF-Token": csrf}
    now = fake_clock.now()
    # No login, no CSRF, no such appointment, not JSON.
    appointment = (await schedule(client, csrf, appointment_body(now)))["appointment"]
    resp = await client.post(path(appointment), json=INTERPRETER)
    assert resp.status == 403 and (await resp.json())["code"] == "csrf"
    resp = await client.post(path({"id": "a_nothere"}), json=INTERPRETER, headers=headers)
    assert resp.status == 404 and (await resp.json())["code"] == "not_found"
    resp = await client.post(
        path(appointment),
        data="{",
        headers={**headers, "Content-Type": "application/json"},
    )
    assert resp.status == 400 and (await resp.json())["code"] == "bad_json"
    # Too many: up to max_participants (8), then 409.
    for i in range(services.settings.max_participants - 3):
        resp = await client.post(
            path(appointment), json={**INTERPRETER, "name": f"Nr {i}"}, headers=headers
        )
        assert resp.status == 201
    resp = await client.post(path(appointment), json=INTERPRETER, headers=headers)
    assert resp.status == 409 and (await resp.json())["code"] == "conflict"
    assert "at most" in (await resp.json())["error"]
    # Cancelled.
    cancelled = (await schedule(client, csrf, appointment_body(now)))["appointment"]
    await client.post(f"/api/appointments/{cancelled['id']}/cancel", headers=headers)
    resp = await client.post(path(cancelled), json=INTERPRETER, headers=headers)
    assert resp.status == 409 and "cancelled" in (await resp.json())["error"]
    # Ended (by the caseworker) and over (its window passed).
    ended = (await schedule(client, csrf, appointment_body(now)))["appointment"]
    stored = await services.appointments.get_appointment(ended["id"])
    assert stored is not None
    await services.appointments.put_appointment(
        dataclasses.replace(stored, status=AppointmentStatus.ENDED, ended_at=now)
    )
    resp = await client.post(path(ended), json=INTERPRETER, headers=headers)
    assert resp.status == 409 and "ended" in (await resp.json())["error"]
    over = (await schedule(client, csrf, appointment_body(now)))["appointment"]
    fake_clock.advance(1801)
    resp = await client.post(path(over), json=INTERPRETER, headers=headers)
    assert resp.status == 409 and "over" in (await resp.json())["error"]
    # Another caseworker's appointment: 403, and it stays as it was.
    fresh = (await schedule(client, csrf, appointment_body(fake_clock.now())))["appointment"]
    await client.post("/api/logout", headers=headers)
    await services.accounts.put_staff(
        StaffUser(OTHER_USER, "Herr Meier", hash_password(OTHER_PASSWORD), fake_clock.now())
    )
    resp = await client.post(
        "/api/login", json={"username": OTHER_USER, "password": OTHER_PASSWORD}
    )
    assert resp.status == 200
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: resp.cookies[SESSION_COOKIE].value})
    other = {"X-CSRF-Token": (await resp.json())["csrf"]}
    resp = await client.post(path(fresh), json=INTERPRETER, headers=other)
    assert resp.status == 403 and (await resp.json())["code"] == "forbidden"
    stored = await services.appointments.get_appointment(fresh["id"])
    assert stored is not None and len(stored.participants) == 3
    added = [e for e in await services.documents.audit.entries() if e.record.subject]
    assert len(added) == services.settings.max_participants - 3  # refusals are not audited


def test_the_jobseeker_is_told_an_interpreter_saw_a_document() -> None:
    """In "who has seen my documents" an interpreter is named by role (never by name), apart
    from employers and other guests."""
    from core.audit import AuditRecord, chain
    from core.model import Appointment, Participant
    from signalling.trail import Who, who_did

    people = (
        Participant("p_cw", Role.CASEWORKER, "Frau Becker", "de", "h1"),
        Participant("p_js", Role.JOBSEEKER, "Amal", "ar", "h2", profile_id="j_1"),
        Participant("p_in", Role.INTERPRETER, "Herr Haddad", "ar", "h3"),
        Participant("p_em", Role.EMPLOYER, "Herr Wolf", "de", "h4"),
    )
    appointment = Appointment("a_1", "Beratung", 0.0, 60.0, True, people, "becker", 0.0)

    def by(actor: str) -> Who | None:
        record = AuditRecord(1.0, actor, "guest", Action.VIEW, "j_1", "a_1", "d_1")
        return who_did(chain(None, record), {"a_1": appointment})

    assert by("p_in") is Who.INTERPRETER
    assert by("p_em") is Who.EMPLOYER
    assert by("p_gone") is Who.PARTICIPANT
