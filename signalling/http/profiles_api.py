"""The console's JSON API for jobseeker profiles and their space links (staff only)."""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp import web

from core.audit import Action
from core.contracts.errors import ErrorCode
from core.model import Profile
from signalling.appointments import ValidationError
from signalling.auth.space import hash_space_code, new_space_code
from signalling.context import SERVICES, Services
from signalling.erasure import erase_profile, pending
from signalling.folder import FOLDER
from signalling.http.api import ApiError, read_json, require_staff
from signalling.profiles import (
    changed_fields,
    edit_profile,
    looks_like_profile_id,
    new_profile,
    profile_record,
    search_query,
)
from signalling.trail import trail_entry

log = structlog.get_logger(__name__)

MAX_FOUND = 50
DEFAULT_TRAIL = 200  # entries of a profile's trail the console shows
MAX_TRAIL = 1000


def space_url(services: Services, request: web.Request, code: str) -> str:
    base = services.settings.public_url.rstrip("/") or f"{request.scheme}://{request.host}"
    return f"{base}/s/{code}"


def _invalid(exc: ValidationError) -> ApiError:
    return ApiError(400, exc.message, ErrorCode.INVALID, field=exc.field)


async def audit_staff(
    services: Services, user: str, action: Action, profile: str, **detail: str | int
) -> None:
    """Append what a caseworker did to a profile to the audit trail."""
    record = profile_record(
        action, profile, services.clock.now(), actor=user, role="caseworker", **detail
    )
    await services.documents.audit.append(record)


async def profile_in_path(request: web.Request) -> Profile:
    """The profile named by the path's `profile_id`; 404 when there is none."""
    profile_id = request.match_info["profile_id"]
    found = (
        await request.app[SERVICES].profiles.get_profile(profile_id)
        if looks_like_profile_id(profile_id)
        else None
    )
    if found is None:
        raise ApiError(404, "no such profile", ErrorCode.NOT_FOUND)
    return found


async def create_profile(request: web.Request) -> web.Response:
    user = await require_staff(request)
    services = request.app[SERVICES]
    data = await read_json(request)
    try:
        profile = new_profile(
            data, now=services.clock.now(), settings=services.settings, created_by=user.username
        )
    except ValidationError as exc:
        raise _invalid(exc) from None
    await services.profiles.put_profile(profile)
    await audit_staff(services, user.username, Action.PROFILE, profile.id, change="create")
    log.info("profile_created", profile=profile.id, staff=user.username)
    return web.json_response({"profile": profile.public()}, status=201)


async def find_profiles(request: web.Request) -> web.Response:
    await require_staff(request)
    try:
        query = search_query(request.query.get("q"))
    except ValidationError as exc:
        raise _invalid(exc) from None
    found = await request.app[SERVICES].profiles.find_profiles(query, MAX_FOUND)
    return web.json_response({"profiles": [p.public() for p in found]})


async def get_profile(request: web.Request) -> web.Response:
    """A profile with its appointments that have not ended yet."""
    await require_staff(request)
    services = request.app[SERVICES]
    profile = await profile_in_path(request)
    now = services.clock.now()
    found = await services.appointments.list_appointments(profile_id=profile.id)
    upcoming = [a.public() for a in found if a.ends_at > now]
    return web.json_response({"profile": profile.public(), "appointments": upcoming})


async def update_profile(request: web.Request) -> web.Response:
    user = await require_staff(request)
    services = request.app[SERVICES]
    profile = await profile_in_path(request)
    data = await read_json(request)
    try:
        edited = edit_profile(profile, data, settings=services.settings)
    except ValidationError as exc:
        raise _invalid(exc) from None
    fresh = await services.profiles.update_profile(edited)
    if fresh is None:  # deleted meanwhile
        raise ApiError(404, "no such profile", ErrorCode.NOT_FOUND)
    fields = changed_fields(profile, edited)
    if fields:  # an edit that changes nothing is no event
        await audit_staff(
            services,
            user.username,
            Action.PROFILE,
            profile.id,
            change="edit",
            fields=".".join(fields),
        )
    log.info("profile_edited", profile=profile.id, staff=user.username)
    return web.json_response({"profile": fresh.public()})


async def delete_profile(request: web.Request) -> web.Response:
    """DELETE /api/profiles/<id>: erase the profile (signalling.erasure), unless it has an
    appointment still to come (409)."""
    user = await require_staff(request)
    services = request.app[SERVICES]
    profile = await profile_in_path(request)
    found = await services.appointments.list_appointments(profile_id=profile.id)
    if pending(found, services.clock.now()):
        raise ApiError(
            409,
            "this jobseeker has appointments still to come: cancel them first",
            ErrorCode.CONFLICT,
        )
    erased = await erase_profile(profile, services.profiles, request.app[FOLDER], user.username)
    if erased is None:
        raise ApiError(404, "no such profile", ErrorCode.NOT_FOUND)
    return web.json_response({"deleted": True, "documents": erased.documents})


async def issue_space_link(request: web.Request) -> web.Response:
    """Issue the profile's space link, or reissue it: the old link and every device signed
    in with it stop working. The link is shown once; only its hash is kept."""
    user = await require_staff(request)
    services = request.app[SERVICES]
    profile = await profile_in_path(request)
    code = new_space_code()
    updated = await services.profiles.set_space_link(profile.id, hash_space_code(code))
    if updated is None:  # deleted meanwhile
        raise ApiError(404, "no such profile", ErrorCode.NOT_FOUND)
    change = "reissue" if profile.space_link_hash else "issue"
    await audit_staff(
        services,
        user.username,
        Action.SPACE_LINK,
        profile.id,
        change=change,
        version=updated.space_link_version,
    )
    log.info(
        "space_link_issued",
        profile=profile.id,
        staff=user.username,
        version=updated.space_link_version,
    )
    body: dict[str, Any] = {
        "profile": updated.public(),
        "url": space_url(services, request, code),
    }
    return web.json_response(body)


async def revoke_space_link(request: web.Request) -> web.Response:
    """Revoke the space link: it stops working and every device of the profile is signed out."""
    user = await require_staff(request)
    services = request.app[SERVICES]
    profile = await profile_in_path(request)
    updated = await services.profiles.set_space_link(profile.id, None)
    if updated is None:
        raise ApiError(404, "no such profile", ErrorCode.NOT_FOUND)
    await audit_staff(
        services,
        user.username,
        Action.SPACE_LINK,
        profile.id,
        change="revoke",
        version=updated.space_link_version,
    )
    log.info("space_link_revoked", profile=profile.id, staff=user.username)
    return web.json_response({"profile": updated.public()})


async def profile_trail(request: web.Request) -> web.Response:
    """GET /api/profiles/<id>/audit?limit=: the profile's audit trail, newest first: its own
    entries and those of its appointments (joins, admissions), with the titles of documents
    and appointments that still exist. Reading it is not itself an entry (DESIGN.md, Audit
    log, lists what is audited)."""
    await require_staff(request)
    services = request.app[SERVICES]
    profile = await profile_in_path(request)
    limit = _limit(request.query.get("limit"))
    appointments = await services.appointments.list_appointments(profile_id=profile.id)
    documents = await services.documents.list_documents(profile.id)
    entries = await services.documents.audit.for_profile(
        profile.id, limit=limit, appointments=[a.id for a in appointments]
    )
    titles = {d.id: d.title for d in documents}
    by_id = {a.id: a for a in appointments}
    return web.json_response(
        {"entries": [trail_entry(e, titles, by_id) for e in entries]},
        headers={"Cache-Control": "no-store"},
    )


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_TRAIL
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_TRAIL:
        raise ApiError(
            400, f"limit must be a number from 1 to {MAX_TRAIL}", ErrorCode.INVALID, field="limit"
        )
    return int(raw)


def setup_profiles_api(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/profiles", create_profile)
    r.add_get("/api/profiles", find_profiles)
    r.add_get("/api/profiles/{profile_id}", get_profile)
    r.add_patch("/api/profiles/{profile_id}", update_profile)
    r.add_delete("/api/profiles/{profile_id}", delete_profile)
    r.add_post("/api/profiles/{profile_id}/space-link", issue_space_link)
    r.add_delete("/api/profiles/{profile_id}/space-link", revoke_space_link)
    r.add_get("/api/profiles/{profile_id}/audit", profile_trail)
