"""`PATCH /api/appointments/{id}`: reschedule or edit an appointment without new links.

Only the caseworker who scheduled it may change it, only while it is scheduled and its window
not over, and not while somebody is in its room (their tokens carry the old window and names).
The change goes to the audit trail with ids only.
"""

from __future__ import annotations

import structlog
from aiohttp import web

from core.audit import Action
from core.contracts.errors import ErrorCode
from signalling.appointments import ValidationError
from signalling.console_feed import Notice, Topic, announce
from signalling.context import SERVICES
from signalling.http.api import (
    ApiError,
    audit_appointment,
    own_appointment,
    read_json,
    require_staff,
)
from signalling.rescheduling import EditRefused, edit
from signalling.room.status import present_members

log = structlog.get_logger(__name__)


async def edit_appointment(request: web.Request) -> web.Response:
    user = await require_staff(request)
    services = request.app[SERVICES]
    appointment = await own_appointment(request, user, "change it")
    data = await read_json(request)
    now = services.clock.now()
    try:
        edited = edit(appointment, data, now=now, settings=services.settings)
    except ValidationError as exc:
        raise ApiError(400, exc.message, ErrorCode.INVALID, field=exc.field) from None
    except EditRefused as exc:
        raise ApiError(409, exc.message, ErrorCode.CONFLICT) from None
    members = present_members(
        await services.presence.get_members(appointment.id), await services.presence.live_nodes()
    )
    if members and edited.changed:
        raise ApiError(
            409, "someone is in the room: change the appointment after the call", ErrorCode.CONFLICT
        )
    if edited.changed:
        await services.appointments.put_appointment(edited.appointment)
        await audit_appointment(
            services,
            user,
            Action.APPOINTMENT_EDIT,
            appointment,
            now,
            changed=".".join(edited.changed),
        )
        log.info(
            "appointment_edited",
            appointment=appointment.id,
            staff=user.username,
            changed=list(edited.changed),
        )
        await announce(services.bus, Notice(Topic.APPOINTMENT, appointment.id))
    return web.json_response(
        {
            "appointment": {**edited.appointment.public(), "notes": edited.appointment.notes},
            "changed": list(edited.changed),
        }
    )


def setup_schedule_api(app: web.Application) -> None:
    app.router.add_patch("/api/appointments/{appointment_id}", edit_appointment)
