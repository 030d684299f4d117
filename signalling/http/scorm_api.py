"""SCORM 1.2 courses over HTTP: caseworkers with the import role (the `scorm_importers`
setting) import a provider's package through the console; its files are served from a path
of their own, under a sandboxing CSP, to the frame of the space's course page; the runtime
on that page (scorm-again) posts the course's results, recorded as xAPI statements with the
same verbs as the other modules.

Staff:
- `GET  /api/learning/scorm`                    the imported packages, and whether I may import
- `POST /api/learning/scorm`                    a package as the body (application/zip)
Space (the space session; POSTs carry its X-CSRF-Token):
- `POST /api/space/learning/{module}/scorm`     {lesson_status, score: {raw, min, max} | null,
                                                lesson_location?, suspend_data?}
Content (no cookies reach a sandboxed frame; the content key in the path opens it):
- `GET  /learning/scorm/{key}/{path}`           a file of the package
"""

from __future__ import annotations

import asyncio
import re
import secrets
import shutil
from pathlib import Path, PurePosixPath
from typing import Any

import structlog
from aiohttp import web

from core.audit import Action, AuditRecord
from core.contracts.errors import ErrorCode
from core.learning.records import ScormPackage
from signalling.context import SERVICES
from signalling.http.api import ApiError, read_json, require_staff
from signalling.http.learning_api import LEARNING, _learner, _object, _refused, progress_view
from signalling.learning.courses import SCORM_STATUSES
from signalling.learning.recorder import LearningError
from signalling.learning.scorm import Limits, PackageRefused, content_type, safe_name, unpack

log = structlog.get_logger(__name__)

CONTENT_KEY = re.compile(r"^[A-Za-z0-9_-]{22,64}$")
UPLOAD_CHUNK = 256 * 1024
# The course's pages: no way to the parent page or its cookies (sandbox without
# allow-same-origin gives them an opaque origin), nothing from other hosts, no forms sent away.
# Inline scripts and styles are allowed because authoring tools write them; they run inside
# the same sandbox.
CONTENT_CSP = "; ".join(
    [
        "sandbox allow-scripts allow-forms",
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'none'",
        "frame-ancestors 'self'",
    ]
)
# Put first in the head of every page of a course: the runtime's end in the frame.
SHIM = (
    b'<script src="/static/vendor/scorm-again/cross-frame-api.min.js"></script>'
    b'<script src="/static/js/scorm-frame.js"></script>'
)
_HEAD = re.compile(rb"<head\b[^>]*>", re.IGNORECASE)
_HTML = re.compile(rb"<html\b[^>]*>", re.IGNORECASE)


def package_view(package: ScormPackage) -> dict[str, Any]:
    return {
        "id": package.id,
        "title": package.title,
        "files": package.files,
        "size": package.size,
        "imported_at": package.imported_at,
        "mastery_score": package.mastery_score,
    }


def launch_url(package: ScormPackage) -> str:
    return f"/learning/scorm/{package.content_key}/{package.launch}"


def may_import(settings_importers: tuple[str, ...], username: str) -> bool:
    """Whether a staff member may import SCORM packages (the `scorm_importers` setting)."""
    return username in settings_importers


async def packages(request: web.Request) -> web.Response:
    user = await require_staff(request)
    services = request.app[SERVICES]
    listed = await services.learning.list_packages()
    return web.json_response(
        {
            "may_import": may_import(services.settings.scorm_importers, user.username),
            "packages": [package_view(p) for p in listed],
        }
    )


async def _receive(request: web.Request, target: Path, limit: int) -> None:
    """The request body into `target`, refused beyond `limit` bytes."""
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"the package is larger than {limit} bytes", ErrorCode.TOO_LARGE)
    received = 0
    with target.open("xb") as out:
        while chunk := await request.content.read(UPLOAD_CHUNK):
            received += len(chunk)
            if received > limit:
                raise ApiError(
                    413, f"the package is larger than {limit} bytes", ErrorCode.TOO_LARGE
                )
            out.write(chunk)
    if received == 0:
        raise ApiError(400, "send the package's ZIP file", ErrorCode.INVALID, reason="empty")


async def import_package(request: web.Request) -> web.Response:
    """A SCORM 1.2 package in, unpacked safely, recorded and audited; 400 with `reason` if
    refused (the audit keeps the refusal too)."""
    user = await require_staff(request)
    services = request.app[SERVICES]
    settings = services.settings
    if not may_import(settings.scorm_importers, user.username):
        raise ApiError(403, "you may not import courses", ErrorCode.FORBIDDEN)
    if request.content_type not in ("application/zip", "application/x-zip-compressed"):
        raise ApiError(415, "send the package as application/zip", ErrorCode.UNSUPPORTED_MEDIA_TYPE)
    root = settings.scorm_path()
    root.mkdir(parents=True, exist_ok=True, mode=0o750)
    package_id = f"scorm-{secrets.token_hex(8)}"
    upload = root / f".upload-{package_id}.zip"
    staging = root / f".staging-{package_id}"
    limits = Limits(settings.scorm_max_size, settings.scorm_max_files, settings.scorm_max_ratio)
    now = services.clock.now()
    try:
        await _receive(request, upload, settings.scorm_max_upload)
        unpacked = await asyncio.to_thread(unpack, upload, staging, limits)
    except PackageRefused as exc:
        await services.documents.audit.append(
            AuditRecord(
                at=now,
                actor=user.username,
                actor_role="caseworker",
                action=Action.SCORM_IMPORT,
                subject=package_id,
                detail={"change": "refuse", "reason": exc.reason},
            )
        )
        log.info("scorm_refused", package=package_id, staff=user.username, reason=exc.reason)
        raise ApiError(400, str(exc), ErrorCode.INVALID, reason=exc.reason) from None
    finally:
        upload.unlink(missing_ok=True)
    package = ScormPackage(
        id=package_id,
        title=unpacked.manifest.title,
        identifier=unpacked.manifest.identifier,
        launch=unpacked.manifest.launch,
        content_key=secrets.token_urlsafe(24),
        files=unpacked.files,
        size=unpacked.size,
        mastery_score=unpacked.manifest.mastery_score,
        imported_by=user.username,
        imported_at=now,
    )
    try:
        staging.rename(root / package_id)
        await services.learning.add_package(package)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(root / package_id, ignore_errors=True)
        raise
    await services.documents.audit.append(
        AuditRecord(
            at=now,
            actor=user.username,
            actor_role="caseworker",
            action=Action.SCORM_IMPORT,
            subject=package_id,
            detail={"change": "import", "files": unpacked.files, "size": unpacked.size},
        )
    )
    log.info("scorm_imported", package=package_id, staff=user.username, files=unpacked.files)
    return web.json_response(
        {"package": package_view(package), "skipped": unpacked.skipped}, status=201
    )


def _with_shim(html: bytes) -> bytes:
    for pattern in (_HEAD, _HTML):
        found = pattern.search(html, 0, 64 * 1024)
        if found:
            return html[: found.end()] + SHIM + html[found.end() :]
    return SHIM + html


async def content(request: web.Request) -> web.StreamResponse:
    """A file of an imported package, sandboxed; pages get the runtime's frame end."""
    key = request.match_info["key"]
    if not CONTENT_KEY.fullmatch(key):
        raise web.HTTPNotFound()
    services = request.app[SERVICES]
    package = await services.learning.package_by_key(key)
    if package is None:
        raise web.HTTPNotFound()
    try:
        name = safe_name(request.match_info["path"])
    except PackageRefused:
        raise web.HTTPNotFound() from None
    kind = content_type(PurePosixPath(name))
    root = (services.settings.scorm_path() / package.id).resolve()
    path = (root / name).resolve()
    if kind is None or not path.is_relative_to(root) or not path.is_file():
        raise web.HTTPNotFound()
    headers = {
        "Content-Security-Policy": CONTENT_CSP,
        "X-Frame-Options": "SAMEORIGIN",
        "Cache-Control": "private, max-age=600",
        "X-Content-Type-Options": "nosniff",
        # The course's own pages have an opaque origin: without this, a course could not
        # fetch its own data files. No credentials go with such requests, so nothing more
        # than the content itself (which the key in the URL opens anyway) becomes readable.
        "Access-Control-Allow-Origin": "*",
    }
    if kind == "text/html":
        body = await asyncio.to_thread(path.read_bytes)
        return web.Response(body=_with_shim(body), content_type=kind, headers=headers)
    response = web.FileResponse(path, headers=headers)
    response.content_type = kind
    return response


def _score(value: Any) -> tuple[float, float, float] | None:
    if value is None:
        return None
    body = _object(value, {"raw", "min", "max"})
    numbers = []
    for name, default in (("raw", None), ("min", 0.0), ("max", 100.0)):
        item = body.get(name, default)
        if isinstance(item, str) and item.strip():  # cmi values are strings
            try:
                item = float(item)
            except ValueError:
                item = None
        elif isinstance(item, str):
            item = default
        if isinstance(item, bool) or not isinstance(item, int | float) or not -1e6 < item < 1e6:
            if name == "raw":
                return None
            raise ApiError(400, f"score.{name} must be a number", ErrorCode.INVALID, field="score")
        numbers.append(float(item))
    return numbers[0], numbers[1], numbers[2]


async def result(request: web.Request) -> web.Response:
    """The course's committed lesson_status and score: recorded once per change."""
    profile, lang = await _learner(request)
    body = _object(
        await read_json(request), {"lesson_status", "score", "lesson_location", "suspend_data"}
    )
    place = {}
    for name, limit in (("lesson_location", 255), ("suspend_data", 4096)):  # SCORM 1.2's sizes
        value = body.get(name, "")
        if not isinstance(value, str) or len(value) > limit:
            message = f"{name} must be a string of at most {limit} characters"
            raise ApiError(400, message, ErrorCode.INVALID, field=name)
        place[name] = value
    status = body.get("lesson_status")
    if not isinstance(status, str) or status not in SCORM_STATUSES:
        message = "lesson_status must be a SCORM 1.2 status"
        raise ApiError(400, message, ErrorCode.INVALID, field="lesson_status")
    learning = request.app[LEARNING]
    module_id = request.match_info["module_id"]
    try:
        progress = await learning.scorm_result(
            profile.id, module_id, status, _score(body.get("score")), lang
        )
        if "lesson_location" in body or "suspend_data" in body:
            await learning.keep_scorm_place(
                profile.id, module_id, place["lesson_location"], place["suspend_data"]
            )
    except LearningError as exc:
        raise _refused(exc) from None
    return web.json_response({"progress": progress_view(progress)})


def setup_scorm_api(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/learning/scorm", packages)
    r.add_post("/api/learning/scorm", import_package)
    r.add_post("/api/space/learning/{module_id}/scorm", result)
    r.add_get("/learning/scorm/{key}/{path:.+}", content)
