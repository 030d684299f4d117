"""SCORM 1.2 courses over a real app, on SQLite and PostgreSQL: only a caseworker named in
`scorm_importers` imports; hostile packages are refused with 400 and a reason, audited and
leave nothing on disk; the imported course is served sandboxed with the runtime's frame end
put in its pages; its results land in the learner's progress as xAPI statements and show in
the console's progress view and the export."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from core.audit import Action, AuditRecord
from core.clock import FakeClock
from signalling.context import Services
from tests.harness import STAFF_USER, login, migrated_sqlite
from tests.learning import scorm_packages as packages
from tests.test_help_api import signed_in_tablet

Client = TestClient[Any, Any]
ZIP = {"Content-Type": "application/zip"}


@pytest.fixture
async def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    return await migrated_sqlite(tmp_path / "lippejob.db", sqlite_template)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """The records on SQLite or on the session's PostgreSQL (the import writes to them)."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
def backend_kind() -> str:
    return "memory"


@pytest.fixture(autouse=True)
def importers(services: Services) -> None:
    services.settings = dataclasses.replace(
        services.settings, scorm_importers=(STAFF_USER,), scorm_max_files=100
    )


async def scorm_audit(services: Services) -> list[AuditRecord]:
    entries = await services.documents.audit.entries()
    return [e.record for e in entries if e.record.action == Action.SCORM_IMPORT]


async def import_zip(staff: Client, csrf: str, data: bytes) -> Any:
    resp = await staff.post("/api/learning/scorm", data=data, headers={**ZIP, "X-CSRF-Token": csrf})
    return resp.status, await resp.json()


async def test_only_importers_may_import(staff: Client, services: Services) -> None:
    csrf = await login(staff)
    listed = await (await staff.get("/api/learning/scorm")).json()
    assert listed == {"may_import": True, "packages": []}
    services.settings = dataclasses.replace(services.settings, scorm_importers=())
    status, body = await import_zip(staff, csrf, packages.course())
    assert (status, body["code"]) == (403, "forbidden")
    assert (await (await staff.get("/api/learning/scorm")).json())["may_import"] is False
    # Without the CSRF header, and without a login, nothing either.
    resp = await staff.post("/api/learning/scorm", data=packages.course(), headers=ZIP)
    assert resp.status == 403


async def test_hostile_packages_are_refused(staff: Client, services: Services) -> None:
    csrf = await login(staff)
    cases = {
        "unsafe_name": packages.with_entry("../../evil.html"),
        "symlink": packages.symlink(),
        "zip_bomb": packages.zip_bomb(),
        "too_many_files": packages.many_files(120),
        "no_manifest": packages.without_manifest(),
        "bad_manifest": packages.with_manifest("<manifest"),
        "not_zip": b"%PDF-1.7 no zip at all",
    }
    for reason, data in cases.items():
        status, body = await import_zip(staff, csrf, data)
        assert (status, body["code"], body["reason"]) == (400, "invalid", reason), body
        assert body["error"]
    resp = await staff.post(
        "/api/learning/scorm",
        data=b"PK",
        headers={"Content-Type": "text/plain", "X-CSRF-Token": csrf},
    )
    assert resp.status == 415
    services.settings = dataclasses.replace(services.settings, scorm_max_upload=1000)
    status, body = await import_zip(staff, csrf, packages.course())
    assert (status, body["code"]) == (413, "too_large")
    # Nothing stayed: no package, no file, no half-unpacked folder.
    assert await services.learning.list_packages() == []
    root = services.settings.scorm_path()
    assert not root.exists() or list(root.iterdir()) == []
    assert not (root.parent / "evil.html").exists()
    refusals = await scorm_audit(services)
    assert sorted(str(e.detail["reason"]) for e in refusals) == sorted(cases)
    assert all(e.actor == STAFF_USER and e.detail["change"] == "refuse" for e in refusals)


async def test_a_course_imported_launched_and_finished(
    staff: Client, fake_clock: FakeClock, services: Services
) -> None:
    tablet, setup = await signed_in_tablet(staff, fake_clock.now() + 86400)
    h, profile = setup["space"], setup["profile"]["id"]
    try:
        status, body = await import_zip(staff, setup["csrf"], packages.course())
        assert status == 201, body
        package = body["package"]
        pid = package["id"]
        assert pid.startswith("scorm-")
        assert (package["title"], package["files"], package["mastery_score"]) == (
            "Workplace safety basics",
            4,
            70,
        )
        entry = (await scorm_audit(services))[-1]
        assert (entry.subject, entry.detail["change"], entry.detail["files"]) == (pid, "import", 4)
        assert "Workplace" not in json.dumps(entry.detail)

        # The space lists it; its page frames the course sandboxed.
        cards = (await (await tablet.get("/api/space/learning")).json())["modules"]
        card = next(c for c in cards if c["id"] == pid)
        assert (card["kind"], card["progress"]["status"]) == ("scorm", "new")
        page = await tablet.get(f"/space/learning/{pid}")
        assert page.status == 200
        html = await page.text()
        assert 'sandbox="allow-scripts allow-forms"' in html
        assert "allow-same-origin" not in html
        launch = json.loads(html.split('id="lj-page">', 1)[1].split("</script>", 1)[0])["launch"]
        assert launch.startswith("/learning/scorm/") and launch.endswith("/index.html")

        # The content: sandboxed by its CSP, framable only here, the runtime's end in its head.
        served = await tablet.get(launch)
        assert served.status == 200
        csp = served.headers["Content-Security-Policy"]
        assert csp.startswith("sandbox allow-scripts allow-forms;")
        assert "allow-same-origin" not in csp and "frame-ancestors 'self'" in csp
        assert served.headers["X-Frame-Options"] == "SAMEORIGIN"
        assert served.headers["Access-Control-Allow-Origin"] == "*"
        assert "Access-Control-Allow-Credentials" not in served.headers
        text = await served.text()
        head = text.index("<head>") + len("<head>")
        assert text[head:].startswith(
            '<script src="/static/vendor/scorm-again/cross-frame-api.min.js"></script>'
        )
        script = await tablet.get(launch.replace("index.html", "course.js"))
        assert script.status == 200 and script.content_type == "text/javascript"
        base = launch.rsplit("/", 1)[0]
        for bad in ("../../static/js/space.js", "%2e%2e/imsmanifest.xml", "nothing.html"):
            assert (await tablet.get(f"{base}/{bad}")).status == 404, bad
        assert (await tablet.get("/learning/scorm/not-a-key/index.html")).status == 404

        # The runtime's results: launched, then passed with 80 of 100.
        url = f"/api/space/learning/{pid}"
        resp = await tablet.post(f"{url}/launch", headers=h)
        assert resp.status == 200, await resp.text()
        fake_clock.advance(60)
        for status_value in ("incomplete", "passed", "passed"):
            result = {
                "lesson_status": status_value,
                "score": {"raw": "80", "min": "0", "max": "100"},
            }
            resp = await tablet.post(f"{url}/scorm", json=result, headers=h)
            assert resp.status == 200, await resp.text()
        progress = (await resp.json())["progress"]
        assert (progress["status"], progress["score"], progress["completed"]) == (
            "passed",
            0.8,
            True,
        )
        # Where the course was left comes back on the next visit.
        kept = {"lesson_status": "passed", "lesson_location": "p2", "suspend_data": "a=1"}
        resp = await tablet.post(f"{url}/scorm", json=kept, headers=h)
        assert resp.status == 200, await resp.text()
        again = await (await tablet.get(f"/space/learning/{pid}")).text()
        data = json.loads(again.split('id="lj-page">', 1)[1].split("</script>", 1)[0])
        assert data["resume"] == {
            "lesson_location": "p2",
            "suspend_data": "a=1",
            "lesson_status": "passed",
        }
        assert data["learner"] == profile
        verbs = [s.verb.value for s in await services.learning.list_statements(profile, pid)]
        assert verbs == ["launched", "completed", "passed"]  # the repeated commit is not recorded

        # The console sees it, and the export carries it with the score.
        view = await (await staff.get(f"/api/profiles/{profile}/learning")).json()
        row = next(m for m in view["modules"] if m["id"] == pid)
        assert (row["progress"]["status"], row["progress"]["score"]) == ("passed", 0.8)
        exported = await (await staff.get(f"/api/profiles/{profile}/learning/statements")).json()
        passed = [s for s in exported["statements"] if s["verb"]["id"].endswith("/passed")][-1]
        assert passed["object"]["id"].endswith(f"/learning/modules/{pid}")
        assert passed["object"]["definition"]["name"] == {"und": "Workplace safety basics"}
        assert passed["result"]["score"] == {"scaled": 0.8, "raw": 80.0, "min": 0, "max": 100.0}
        assert passed["result"]["success"] is True

        # A caseworker can recommend it like any module.
        resp = await staff.post(
            f"/api/profiles/{profile}/learning/recommendations",
            json={"module": pid},
            headers=setup["staff"],
        )
        assert resp.status == 201
    finally:
        await tablet.close()


async def test_bad_results_are_refused(staff: Client, fake_clock: FakeClock) -> None:
    tablet, setup = await signed_in_tablet(staff, fake_clock.now() + 86400)
    h = setup["space"]
    try:
        _, body = await import_zip(staff, setup["csrf"], packages.course())
        url = f"/api/space/learning/{body['package']['id']}/scorm"
        for bad, field in (
            ({"lesson_status": "won"}, "lesson_status"),
            ({"lesson_status": "passed", "score": {"raw": "1", "max": "lots"}}, "score"),
            ({"lesson_status": "passed", "suspend_data": "x" * 4097}, "suspend_data"),
            ({"lesson_status": "passed", "lesson_location": 3}, "lesson_location"),
        ):
            resp = await tablet.post(url, json=bad, headers=h)
            assert resp.status == 400 and (await resp.json())["field"] == field
        resp = await tablet.post(url, json={"lesson_status": "passed", "extra": 1}, headers=h)
        assert resp.status == 400
        resp = await tablet.post(url, json={"lesson_status": "passed"})
        assert resp.status == 403  # no CSRF token
        resp = await tablet.post(
            "/api/space/learning/scorm-0000000000000000/scorm",
            json={"lesson_status": "passed"},
            headers=h,
        )
        assert resp.status == 404
    finally:
        await tablet.close()
