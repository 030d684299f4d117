"""The application folder over a real app: caseworker and jobseeker upload, list, see pages,
download and delete; every bad file is refused with its code; nothing is served from a damaged
blob; every access is in the audit trail; retention shreds."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import aiohttp
import pypdfium2 as pdfium
import pytest
from aiohttp.test_utils import TestClient
from PIL import Image

from core.audit import Action, verify
from core.clock import FakeClock
from core.documents import intake
from signalling.context import Services
from signalling.folder import FOLDER
from tests.documents.test_intake import GPS_IFD, decompression_bomb, encrypted_pdf, pdf, photo, png
from tests.harness import login
from tests.test_space import device, open_link, set_up

Client = TestClient[Any, Any]


@pytest.fixture
def backend_kind() -> str:
    return "memory"


def form(*files: tuple[str, bytes, str], title: str = "Lebenslauf", kind: str = "cv") -> Any:
    data = aiohttp.FormData(default_to_multipart=True)
    data.add_field("title", title)
    data.add_field("kind", kind)
    for name, content, content_type in files:
        data.add_field("file", io.BytesIO(content), filename=name, content_type=content_type)
    return data


async def space_csrf(owner: Client) -> str:
    html = await (await owner.get("/space")).text()
    marker = 'name="csrf" value="'
    return html.split(marker, 1)[1].split('"', 1)[0]


OPENED: list[Client] = []


@pytest.fixture(autouse=True)
async def close_devices() -> Any:
    yield
    while OPENED:
        await OPENED.pop().close()


async def a_jobseeker(staff: Client, clock: FakeClock) -> tuple[dict[str, Any], Client, str]:
    """A profile, the caseworker's CSRF token, and the jobseeker's signed-in tablet."""
    ready = await set_up(staff, clock.now() + 3600)
    owner = await device(staff)
    OPENED.append(owner)
    await open_link(owner, ready["path"])
    return ready, owner, await space_csrf(owner)


def blobs_on_disk(services: Services) -> list[Path]:
    root = services.settings.documents_path()
    return [p for p in root.rglob("d_*") if p.is_file()] if root.exists() else []


async def test_caseworker_and_jobseeker_share_one_folder(
    staff: Client, services: Services, fake_clock: FakeClock
) -> None:
    ready, owner, owner_csrf = await a_jobseeker(staff, fake_clock)
    profile = ready["profile"]["id"]
    cv = pdf(2)
    resp = await staff.post(
        f"/api/profiles/{profile}/documents",
        data=form(("cv.pdf", cv, "application/pdf")),
        headers={"X-CSRF-Token": ready["csrf"]},
    )
    assert resp.status == 201, await resp.text()
    document = (await resp.json())["document"]
    assert (document["media_type"], document["pages"], document["kind"]) == (
        "application/pdf",
        2,
        "cv",
    )
    assert document["uploaded_by_owner"] is False

    # The jobseeker's tablet sees it in their own folder.
    mine = await (await owner.get("/api/space/documents")).json()
    assert [d["id"] for d in mine["documents"]] == [document["id"]]
    page = await owner.get(f"/api/space/documents/{document['id']}/pages/2?w=400")
    assert page.status == 200 and page.headers["Content-Type"] == "image/webp"
    assert page.headers["Cache-Control"] == "no-store" and page.headers["X-Page-Count"] == "2"
    assert Image.open(io.BytesIO(await page.read())).width == 400
    original = await owner.get(f"/api/space/documents/{document['id']}/original")
    assert original.status == 200
    assert original.headers["Content-Disposition"].startswith('attachment; filename="cv-')
    assert original.headers["X-Content-Type-Options"] == "nosniff"
    assert original.headers["Cache-Control"] == "no-store"
    assert "sandbox" in original.headers["Content-Security-Policy"]
    assert len(pdfium.PdfDocument(await original.read())) == 2

    # On disk: one sealed blob that is not the document.
    (blob,) = blobs_on_disk(services)
    assert b"%PDF" not in blob.read_bytes()

    # The jobseeker deletes it: record, key and blob are gone.
    gone = await owner.delete(
        f"/api/space/documents/{document['id']}", headers={"X-CSRF-Token": owner_csrf}
    )
    assert gone.status == 200
    assert blobs_on_disk(services) == []
    again = await staff.get(f"/api/documents/{document['id']}/original")
    assert again.status == 404 and (await again.json())["code"] == "not_found"

    entries = await services.documents.audit.entries()
    assert verify(entries).ok
    # The folder's entries (the profile's creation, its link and the sign-in are there too).
    entries = [e for e in entries if e.record.action.startswith("document.")]
    actions = [(e.record.action, e.record.actor_role) for e in entries]
    assert actions == [
        (Action.UPLOAD, "caseworker"),
        (Action.VIEW, "jobseeker"),
        (Action.DOWNLOAD, "jobseeker"),
        (Action.DELETE, "jobseeker"),
    ]
    assert all(e.record.profile == profile for e in entries)
    assert "Ayşe" not in repr(entries) and "Lebenslauf" not in repr(entries)


async def test_three_photos_become_one_pdf_without_their_gps_position(
    staff: Client, fake_clock: FakeClock
) -> None:
    _, owner, owner_csrf = await a_jobseeker(staff, fake_clock)
    photos = [(f"IMG_{i}.jpg", photo(gps=True), "image/jpeg") for i in range(3)]
    resp = await owner.post(
        "/api/space/documents",
        data=form(*photos, title="Zeugnis", kind="certificate"),
        headers={"X-CSRF-Token": owner_csrf},
    )
    assert resp.status == 201, await resp.text()
    document = (await resp.json())["document"]
    assert (document["media_type"], document["pages"]) == ("application/pdf", 3)
    assert document["uploaded_by_owner"] is True
    single = await owner.post(
        "/api/space/documents",
        data=form(("IMG_9.jpg", photo(gps=True), "image/jpeg"), title="Foto", kind="other"),
        headers={"X-CSRF-Token": owner_csrf},
    )
    kept = (await single.json())["document"]
    data = await (await owner.get(f"/api/space/documents/{kept['id']}/original")).read()
    assert GPS_IFD not in Image.open(io.BytesIO(data)).getexif()
    assert b"Phonemaker" not in data


@pytest.mark.parametrize(
    ("name", "content", "status", "code"),
    [
        ("cv.pdf", png(), 201, None),  # a PNG called .pdf is a PNG: the content decides
        ("../../etc/passwd", pdf(1), 201, None),  # the name is never used
        ("cv.pdf", photo() + pdf(1), 201, None),  # a polyglot is only what it starts as
        ("cv.pdf", b"<html><script>alert(1)</script>", 422, "unsupported_type"),
        ("cv.pdf", pdf(2)[:300], 422, "broken_file"),
        ("cv.pdf", encrypted_pdf(), 422, "encrypted_pdf"),
        ("bomb.png", decompression_bomb(12_000, 5_000), 422, "image_too_large"),
        ("empty.pdf", b"", 422, "empty_file"),
        ("big.pdf", b"%PDF-" + b"0" * intake.MAX_FILE, 413, "file_too_large"),
    ],
    ids=[
        "png-named-pdf",
        "traversal",
        "polyglot",
        "html",
        "truncated",
        "encrypted",
        "bomb",
        "empty",
        "oversized",
    ],
)
async def test_bad_files_are_refused_with_their_code(
    staff: Client,
    services: Services,
    fake_clock: FakeClock,
    name: str,
    content: bytes,
    status: int,
    code: str | None,
) -> None:
    ready, _, _ = await a_jobseeker(staff, fake_clock)
    resp = await staff.post(
        f"/api/profiles/{ready['profile']['id']}/documents",
        data=form((name, content, "application/pdf")),
        headers={"X-CSRF-Token": ready["csrf"]},
    )
    assert resp.status == status, await resp.text()
    if code is not None:
        assert (await resp.json())["code"] == code
        assert blobs_on_disk(services) == []
    else:
        stored = blobs_on_disk(services)
        assert len(stored) == 1 and stored[0].name.startswith("d_")
        assert not any(p.name == "passwd" for p in services.settings.documents_path().rglob("*"))


async def test_bad_requests(staff: Client, fake_clock: FakeClock) -> None:
    ready, owner, owner_csrf = await a_jobseeker(staff, fake_clock)
    url = f"/api/profiles/{ready['profile']['id']}/documents"
    headers = {"X-CSRF-Token": ready["csrf"]}
    cases = [
        (
            await staff.post(url, json={"title": "x"}, headers=headers),
            415,
            "unsupported_media_type",
        ),
        (await staff.post(url, data=form(kind="diary"), headers=headers), 400, "invalid"),
        (await staff.post(url, data=form(title="  "), headers=headers), 400, "invalid"),
        (
            await staff.post(
                url, data=form(*[("p.jpg", photo(), "image/jpeg")] * 21), headers=headers
            ),
            413,
            "too_many_photos",
        ),
        (await staff.post(url, data=form(("a.pdf", pdf(1), "x"))), 403, "csrf"),
        (await owner.post("/api/space/documents", data=form(("a.pdf", pdf(1), "x"))), 403, "csrf"),
        (await staff.get("/api/profiles/j_0000000000000000/documents"), 404, "not_found"),
        (await staff.get("/api/documents/d_nope/original"), 404, "not_found"),
        (await staff.get("/api/documents/d_" + "0" * 32 + "/pages/x"), 400, "invalid"),
    ]
    for resp, status, code in cases:
        assert (resp.status, (await resp.json())["code"]) == (status, code), resp.url
    anonymous = await device(staff)
    OPENED.append(anonymous)
    for path in ("/api/space/documents", f"{url}"):
        resp = await anonymous.get(path)
        assert resp.status == 401
    del owner_csrf


async def test_another_jobseeker_cannot_see_a_document(
    staff: Client, fake_clock: FakeClock
) -> None:
    ready, owner, owner_csrf = await a_jobseeker(staff, fake_clock)
    resp = await owner.post(
        "/api/space/documents",
        data=form(("a.pdf", pdf(1), "application/pdf")),
        headers={"X-CSRF-Token": owner_csrf},
    )
    document = (await resp.json())["document"]
    _, stranger, stranger_csrf = await a_jobseeker(staff, fake_clock)
    for resp in (
        await stranger.get(f"/api/space/documents/{document['id']}/pages/1"),
        await stranger.get(f"/api/space/documents/{document['id']}/original"),
        await stranger.delete(
            f"/api/space/documents/{document['id']}", headers={"X-CSRF-Token": stranger_csrf}
        ),
    ):
        assert resp.status == 404 and (await resp.json())["code"] == "not_found"
    assert (await (await stranger.get("/api/space/documents")).json())["documents"] == []
    del ready


async def test_a_damaged_blob_is_refused_not_served(
    staff: Client, services: Services, fake_clock: FakeClock
) -> None:
    ready, _, _ = await a_jobseeker(staff, fake_clock)
    resp = await staff.post(
        f"/api/profiles/{ready['profile']['id']}/documents",
        data=form(("cv.pdf", pdf(3), "application/pdf")),
        headers={"X-CSRF-Token": ready["csrf"]},
    )
    document = (await resp.json())["document"]
    (blob,) = blobs_on_disk(services)
    good = blob.read_bytes()
    for damaged in (good[:-1] + bytes([good[-1] ^ 1]), good[: len(good) // 2]):
        blob.write_bytes(damaged)
        for path in ("original", "pages/1"):
            resp = await staff.get(f"/api/documents/{document['id']}/{path}")
            assert resp.status == 500
            assert (await resp.json())["code"] == "document_damaged"
    blob.write_bytes(good)
    assert (await staff.get(f"/api/documents/{document['id']}/original")).status == 200


async def test_retention_shreds_unused_documents(
    staff: Client, services: Services, fake_clock: FakeClock
) -> None:
    ready, _, _ = await a_jobseeker(staff, fake_clock)
    url = f"/api/profiles/{ready['profile']['id']}/documents"
    headers = {"X-CSRF-Token": ready["csrf"]}
    old = await (await staff.post(url, data=form(("a.pdf", pdf(1), "x")), headers=headers)).json()
    fake_clock.advance(100 * 86400)
    headers = {"X-CSRF-Token": await login(staff)}  # the console session ended long ago
    resp = await staff.post(url, data=form(("b.pdf", pdf(1), "x")), headers=headers)
    used = await resp.json()
    assert resp.status == 201, used
    fake_clock.advance(81 * 86400)  # the first is 181 days unused, the second 81
    folder = staff.server.app[FOLDER]
    assert await folder.expire() == 1
    await login(staff)
    resp = await staff.get(url)
    listed = await resp.json()
    assert resp.status == 200, listed
    assert [d["id"] for d in listed["documents"]] == [used["document"]["id"]]
    assert len(blobs_on_disk(services)) == 1
    entries = await services.documents.audit.entries()
    assert entries[-1].record.action is Action.EXPIRE
    assert entries[-1].record.document == old["document"]["id"]
