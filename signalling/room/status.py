"""Live status of an appointment for the console: a pure function of stored facts."""

from __future__ import annotations

from typing import Any

from core.model import (
    Appointment,
    AppointmentStatus,
    AttendanceEvent,
    AttendanceKind,
    Member,
    MemberState,
    Role,
    grants_for,
)
from core.presence import IN_CALL
from signalling.attendance import marked

ATTENDED_EVENTS = frozenset({AttendanceKind.JOINED, AttendanceKind.ADMITTED})
# Denying an admitted person removes them.
STAY_ENDS = frozenset({AttendanceKind.LEFT, AttendanceKind.REMOVED, AttendanceKind.DENIED})


def present_members(members: dict[str, Member], live_nodes: set[str]) -> dict[str, Member]:
    """Presence held by signalling nodes that are alive; a crashed node's sockets are gone."""
    return {pid: m for pid, m in members.items() if m.node in live_nodes}


def live_state(
    appointment: Appointment,
    members: dict[str, Member],
    attendance: list[AttendanceEvent],
    now: float,
) -> str:
    """not_started, waiting, in_call, ended, no_show or cancelled; in person or by phone:
    not_started, attended, no_show (as the caseworker marked it), to_mark or cancelled."""
    if appointment.status == AppointmentStatus.CANCELLED:
        return "cancelled"
    if not appointment.is_video:
        mark = marked(attendance)
        if mark is not None:
            return "attended" if mark == AttendanceKind.ATTENDED else "no_show"
        return "not_started" if now < appointment.starts_at else "to_mark"
    in_room = sum(1 for m in members.values() if m.status in IN_CALL)
    if appointment.status != AppointmentStatus.ENDED and now < appointment.ends_at:
        if in_room >= 2:
            return "in_call"
        if any(m.status == MemberState.WAITING for m in members.values()):
            return "waiting"
        return "not_started"
    guests = {p.id for p in appointment.participants if p.role != Role.CASEWORKER}
    attended = {e.participant_id for e in attendance if e.event in ATTENDED_EVENTS}
    return "ended" if guests & attended else "no_show"


def time_in_call(
    appointment: Appointment, attendance: list[AttendanceEvent], now: float
) -> dict[str, float]:
    """Seconds each participant spent in the call: every stay from `joined` to its `left` or
    `removed`, or to the end of the call (ended by the caseworker, or its window), or, while it
    goes on, to now. A reconnect within the grace time is part of the stay."""
    close = appointment.ended_at if appointment.ended_at is not None else appointment.ends_at
    close = min(close, now)
    since: dict[str, float] = {}
    total: dict[str, float] = {}

    def add(pid: str, start: float, until: float) -> None:
        total[pid] = total.get(pid, 0.0) + max(0.0, min(until, close) - start)

    for event in sorted(attendance, key=lambda e: e.at):
        pid = event.participant_id
        if event.event == AttendanceKind.JOINED:
            since.setdefault(pid, event.at)
        elif event.event in STAY_ENDS and pid in since:
            add(pid, since.pop(pid), event.at)
        elif event.event == AttendanceKind.ENDED:
            for other, start in since.items():
                add(other, start, event.at)
            since.clear()
    for pid, start in since.items():
        add(pid, start, close)
    return total


def live_view(
    appointment: Appointment,
    members: dict[str, Member],
    attendance: list[AttendanceEvent],
    now: float,
) -> dict[str, Any]:
    """The `live` block of the console API."""
    consents = {e.participant_id: e.at for e in attendance if e.event == AttendanceKind.CONSENT}
    return {
        "state": live_state(appointment, members, attendance, now),
        "members": {pid: m.status for pid, m in members.items()},
        "consents": consents,
        "seconds_in_call": {
            pid: round(seconds)
            for pid, seconds in time_in_call(appointment, attendance, now).items()
        },
    }


def waiting_list(appointment: Appointment, members: dict[str, Member]) -> list[dict[str, Any]]:
    """Who waits in the lobby, in the appointment's order, as admitters see them."""
    waiting = []
    for p in appointment.participants:
        m = members.get(p.id)
        if m is not None and m.status == MemberState.WAITING:
            waiting.append({"participant": p.id, "name": p.name, "role": p.role, "since": m.since})
    return waiting


def may_admit(appointment: Appointment, pid: str) -> bool:
    """Whether the participant's role lets them admit (the caseworker's does)."""
    participant = appointment.participant(pid)
    return participant is not None and grants_for(participant.role).admit


def host_present(appointment: Appointment, members: dict[str, Member]) -> bool:
    """Whether someone who may admit is in the call (or reconnecting to it): what the waiting
    room tells those who wait."""
    return any(m.status in IN_CALL and may_admit(appointment, pid) for pid, m in members.items())
