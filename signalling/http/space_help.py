"""The help requests section of the space page: the profile's requests with their answers,
and the appointments childcare may be asked for, with times in the page's language."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core.model import Profile
from signalling.context import SERVICES
from signalling.help import MAX_LISTED
from signalling.http.help_api import childcare_appointments, for_jobseeker
from signalling.http.pages import when


async def space_help_context(request: web.Request, profile: Profile, lang: str) -> dict[str, Any]:
    """What the space page shows of help: the profile's requests (with the time of the
    appointment childcare is for, in `lang`) and the appointments childcare may be asked for."""
    services = request.app[SERVICES]
    zone = services.settings.timezone
    found = await services.help.list_help_requests(profile.id, MAX_LISTED)
    choices = set(await childcare_appointments(services, profile.id))
    appointments = {
        a.id: a for a in await services.appointments.list_appointments(profile_id=profile.id)
    }
    views = []
    for r in found:
        view = for_jobseeker(r)
        a = appointments.get(r.appointment or "")
        view["appointment_when"] = when(a.starts_at, lang, zone) if a else None
        view["appointment_title"] = a.title if a else None
        for reply in view["replies"]:
            reply["when"] = when(reply["at"], lang, zone)
        views.append(view)
    options = [
        {"id": a.id, "title": a.title, "starts": when(a.starts_at, lang, zone), "place": a.place}
        for a in appointments.values()
        if a.id in choices
    ]
    return {"help_requests": views, "childcare_options": options}
