"""The HTML pages: the join page, the caseworker console, its login, the privacy notice.

Pages carry no inline script or style (strict CSP): behaviour lives in /static/js modules and
the per-page data (language, strings, what the server knows about the link) travels in a JSON
`<script type="application/json">` block that the modules read.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import qrcode
import qrcode.image.svg
from aiohttp import web
from babel.dates import format_date, format_time, get_datetime_format

from core.contracts.errors import ErrorCode
from core.model import LANGUAGES, Appointment, locale_of
from core.settings import Settings
from signalling.auth.invites import LinkState, hash_code, link_state, looks_like_code
from signalling.auth.staff import csrf_ok, csrf_token, current_staff
from signalling.context import SERVICES
from signalling.http.host_join import host_join_path, host_of
from signalling.http.i18n import (
    LANG_COOKIE,
    LANGUAGE_NAMES,
    I18n,
    json_for_script,
    load_i18n,
    negotiate_language,
    text_direction,
)
from web import STATIC_DIR, TEMPLATES_DIR

I18N = web.AppKey("i18n", I18n)

MAX_QR_URL = 300
NO_STORE = {"Cache-Control": "no-store"}

STATUS_FOR_STATE = {
    "open": 200,
    "too_early": 200,  # the same page becomes the join page when the window opens
    "unknown": 404,
    "expired": 410,
    "ended": 410,
    "cancelled": 410,
}


def setup_pages(app: web.Application) -> None:
    """Add the HTML routes and /static/ to `app`; read the translation catalogs now."""
    app[I18N] = load_i18n(STATIC_DIR.parent, TEMPLATES_DIR)
    app.router.add_get("/j/{code}", join_page, name="join")
    app.router.add_get("/console", console_page, name="console")
    app.router.add_get("/console/login", login_page, name="console_login")
    app.router.add_get("/console/join/{appointment_id}", host_join_page, name="console_join")
    app.router.add_post("/console/qr", qr_svg, name="console_qr")
    app.router.add_get("/privacy", privacy_page, name="privacy")
    app.router.add_static("/static/", STATIC_DIR, name="static", append_version=False)


def render(
    request: web.Request,
    template: str,
    page: str,
    data: dict[str, Any] | None = None,
    *,
    status: int = 200,
    lang: str | None = None,
    remember_choice: bool = True,
    **context: Any,
) -> web.Response:
    """A page in `lang` (default: the negotiated language; ?lang= always wins). A ?lang= choice
    is remembered for the browser session unless `remember_choice` is off."""
    i18n = request.app[I18N]
    chosen = request.query.get("lang")
    lang = chosen if chosen in LANGUAGES else lang or negotiate_language(request)
    settings = request.app[SERVICES].settings
    page_data = {
        "page": page,
        "lang": lang,
        # For Intl (dates, numbers, plural rules) and `lang` attributes: easy language is German.
        "locale": locale_of(lang),
        "dir": text_direction(lang),
        # The zone the job centre works in (settings.timezone): scripts show times in it too.
        "timezone": settings.timezone,
        "camera": {
            "width": settings.camera_width,
            "height": settings.camera_height,
            "frameRate": settings.camera_frame_rate,
            "simulcast": settings.simulcast,
        },
        **(data or {}),
    }
    html = (
        i18n.env(lang)
        .get_template(template)
        .render(
            lang=lang,
            dir=text_direction(lang),
            languages=[(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
            page=page,
            path=request.path,
            page_json=json_for_script(page_data),
            strings_json=i18n.js_catalog_json(lang),
            contact=contact_facts(settings),
            **context,
        )
    )
    response = web.Response(text=html, content_type="text/html", status=status, headers=NO_STORE)
    if chosen in LANGUAGES and remember_choice:
        # For this browser session only: a loaned tablet must not carry one person's choice
        # to the next (issue 11).
        response.set_cookie(
            LANG_COOKIE,
            chosen,
            path="/",
            samesite="Lax",
            secure=request.secure,
            httponly=True,
        )
    return response


def contact_facts(settings: Settings) -> dict[str, str]:
    """What the pages say about reaching the job centre (contact.html, the privacy notice)."""
    return {
        "phone": settings.support_phone,
        "phone_link": settings.support_phone.replace(" ", ""),
        "hours": settings.support_hours,
        "controller_name": settings.controller_name,
        "controller_address": settings.controller_address,
        "dpo": settings.dpo_contact,
    }


def when(epoch: float, lang: str, timezone: str) -> dict[str, str]:
    """A moment as the pages show it: in the job centre's zone (settings.timezone)."""
    zone = ZoneInfo(timezone)
    moment = datetime.fromtimestamp(epoch, tz=UTC).astimezone(zone)
    # The language's own formats (CLDR through Babel): "Montag, 30. November 2026, 09:30",
    # "الاثنين، 30 نوفمبر 2026، 9:30 ص" with the Arabic comma.
    locale = locale_of(lang)
    time = format_time(moment, "short", tzinfo=zone, locale=locale)
    date = format_date(moment, "full", locale=locale)
    joined = str(get_datetime_format("full", locale=locale)).replace("'", "")
    return {
        "iso": moment.isoformat(),
        "text": joined.replace("{0}", time).replace("{1}", date),
        "time": time,
    }


_when = when  # the older name (tests import it)


async def _link_facts(request: web.Request, code: str) -> tuple[str, Appointment | None, str]:
    """(state, appointment, participant id) for an invite code, without revealing the code."""
    if not looks_like_code(code):
        return "unknown", None, ""
    services = request.app[SERVICES]
    found = await services.appointments.find_invite(hash_code(code))
    if found is None:
        return "unknown", None, ""
    appointment = await services.appointments.get_appointment(found[0])
    if appointment is None:
        return "unknown", None, ""
    state = link_state(appointment, services.clock.now(), services.settings.early_join_margin)
    names = {
        LinkState.OPEN: "open",
        LinkState.TOO_EARLY: "too_early",
        LinkState.EXPIRED: "expired",
        LinkState.CANCELLED: "cancelled",
        LinkState.ENDED: "ended",
    }
    return names[state], appointment, found[1]


async def join_page(request: web.Request) -> web.Response:
    """The join page: device check, consent, waiting room and call, or why the link fails."""
    state, appointment, participant_id = await _link_facts(request, request.match_info["code"])
    lang = invitation_language(request, appointment, participant_id)
    context, data = join_context(request, lang, state, appointment, participant_id)
    # A choice made on this page stays in its address (?lang=), not in a cookie that the next
    # link opened on the same tablet would follow.
    return render(
        request,
        "join.html",
        "join",
        data,
        status=STATUS_FOR_STATE[state],
        lang=lang,
        remember_choice=False,
        **context,
    )


def invitation_language(
    request: web.Request, appointment: Appointment | None, participant_id: str
) -> str:
    """?lang= (a choice on the page), then the language the invitation was made in, then what
    the browser asks for."""
    chosen = request.query.get("lang")
    if chosen in LANGUAGES:
        return str(chosen)
    participant = appointment.participant(participant_id) if appointment else None
    if participant is not None and participant.lang in LANGUAGES:
        return participant.lang
    return negotiate_language(request)


def join_context(
    request: web.Request,
    lang: str,
    state: str,
    appointment: Appointment | None,
    participant_id: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The join page's template context and page data for a participant's link state."""
    settings = request.app[SERVICES].settings
    context: dict[str, Any] = {
        "state": state,
        "appointment": None,
        "me": None,
        "host": None,
        "support_phone": settings.support_phone,
    }
    data: dict[str, Any] = {"state": state}
    if appointment is not None:
        zone = settings.timezone
        starts = when(appointment.starts_at, lang, zone)
        ends = when(appointment.ends_at, lang, zone)
        opens = when(appointment.starts_at - settings.early_join_margin, lang, zone)
        me = appointment.participant(participant_id)
        host = next((p for p in appointment.participants if p.role == "caseworker"), None)
        context.update(
            appointment={
                "title": appointment.title,
                "starts": starts,
                "ends": ends,
                "opens": opens,
            },
            me=me.public() if me else None,
            host=host.public() if host else None,
        )
        data.update(
            starts_at=appointment.starts_at,
            ends_at=appointment.ends_at,
            opens_at=appointment.starts_at - settings.early_join_margin,
            now=request.app[SERVICES].clock.now(),
        )
    return context, data


async def console_page(request: web.Request) -> web.StreamResponse:
    """The caseworker console; staff only."""
    user = await current_staff(request)
    if user is None:
        raise web.HTTPFound("/console/login", headers=NO_STORE)
    settings = request.app[SERVICES].settings
    base = settings.base_url()
    return render(
        request,
        "console.html",
        "console",
        {"user": {"username": user.username, "display_name": user.display_name}, "base_url": base},
        csrf=csrf_token(request),
        user=user,
        scorm_limits={
            "files": settings.scorm_max_files,
            "megabytes": settings.scorm_max_size // (1024 * 1024),
        },
    )


async def host_join_page(request: web.Request) -> web.StreamResponse:
    """GET /console/join/<appointment>: the join page for the appointment's caseworker, who
    joins on her staff session (see `signalling.http.host_join`), never with a link."""
    if await current_staff(request) is None:
        raise web.HTTPFound("/console/login", headers=NO_STORE)
    services = request.app[SERVICES]
    appointment_id = request.match_info["appointment_id"]
    found = (
        await services.appointments.get_appointment(appointment_id)
        if len(appointment_id) <= 64
        else None
    )
    host = host_of(found) if found is not None else None
    appointment = found if host is not None else None
    state = "unknown"
    if appointment is not None:
        now = services.clock.now()
        state = link_state(appointment, now, services.settings.early_join_margin).value
    chosen = request.query.get("lang", "")
    lang = chosen if chosen in LANGUAGES else negotiate_language(request)
    context, data = join_context(request, lang, state, appointment, host.id if host else "")
    if appointment is not None:
        data.update(join_via=host_join_path(appointment.id), csrf=csrf_token(request))
    return render(
        request,
        "join.html",
        "join",
        data,
        status=STATUS_FOR_STATE[state],
        lang=lang,
        **context,
    )


async def login_page(request: web.Request) -> web.StreamResponse:
    """The staff login form; a logged-in user goes straight to the console."""
    if await current_staff(request) is not None:
        raise web.HTTPFound("/console", headers=NO_STORE)
    return render(request, "login.html", "login")


async def privacy_page(request: web.Request) -> web.Response:
    """The privacy notice, in the negotiated language."""
    return render(request, "privacy.html", "privacy")


def _allowed_join_url(request: web.Request, url: str) -> bool:
    """Only join and space links of this server become QR codes."""
    if len(url) > MAX_QR_URL:
        return False
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    base = urlsplit(request.app[SERVICES].settings.base_url())
    allowed = {f"{base.scheme}://{base.netloc}", f"{request.scheme}://{request.host}"}
    # Join links and jobseekers' space links.
    prefix = parts.path[:3]
    code = parts.path[3:] if prefix in ("/j/", "/s/") else ""
    return origin in allowed and looks_like_code(code) and not parts.query and not parts.fragment


def qr_code_svg(data: str) -> bytes:
    """A QR code as a standalone SVG document (no script, no style attributes)."""
    qr = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        border=4,
        image_factory=qrcode.image.svg.SvgPathImage,
    )
    qr.add_data(data)
    qr.make(fit=True)
    image = qr.make_image()
    svg: bytes = image.to_string(encoding="utf-8")
    return svg


async def qr_svg(request: web.Request) -> web.Response:
    """POST /console/qr {"url"}: the QR code of a join link, for staff (CSRF-checked)."""
    if await current_staff(request) is None:
        raise web.HTTPUnauthorized(
            text=json.dumps({"error": "login required", "code": ErrorCode.LOGIN_REQUIRED}),
            content_type="application/json",
        )
    if not csrf_ok(request):
        raise web.HTTPForbidden(
            text=json.dumps({"error": "bad CSRF token", "code": ErrorCode.CSRF}),
            content_type="application/json",
        )
    try:
        body = await request.json()
    except ValueError:
        body = None
    url = body.get("url") if isinstance(body, dict) else None
    if not isinstance(url, str) or not _allowed_join_url(request, url):
        raise web.HTTPBadRequest(
            text=json.dumps(
                {
                    "error": "not a join link of this server",
                    "code": ErrorCode.BAD_URL,
                    "field": "url",
                }
            ),
            content_type="application/json",
        )
    return web.Response(body=qr_code_svg(url), content_type="image/svg+xml", headers=NO_STORE)
