"""`POST /api/appointments/{id}/attendance {"attended": true|false}`: the caseworker marks
whether the jobseeker came to an in-person or phone appointment (staff + CSRF). Audited with
ids only; the console's status (`live.state`) then says attended or no-show."""

from __future__ import annotations

import structlog
from aiohttp import web

from core.audit import Action
from core.contracts.errors import ErrorCode
from signalling.appointments import Conflict
from signalling.attendance import mark
from signalling.console_feed import Notice, Topic, announce
from signalling.context import SERVICES
from signalling.http.api import (
    ApiError,
    appointment_in_path,
    audit_appointment,
    read_json,
    require_staff,
)

log = structlog.get_logger(__name__)


async def mark_attendance(request: web.Request) -> web.Response:
    user = await require_staff(request)
    services = request.app[SERVICES]
    appointment = await appointment_in_path(request)
    data = await read_json(request)
    if (
        not isinstance(data, dict)
        or set(data) != {"attended"}
        or not isinstance(data["attended"], bool)
    ):
        raise ApiError(400, "send attended: true or false", ErrorCode.INVALID, field="attended")
    now = services.clock.now()
    try:
        events = mark(appointment, data["attended"], now)
    except Conflict as exc:
        code = ErrorCode.NOT_A_CALL if appointment.is_video else ErrorCode.CONFLICT
        raise ApiError(409, exc.message, code) from None
    for event in events:
        await services.appointments.add_attendance(event)
    await audit_appointment(
        services,
        user,
        Action.APPOINTMENT_ATTENDANCE,
        appointment,
        now,
        event=events[0].event if events else "none",
    )
    log.info(
        "attendance_marked",
        appointment=appointment.id,
        staff=user.username,
        attended=data["attended"],
    )
    await announce(services.bus, Notice(Topic.APPOINTMENT, appointment.id))
    return web.json_response({"ok": True, "attended": data["attended"]})


def setup_attendance_api(app: web.Application) -> None:
    app.router.add_post("/api/appointments/{appointment_id}/attendance", mark_attendance)
