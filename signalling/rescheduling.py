"""Rescheduling and editing an appointment without new links: a pure function of the stored
appointment, the request and the time.

Invite codes are stored only as hashes and stay as they are, so every link already handed out
keeps working; `signalling.auth.invites.link_state` reads the stored window, so a link opens in
the new window and no longer in the old one. Room tokens minted for the old window are voided
(every participant's `not_before` moves to the next whole second, see `token_void`): a token
picked up early for the old time must not open the room outside the new one.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from core.model import LANGUAGES, Appointment, AppointmentStatus, Participant
from core.settings import Settings
from signalling.appointments import (
    MAX_DURATION,
    PLACE_FIELDS,
    KindFields,
    ValidationError,
    clean_notes,
    clean_text,
    kind_fields,
    parse_time,
)

EDITABLE = frozenset(
    {"title", "notes", "starts_at", "ends_at", "waiting_room", "participants", "kind"}
    | set(PLACE_FIELDS)
)
PARTICIPANT_FIELDS = frozenset({"id", "name", "lang"})


class EditRefused(Exception):
    """The appointment cannot be edited now (cancelled, ended, over): a conflict, not bad input."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Edited:
    appointment: Appointment
    changed: tuple[str, ...]  # which fields changed, sorted: title, window, waiting_room, ...

    @property
    def moved(self) -> bool:
        return "window" in self.changed


def editable(appointment: Appointment, now: float) -> None:
    """Raise EditRefused unless the appointment is still scheduled and its window not over."""
    if appointment.status != AppointmentStatus.SCHEDULED:
        raise EditRefused(f"the appointment is {appointment.status}")
    if now >= appointment.ends_at:
        raise EditRefused("the appointment is over")


def _window(appointment: Appointment, data: dict[str, Any], now: float) -> tuple[float, float]:
    starts_at = (
        parse_time(data["starts_at"], "starts_at") if "starts_at" in data else appointment.starts_at
    )
    if "ends_at" in data:
        ends_at = parse_time(data["ends_at"], "ends_at")
    elif "starts_at" in data:  # moved, same length
        ends_at = starts_at + (appointment.ends_at - appointment.starts_at)
    else:
        ends_at = appointment.ends_at
    if ends_at <= starts_at:
        raise ValidationError("ends_at must be after starts_at", "ends_at")
    if ends_at <= now:
        raise ValidationError("the appointment window is in the past", "ends_at")
    if ends_at - starts_at > MAX_DURATION:
        raise ValidationError("an appointment may last at most 12 hours", "ends_at")
    return starts_at, ends_at


def _people(
    appointment: Appointment, raw: Any, settings: Settings
) -> tuple[tuple[Participant, ...], bool]:
    """The participants with new names and languages; participants are named by id and are
    neither added nor removed here (links belong to them)."""
    if not isinstance(raw, list) or not raw:
        raise ValidationError("participants must be a non-empty list", "participants")
    known = {p.id for p in appointment.participants}
    changes: dict[str, dict[str, str]] = {}
    for index, item in enumerate(raw):
        field = f"participants[{index}]"
        if not isinstance(item, dict):
            raise ValidationError(f"{field} must be an object", field)
        unknown = set(item) - PARTICIPANT_FIELDS
        if unknown:
            raise ValidationError(
                f"{field} has unknown fields: {', '.join(sorted(map(str, unknown)))}", field
            )
        pid = item.get("id")
        if not isinstance(pid, str) or pid not in known:
            raise ValidationError(f"{field}.id is not a participant of this appointment", field)
        if pid in changes:
            raise ValidationError(f"{field}.id is listed twice", field)
        change: dict[str, str] = {}
        if "name" in item:
            change["name"] = clean_text(item["name"], f"{field}.name", settings.max_name_length)
        if "lang" in item:
            if item["lang"] not in LANGUAGES:
                raise ValidationError(
                    f"{field}.lang must be one of {', '.join(LANGUAGES)}", f"{field}.lang"
                )
            change["lang"] = str(item["lang"])
        changes[pid] = change
    people = tuple(
        dataclasses.replace(
            p,
            name=changes[p.id].get("name", p.name),
            lang=changes[p.id].get("lang", p.lang),
        )
        if p.id in changes
        else p
        for p in appointment.participants
    )
    return people, people != appointment.participants


def edit(appointment: Appointment, data: Any, *, now: float, settings: Settings) -> Edited:
    """Validate an edit request and apply it; raise ValidationError (bad input) or EditRefused
    (the appointment cannot change any more)."""
    if not isinstance(data, dict):
        raise ValidationError("body must be a JSON object")
    unknown = set(data) - EDITABLE
    if unknown:
        raise ValidationError(f"unknown fields: {', '.join(sorted(map(str, unknown)))}")
    if not data:
        raise ValidationError(
            "nothing to change: send title, notes, starts_at, ends_at, waiting_room, "
            "participants, place, address or bring"
        )
    editable(appointment, now)
    changed: set[str] = set()
    title = appointment.title
    if "title" in data:
        title = clean_text(data["title"], "title", settings.max_title_length)
        if title != appointment.title:
            changed.add("title")
    notes = clean_notes(data["notes"]) if "notes" in data else appointment.notes
    if notes != appointment.notes:
        changed.add("notes")
    starts_at, ends_at = _window(appointment, data, now)
    if (starts_at, ends_at) != (appointment.starts_at, appointment.ends_at):
        changed.add("window")
    waiting_room = data.get("waiting_room", appointment.waiting_room)
    if not isinstance(waiting_room, bool):
        raise ValidationError("waiting_room must be true or false", "waiting_room")
    if waiting_room != appointment.waiting_room:
        if not appointment.is_video:
            raise ValidationError("only a video appointment has a waiting room", "waiting_room")
        changed.add("waiting_room")
    # The kind stays: a video appointment's links cannot become a place, nor the reverse
    # (cancel and schedule anew). Its fields stay editable.
    if data.get("kind", appointment.kind) != appointment.kind:
        raise ValidationError("the kind cannot be changed: schedule a new appointment", "kind")
    before = KindFields(appointment.kind, appointment.place, appointment.address, appointment.bring)
    where = kind_fields(str(appointment.kind), data, before)
    changed.update(name for name in PLACE_FIELDS if getattr(where, name) != getattr(before, name))
    people = appointment.participants
    if "participants" in data:
        people, renamed = _people(appointment, data["participants"], settings)
        if renamed:
            changed.add("participants")
    if "window" in changed:
        # Tokens minted for the old window (whole-second `iat`) are void from the next second.
        cutoff = math.floor(now) + 1
        people = tuple(dataclasses.replace(p, not_before=max(p.not_before, cutoff)) for p in people)
    updated = dataclasses.replace(
        appointment,
        title=title,
        notes=notes,
        starts_at=starts_at,
        ends_at=ends_at,
        waiting_room=waiting_room,
        participants=people,
        place=where.place,
        address=where.address,
        bring=where.bring,
    )
    return Edited(updated, tuple(sorted(changed)))
