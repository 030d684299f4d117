"""`GET /space/appointments/{id}/calendar.ics`: an appointment of the space's profile as a
calendar file. It says what the space already shows (title, time, where to join, or for an
in-person appointment the place and what to bring, by phone that the job centre calls), in the
profile's language, nothing about the other participants."""

from __future__ import annotations

import jinja2
import structlog
from aiohttp import web

from core.contracts.errors import ErrorCode
from core.model import AppointmentStatus
from signalling.context import SERVICES
from signalling.http.api import ApiError, require_space
from signalling.http.pages import I18N
from signalling.ics import CalendarEvent, calendar

log = structlog.get_logger(__name__)


def _plain_env() -> jinja2.Environment:
    """The calendar text's template untranslated (no pages, so no catalogs, in this app)."""
    from web import TEMPLATES_DIR

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        extensions=["jinja2.ext.i18n"],
        autoescape=True,
    )
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    return env


async def appointment_calendar(request: web.Request) -> web.Response:
    visit = await require_space(request)
    services = request.app[SERVICES]
    appointment_id = request.match_info["appointment_id"]
    found = (
        await services.appointments.get_appointment(appointment_id)
        if len(appointment_id) <= 64
        else None
    )
    if found is None or not any(p.profile_id == visit.profile.id for p in found.participants):
        raise ApiError(404, "no such appointment", ErrorCode.NOT_FOUND)
    base = services.settings.public_url.rstrip("/") or f"{request.scheme}://{request.host}"
    host = base.split("://", 1)[-1].split("/", 1)[0] or "lippejob"
    description, location, url = f"{base}/space", "", f"{base}/space/join/{found.id}"
    i18n = request.app.get(I18N)  # absent only in API-only test apps: English then
    if not found.is_video:  # no room to join: where to go and what to bring instead
        lang = visit.profile.lang if i18n is not None else "en"
        env = i18n.env(lang) if i18n is not None else _plain_env()
        lines = (
            env.get_template("calendar_text.html")
            .render(
                kind=found.kind,
                place=found.place,
                address=found.address,
                bring=found.bring,
                url=f"{base}/space",
            )
            .splitlines()
        )
        description = "\n".join(line.strip() for line in lines if line.strip())
        location = ", ".join(part for part in (found.place, found.address) if part)
        url = ""
    event = CalendarEvent(
        uid=f"{found.id}@{host}",
        starts_at=found.starts_at,
        ends_at=found.ends_at,
        summary=found.title,
        description=description,
        location=location,
        url=url,
        cancelled=found.status == AppointmentStatus.CANCELLED,
    )
    log.info("calendar_file", profile=visit.profile.id, appointment=found.id)
    return web.Response(
        body=calendar(event, services.clock.now()).encode(),
        headers={
            "Content-Type": "text/calendar; charset=utf-8",
            "Content-Disposition": 'attachment; filename="appointment.ics"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def setup_calendar_files(app: web.Application) -> None:
    app.router.add_get("/space/appointments/{appointment_id}/calendar.ics", appointment_calendar)
