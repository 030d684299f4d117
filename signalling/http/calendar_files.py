"""`GET /space/appointments/{id}/calendar.ics`: an appointment of the space's profile as a
calendar file. It says what the space already shows (title, time, where to join), nothing
about the other participants."""

from __future__ import annotations

import structlog
from aiohttp import web

from core.contracts.errors import ErrorCode
from core.model import AppointmentStatus
from signalling.auth.space import current_visit
from signalling.context import SERVICES
from signalling.http.api import ApiError
from signalling.ics import CalendarEvent, calendar

log = structlog.get_logger(__name__)


async def appointment_calendar(request: web.Request) -> web.Response:
    visit = await current_visit(request)
    if visit is None:
        raise ApiError(401, "this device is signed out", ErrorCode.SPACE_SIGNED_OUT)
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
    event = CalendarEvent(
        uid=f"{found.id}@{host}",
        starts_at=found.starts_at,
        ends_at=found.ends_at,
        summary=found.title,
        description=f"{base}/space",
        url=f"{base}/space/join/{found.id}",
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
