"""The application folder over HTTP, for the two who may hold it: caseworkers (console session
and CSRF) and the jobseeker (space session and CSRF).

- `GET    /api/profiles/{profile_id}/documents`      staff: a profile's folder
- `POST   /api/profiles/{profile_id}/documents`      staff: upload into it (multipart)
- `GET    /api/space/documents`                       owner: my folder
- `POST   /api/space/documents`                       owner: upload (multipart)
- `GET    /api/{documents|space/documents}/{id}/pages/{n}?w=`  a rendered page (WebP)
- `GET    /api/{documents|space/documents}/{id}/original`      the file, as an attachment
- `DELETE /api/{documents|space/documents}/{id}`      delete (crypto-shredding)

Uploads are multipart: `title`, `kind` (cv, certificate, reference, other) and one `file`, or
several `file` parts (photos of the pages of one paper document, which become one PDF). Each
part is read in pieces up to its limit and the request stops there: a request of gigabytes
fills neither memory nor disk.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import BodyPartReader, web

from core.contracts.errors import ErrorCode
from core.documents import intake
from core.documents.access import DocumentMeta, Viewer, ViewerKind
from core.documents.blobs import DirectoryBlobs
from core.documents.intake import Kind
from core.documents.render import Page
from core.documents.vault import DocumentVault, ensure_master_keys
from signalling.context import SERVICES
from signalling.folder import FOLDER, Folder, FolderError
from signalling.http.api import ApiError, require_space, require_staff
from signalling.profiles import looks_like_profile_id

log = structlog.get_logger(__name__)

MAX_UPLOAD = 40 * 1024 * 1024  # all parts of one upload together
MAX_FIELD = 1024  # title and kind
READ = 64 * 1024
DOCUMENT_ID_LENGTH = 34  # d_ and 32 hex digits

# The original may be anything a browser could misread as active content: never sniffed,
# never shown inline, never cached, and nothing in it may run.
ATTACHMENT_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}
EXTENSIONS = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}


def page_response(page: Page) -> web.Response:
    """A rendered page: never cached, never sniffed; `X-Page-Count` for the page controls."""
    return web.Response(
        body=page.data,
        content_type="image/webp",
        headers={
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "X-Page-Count": str(page.pages),
        },
    )


def refuse(exc: FolderError) -> ApiError:
    return ApiError(exc.status, exc.message, exc.code)


async def _staff(request: web.Request) -> Viewer:
    user = await require_staff(request)
    return Viewer(ViewerKind.STAFF, user.username)


async def _owner(request: web.Request) -> Viewer:
    visit = await require_space(request)
    return Viewer(ViewerKind.OWNER, visit.profile.id, profile=visit.profile.id)


def public_document(meta: DocumentMeta) -> dict[str, Any]:
    return {
        "id": meta.id,
        "title": meta.title,
        "kind": str(meta.kind),
        "media_type": meta.media_type,
        "size": meta.size,
        "pages": meta.pages,
        "uploaded_at": meta.uploaded_at,
        "uploaded_by_owner": meta.uploaded_by == meta.profile,
    }


def document_id_of(request: web.Request) -> str:
    document_id = request.match_info["document_id"]
    if len(document_id) != DOCUMENT_ID_LENGTH or not document_id.startswith("d_"):
        raise ApiError(404, "no such document", ErrorCode.NOT_FOUND)
    return document_id


async def _read_part(part: BodyPartReader, limit: int, too_large: ErrorCode) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(READ):
        data += chunk
        if len(data) > limit:
            raise ApiError(413, f"a part is larger than {limit} bytes", too_large)
    return bytes(data)


async def _read_upload(request: web.Request) -> tuple[str, Kind, list[bytes]]:
    if not request.content_type.startswith("multipart/form-data"):
        raise ApiError(415, "send multipart/form-data", ErrorCode.UNSUPPORTED_MEDIA_TYPE)
    if request.content_length is not None and request.content_length > MAX_UPLOAD:
        raise ApiError(413, "the upload is too large", ErrorCode.FILE_TOO_LARGE)
    reader = await request.multipart()
    title, kind, total = "", Kind.OTHER, 0
    files: list[bytes] = []
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise ApiError(400, "nested multipart is not accepted", ErrorCode.BAD_REQUEST)
        if part.name == "file":
            if len(files) >= intake.MAX_PHOTOS:
                raise ApiError(413, "too many files", ErrorCode.TOO_MANY_PHOTOS)
            data = await _read_part(part, intake.MAX_FILE, ErrorCode.FILE_TOO_LARGE)
            total += len(data)
            if total > MAX_UPLOAD:
                raise ApiError(413, "the upload is too large", ErrorCode.FILE_TOO_LARGE)
            files.append(data)  # the name and type the browser gave are never looked at
        elif part.name in ("title", "kind"):
            text = (await _read_part(part, MAX_FIELD, ErrorCode.TOO_LONG)).decode(
                "utf-8", "replace"
            )
            if part.name == "title":
                title = text
            else:
                try:
                    kind = Kind(text)
                except ValueError:
                    raise ApiError(400, "unknown kind", ErrorCode.INVALID, field="kind") from None
        else:
            raise ApiError(400, "unexpected field", ErrorCode.INVALID, field=str(part.name)[:40])
    return title, kind, files


async def _upload(request: web.Request, viewer: Viewer, profile: str) -> web.Response:
    title, kind, files = await _read_upload(request)
    try:
        meta = await request.app[FOLDER].upload(viewer, profile, title, kind, files)
    except FolderError as exc:
        raise refuse(exc) from None
    return web.json_response({"document": public_document(meta)}, status=201)


async def _list(viewer: Viewer, request: web.Request, profile: str) -> web.Response:
    try:
        found = await request.app[FOLDER].documents_of(viewer, profile)
    except FolderError as exc:
        raise refuse(exc) from None
    return web.json_response(
        {"documents": [public_document(d) for d in found]}, headers={"Cache-Control": "no-store"}
    )


async def _page(viewer: Viewer, request: web.Request) -> web.Response:
    try:
        number = int(request.match_info["page"])
        width = int(request.query.get("w", "1200"))
    except ValueError:
        raise ApiError(400, "page and w are numbers", ErrorCode.INVALID) from None
    try:
        page = await request.app[FOLDER].page(viewer, document_id_of(request), number, width)
    except FolderError as exc:
        raise refuse(exc) from None
    return page_response(page)


async def _original(viewer: Viewer, request: web.Request) -> web.Response:
    try:
        meta, data = await request.app[FOLDER].original(viewer, document_id_of(request))
    except FolderError as exc:
        raise refuse(exc) from None
    # The stored title is the person's own words: the file name is ours.
    name = f"{meta.kind}-{meta.id[2:10]}.{EXTENSIONS.get(meta.media_type, 'bin')}"
    return web.Response(
        body=data,
        content_type=meta.media_type,
        headers={**ATTACHMENT_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'},
    )


async def _delete(viewer: Viewer, request: web.Request) -> web.Response:
    try:
        await request.app[FOLDER].delete(viewer, document_id_of(request))
    except FolderError as exc:
        raise refuse(exc) from None
    return web.json_response({"deleted": True})


def _profile_id(request: web.Request) -> str:
    profile_id = request.match_info["profile_id"]
    if not looks_like_profile_id(profile_id):
        raise ApiError(404, "no such profile", ErrorCode.NOT_FOUND)
    return profile_id


async def _staff_and_profile(request: web.Request) -> tuple[Viewer, str]:
    """The caseworker asking, and the existing profile named in the path."""
    viewer = await _staff(request)
    profile_id = _profile_id(request)
    if await request.app[SERVICES].profiles.get_profile(profile_id) is None:
        raise ApiError(404, "no such profile", ErrorCode.NOT_FOUND)
    return viewer, profile_id


async def staff_list(request: web.Request) -> web.Response:
    viewer, profile_id = await _staff_and_profile(request)
    return await _list(viewer, request, profile_id)


async def staff_upload(request: web.Request) -> web.Response:
    viewer, profile_id = await _staff_and_profile(request)
    return await _upload(request, viewer, profile_id)


async def owner_list(request: web.Request) -> web.Response:
    viewer = await _owner(request)
    assert viewer.profile is not None
    return await _list(viewer, request, viewer.profile)


async def owner_upload(request: web.Request) -> web.Response:
    viewer = await _owner(request)
    assert viewer.profile is not None
    return await _upload(request, viewer, viewer.profile)


Handler = Callable[[Viewer, web.Request], Awaitable[web.Response]]
Who = Callable[[web.Request], Awaitable[Viewer]]


def _as(who: Who, handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def route(request: web.Request) -> web.Response:
        return await handler(await who(request), request)

    return route


def open_folder(app: web.Application) -> Folder:
    services = app[SERVICES]
    settings = services.settings
    vault = DocumentVault(
        DirectoryBlobs(settings.documents_path()), ensure_master_keys(settings.keys_dir)
    )
    return Folder(services.documents, vault, services.clock, settings.document_retention_days)


def setup_documents_api(app: web.Application, folder: Folder | None = None) -> None:
    app[FOLDER] = folder if folder is not None else open_folder(app)
    r = app.router
    r.add_get("/api/profiles/{profile_id}/documents", staff_list)
    r.add_post("/api/profiles/{profile_id}/documents", staff_upload)
    r.add_get("/api/space/documents", owner_list)
    r.add_post("/api/space/documents", owner_upload)
    for prefix, who in (("/api/documents", _staff), ("/api/space/documents", _owner)):
        r.add_get(prefix + "/{document_id}/pages/{page}", _as(who, _page))
        r.add_get(prefix + "/{document_id}/original", _as(who, _original))
        r.add_delete(prefix + "/{document_id}", _as(who, _delete))
