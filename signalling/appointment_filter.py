"""The console list's search and filters: parsed from query parameters, applied as a pure
function of the appointments and the time."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from core.model import Appointment, AppointmentStatus
from signalling.appointments import ValidationError

# upcoming: scheduled and not over; past: ended, cancelled, or its window is over.
STATUSES = ("all", "upcoming", "past", "scheduled", "ended", "cancelled")
PARAMS = frozenset({"from", "to", "q", "status", "limit"})
MAX_QUERY = 100
DEFAULT_LIMIT = 200
MAX_LIMIT = 500


@dataclass(frozen=True)
class ListFilter:
    starts_after: float | None = None
    starts_before: float | None = None
    query: str = ""
    status: str = "all"
    limit: int = DEFAULT_LIMIT


def _epoch(raw: str, name: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValidationError(f"{name} must be epoch seconds", name)
    return value


def fold(text: str) -> str:
    """Case- and accent-insensitive form for matching (dotless i as i, no accents)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().replace("ı", "i"))  # noqa: RUF001
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def parse_filter(query: Mapping[str, str]) -> ListFilter:
    """A ListFilter from `from`, `to` (epoch seconds), `q`, `status` and `limit`."""
    unknown = set(query) - PARAMS
    if unknown:
        raise ValidationError(f"unknown parameters: {', '.join(sorted(unknown))}", "query")
    after = _epoch(query["from"], "from") if "from" in query else None
    before = _epoch(query["to"], "to") if "to" in query else None
    if after is not None and before is not None and before < after:
        raise ValidationError("to must not be before from", "to")
    text = query.get("q", "").strip()
    if len(text) > MAX_QUERY:
        raise ValidationError(f"q is longer than {MAX_QUERY} characters", "q")
    if any(unicodedata.category(c).startswith("C") for c in text):
        raise ValidationError("q contains control characters", "q")
    status = query.get("status", "all")
    if status not in STATUSES:
        raise ValidationError(f"status must be one of {', '.join(STATUSES)}", "status")
    limit = DEFAULT_LIMIT
    if "limit" in query:
        raw = query["limit"]
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
            raise ValidationError(f"limit must be a whole number from 1 to {MAX_LIMIT}", "limit")
        limit = int(raw)
    return ListFilter(after, before, text, status, limit)


def _status_matches(appointment: Appointment, status: str, now: float) -> bool:
    over = appointment.status != AppointmentStatus.SCHEDULED or now >= appointment.ends_at
    if status == "upcoming":
        return not over
    if status == "past":
        return over
    if status in ("scheduled", "ended", "cancelled"):
        return appointment.status == status
    return True


def _text_matches(appointment: Appointment, query: str) -> bool:
    wanted = fold(query)
    haystack = [appointment.title, *(p.name for p in appointment.participants)]
    return any(wanted in fold(text) for text in haystack)


def apply_filter(
    appointments: Iterable[Appointment], wanted: ListFilter, now: float
) -> list[Appointment]:
    """The appointments that match, in the store's order (by start), at most `limit`; the
    "past" list runs newest first, so the latest ones are on top."""
    found = [
        a
        for a in appointments
        if _status_matches(a, wanted.status, now)
        and (not wanted.query or _text_matches(a, wanted.query))
    ]
    if wanted.status == "past":
        found.reverse()
    return found[: wanted.limit]
