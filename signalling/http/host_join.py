"""The console's "join this call" for the caseworker, without her invite link.

The invite link of the caseworker's participant is shown once, when the appointment is made,
and only its hash is stored (`signalling.auth.invites`): the server cannot show it again, and
reissuing it would cut off whoever is using it. So the host joins on her staff session
instead, the way a jobseeker joins from the space on hers (`signalling.http.space`):

- `GET /console/join/{appointment}` (staff) is the join page for the appointment's
  caseworker participant; instead of an invite code it posts to
- `POST /api/appointments/{appointment}/host-join` (staff + `X-CSRF-Token`, body
  `{"consent"?}`), which answers as `POST /api/join` does: a room token for the caseworker
  participant, refused outside the window (425 too early, 409 cancelled, 410 over).

No new credential exists: nothing bearer-like is put in an address, a history or a log, and
nothing is stored; the token is minted for the participant's current link (its `lnk` claim),
so a reissued or revoked caseworker link voids it as it voids tokens minted from the link. The
staff session (HttpOnly, SameSite=Strict cookie) and the CSRF header are what authorise it,
as for every other console action; renewing the token after a long network drop works the
same way, for as long as the session lasts.
"""

from __future__ import annotations

import structlog
from aiohttp import web

from core.contracts.errors import ErrorCode
from core.model import Appointment, Participant, Role
from signalling.http.api import ApiError, appointment_in_path, issue_join, read_json, require_staff

log = structlog.get_logger(__name__)


def host_of(appointment: Appointment) -> Participant | None:
    """The participant the console joins as: the appointment's (first) caseworker."""
    return next((p for p in appointment.participants if p.role == Role.CASEWORKER), None)


def host_join_path(appointment_id: str) -> str:
    """Where the host's join page gets its room token."""
    return f"/api/appointments/{appointment_id}/host-join"


async def host_join(request: web.Request) -> web.Response:
    """POST /api/appointments/{appointment}/host-join {consent?}: the host's room token."""
    user = await require_staff(request)
    appointment = await appointment_in_path(request)
    data = await read_json(request)
    consent = data.get("consent", False) if isinstance(data, dict) else None
    if not isinstance(consent, bool) or set(data) - {"consent"}:
        raise ApiError(400, "only consent (true/false) is accepted", ErrorCode.BAD_REQUEST)
    host = host_of(appointment)
    if host is None:  # scheduling refuses this; an old record might still lack one
        raise ApiError(409, "the appointment has no caseworker", ErrorCode.CONFLICT)
    log.info("host_join", appointment=appointment.id, participant=host.id, staff=user.username)
    return await issue_join(request, appointment, host, consent)


def setup_host_join_api(app: web.Application) -> None:
    app.router.add_post("/api/appointments/{appointment_id}/host-join", host_join)
