"""Help requests over HTTP: the jobseeker asks from the space, caseworkers answer in the
console's inbox. Every request, answer, note and status change is audited (ids only).

- `GET  /api/space/help`                my requests, newest first (space session)
- `POST /api/space/help`                ask {kind, text, appointment?, child_ages?}
- `GET  /api/space/help/{id}`           one of mine (another profile's: 404)
- `GET  /api/help`                      staff: the inbox, newest first (`?status=` filters)
- `GET  /api/help/{id}`                 staff: one request
- `POST /api/help/{id}/replies`         staff: answer or note {kind: answer|note, text}
- `POST /api/help/{id}/status`          staff: {status: open|in_progress|arranged|declined}
"""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp import web

from core.audit import Action, AuditRecord
from core.contracts.errors import ErrorCode
from core.help import HelpRequest, HelpStatus, ReplyKind
from core.model import AppointmentStatus, Profile
from signalling.appointments import ValidationError
from signalling.console_feed import Notice, Topic, announce
from signalling.context import SERVICES, Services
from signalling.help import (
    MAX_LISTED,
    MAX_OPEN,
    MAX_REPLIES,
    looks_like_request_id,
    new_help_request,
    parse_reply,
    parse_status,
    public_request,
)
from signalling.http.api import ApiError, read_json, require_space, require_staff

log = structlog.get_logger(__name__)

REPLY_ACTIONS = {ReplyKind.ANSWER: Action.HELP_ANSWER, ReplyKind.NOTE: Action.HELP_NOTE}


def _invalid(exc: ValidationError) -> ApiError:
    return ApiError(400, exc.message, ErrorCode.INVALID, field=exc.field)


async def _audit(
    services: Services, actor: str, role: str, action: Action, request: HelpRequest, **detail: str
) -> None:
    await services.documents.audit.append(
        AuditRecord(
            at=services.clock.now(),
            actor=actor,
            actor_role=role,
            action=action,
            profile=request.profile,
            appointment=request.appointment,
            subject=request.id,
            detail={"kind": str(request.kind), **detail},
        )
    )


def for_jobseeker(request: HelpRequest) -> dict[str, Any]:
    """What the jobseeker sees: which caseworker wrote a reply stays in the console."""
    view = public_request(request)
    for reply in view["replies"]:
        del reply["author"]
    del view["new"]
    return view


async def _owner(request: web.Request) -> Profile:
    visit = await require_space(request)
    return visit.profile


async def _found(services: Services, request_id: str, profile: str | None = None) -> HelpRequest:
    """The request, if it exists (and belongs to `profile` when one is named): else 404,
    the same for another profile's request as for none at all."""
    found = (
        await services.help.get_help_request(request_id)
        if looks_like_request_id(request_id)
        else None
    )
    if found is None or (profile is not None and found.profile != profile):
        raise ApiError(404, "no such help request", ErrorCode.NOT_FOUND)
    return found


async def childcare_appointments(services: Services, profile_id: str) -> list[str]:
    """The appointments of a profile that childcare may be asked for: not over, not cancelled."""
    now = services.clock.now()
    found = await services.appointments.list_appointments(profile_id=profile_id)
    return [a.id for a in found if a.ends_at > now and a.status == AppointmentStatus.SCHEDULED]


async def space_list(request: web.Request) -> web.Response:
    profile = await _owner(request)
    found = await request.app[SERVICES].help.list_help_requests(profile.id, MAX_LISTED)
    return web.json_response({"requests": [for_jobseeker(r) for r in found]})


async def space_create(request: web.Request) -> web.Response:
    profile = await _owner(request)
    services = request.app[SERVICES]
    data = await read_json(request)
    try:
        help_request = new_help_request(
            data,
            profile=profile.id,
            now=services.clock.now(),
            appointments=await childcare_appointments(services, profile.id),
        )
    except ValidationError as exc:
        raise _invalid(exc) from None
    if not await services.help.add_help_request(help_request, MAX_OPEN):
        raise ApiError(
            429,
            f"you have {MAX_OPEN} open requests; wait for an answer first",
            ErrorCode.RATE_LIMITED,
        )
    await _audit(services, profile.id, "jobseeker", Action.HELP_REQUEST, help_request)
    log.info("help_requested", profile=profile.id, request=help_request.id, kind=help_request.kind)
    await announce(services.bus, Notice(Topic.HELP))
    return web.json_response({"request": for_jobseeker(help_request)}, status=201)


async def space_get(request: web.Request) -> web.Response:
    profile = await _owner(request)
    found = await _found(request.app[SERVICES], request.match_info["request_id"], profile.id)
    return web.json_response({"request": for_jobseeker(found)})


async def _staff_view(services: Services, requests: list[HelpRequest]) -> list[dict[str, Any]]:
    """Requests with who asked (name, language) and, for childcare, the appointment's time."""
    profiles: dict[str, Profile | None] = {}
    windows: dict[str, dict[str, Any] | None] = {}
    views = []
    for r in requests:
        if r.profile not in profiles:
            profiles[r.profile] = await services.profiles.get_profile(r.profile)
        if r.appointment is not None and r.appointment not in windows:
            a = await services.appointments.get_appointment(r.appointment)
            windows[r.appointment] = (
                None
                if a is None
                else {
                    "title": a.title,
                    "starts_at": a.starts_at,
                    "ends_at": a.ends_at,
                    "kind": a.kind,
                    "place": a.place,
                    "address": a.address,
                }
            )
        who = profiles[r.profile]
        view = public_request(r)
        view["profile_name"] = who.name if who else None
        view["profile_lang"] = who.lang if who else None
        view["appointment_window"] = windows.get(r.appointment) if r.appointment else None
        views.append(view)
    return views


async def inbox(request: web.Request) -> web.Response:
    """The inbox: every request, newest first; `?status=` keeps one status."""
    await require_staff(request)
    services = request.app[SERVICES]
    wanted = request.query.get("status")
    if wanted is not None and wanted not in set(HelpStatus):
        raise ApiError(400, "unknown status", ErrorCode.INVALID, field="status")
    found = await services.help.list_help_requests(None, MAX_LISTED)
    if wanted is not None:
        found = [r for r in found if r.status == wanted]
    return web.json_response({"requests": await _staff_view(services, found)})


async def staff_get(request: web.Request) -> web.Response:
    await require_staff(request)
    services = request.app[SERVICES]
    found = await _found(services, request.match_info["request_id"])
    return web.json_response({"request": (await _staff_view(services, [found]))[0]})


async def staff_reply(request: web.Request) -> web.Response:
    user = await require_staff(request)
    services = request.app[SERVICES]
    found = await _found(services, request.match_info["request_id"])
    data = await read_json(request)
    try:
        reply = parse_reply(data, request=found.id, author=user.username, now=services.clock.now())
    except ValidationError as exc:
        raise _invalid(exc) from None
    if not await services.help.add_help_reply(reply, MAX_REPLIES):
        if await services.help.get_help_request(found.id) is None:  # deleted meanwhile
            raise ApiError(404, "no such help request", ErrorCode.NOT_FOUND)
        raise ApiError(409, f"a request holds at most {MAX_REPLIES} replies", ErrorCode.INVALID)
    await _audit(services, user.username, "caseworker", REPLY_ACTIONS[reply.kind], found)
    log.info("help_replied", request=found.id, staff=user.username, kind=reply.kind)
    await announce(services.bus, Notice(Topic.HELP))
    fresh = await _found(services, found.id)
    return web.json_response({"request": (await _staff_view(services, [fresh]))[0]}, status=201)


async def staff_status(request: web.Request) -> web.Response:
    user = await require_staff(request)
    services = request.app[SERVICES]
    found = await _found(services, request.match_info["request_id"])
    data = await read_json(request)
    try:
        status = parse_status(data)
    except ValidationError as exc:
        raise _invalid(exc) from None
    if status != found.status:
        if not await services.help.set_help_status(found.id, status, services.clock.now()):
            raise ApiError(404, "no such help request", ErrorCode.NOT_FOUND)
        await _audit(
            services,
            user.username,
            "caseworker",
            Action.HELP_STATUS,
            found,
            before=str(found.status),
            after=str(status),
        )
        log.info("help_status", request=found.id, staff=user.username, status=status)
        await announce(services.bus, Notice(Topic.HELP))
    fresh = await _found(services, found.id)
    return web.json_response({"request": (await _staff_view(services, [fresh]))[0]})


def setup_help_api(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/space/help", space_list)
    r.add_post("/api/space/help", space_create)
    r.add_get("/api/space/help/{request_id}", space_get)
    r.add_get("/api/help", inbox)
    r.add_get("/api/help/{request_id}", staff_get)
    r.add_post("/api/help/{request_id}/replies", staff_reply)
    r.add_post("/api/help/{request_id}/status", staff_status)
