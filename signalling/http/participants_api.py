"""Adding a participant to an appointment that exists (issue 11: an interpreter, mostly).

- `POST /api/appointments/{id}/participants`  staff: {role, name, lang} -> 201 with the new
  participant and their join link (shown once: only its hash is stored)

Only the caseworker who scheduled the appointment adds to it, only while it is scheduled and
not over, never a second caseworker, and up to `max_participants`. Audited with ids and the
role only (`appointment.participant`).
"""

from __future__ import annotations

import structlog
from aiohttp import web

from core.audit import Action
from core.contracts.errors import ErrorCode
from signalling.appointments import Conflict, ValidationError, add_participant
from signalling.console_feed import Notice, Topic, announce
from signalling.context import SERVICES
from signalling.http.api import (
    ApiError,
    audit_appointment,
    join_url,
    own_appointment,
    read_json,
    require_staff,
)

log = structlog.get_logger(__name__)


async def add(request: web.Request) -> web.Response:
    user = await require_staff(request)
    services = request.app[SERVICES]
    appointment = await own_appointment(request, user, "add to it")
    data = await read_json(request)
    now = services.clock.now()
    try:
        updated, participant, code = add_participant(
            appointment, data, now=now, settings=services.settings
        )
    except ValidationError as exc:
        raise ApiError(400, exc.message, ErrorCode.INVALID, field=exc.field) from None
    except Conflict as exc:
        raise ApiError(409, exc.message, ErrorCode.CONFLICT) from None
    await services.appointments.put_appointment(updated)
    await audit_appointment(
        services,
        user,
        Action.PARTICIPANT,
        updated,
        now,
        subject=participant.id,
        role=str(participant.role),
    )
    log.info(
        "participant_added",
        appointment=updated.id,
        participant=participant.id,
        role=participant.role,
        staff=user.username,
    )
    await announce(services.bus, Notice(Topic.APPOINTMENT, updated.id))
    return web.json_response(
        {
            "appointment": updated.public(),
            "participant": participant.public(),
            "join_url": {
                "participant": participant.id,
                "role": participant.role,
                "name": participant.name,
                "url": join_url(services, request, code),
            },
        },
        status=201,
    )


def setup_participants_api(app: web.Application) -> None:
    app.router.add_post("/api/appointments/{appointment_id}/participants", add)
