"""The jobseeker's space: the personal link `/s/<code>`, the page `/space`, joining an
appointment from it, signing out on this device, and the web app manifest.

The space shows what belongs to the profile of this device's session, in the profile's
language. The manifest lets it sit on a tablet's home screen; there is no service worker, so
no personal data is kept offline.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from aiohttp import web
from babel.dates import format_date
from babel.lists import format_list

from core.audit import Action
from core.contracts.errors import ErrorCode
from core.documents.access import DocumentMeta, Viewer, ViewerKind
from core.model import LANGUAGES, Appointment, AppointmentStatus, locale_of
from signalling.auth.invites import LinkState, link_state
from signalling.auth.space import (
    SpaceVisit,
    csrf_for_space,
    current_visit,
    end_session,
    hash_space_code,
    looks_like_space_code,
    set_space_cookie,
    space_csrf_ok,
    start_session,
)
from signalling.auth.staff import session_hash
from signalling.context import SERVICES
from signalling.folder import FOLDER
from signalling.http.api import ApiError, issue_join, read_json, require_space
from signalling.http.client_address import client_address
from signalling.http.limits import rate_limit
from signalling.http.pages import NO_STORE, STATUS_FOR_STATE, join_context, render, when
from signalling.http.ratelimit import RateLimit
from signalling.http.space_help import space_help_context
from signalling.http.space_learning import setup_space_learning, space_learning_context
from signalling.profiles import profile_record
from signalling.trail import DocumentTrail, who_has_seen

log = structlog.get_logger(__name__)

SPACE_LIMIT = web.AppKey("space_limit", RateLimit)
SEEN_LIMIT = 1000  # the newest audit entries of a profile that "who has seen" reads
SESSION_PREFIX = 16  # hex digits of a device session's hash named in the audit trail

_STATES = {
    LinkState.OPEN: "open",
    LinkState.TOO_EARLY: "too_early",
    LinkState.EXPIRED: "expired",
    LinkState.CANCELLED: "cancelled",
    LinkState.ENDED: "ended",
}

MANIFEST = {
    "name": "Video appointment",
    "short_name": "Appointments",
    "start_url": "/space",
    "scope": "/",
    "display": "standalone",
    "background_color": "#ffffff",
    "theme_color": "#ffffff",
    "icons": [
        {"src": "/static/img/logo.svg", "sizes": "any", "type": "image/svg+xml"},
        {"src": "/static/img/favicon.svg", "sizes": "any", "type": "image/svg+xml"},
    ],
}


async def _audit_device(request: web.Request, action: Action, profile: str, hashed: str) -> None:
    """A device signing in or out: the entry names the session by a prefix of its hash (which
    pairs a sign-in with its sign-out and reveals nothing of the cookie)."""
    services = request.app[SERVICES]
    record = profile_record(
        action,
        profile,
        services.clock.now(),
        actor=profile,
        role="jobseeker",
        session=hashed[:SESSION_PREFIX],
    )
    await services.documents.audit.append(record)


async def open_space_link(request: web.Request) -> web.StreamResponse:
    """GET /s/<code>: start a device session and move on to /space (the code leaves the
    address bar). Unknown and malformed codes get the same 404; guessing is rate-limited
    per client address like joining."""
    services = request.app[SERVICES]
    wait = await request.app[SPACE_LIMIT].take(client_address(request))
    if wait > 0:
        response = render(request, "space_link.html", "space-link", status=429, state="limited")
        response.headers["Retry-After"] = str(max(1, int(wait + 0.999)))
        return response
    code = request.match_info["code"]
    profile = (
        await services.profiles.profile_for_link(hash_space_code(code))
        if looks_like_space_code(code)
        else None
    )
    if profile is None:
        log.info("space_link_unknown")
        return render(request, "space_link.html", "space-link", status=404, state="unknown")
    token = await start_session(request, profile)
    await _audit_device(request, Action.SIGN_IN, profile.id, session_hash(token))
    log.info("space_session_started", profile=profile.id)
    # A page that moves on by itself rather than a 30x: a SameSite=Strict cookie set while
    # following a link from another site (a webmail, a messenger's web view) is not sent on a
    # redirect that continues that navigation, but is on one the page itself starts.
    response = render(request, "space_link.html", "space-link", lang=profile.lang, state="opening")
    set_space_cookie(request, response, token)
    return response


def _appointment_view(appointment: Appointment, lang: str, request: web.Request) -> dict[str, Any]:
    services = request.app[SERVICES]
    zone = services.settings.timezone
    margin = services.settings.early_join_margin
    state = link_state(appointment, services.clock.now(), margin)
    return {
        "id": appointment.id,
        "title": appointment.title,
        "starts": when(appointment.starts_at, lang, zone),
        "ends": when(appointment.ends_at, lang, zone),
        "opens": when(appointment.starts_at - margin, lang, zone),
        "state": _STATES[state],
        "kind": str(appointment.kind),
        "place": appointment.place,
        "address": appointment.address,
        "bring": appointment.bring,
    }


def _document_view(meta: DocumentMeta, lang: str, timezone: str) -> dict[str, Any]:
    """A document as the folder list shows it: the date in the profile's language."""
    moment = datetime.fromtimestamp(meta.uploaded_at, tz=UTC).astimezone(ZoneInfo(timezone))
    return {
        "id": meta.id,
        "title": meta.title,
        "kind": str(meta.kind),
        "pages": meta.pages,
        "iso": moment.date().isoformat(),
        "date": format_date(moment.date(), "long", locale=locale_of(lang)),
    }


def _lang(request: web.Request, visit: SpaceVisit) -> str:
    """The profile's language, unless the picker chose another for this page."""
    chosen = request.query.get("lang")
    return chosen if chosen in LANGUAGES else visit.profile.lang


async def space_page(request: web.Request) -> web.StreamResponse:
    """GET /space: this device's space, or how to get back in when signed out."""
    visit = await current_visit(request)
    if visit is None:
        return render(request, "space.html", "space", {"state": "signed_out"}, profile=None)
    services = request.app[SERVICES]
    profile = visit.profile
    lang = _lang(request, visit)
    now = services.clock.now()
    found = await services.appointments.list_appointments(profile_id=profile.id)
    upcoming = [a for a in found if a.ends_at > now and a.status != AppointmentStatus.ENDED]
    views = [_appointment_view(a, lang, request) for a in upcoming]
    owner = Viewer(ViewerKind.OWNER, profile.id, profile=profile.id)
    documents = await request.app[FOLDER].documents_of(owner, profile.id)
    zone = services.settings.timezone
    csrf = csrf_for_space(visit.token)
    seen = await _who_has_seen(request, visit, documents, found)
    return render(
        request,
        "space.html",
        "space",
        {"state": "signed_in", "csrf": csrf},
        lang=lang,
        profile={"name": profile.name},
        appointments=views,
        documents=[_document_view(d, lang, zone) for d in documents],
        seen=[_trail_view(t, lang, zone) for t in seen],
        csrf=csrf,
        **await space_help_context(request, profile, lang),
        **await space_learning_context(request, profile, lang),
    )


async def _who_has_seen(
    request: web.Request,
    visit: SpaceVisit,
    documents: list[DocumentMeta] | None = None,
    appointments: list[Appointment] | None = None,
) -> list[DocumentTrail]:
    """Who has seen this profile's documents (signalling.trail), newest first."""
    services = request.app[SERVICES]
    profile = visit.profile.id
    if documents is None:
        owner = Viewer(ViewerKind.OWNER, profile, profile=profile)
        documents = await request.app[FOLDER].documents_of(owner, profile)
    if appointments is None:
        appointments = await services.appointments.list_appointments(profile_id=profile)
    entries = await services.documents.audit.for_profile(profile, limit=SEEN_LIMIT)
    return who_has_seen(
        entries,
        {d.id: d.title for d in documents},
        {a.id: a for a in appointments},
        services.settings.timezone,
    )


def _trail_view(trail: DocumentTrail, lang: str, zone: str) -> dict[str, Any]:
    """A document's lines as the space shows them: moments in the profile's language."""
    return {
        "document": trail.document,
        "title": trail.title,
        "seen": [
            {
                "action": str(line.action),
                "who": str(line.who),
                "when": when(line.at, lang, zone),
                "in_call": line.appointment is not None,
                "call": None
                if line.appointment_starts is None
                else when(line.appointment_starts, lang, zone),
                "pages": format_list([str(p) for p in line.pages], locale=locale_of(lang)),
            }
            for line in trail.seen
        ],
    }


async def seen_api(request: web.Request) -> web.Response:
    """GET /api/space/seen: who has seen this profile's documents (the space's session only)."""
    visit = await require_space(request)
    trails = await _who_has_seen(request, visit)
    return web.json_response(
        {"documents": [t.public() for t in trails]}, headers={"Cache-Control": "no-store"}
    )


async def sign_out(request: web.Request) -> web.StreamResponse:
    """POST /space/signout (a form with the space's CSRF token): end this device's session."""
    visit = await current_visit(request)
    if visit is not None:
        form = await request.post()
        sent = form.get("csrf")
        if not isinstance(sent, str) or not space_csrf_ok(visit, sent):
            raise web.HTTPForbidden(
                text=json.dumps({"error": "bad CSRF token", "code": ErrorCode.CSRF}),
                content_type="application/json",
            )
        await _audit_device(request, Action.SIGN_OUT, visit.profile.id, visit.session.session_hash)
        log.info("space_signed_out", profile=visit.profile.id)
    response = web.HTTPSeeOther("/space", headers=NO_STORE)
    await end_session(request, response)
    raise response


async def _own_appointment(visit: SpaceVisit, request: web.Request) -> Appointment | None:
    """The appointment named in the path, if this profile's jobseeker takes part in it."""
    appointment_id = request.match_info["appointment_id"]
    if len(appointment_id) > 64:
        return None
    found = await request.app[SERVICES].appointments.get_appointment(appointment_id)
    if found is None or not any(p.profile_id == visit.profile.id for p in found.participants):
        return None
    return found


def _participant_id(visit: SpaceVisit, appointment: Appointment) -> str:
    return next(p.id for p in appointment.participants if p.profile_id == visit.profile.id)


async def space_join_page(request: web.Request) -> web.StreamResponse:
    """GET /space/join/<appointment>: the join page, for the profile's participant; it gets
    its room token from the space session instead of an invite code."""
    visit = await current_visit(request)
    if visit is None:
        raise web.HTTPSeeOther("/space", headers=NO_STORE)
    appointment = await _own_appointment(visit, request)
    if (
        appointment is not None and not appointment.is_video
    ):  # nothing to join: the space says where
        raise web.HTTPSeeOther("/space", headers=NO_STORE)
    state = "unknown"
    participant_id = ""
    if appointment is not None:
        services = request.app[SERVICES]
        now = services.clock.now()
        state = _STATES[link_state(appointment, now, services.settings.early_join_margin)]
        participant_id = _participant_id(visit, appointment)
    lang = _lang(request, visit)
    context, data = join_context(request, lang, state, appointment, participant_id)
    if appointment is not None:
        data.update(
            join_via=f"/api/space/appointments/{appointment.id}/join",
            csrf=csrf_for_space(visit.token),
        )
    return render(
        request,
        "join.html",
        "join",
        data,
        status=STATUS_FOR_STATE[state],
        lang=lang,
        **context,
    )


async def space_join(request: web.Request) -> web.Response:
    """POST /api/space/appointments/<appointment>/join {consent}: a room token for the
    profile's participant, as /api/join gives one for an invite code."""
    visit = await require_space(request)  # a POST: the space's CSRF token too
    data = await read_json(request)
    consent = data.get("consent", False) if isinstance(data, dict) else None
    if not isinstance(consent, bool) or set(data) - {"consent"}:
        raise ApiError(400, "only consent (true/false) is accepted", ErrorCode.BAD_REQUEST)
    appointment = await _own_appointment(visit, request)
    if appointment is None:
        raise ApiError(404, "no such appointment", ErrorCode.NOT_FOUND)
    participant = appointment.participant(_participant_id(visit, appointment))
    assert participant is not None
    return await issue_join(request, appointment, participant, consent)


async def manifest(request: web.Request) -> web.Response:
    """The web app manifest: the space on the home screen. No service worker goes with it."""
    return web.Response(
        text=json.dumps(MANIFEST),
        content_type="application/manifest+json",
        headers={"Cache-Control": "max-age=3600"},
    )


def setup_space_pages(app: web.Application) -> None:
    """The space's routes (after `setup_pages`: they render with its catalogs)."""
    services = app[SERVICES]
    app[SPACE_LIMIT] = rate_limit(
        services, "space", services.settings.join_rate, services.settings.join_burst
    )
    r = app.router
    r.add_get("/s/{code}", open_space_link, name="space_link")
    r.add_get("/space", space_page, name="space")
    r.add_post("/space/signout", sign_out, name="space_signout")
    r.add_get("/space/join/{appointment_id}", space_join_page, name="space_join")
    r.add_post("/api/space/appointments/{appointment_id}/join", space_join)
    r.add_get("/api/space/seen", seen_api)
    r.add_get("/manifest.webmanifest", manifest, name="manifest")
    setup_space_learning(app)
