"""The audit trail as people read it (pure functions, no I/O).

- The jobseeker's "who has seen my documents": per document, who viewed, downloaded, showed
  or was allowed to see it, newest first. Nobody is named: a caseworker is "a caseworker", an
  employer "the employer in the appointment on ...". The jobseeker's own views and downloads
  are left out (they know them); their consents and withdrawals stay in (they say who saw).
- The caseworker's trail of one profile: every entry, with the titles of documents and
  appointments that still exist and the role each actor had.

The entries themselves hold ids and roles only (core.audit); titles and roles in a call come
from the records they point at, looked up by the caller and passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from core.audit import Action, AuditEntry
from core.model import Appointment, Role

# What the jobseeker is shown: what someone did with (or allowed for) their documents.
SEEN = frozenset({Action.VIEW, Action.DOWNLOAD, Action.SHARE, Action.CONSENT, Action.WITHDRAW})
OWN_ONLY = frozenset({Action.VIEW, Action.DOWNLOAD})  # left out when the jobseeker did it


class Who(StrEnum):
    """Who did it, as the jobseeker is told: a kind of person, never a name or an id."""

    YOU = "you"
    CASEWORKER = "caseworker"
    EMPLOYER = "employer"
    INTERPRETER = "interpreter"
    PARTICIPANT = "participant"  # someone else in a call (a guest)


@dataclass(frozen=True)
class Seen:
    """One line of "who has seen my document": entries of one kind by one person, folded
    (the pages of one call, or of one day outside calls)."""

    action: Action
    who: Who
    at: float  # the newest of the folded entries
    appointment: str | None = None  # the call it happened in
    appointment_starts: float | None = None  # None: the appointment is gone (retention)
    pages: tuple[int, ...] = ()

    def public(self) -> dict[str, Any]:
        return {
            "action": str(self.action),
            "who": str(self.who),
            "at": self.at,
            "appointment": self.appointment,
            "appointment_starts": self.appointment_starts,
            "pages": list(self.pages),
        }


@dataclass(frozen=True)
class DocumentTrail:
    document: str
    title: str | None  # None: the document was deleted since
    seen: list[Seen] = field(default_factory=list)  # newest first

    def public(self) -> dict[str, Any]:
        return {
            "document": self.document,
            "title": self.title,
            "seen": [s.public() for s in self.seen],
        }


def _role_in(appointment: Appointment | None, participant: str) -> str | None:
    if appointment is None:
        return None
    found = appointment.participant(participant)
    return None if found is None else found.role


def who_did(entry: AuditEntry, appointments: Mapping[str, Appointment]) -> Who | None:
    """The kind of person behind a document entry (None: the system, e.g. retention)."""
    record = entry.record
    if record.actor_role == "jobseeker":
        return Who.YOU
    if record.actor_role == "caseworker":
        return Who.CASEWORKER
    if record.actor_role == "guest":
        role = _role_in(appointments.get(record.appointment or ""), record.actor)
        if role == Role.EMPLOYER:
            return Who.EMPLOYER
        return Who.INTERPRETER if role == Role.INTERPRETER else Who.PARTICIPANT
    return None


Fold = tuple[str, str, str, str]  # document, action, actor, appointment or day


def _day(at: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(at, tz=UTC).astimezone(zone).date().isoformat()


def who_has_seen(
    entries: Iterable[AuditEntry],
    titles: Mapping[str, str],
    appointments: Mapping[str, Appointment],
    timezone: str,
) -> list[DocumentTrail]:
    """Per document (the most recently seen first), what others did with it, newest first.
    `entries` newest first, as `AuditLog.for_profile` gives them; `titles` of the documents
    that still exist; `appointments` the profile's that still exist."""
    zone = ZoneInfo(timezone)
    trails: dict[str, DocumentTrail] = {}
    lines: dict[Fold, int] = {}  # fold key -> index in its document's list
    pages: dict[Fold, set[int]] = {}
    for entry in entries:
        record = entry.record
        if record.action not in SEEN or record.document is None:
            continue
        who = who_did(entry, appointments)
        if who is None or (who is Who.YOU and record.action in OWN_ONLY):
            continue
        trail = trails.setdefault(
            record.document, DocumentTrail(record.document, titles.get(record.document))
        )
        where = record.appointment or _day(record.at, zone)
        key = (record.document, str(record.action), record.actor, where)
        page = record.detail.get("page")
        if key not in lines:
            appointment = appointments.get(record.appointment or "")
            lines[key] = len(trail.seen)
            pages[key] = set()
            trail.seen.append(
                Seen(
                    record.action,
                    who,
                    record.at,
                    record.appointment,
                    appointment.starts_at if appointment else None,
                )
            )
        if isinstance(page, int):
            pages[key].add(page)
    for key, index in lines.items():
        trail = trails[key[0]]
        line = trail.seen[index]
        trail.seen[index] = Seen(
            line.action,
            line.who,
            line.at,
            line.appointment,
            line.appointment_starts,
            tuple(sorted(pages[key])),
        )
    return list(trails.values())


def trail_entry(
    entry: AuditEntry, titles: Mapping[str, str], appointments: Mapping[str, Appointment]
) -> dict[str, Any]:
    """One entry of a profile's trail as the console shows it to caseworkers."""
    record = entry.record
    appointment = appointments.get(record.appointment or "")
    role = _role_in(appointment, record.actor)
    return {
        "seq": entry.seq,
        "at": record.at,
        "action": str(record.action),
        "actor": record.actor,
        "actor_role": record.actor_role,
        "role_in_call": str(role) if role else None,
        "document": None
        if record.document is None
        else {"id": record.document, "title": titles.get(record.document)},
        "appointment": None
        if record.appointment is None
        else {
            "id": record.appointment,
            "title": appointment.title if appointment else None,
            "starts_at": appointment.starts_at if appointment else None,
        },
        "subject": record.subject,
        "detail": dict(record.detail),
    }
