"""Attendance of in-person and phone appointments, marked by the caseworker: a pure function
of the appointment, the answer and the time. (A video appointment's attendance is what its
room records: joined, admitted, left.)"""

from __future__ import annotations

from core.model import Appointment, AppointmentStatus, AttendanceEvent, AttendanceKind, Role
from signalling.appointments import Conflict


def mark(appointment: Appointment, attended: bool, now: float) -> list[AttendanceEvent]:
    """The events that say whether the guests (everyone but the caseworker) came; a later
    mark overrides an earlier one. Refused for video appointments, cancelled ones and before
    the appointment starts."""
    if appointment.is_video:
        raise Conflict("a video appointment's attendance is recorded by its room")
    if appointment.status == AppointmentStatus.CANCELLED:
        raise Conflict("the appointment was cancelled")
    if now < appointment.starts_at:
        raise Conflict("attendance can be marked once the appointment has started")
    event = AttendanceKind.ATTENDED if attended else AttendanceKind.ABSENT
    return [
        AttendanceEvent(appointment.id, p.id, event, now)
        for p in appointment.participants
        if p.role != Role.CASEWORKER
    ]


def marked(events: list[AttendanceEvent]) -> str | None:
    """The latest mark ("attended" or "absent"), or None when nobody marked it yet."""
    marks = [e for e in events if e.event in (AttendanceKind.ATTENDED, AttendanceKind.ABSENT)]
    return str(max(marks, key=lambda e: e.at).event) if marks else None
