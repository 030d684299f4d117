"""The console's JSON API for jobseeker profiles and their space links (staff only)."""

from __future__ import annotations

from typing import Any

import structlog
from aiohttp import web

from core.contracts.errors import ErrorCode
from core.model import Profile
from signalling.appointments import ValidationError
from signalling.auth.space import hash_space_code, new_space_code
from signalling.context import SERVICES, Services
from signalling.http.api import ApiError, read_json, require_staff
from signalling.profiles import edit_profile, looks_like_profile_id, new_profile, search_query

log = structlog.get_logger(__name__)

MAX_FOUND = 50


def space_url(services: Services, request: web.Request, code: str) -> str:
    base = services.settings.public_url.rstrip("/") or f"{request.scheme}://{request.host}"
    return f"{base}/s/{code}"


def _invalid(exc: ValidationError) -> ApiError:
    return ApiError(400, exc.message, ErrorCode.INVALID, field=exc.field)


async def _profile(request: web.Request) -> Profile:
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
    profile = await _profile(request)
    now = services.clock.now()
    found = await services.appointments.list_appointments(profile_id=profile.id)
    upcoming = [a.public() for a in found if a.ends_at > now]
    return web.json_response({"profile": profile.public(), "appointments": upcoming})


async def update_profile(request: web.Request) -> web.Response:
    user = await require_staff(request)
    services = request.app[SERVICES]
    profile = await _profile(request)
    data = await read_json(request)
    try:
        edited = edit_profile(profile, data, settings=services.settings)
    except ValidationError as exc:
        raise _invalid(exc) from None
    await services.profiles.put_profile(edited)
    log.info("profile_edited", profile=profile.id, staff=user.username)
    fresh = await services.profiles.get_profile(profile.id) or edited
    return web.json_response({"profile": fresh.public()})


async def issue_space_link(request: web.Request) -> web.Response:
    """Issue the profile's space link, or reissue it: the old link and every device signed
    in with it stop working. The link is shown once; only its hash is kept."""
    user = await require_staff(request)
    services = request.app[SERVICES]
    profile = await _profile(request)
    code = new_space_code()
    updated = await services.profiles.set_space_link(profile.id, hash_space_code(code))
    if updated is None:  # deleted meanwhile
        raise ApiError(404, "no such profile", ErrorCode.NOT_FOUND)
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
    profile = await _profile(request)
    updated = await services.profiles.set_space_link(profile.id, None)
    if updated is None:
        raise ApiError(404, "no such profile", ErrorCode.NOT_FOUND)
    log.info("space_link_revoked", profile=profile.id, staff=user.username)
    return web.json_response({"profile": updated.public()})


def setup_profiles_api(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/profiles", create_profile)
    r.add_get("/api/profiles", find_profiles)
    r.add_get("/api/profiles/{profile_id}", get_profile)
    r.add_patch("/api/profiles/{profile_id}", update_profile)
    r.add_post("/api/profiles/{profile_id}/space-link", issue_space_link)
    r.add_delete("/api/profiles/{profile_id}/space-link", revoke_space_link)
