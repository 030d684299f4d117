"""The invitation of one participant, in their language, for the console: as text to copy and
print (`POST .../invitation`) and as a calendar file (`POST .../calendar.ics`).

Invite codes are stored as hashes only, so the console sends the link it was shown (when the
appointment was made or the link reissued); the server checks that the link is this
participant's current one and never stores or logs it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import structlog
from aiohttp import web

from core.contracts.errors import ErrorCode
from core.model import Appointment, AppointmentStatus, Participant
from signalling.auth.invites import hash_code, looks_like_code
from signalling.context import SERVICES
from signalling.http.api import ApiError, appointment_in_path, read_json, require_staff
from signalling.http.i18n import RTL_LANGUAGES, text_direction
from signalling.http.pages import I18N, when
from signalling.ics import CalendarEvent, calendar

log = structlog.get_logger(__name__)

MAX_URL = 300


def _origins(request: web.Request) -> set[str]:
    base = urlsplit(request.app[SERVICES].settings.base_url())
    return {f"{base.scheme}://{base.netloc}", f"{request.scheme}://{request.host}"}


async def _participant_and_link(request: web.Request) -> tuple[Appointment, Participant, str]:
    """The appointment, the participant of the path, and their join link from the body (400
    unless it is this server's link and the participant's current one)."""
    await require_staff(request)
    appointment = await appointment_in_path(request)
    participant = appointment.participant(request.match_info["participant_id"])
    if participant is None:
        raise ApiError(404, "no such participant", ErrorCode.NOT_FOUND)
    data = await read_json(request)
    if not isinstance(data, dict) or set(data) != {"url"} or not isinstance(data["url"], str):
        raise ApiError(400, 'send exactly {"url": <the join link>}', ErrorCode.BAD_REQUEST)
    url = data["url"]
    parts = urlsplit(url) if len(url) <= MAX_URL else None
    code = parts.path[3:] if parts and parts.path.startswith("/j/") else ""
    if (
        parts is None
        or f"{parts.scheme}://{parts.netloc}" not in _origins(request)
        or parts.query
        or parts.fragment
        or not looks_like_code(code)
    ):
        raise ApiError(400, "not a join link of this server", ErrorCode.BAD_URL, field="url")
    if hash_code(code) != participant.invite_hash:
        raise ApiError(
            400, "this is not the participant's current link", ErrorCode.BAD_URL, field="url"
        )
    return appointment, participant, url


def isolate_ltr(text: str) -> str:
    """`text` as a left-to-right isolate (LRI ... PDI) inside right-to-left text."""
    return f"\u2066{text}\u2069" if text else text


def invitation(
    request: web.Request, appointment: Appointment, participant: Participant, url: str
) -> dict[str, Any]:
    """Subject and text of the invitation in the participant's language."""
    settings = request.app[SERVICES].settings
    lang = participant.lang
    i18n = request.app[I18N]
    zone = settings.timezone
    template = i18n.env(lang).get_template("invitation_text.html")
    facts = {
        "name": participant.name,
        "title": appointment.title,
        "start": when(appointment.starts_at, lang, zone)["text"],
        "end": when(appointment.ends_at, lang, zone)["time"],
        "opens": when(appointment.starts_at - settings.early_join_margin, lang, zone)["time"],
        "url": url,
        # A phone number reads left to right in an Arabic sentence too (isolated, so "+49 5231
        # 123-0" does not come out as "123-0 5231 +49").
        "phone": isolate_ltr(settings.support_phone)
        if lang in RTL_LANGUAGES
        else settings.support_phone,
    }
    text = template.render(part="text", **facts)
    subject = template.render(part="subject", **facts).strip()
    return {
        "participant": participant.id,
        "lang": lang,
        "dir": text_direction(lang),
        "subject": subject,
        "text": text.strip() + "\n",
        "url": url,
    }


async def invitation_text(request: web.Request) -> web.Response:
    """POST /api/appointments/{a}/participants/{p}/invitation {"url"}: the invitation."""
    appointment, participant, url = await _participant_and_link(request)
    log.info("invitation_text", appointment=appointment.id, participant=participant.id)
    return web.json_response(invitation(request, appointment, participant, url))


async def invitation_calendar(request: web.Request) -> web.Response:
    """POST /api/appointments/{a}/participants/{p}/calendar.ics {"url"}: a calendar file in
    the participant's language, with their link."""
    appointment, participant, url = await _participant_and_link(request)
    facts = invitation(request, appointment, participant, url)
    host = urlsplit(url).netloc or "lippejob"
    event = CalendarEvent(
        uid=f"{appointment.id}-{participant.id}@{host}",
        starts_at=appointment.starts_at,
        ends_at=appointment.ends_at,
        summary=facts["subject"],
        description=facts["text"],
        url=url,
        cancelled=appointment.status == AppointmentStatus.CANCELLED,
    )
    log.info("invitation_calendar", appointment=appointment.id, participant=participant.id)
    return web.Response(
        body=calendar(event, request.app[SERVICES].clock.now()).encode(),
        headers={
            "Content-Type": "text/calendar; charset=utf-8",
            "Content-Disposition": 'attachment; filename="appointment.ics"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def setup_invitations(app: web.Application) -> None:
    """Needs the pages' translations (`setup_pages` first)."""
    base = "/api/appointments/{appointment_id}/participants/{participant_id}"
    app.router.add_post(f"{base}/invitation", invitation_text)
    app.router.add_post(f"{base}/calendar.ics", invitation_calendar)
