"""The JSON HTTP API: staff login, appointments, and the invite-for-token exchange."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web

from core.audit import Action, AuditRecord
from core.contracts.client import LobbyMessage, MessageError
from core.contracts.errors import ErrorCode
from core.jsonwire import loads_strict
from core.model import Appointment, AttendanceEvent, AttendanceKind, Participant, Profile, StaffUser
from core.store.redis_client import UNAVAILABLE
from signalling.appointment_filter import apply_filter, parse_filter
from signalling.appointments import ValidationError, reissue, schedule
from signalling.auth.invites import LinkState, hash_code, link_state, looks_like_code
from signalling.auth.login_throttle import LoginGuard
from signalling.auth.space import SpaceVisit, current_visit, space_csrf_ok
from signalling.auth.staff import (
    SESSION_COOKIE,
    csrf_for_session,
    csrf_ok,
    current_staff,
    new_session_token,
    session_hash,
    verify_password,
)
from signalling.console_feed import Notice, Topic, announce
from signalling.context import SERVICES, Services
from signalling.http.client_address import client_address
from signalling.http.lifecycle import DRAINING
from signalling.http.limits import login_guard, rate_limit
from signalling.http.ratelimit import RateLimit
from signalling.metrics import METRICS
from signalling.profiles import looks_like_profile_id
from signalling.room.status import live_view, present_members
from signalling.room.ws import HUB
from signalling.sharing import linked_profile

log = structlog.get_logger(__name__)

MAX_BODY = 64 * 1024
STORE_RETRY_AFTER = 2  # seconds a client is told to wait while Redis is unreachable

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# Codes for the HTTP errors aiohttp raises itself (no route, wrong method, body too large).
HTTP_CODES = {
    400: ErrorCode.BAD_REQUEST,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.TOO_LARGE,
}


def json_error(status: int, message: str, code: ErrorCode, **extra: Any) -> web.Response:
    """Every API error: a 4xx with a JSON body that says what went wrong."""
    return web.json_response({"error": message, "code": code, **extra}, status=status)


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: ErrorCode, **extra: Any) -> None:
        super().__init__(message)
        self.response = json_error(status, message, code, **extra)


async def read_json(request: web.Request) -> Any:
    if request.content_type != "application/json":
        raise ApiError(415, "send application/json", ErrorCode.UNSUPPORTED_MEDIA_TYPE)
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise ApiError(413, "request body too large", ErrorCode.TOO_LARGE)
    body = await request.content.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        raise ApiError(413, "request body too large", ErrorCode.TOO_LARGE)
    try:
        return loads_strict(body)
    except ValueError:
        raise ApiError(400, "body is not valid JSON", ErrorCode.BAD_JSON) from None


@web.middleware
async def api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn ApiErrors and aiohttp's HTTP errors under /api into JSON answers."""
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response
    except web.HTTPException as exc:
        if not request.path.startswith("/api/") or exc.status < 400:
            raise
        return json_error(exc.status, exc.reason, HTTP_CODES.get(exc.status, ErrorCode.HTTP_ERROR))
    except UNAVAILABLE as exc:
        if not request.path.startswith("/api/"):
            raise
        log.warning("api_store_unavailable", error=type(exc).__name__)
        response = json_error(
            503, "the service is briefly unavailable; try again", ErrorCode.STORE_UNAVAILABLE
        )
        response.headers["Retry-After"] = str(STORE_RETRY_AFTER)
        return response
    except Exception:
        if not request.path.startswith("/api/"):
            raise
        resource = request.match_info.route.resource
        # The route's pattern, not the path: no ids in the log line.
        log.exception("api_error", route=resource.canonical if resource else None)
        return json_error(500, "internal error", ErrorCode.INTERNAL)


def _rate_limited(message: str, wait: float) -> ApiError:
    """A 429 that says, in Retry-After, when to come back (whole seconds, at least 1)."""
    error = ApiError(429, message, ErrorCode.RATE_LIMITED)
    error.response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
    return error


async def require_staff(request: web.Request, *, csrf: bool = True) -> StaffUser:
    user = await current_staff(request)
    if user is None:
        raise ApiError(401, "log in first", ErrorCode.UNAUTHENTICATED)
    if csrf and request.method not in ("GET", "HEAD") and not csrf_ok(request):
        raise ApiError(403, "missing or wrong X-CSRF-Token", ErrorCode.CSRF)
    return user


async def require_space(request: web.Request) -> SpaceVisit:
    """This device's space session (a jobseeker's own space), with the space's CSRF token on
    anything but a read."""
    visit = await current_visit(request)
    if visit is None:
        raise ApiError(401, "this device is signed out", ErrorCode.SPACE_SIGNED_OUT)
    if request.method not in ("GET", "HEAD") and not space_csrf_ok(
        visit, request.headers.get("X-CSRF-Token", "")
    ):
        raise ApiError(403, "missing or wrong X-CSRF-Token", ErrorCode.CSRF)
    return visit


def _services(request: web.Request) -> Services:
    return request.app[SERVICES]


# ---- staff login ----------------------------------------------------------------------


THROTTLE = web.AppKey("login_throttle", LoginGuard)


async def login(request: web.Request) -> web.Response:
    services = _services(request)
    data = await read_json(request)
    if not isinstance(data, dict):
        raise ApiError(400, "body must be an object", ErrorCode.BAD_REQUEST)
    username, password = data.get("username"), data.get("password")
    if (
        not isinstance(username, str)
        or not isinstance(password, str)
        or len(username) > 100
        or len(password) > 1024
    ):
        raise ApiError(400, "username and password are required", ErrorCode.BAD_REQUEST)
    now = services.clock.now()
    throttle = request.app[THROTTLE]
    address = client_address(request)
    wait = await throttle.retry_after(username, address, now)
    if wait > 0:
        raise _rate_limited("too many failed attempts; try again later", wait)
    user = await services.accounts.get_staff(username)
    # Hash even for unknown users so timing does not tell which usernames exist.
    stored = user.password_hash if user else "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA"
    if not verify_password(password, stored) or user is None:
        await throttle.failed(username, address, now)
        log.info("login_failed")
        raise ApiError(401, "wrong username or password", ErrorCode.BAD_CREDENTIALS)
    await throttle.succeeded(username, address)
    token = new_session_token()
    await services.accounts.put_session(
        session_hash(token), user.username, now + services.settings.session_ttl
    )
    log.info("login", staff=user.username)
    response = web.json_response(
        {
            "user": {"username": user.username, "display_name": user.display_name},
            "csrf": csrf_for_session(token),
        }
    )
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=services.settings.session_ttl,
        httponly=True,
        secure=True,
        samesite="Strict",
        path="/",
    )
    return response


async def logout(request: web.Request) -> web.Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        if not csrf_ok(request):
            raise ApiError(403, "missing or wrong X-CSRF-Token", ErrorCode.CSRF)
        await _services(request).accounts.delete_session(session_hash(token))
    response = web.json_response({"ok": True})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def me(request: web.Request) -> web.Response:
    user = await require_staff(request)
    return web.json_response(
        {"user": {"username": user.username, "display_name": user.display_name}}
    )


# ---- appointments ---------------------------------------------------------------------


def join_url(services: Services, request: web.Request, code: str) -> str:
    base = services.settings.public_url.rstrip("/") or f"{request.scheme}://{request.host}"
    return f"{base}/j/{code}"


async def _view(services: Services, appointment: Appointment, user: StaffUser) -> dict[str, Any]:
    """The staff view of an appointment. `mine`: whether `user` scheduled it, so only she is
    offered what only she may do (change it, add someone: `own_appointment`)."""
    members = present_members(
        await services.presence.get_members(appointment.id), await services.presence.live_nodes()
    )
    attendance = await services.appointments.list_attendance(appointment.id)
    return {
        **appointment.public(),
        "notes": appointment.notes,  # staff only
        "mine": appointment.created_by == user.username,
        "live": live_view(appointment, members, attendance, services.clock.now()),
    }


async def _profile_of(services: Services, data: Any) -> Profile | None:
    """The profile a scheduling request names in `profile_id` (None when it names none)."""
    if not isinstance(data, dict) or data.get("profile_id") is None:
        return None
    profile_id = data["profile_id"]
    found = (
        await services.profiles.get_profile(profile_id)
        if isinstance(profile_id, str) and looks_like_profile_id(profile_id)
        else None
    )
    if found is None:
        raise ApiError(400, "no such profile", ErrorCode.INVALID, field="profile_id")
    return found


async def create_appointment(request: web.Request) -> web.Response:
    user = await require_staff(request)
    services = _services(request)
    data = await read_json(request)
    profile = await _profile_of(services, data)
    try:
        scheduled = schedule(
            data,
            now=services.clock.now(),
            settings=services.settings,
            created_by=user.username,
            profile=profile,
        )
    except ValidationError as exc:
        raise ApiError(400, exc.message, ErrorCode.INVALID, field=exc.field) from None
    appointment = scheduled.appointment
    await services.appointments.put_appointment(appointment)
    log.info(
        "appointment_created",
        appointment=appointment.id,
        staff=user.username,
        participants=len(appointment.participants),
        profile=profile.id if profile else None,
    )
    await announce(services.bus, Notice(Topic.APPOINTMENT, appointment.id))
    urls = [
        {
            "participant": p.id,
            "role": p.role,
            "name": p.name,
            "url": join_url(services, request, scheduled.codes[p.id]),
        }
        for p in appointment.participants
    ]
    if not appointment.is_video:
        urls = []  # in person or by phone: nothing to join (the codes die unseen)
    shown = {**appointment.public(), "notes": appointment.notes}
    return web.json_response({"appointment": shown, "join_urls": urls}, status=201)


async def list_appointments(request: web.Request) -> web.Response:
    """GET /api/appointments?from=&to=&q=&status=&limit=: the console's list, searched and
    filtered on the server (see `signalling.appointment_filter`)."""
    user = await require_staff(request)
    services = _services(request)
    try:
        wanted = parse_filter(request.query)
    except ValidationError as exc:
        raise ApiError(400, exc.message, ErrorCode.INVALID, field=exc.field) from None
    found = await services.appointments.list_appointments(
        starts_after=wanted.starts_after, starts_before=wanted.starts_before
    )
    shown = apply_filter(found, wanted, services.clock.now())
    return web.json_response({"appointments": [await _view(services, a, user) for a in shown]})


async def appointment_in_path(request: web.Request) -> Appointment:
    """The appointment named by the path's `appointment_id`; 404 when there is none."""
    appointment_id = request.match_info["appointment_id"]
    if len(appointment_id) > 64:
        raise ApiError(404, "no such appointment", ErrorCode.NOT_FOUND)
    appointment = await _services(request).appointments.get_appointment(appointment_id)
    if appointment is None:
        raise ApiError(404, "no such appointment", ErrorCode.NOT_FOUND)
    return appointment


async def own_appointment(request: web.Request, user: StaffUser, doing: str) -> Appointment:
    """The appointment in the path, if `user` scheduled it: only she may `doing` (403)."""
    appointment = await appointment_in_path(request)
    if appointment.created_by != user.username:
        raise ApiError(
            403, f"only the caseworker who scheduled it may {doing}", ErrorCode.FORBIDDEN
        )
    return appointment


async def audit_appointment(
    services: Services,
    user: StaffUser,
    action: Action,
    appointment: Appointment,
    at: float,
    *,
    subject: str | None = None,
    **detail: str,
) -> None:
    """Append what a caseworker did to an appointment to the audit trail (ids and names of
    fields only), under the jobseeker's profile when it was scheduled for one."""
    await services.documents.audit.append(
        AuditRecord(
            at=at,
            actor=user.username,
            actor_role="caseworker",
            action=action,
            profile=linked_profile(appointment),
            appointment=appointment.id,
            subject=subject,
            detail=detail,
        )
    )


async def get_appointment(request: web.Request) -> web.Response:
    user = await require_staff(request)
    services = _services(request)
    appointment = await appointment_in_path(request)
    attendance = await services.appointments.list_attendance(appointment.id)
    return web.json_response(
        {
            "appointment": await _view(services, appointment, user),
            "attendance": [
                {"participant": e.participant_id, "event": e.event, "at": e.at} for e in attendance
            ],
        }
    )


async def cancel_appointment(request: web.Request) -> web.Response:
    user = await require_staff(request)
    services = _services(request)
    appointment = await appointment_in_path(request)
    if appointment.status != "scheduled":
        raise ApiError(409, f"the appointment is already {appointment.status}", ErrorCode.CONFLICT)
    hub = request.app[HUB]
    await hub.end(appointment.id, user.username)  # closes any live sockets, revokes tokens
    fresh = await services.appointments.get_appointment(appointment.id) or appointment
    cancelled = Appointment.from_dict({**fresh.to_dict(), "status": "cancelled"})
    await services.appointments.put_appointment(cancelled)
    log.info("appointment_cancelled", appointment=appointment.id, staff=user.username)
    await announce(services.bus, Notice(Topic.APPOINTMENT, appointment.id))
    return web.json_response({"appointment": await _view(services, cancelled, user)})


async def end_appointment(request: web.Request) -> web.Response:
    user = await require_staff(request)
    appointment = await appointment_in_path(request)
    refuse_unless_video(appointment)
    if not await request.app[HUB].end(appointment.id, user.username):
        raise ApiError(409, f"the appointment is already {appointment.status}", ErrorCode.CONFLICT)
    return web.json_response({"ok": True})


async def _member_action(request: web.Request, admit: bool) -> web.Response:
    user = await require_staff(request)
    appointment = await appointment_in_path(request)
    refuse_unless_video(appointment)
    data = await read_json(request)
    pid = data.get("participant") if isinstance(data, dict) else None
    if not isinstance(pid, str) or appointment.participant(pid) is None:
        raise ApiError(
            400,
            "participant must be one of the appointment's",
            ErrorCode.INVALID,
            field="participant",
        )
    hub = request.app[HUB]
    if admit and not await hub.admit(appointment.id, pid, user.username):
        raise ApiError(409, "that participant is not waiting", ErrorCode.NOT_WAITING)
    if not admit:
        await hub.deny(appointment.id, pid, user.username)
    return web.json_response({"ok": True})


async def admit(request: web.Request) -> web.Response:
    return await _member_action(request, True)


async def deny(request: web.Request) -> web.Response:
    return await _member_action(request, False)


async def lobby_message(request: web.Request) -> web.Response:
    """The console writes to an appointment's waiting room ("I am running 5 minutes late")."""
    user = await require_staff(request)
    appointment = await appointment_in_path(request)
    refuse_unless_video(appointment)
    data = await read_json(request)
    try:
        msg = LobbyMessage.parse(data if isinstance(data, dict) else {})
    except MessageError as exc:
        raise ApiError(400, exc.message, ErrorCode.INVALID, field="text") from None
    if not await request.app[HUB].lobby_message(appointment.id, msg.text, user.username):
        raise ApiError(409, "the appointment is not live", ErrorCode.CONFLICT)
    return web.json_response({"ok": True})


async def reissue_link(request: web.Request) -> web.Response:
    user = await require_staff(request)
    services = _services(request)
    appointment = await appointment_in_path(request)
    pid = request.match_info["participant_id"]
    if appointment.participant(pid) is None:
        raise ApiError(404, "no such participant", ErrorCode.NOT_FOUND)
    if appointment.status != "scheduled":
        raise ApiError(409, f"the appointment is {appointment.status}", ErrorCode.CONFLICT)
    refuse_unless_video(appointment)
    updated, code = reissue(appointment, pid, services.clock.now())
    await services.appointments.put_appointment(updated)
    # Whoever holds the old link (a forwarded SMS, a lost tablet) is put out of the call.
    await request.app[HUB].kick(appointment.id, pid, user.username, denied=False)
    log.info("invite_reissued", appointment=appointment.id, participant=pid, staff=user.username)
    return web.json_response({"participant": pid, "url": join_url(services, request, code)})


# ---- joining --------------------------------------------------------------------------


def refuse_unless_video(appointment: Appointment) -> None:
    """409 for an in-person or phone appointment: it has no links, room or tokens."""
    if not appointment.is_video:
        raise ApiError(
            409,
            f"a {appointment.kind} appointment has no video call to join",
            ErrorCode.NOT_A_CALL,
            kind=appointment.kind,
        )


def _window(appointment: Appointment) -> dict[str, Any]:
    return {
        "title": appointment.title,
        "starts_at": appointment.starts_at,
        "ends_at": appointment.ends_at,
    }


async def join(request: web.Request) -> web.Response:
    """Exchange an invite code for a short-lived room token (DESIGN.md, fixed contract)."""
    services = _services(request)
    # Before anything else: guessing codes must not cost us a store lookup each.
    wait = await request.app[JOIN_LIMIT].take(client_address(request))
    if wait > 0:
        raise _rate_limited("too many attempts; slow down", wait)
    data = await read_json(request)
    if not isinstance(data, dict) or not isinstance(data.get("code"), str):
        raise ApiError(400, "code is required", ErrorCode.BAD_REQUEST, field="code")
    consent = data.get("consent", False)
    if not isinstance(consent, bool) or set(data) - {"code", "consent"}:
        raise ApiError(
            400, "only code and consent (true/false) are accepted", ErrorCode.BAD_REQUEST
        )
    code = data["code"]
    found = (
        await services.appointments.find_invite(hash_code(code)) if looks_like_code(code) else None
    )
    appointment = await services.appointments.get_appointment(found[0]) if found else None
    participant = appointment.participant(found[1]) if appointment and found else None
    if appointment is None or participant is None or participant.invite_hash != hash_code(code):
        raise ApiError(404, "this link is not valid", ErrorCode.UNKNOWN_INVITE)
    return await issue_join(request, appointment, participant, consent)


async def issue_join(
    request: web.Request, appointment: Appointment, participant: Participant, consent: bool
) -> web.Response:
    """The room token for a participant whose link (an invite code, or the space session of
    the profile they stand for) checked out: refused outside the appointment's window."""
    services = _services(request)
    refuse_unless_video(appointment)
    now = services.clock.now()
    margin = services.settings.early_join_margin
    state = link_state(appointment, now, margin)
    if state is LinkState.TOO_EARLY:
        raise ApiError(
            425,
            "this link opens shortly before the appointment",
            ErrorCode.TOO_EARLY,
            appointment=_window(appointment),
            opens_at=appointment.starts_at - margin,
        )
    if state is LinkState.CANCELLED:
        raise ApiError(
            409,
            "this appointment was cancelled",
            ErrorCode.CANCELLED,
            appointment=_window(appointment),
        )
    if state in (LinkState.EXPIRED, LinkState.ENDED):
        raise ApiError(
            410, "this appointment is over", ErrorCode.EXPIRED, appointment=_window(appointment)
        )
    try:
        token, claims = services.issuer.mint(appointment.id, participant, appointment.ends_at)
    except ValueError:  # less than a second of the window left
        raise ApiError(
            410, "this appointment is over", ErrorCode.EXPIRED, appointment=_window(appointment)
        ) from None
    request.app[METRICS].token_issued()
    if consent:
        await services.appointments.add_attendance(
            AttendanceEvent(appointment.id, participant.id, AttendanceKind.CONSENT, now)
        )
    log.info(
        "token_issued",
        appointment=appointment.id,
        participant=participant.id,
        role=participant.role,
        consent=consent,
    )
    ws_scheme = "wss" if request.scheme == "https" else "ws"
    base = services.settings.public_url.rstrip("/")
    ws_url = (
        (base.replace("https://", "wss://").replace("http://", "ws://") + "/ws")
        if base
        else f"{ws_scheme}://{request.host}/ws"
    )
    return web.json_response(
        {
            "token": token,
            "exp": claims.exp,
            "ws_url": ws_url,
            "ice_servers": list(services.settings.ice_servers),
            "ice_transport_policy": services.settings.ice_transport_policy,
            "appointment": appointment.guest_view(),  # names of others only once admitted
            "participant": participant.public(),
        }
    )


# ---- operations -----------------------------------------------------------------------


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    services = _services(request)
    if request.app[DRAINING].active:
        return json_error(503, "draining: finishing calls, taking no new ones", ErrorCode.DRAINING)
    try:
        await services.accounts.get_staff("__readyz__")
    except Exception:  # any store failure means not ready
        return json_error(503, "store unavailable", ErrorCode.NOT_READY)
    return web.json_response({"status": "ready", "time": int(time.time())})


JOIN_LIMIT = web.AppKey("join_limit", RateLimit)


def setup_api(app: web.Application) -> None:
    services = app[SERVICES]
    app[THROTTLE] = login_guard(services)
    app[JOIN_LIMIT] = rate_limit(
        services, "join", services.settings.join_rate, services.settings.join_burst
    )
    r = app.router
    r.add_post("/api/login", login)
    r.add_post("/api/logout", logout)
    r.add_get("/api/me", me)
    r.add_post("/api/appointments", create_appointment)
    r.add_get("/api/appointments", list_appointments)
    r.add_get("/api/appointments/{appointment_id}", get_appointment)
    r.add_post("/api/appointments/{appointment_id}/cancel", cancel_appointment)
    r.add_post("/api/appointments/{appointment_id}/end", end_appointment)
    r.add_post("/api/appointments/{appointment_id}/admit", admit)
    r.add_post("/api/appointments/{appointment_id}/deny", deny)
    r.add_post("/api/appointments/{appointment_id}/lobby_message", lobby_message)
    r.add_post(
        "/api/appointments/{appointment_id}/participants/{participant_id}/reissue", reissue_link
    )
    r.add_post("/api/join", join)
    r.add_get("/healthz", healthz)
    r.add_get("/readyz", readyz)
