"""Scheduling: turning a request into a validated appointment with fresh invite codes."""

from __future__ import annotations

import dataclasses
import math
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.model import (
    KINDS,
    LANGUAGES,
    ROLES,
    Appointment,
    AppointmentKind,
    AppointmentStatus,
    Participant,
    Profile,
    Role,
)
from core.settings import Settings
from signalling.auth.invites import hash_code, link_id, new_code
from signalling.auth.tokens import RoomClaims

MAX_DURATION = 12 * 3600
MAX_NOTES = 2000  # characters of the caseworker's notes on an appointment
# The place of an in-person appointment, its address and what to bring: short single lines
# the jobseeker reads in the space and the calendar file carries.
MAX_PLACE, MAX_ADDRESS, MAX_BRING = 200, 300, 500
PLACE_FIELDS = ("place", "address", "bring")
EARLIEST, LATEST = 946_684_800.0, 4_102_444_800.0  # 2000-01-01 .. 2100-01-01 UTC


class ValidationError(ValueError):
    """A request that cannot become an appointment; `field` names the culprit."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Scheduled:
    appointment: Appointment
    codes: dict[str, str]  # participant id -> invite code; returned once, never stored


def parse_time(value: Any, field: str) -> float:
    """Epoch seconds, or an ISO 8601 timestamp that names its offset."""
    if isinstance(value, bool):
        raise ValidationError(f"{field} must be a time", field)
    if isinstance(value, int | float):
        number = float(value)
        if not (EARLIEST <= number <= LATEST):  # also refuses NaN and infinities
            raise ValidationError(f"{field} is not a plausible time", field)
        return number
    if isinstance(value, str) and len(value) <= 40:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(f"{field} is not an ISO 8601 time", field) from None
        if parsed.tzinfo is None:
            raise ValidationError(f"{field} must include a UTC offset", field)
        return parse_time(parsed.timestamp(), field)
    raise ValidationError(f"{field} must be an ISO 8601 time or epoch seconds", field)


def clean_text(value: Any, field: str, max_length: int) -> str:
    """A trimmed single-line string without control characters."""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string", field)
    text = value.strip()
    if not text:
        raise ValidationError(f"{field} must not be empty", field)
    if len(text) > max_length:
        raise ValidationError(f"{field} is longer than {max_length} characters", field)
    if any(unicodedata.category(c).startswith("C") for c in text):
        raise ValidationError(f"{field} contains control characters", field)
    return text


def clean_notes(value: Any, field: str = "notes") -> str:
    """The caseworker's notes: several lines allowed (tabs too), no other control characters."""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string", field)
    text = value.replace("\r\n", "\n").strip()
    if len(text) > MAX_NOTES:
        raise ValidationError(f"{field} is longer than {MAX_NOTES} characters", field)
    if any(unicodedata.category(c).startswith("C") and c not in "\n\t" for c in text):
        raise ValidationError(f"{field} contains control characters", field)
    return text


@dataclass(frozen=True)
class KindFields:
    kind: str  # an AppointmentKind
    place: str = ""
    address: str = ""
    bring: str = ""


def _optional_line(value: Any, field: str, max_length: int) -> str:
    """A short single line that may be empty (clean_text, but "" allowed)."""
    if isinstance(value, str) and not value.strip():
        return ""
    return clean_text(value, field, max_length)


def kind_fields(kind: Any, data: dict[str, Any], before: KindFields | None = None) -> KindFields:
    """The kind and its fields: in person needs a place and an address (what to bring is
    optional); by phone only what to have at hand; a video appointment none of them. With
    `before` (an edit), fields not in `data` keep their values."""
    if not isinstance(kind, str) or kind not in KINDS:
        raise ValidationError(f"kind must be one of {', '.join(KINDS)}", "kind")
    chosen = AppointmentKind(kind)
    limits = {"place": MAX_PLACE, "address": MAX_ADDRESS, "bring": MAX_BRING}
    values = {
        name: (
            _optional_line(data[name], name, limits[name])
            if name in data
            else (getattr(before, name) if before else "")
        )
        for name in PLACE_FIELDS
    }
    allowed = {
        AppointmentKind.VIDEO: (),
        AppointmentKind.IN_PERSON: PLACE_FIELDS,
        AppointmentKind.PHONE: ("bring",),
    }[chosen]
    for name in PLACE_FIELDS:
        if values[name] and name not in allowed:
            raise ValidationError(f"{name} does not belong to a {chosen} appointment", name)
    if chosen == AppointmentKind.IN_PERSON:
        for name in ("place", "address"):
            if not values[name]:
                raise ValidationError(f"an in-person appointment needs its {name}", name)
    return KindFields(chosen, **values)


def _participant(raw: Any, field: str, settings: Settings) -> tuple[Participant, str]:
    """A participant from a request; `field` prefixes the names of culprits ("" for none)."""

    def at(name: str) -> str:
        return f"{field}.{name}" if field else name

    if not isinstance(raw, dict):
        raise ValidationError(f"{field or 'body'} must be an object", field or None)
    unknown = set(raw) - {"role", "name", "lang"}
    if unknown:
        raise ValidationError(
            f"{field or 'body'} has unknown fields: {', '.join(sorted(unknown))}", field or None
        )
    role = raw.get("role")
    if role not in ROLES:
        raise ValidationError(f"{at('role')} must be one of {', '.join(ROLES)}", at("role"))
    name = clean_text(raw.get("name"), at("name"), settings.max_name_length)
    lang = raw.get("lang", "de")
    if lang not in LANGUAGES:
        raise ValidationError(f"{at('lang')} must be one of {', '.join(LANGUAGES)}", at("lang"))
    code = new_code()
    participant = Participant(
        id=f"p_{secrets.token_hex(6)}",
        role=Role(role),
        name=name,
        lang=lang,
        invite_hash=hash_code(code),
    )
    return participant, code


def _for_profile(profile: Profile) -> tuple[Participant, str]:
    """The jobseeker participant of an appointment scheduled for a profile: the profile's
    name and language (so the invitation's language is the profile's), linked to it."""
    code = new_code()
    participant = Participant(
        id=f"p_{secrets.token_hex(6)}",
        role=Role.JOBSEEKER,
        name=profile.name,
        lang=profile.lang,
        invite_hash=hash_code(code),
        profile_id=profile.id,
    )
    return participant, code


def schedule(
    data: Any,
    *,
    now: float,
    settings: Settings,
    created_by: str,
    profile: Profile | None = None,
) -> Scheduled:
    """Validate a scheduling request; a pure function of its inputs (and fresh randomness).

    With a `profile` (the request named its `profile_id`), the jobseeker is that profile's:
    the request lists the other participants only, and the jobseeker joins them last."""
    if not isinstance(data, dict):
        raise ValidationError("body must be a JSON object")
    fields = {
        "title",
        "notes",
        "starts_at",
        "ends_at",
        "waiting_room",
        "participants",
        "profile_id",
        "kind",
        *PLACE_FIELDS,
    }
    unknown = set(data) - fields
    if unknown:
        raise ValidationError(f"unknown fields: {', '.join(sorted(unknown))}")
    title = clean_text(data.get("title"), "title", settings.max_title_length)
    notes = clean_notes(data.get("notes", ""))
    if "starts_at" not in data or "ends_at" not in data:
        raise ValidationError("starts_at and ends_at are required", "starts_at")
    starts_at = parse_time(data["starts_at"], "starts_at")
    ends_at = parse_time(data["ends_at"], "ends_at")
    if ends_at <= starts_at:
        raise ValidationError("ends_at must be after starts_at", "ends_at")
    if ends_at <= now:
        raise ValidationError("the appointment window is in the past", "ends_at")
    if ends_at - starts_at > MAX_DURATION:
        raise ValidationError("an appointment may last at most 12 hours", "ends_at")
    where = kind_fields(data.get("kind", AppointmentKind.VIDEO), data)
    waiting_room = data.get("waiting_room", True)
    if not isinstance(waiting_room, bool):
        raise ValidationError("waiting_room must be true or false", "waiting_room")
    if where.kind != AppointmentKind.VIDEO:
        waiting_room = False  # no room to wait in
    raw_participants = data.get("participants")
    if not isinstance(raw_participants, list) or not raw_participants:
        raise ValidationError("participants must be a non-empty list", "participants")
    if len(raw_participants) > settings.max_participants:
        raise ValidationError(f"at most {settings.max_participants} participants", "participants")
    pairs = [
        _participant(raw, f"participants[{i}]", settings) for i, raw in enumerate(raw_participants)
    ]
    if profile is not None:
        if any(p.role == Role.JOBSEEKER for p, _ in pairs):
            raise ValidationError(
                "with a profile_id the profile is the jobseeker: list the others only",
                "participants",
            )
        if len(pairs) + 1 > settings.max_participants:
            raise ValidationError(
                f"at most {settings.max_participants} participants", "participants"
            )
        pairs.append(_for_profile(profile))
    if not any(p.role == Role.CASEWORKER for p, _ in pairs):
        raise ValidationError("an appointment needs a caseworker", "participants")
    if len(pairs) < 2:
        raise ValidationError("an appointment needs at least two participants", "participants")
    appointment = Appointment(
        id=f"a_{secrets.token_hex(8)}",
        title=title,
        starts_at=starts_at,
        ends_at=ends_at,
        waiting_room=waiting_room,
        participants=tuple(p for p, _ in pairs),
        created_by=created_by,
        created_at=now,
        notes=notes,
        kind=where.kind,
        place=where.place,
        address=where.address,
        bring=where.bring,
    )
    return Scheduled(appointment, {p.id: code for p, code in pairs})


class Conflict(ValueError):
    """A valid request the appointment cannot take as it stands (full, over, cancelled)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# Who may be added to an appointment that exists: never a second caseworker (the one host
# admits and moderates), a jobseeker only where there is none yet.
ADDABLE: tuple[str, ...] = (Role.INTERPRETER, Role.EMPLOYER, Role.JOBSEEKER)


def add_participant(
    appointment: Appointment, data: Any, *, now: float, settings: Settings
) -> tuple[Appointment, Participant, str]:
    """One more participant with an invitation link of their own (an interpreter, mostly):
    the appointment with them, them, and their invite code (returned once, never stored)."""
    if not isinstance(data, dict):
        raise ValidationError("body must be a JSON object")
    role = data.get("role")
    if role == Role.CASEWORKER:
        raise ValidationError("an appointment has exactly one caseworker", "role")
    if not isinstance(role, str) or role not in ADDABLE:
        raise ValidationError(f"role must be one of {', '.join(ADDABLE)}", "role")
    participant, code = _participant(data, "", settings)
    if participant.role == Role.JOBSEEKER and any(
        p.role == Role.JOBSEEKER for p in appointment.participants
    ):
        raise ValidationError("the appointment has its jobseeker already", "role")
    if appointment.status != AppointmentStatus.SCHEDULED:
        raise Conflict(f"the appointment is {appointment.status}")
    if not appointment.is_video:
        raise Conflict(f"a {appointment.kind} appointment has no links to hand out")
    if now >= appointment.ends_at:
        raise Conflict("the appointment is over")
    if len(appointment.participants) >= settings.max_participants:
        raise Conflict(f"an appointment has at most {settings.max_participants} participants")
    updated = dataclasses.replace(
        appointment, participants=(*appointment.participants, participant)
    )
    return updated, participant, code


def reissue(appointment: Appointment, participant_id: str, now: float) -> tuple[Appointment, str]:
    """A new invite code for one participant: the old link and every token minted from it
    stop working (their `lnk` claim names the old link; see `token_void`)."""
    code = new_code()
    # Whole seconds: a token minted for the new link in this same second must still work.
    cutoff = math.floor(now)
    participants = tuple(
        dataclasses.replace(p, invite_hash=hash_code(code), not_before=cutoff)
        if p.id == participant_id
        else p
        for p in appointment.participants
    )
    return dataclasses.replace(appointment, participants=participants), code


def shut_out(appointment: Appointment, participant_id: str, now: float) -> Appointment:
    """Remove a participant: their link stops working (until staff reissue one) and every
    token they hold is void."""
    dead = "denied:" + secrets.token_hex(16)  # no code hashes to this
    # Token times are whole seconds: void everything minted up to the end of this second.
    cutoff = math.floor(now) + 1
    participants = tuple(
        dataclasses.replace(p, invite_hash=dead, not_before=cutoff) if p.id == participant_id else p
        for p in appointment.participants
    )
    return dataclasses.replace(appointment, participants=participants)


def token_void(participant: Participant, claims: RoomClaims) -> bool:
    """Whether a token is void because the participant's link changed since it was minted
    (removal or reissue). The link id decides exactly, even within the same second as the
    change; `not_before` (whole seconds) stays as a second bound."""
    return claims.lnk != link_id(participant.invite_hash) or claims.iat < participant.not_before
