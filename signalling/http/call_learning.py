"""Course sections for the people in a live call (issue 12), authenticated by their room
token in an `Authorization: Bearer` header (never in the URL):

- `POST /api/call/learning`                                  the catalog, for who may show it
- `POST /api/call/learning/{module}/sections/{section}?lang=` one section in the caller's
  language (`lang`, else the participant's; the module's fallback when it lacks it)
- `POST /api/call/learning/{module}/media/{name}`            a video or captions file

Only participants admitted into the live call get anything (guests too: course content is not
personal data). Sections are read-only here: quizzes without their answers, nothing recorded.
Imported SCORM courses are left out: they need one learner's runtime.
"""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp import web

from core.contracts.client import MessageError
from core.contracts.errors import ErrorCode
from core.model import LANGUAGES
from core.presence import IN_CALL
from signalling.call_learning import CALL_LEARNING, CallLearning
from signalling.context import SERVICES
from signalling.http.api import ApiError
from signalling.http.call_documents import Seat, seat
from signalling.http.learning_api import LEARNING
from signalling.http.space_learning import section_view

log = structlog.get_logger(__name__)

NO_STORE = {"Cache-Control": "no-store"}


async def admitted_seat(request: web.Request) -> Seat:
    """The caller's place in a live call, only once admitted into it (for everyone, not only
    guests: a section is fetched from inside the call, never from the waiting room)."""
    found = await seat(request)
    members = await request.app[SERVICES].presence.get_members(found.appointment.id)
    member = members.get(found.participant.id)
    if member is None or member.status not in IN_CALL:
        raise ApiError(403, "join the call first", ErrorCode.NOT_ADMITTED)
    return found


def _find(request: web.Request) -> tuple[CallLearning, Any, Any]:
    learning = request.app[CALL_LEARNING]
    try:
        module, section = learning.find(
            request.match_info["module_id"], request.match_info["section_id"]
        )
    except MessageError:
        raise ApiError(404, "no such module or section", ErrorCode.NOT_FOUND) from None
    return learning, module, section


async def call_catalog(request: web.Request) -> web.Response:
    """The modules and their sections (titles in the caller's language), for a presenter."""
    found = await admitted_seat(request)
    if not found.claims.grants.moderate:
        raise ApiError(403, "you may not show course sections", ErrorCode.FORBIDDEN)
    lang = _lang(request, found)
    modules = []
    for m in request.app[CALL_LEARNING].catalog.modules.values():
        shown_in = m.content_language(lang)
        modules.append(
            {
                "id": m.id,
                "title": m.title_in(lang),
                "sections": [
                    {"id": s.id, "kind": str(s.kind), "title": s.title[shown_in]}
                    for s in m.sections
                ],
            }
        )
    return web.json_response({"modules": modules}, headers=NO_STORE)


def _lang(request: web.Request, found: Seat) -> str:
    chosen = request.query.get("lang")
    return chosen if chosen in LANGUAGES else found.participant.lang


async def call_section(request: web.Request) -> web.Response:
    """One section in the caller's language, or the module's fallback."""
    found = await admitted_seat(request)
    _, module, section = _find(request)
    lang = _lang(request, found)
    shown_in = module.content_language(lang)
    base = f"/api/call/learning/{module.id}/media/"
    view = section_view(module, section, shown_in, media_base=base)
    log.info(
        "learning_section_fetched_in_call",
        appointment=found.appointment.id,
        participant=found.participant.id,
        module=module.id,
        section=section.id,
    )
    body = {
        "module": {"id": module.id, "title": module.title_in(lang)},
        "section": view,
        "position": [s.id for s in module.sections].index(section.id) + 1,
        "sections": len(module.sections),
        "lang": shown_in,
        "dir": "rtl" if shown_in == "ar" else "ltr",
        "own_language": shown_in == lang,
    }
    return web.json_response(body, headers=NO_STORE)


async def call_media(request: web.Request) -> web.StreamResponse:
    """A module's video or captions file; only files a manifest names."""
    await admitted_seat(request)
    module = request.app[CALL_LEARNING].catalog.get(request.match_info["module_id"])
    path = None if module is None else module.media().get(request.match_info["name"])
    if path is None:
        raise ApiError(404, "no such file", ErrorCode.NOT_FOUND)
    response = web.FileResponse(path, headers={"Cache-Control": "private, no-store"})
    if path.suffix == ".vtt":
        response.content_type = "text/vtt"
        response.charset = "utf-8"
    return response


def setup_call_learning(app: web.Application) -> None:
    """After `setup_learning_api` (it loads the catalog) and before `setup_ws` (which shows
    the panel to who arrives later)."""
    services = app[SERVICES]
    app[CALL_LEARNING] = CallLearning(
        app[LEARNING].catalog, services.presence, services.documents.audit, services.clock
    )
    r = app.router
    r.add_post("/api/call/learning", call_catalog)
    r.add_post("/api/call/learning/{module_id}/sections/{section_id}", call_section)
    r.add_post("/api/call/learning/{module_id}/media/{name:.+}", call_media)
