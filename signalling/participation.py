"""Whether a jobseeker comes to their appointments (pure functions): the caseworker sees
regular participation next to their learning at a glance.

An appointment counts once it is over (its window has ended) and was not cancelled. For a
video appointment the jobseeker attended when the participant standing for their profile
entered the call; an in-person or phone appointment is as the caseworker marked it (not yet
marked: unknown, counted neither way)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from core.model import Appointment, AppointmentStatus, AttendanceEvent, AttendanceKind
from signalling.attendance import marked

RECENT = 5  # appointments listed one by one, newest first


@dataclass(frozen=True)
class Visit:
    appointment: str
    title: str
    starts_at: float
    kind: str
    attended: bool | None  # None: an in-person or phone appointment nobody marked yet


@dataclass(frozen=True)
class Participation:
    visits: tuple[Visit, ...]  # newest first

    @property
    def attended(self) -> int:
        return sum(v.attended is True for v in self.visits)

    @property
    def missed(self) -> int:
        return sum(v.attended is False for v in self.visits)

    def view(self) -> dict[str, Any]:
        return {
            "appointments": self.attended + self.missed,  # those whose outcome is known
            "attended": self.attended,
            "missed": self.missed,
            "unmarked": len(self.visits) - self.attended - self.missed,
            "recent": [
                {
                    "appointment": v.appointment,
                    "title": v.title,
                    "starts_at": v.starts_at,
                    "kind": v.kind,
                    "attended": v.attended,
                }
                for v in self.visits[:RECENT]
            ],
        }


def participation(
    appointments: Iterable[Appointment],
    events: Mapping[str, list[AttendanceEvent]],
    profile_id: str,
    now: float,
) -> Participation:
    """The profile's appointments that are over, each attended or not (`events` per
    appointment id)."""
    visits = []
    for appointment in appointments:
        if appointment.status == AppointmentStatus.CANCELLED or appointment.ends_at > now:
            continue
        mine = {p.id for p in appointment.participants if p.profile_id == profile_id}
        if not mine:
            continue
        theirs = [e for e in events.get(appointment.id, []) if e.participant_id in mine]
        came: bool | None
        if appointment.is_video:
            came = any(e.event == AttendanceKind.JOINED for e in theirs)
        else:
            mark = marked(theirs)
            came = None if mark is None else mark == AttendanceKind.ATTENDED
        visits.append(
            Visit(appointment.id, appointment.title, appointment.starts_at, appointment.kind, came)
        )
    visits.sort(key=lambda v: v.starts_at, reverse=True)
    return Participation(tuple(visits))
