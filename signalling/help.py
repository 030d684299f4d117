"""Help requests: validating what a jobseeker asks and what a caseworker answers (pure
functions, like `signalling.profiles`), and the requests as the API shows them."""

from __future__ import annotations

import secrets
import unicodedata
from collections.abc import Collection
from typing import Any

from core.help import HelpKind, HelpReply, HelpRequest, HelpStatus, ReplyKind
from signalling.appointments import ValidationError

MAX_TEXT = 2000  # a request's or a reply's text
MAX_CHILDREN = 10
MAX_AGE = 17
MAX_OPEN = 20  # requests a profile may have open at once: a stuck button cannot flood the inbox
MAX_REPLIES = 50  # answers and notes on one request
MAX_LISTED = 200  # requests the inbox or the space lists at once
REQUEST_ID_LENGTH = 26  # h_ and 24 hex digits

_REQUEST_FIELDS = frozenset({"kind", "text", "appointment", "child_ages"})


def new_request_id() -> str:
    return f"h_{secrets.token_hex(12)}"


def looks_like_request_id(value: str) -> bool:
    """Cheap shape check before touching the store."""
    return (
        len(value) == REQUEST_ID_LENGTH
        and value.startswith("h_")
        and all(c in "0123456789abcdef" for c in value[2:])
    )


def clean_message(value: Any, field: str, *, required: bool) -> str:
    """Trimmed free text of at most MAX_TEXT characters: line breaks and tabs may stay,
    other control characters may not."""
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string", field)
    text = value.strip().replace("\r\n", "\n")
    if required and not text:
        raise ValidationError(f"{field} must not be empty", field)
    if len(text) > MAX_TEXT:
        raise ValidationError(f"{field} is longer than {MAX_TEXT} characters", field)
    if any(unicodedata.category(c).startswith("C") and c not in "\n\t" for c in text):
        raise ValidationError(f"{field} contains control characters", field)
    return text


def _object(data: Any, allowed: frozenset[str]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValidationError("body must be a JSON object")
    unknown = set(data) - allowed
    if unknown:
        raise ValidationError(f"unknown fields: {', '.join(sorted(unknown))}")
    return data


def _ages(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_CHILDREN:
        raise ValidationError(
            f"child_ages must list the age of each child (1 to {MAX_CHILDREN})", "child_ages"
        )
    ages: list[int] = []
    for age in value:
        if isinstance(age, bool) or not isinstance(age, int) or not 0 <= age <= MAX_AGE:
            raise ValidationError(f"each age must be a whole number 0 to {MAX_AGE}", "child_ages")
        ages.append(age)
    return tuple(ages)


def new_help_request(
    data: Any, *, profile: str, now: float, appointments: Collection[str]
) -> HelpRequest:
    """A request from {kind, text, appointment?, child_ages?}. Childcare names one of the
    profile's `appointments` and the children's ages; the other kinds name neither and need
    a text (for childcare the text, the children's needs, may stay empty)."""
    body = _object(data, _REQUEST_FIELDS)
    try:
        kind = HelpKind(str(body.get("kind")))
    except ValueError:
        raise ValidationError(
            f"kind must be one of {', '.join(k.value for k in HelpKind)}", "kind"
        ) from None
    childcare = kind == HelpKind.CHILDCARE
    text = clean_message(body.get("text"), "text", required=not childcare)
    appointment: str | None = None
    ages: tuple[int, ...] = ()
    if childcare:
        appointment = body.get("appointment")
        if not isinstance(appointment, str) or appointment not in appointments:
            raise ValidationError("appointment must be one of your appointments", "appointment")
        ages = _ages(body.get("child_ages"))
    elif "appointment" in body or "child_ages" in body:
        raise ValidationError("appointment and child_ages belong to childcare", "kind")
    return HelpRequest(
        id=new_request_id(),
        profile=profile,
        kind=kind,
        text=text,
        created_at=now,
        updated_at=now,
        appointment=appointment,
        child_ages=ages,
    )


def parse_reply(data: Any, *, request: str, author: str, now: float) -> HelpReply:
    """An answer or note from {kind: answer|note, text}."""
    body = _object(data, frozenset({"kind", "text"}))
    try:
        kind = ReplyKind(str(body.get("kind", ReplyKind.ANSWER)))
    except ValueError:
        raise ValidationError("kind must be answer or note", "kind") from None
    text = clean_message(body.get("text"), "text", required=True)
    return HelpReply(request=request, kind=kind, author=author, text=text, at=now)


def parse_status(data: Any) -> HelpStatus:
    body = _object(data, frozenset({"status"}))
    try:
        return HelpStatus(str(body.get("status")))
    except ValueError:
        raise ValidationError(
            f"status must be one of {', '.join(s.value for s in HelpStatus)}", "status"
        ) from None


def public_request(request: HelpRequest) -> dict[str, Any]:
    """A request as the API shows it (to its jobseeker and to caseworkers)."""
    return {
        "id": request.id,
        "profile": request.profile,
        "kind": str(request.kind),
        "text": request.text,
        "status": str(request.status),
        "new": request.new,
        "appointment": request.appointment,
        "child_ages": list(request.child_ages),
        "created_at": request.created_at,
        "updated_at": request.updated_at,
        "replies": [
            {"kind": str(r.kind), "text": r.text, "at": r.at, "author": r.author}
            for r in request.replies
        ],
    }
