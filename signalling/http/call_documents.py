"""Documents for the people in a live call, authenticated by their room token (in an
`Authorization: Bearer` header, never in the URL, as DESIGN.md asks of room tokens):

- `POST /api/call/documents`                      the call's folder, for those who may share
- `POST /api/call/documents/{id}/pages/{n}?w=`    a rendered page (WebP)

A call reaches only the folder of its own jobseeker's profile (`signalling.sharing`); a guest
sees pages only while the jobseeker's consent for that document in this call stands.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from aiohttp import web

from core.contracts.errors import ErrorCode
from core.documents.access import Viewer, ViewerKind
from core.model import Appointment, Participant
from core.presence import IN_CALL
from signalling.appointments import token_void
from signalling.auth.tokens import RoomClaims, TokenError
from signalling.context import SERVICES
from signalling.folder import FOLDER, FolderError
from signalling.http.api import ApiError
from signalling.http.documents_api import (
    document_id_of,
    page_response,
    public_document,
    refuse,
)
from signalling.sharing import call_live, linked_profile, viewer_in_call

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Seat:
    """Who asks, in which call."""

    appointment: Appointment
    participant: Participant
    claims: RoomClaims
    viewer: Viewer


async def seat(request: web.Request) -> Seat:
    """The caller's place in a live call, from the room token in the Authorization header."""
    services = request.app[SERVICES]
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "send the room token as a Bearer token", ErrorCode.UNAUTHENTICATED)
    try:
        claims = services.verifier.verify(token.strip())
    except TokenError as exc:
        code = ErrorCode.TOKEN_EXPIRED if exc.reason == "expired" else ErrorCode.UNAUTHENTICATED
        raise ApiError(401, "the room token is not valid", code) from None
    if await services.presence.is_revoked(claims.jti):
        raise ApiError(401, "the room token was revoked", ErrorCode.REVOKED)
    appointment = await services.appointments.get_appointment(claims.room)
    participant = appointment.participant(claims.sub) if appointment else None
    if appointment is None or participant is None or token_void(participant, claims):
        raise ApiError(401, "the room token was revoked", ErrorCode.REVOKED)
    if not call_live(appointment, services.clock.now()):
        raise ApiError(403, "the call is over", ErrorCode.WINDOW_CLOSED)
    viewer = viewer_in_call(appointment, participant)
    if viewer.kind is ViewerKind.GUEST:
        # A guest sees what the call sees only while in it (not from the waiting room).
        member = (await services.presence.get_members(appointment.id)).get(participant.id)
        if member is None or member.status not in IN_CALL:
            raise ApiError(403, "join the call first", ErrorCode.NOT_ADMITTED)
    return Seat(appointment, participant, claims, viewer)


def _folder_of(found: Seat) -> str:
    profile = linked_profile(found.appointment)
    if profile is None:
        raise ApiError(404, "this call has no application folder", ErrorCode.NOT_FOUND)
    return profile


async def call_list(request: web.Request) -> web.Response:
    found = await seat(request)
    if not found.claims.grants.share_documents or found.viewer.kind is ViewerKind.GUEST:
        raise ApiError(403, "you may not share documents", ErrorCode.FORBIDDEN)
    try:
        documents = await request.app[FOLDER].documents_of(found.viewer, _folder_of(found))
    except FolderError as exc:
        raise refuse(exc) from None
    return web.json_response(
        {"documents": [public_document(d) for d in documents]},
        headers={"Cache-Control": "no-store"},
    )


async def call_page(request: web.Request) -> web.Response:
    found = await seat(request)
    try:
        number = int(request.match_info["page"])
        width = int(request.query.get("w", "1200"))
    except ValueError:
        raise ApiError(400, "page and w are numbers", ErrorCode.INVALID) from None
    try:
        page = await request.app[FOLDER].page(
            found.viewer, document_id_of(request), number, width, within=_folder_of(found)
        )
    except FolderError as exc:
        raise refuse(exc) from None
    return page_response(page)


def setup_call_documents(app: web.Application) -> None:
    app.router.add_post("/api/call/documents", call_list)
    app.router.add_post("/api/call/documents/{document_id}/pages/{page}", call_page)
