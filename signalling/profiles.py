"""Jobseeker profiles: validating what caseworkers send (pure functions, like scheduling)."""

from __future__ import annotations

import dataclasses
import secrets
from typing import Any

from core.audit import Action, AuditRecord
from core.model import LANGUAGES, Profile
from core.settings import Settings
from signalling.appointments import ValidationError, clean_text

MAX_PHONE_LENGTH = 32
MAX_QUERY_LENGTH = 100
_PHONE_CHARS = frozenset("0123456789+-()/ ")
_FIELDS = frozenset({"name", "lang", "phone"})


def new_profile_id() -> str:
    """A pseudonymous profile id (`j_<hex>`): says nothing about the person."""
    return f"j_{secrets.token_hex(8)}"


def looks_like_profile_id(value: str) -> bool:
    """Cheap shape check before touching the store."""
    return value.startswith("j_") and 3 <= len(value) <= 64 and value[2:].isalnum()


def _lang(value: Any) -> str:
    if value not in LANGUAGES:
        raise ValidationError(f"lang must be one of {', '.join(LANGUAGES)}", "lang")
    return str(value)


def _phone(value: Any) -> str | None:
    """An optional phone number: digits and the usual separators, or null/empty for none."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError("phone must be a string or null", "phone")
    text = value.strip()
    if not text:
        return None
    if len(text) > MAX_PHONE_LENGTH or not set(text) <= _PHONE_CHARS:
        raise ValidationError("phone may hold digits, spaces and + - ( ) / only", "phone")
    if sum(c.isdigit() for c in text) < 3:
        raise ValidationError("phone needs at least three digits", "phone")
    return text


def _object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValidationError("body must be a JSON object")
    unknown = set(data) - _FIELDS
    if unknown:
        raise ValidationError(f"unknown fields: {', '.join(sorted(unknown))}")
    return data


def new_profile(data: Any, *, now: float, settings: Settings, created_by: str) -> Profile:
    """A new profile from a create request {name, lang, phone?}."""
    body = _object(data)
    return Profile(
        id=new_profile_id(),
        name=clean_text(body.get("name"), "name", settings.max_name_length),
        lang=_lang(body.get("lang")),
        phone=_phone(body.get("phone")),
        created_by=created_by,
        created_at=now,
    )


def edit_profile(profile: Profile, data: Any, *, settings: Settings) -> Profile:
    """The profile with the fields an edit request names (any of name, lang, phone)."""
    body = _object(data)
    if not body:
        raise ValidationError("name, lang or phone is required")
    changes: dict[str, Any] = {}
    if "name" in body:
        changes["name"] = clean_text(body["name"], "name", settings.max_name_length)
    if "lang" in body:
        changes["lang"] = _lang(body["lang"])
    if "phone" in body:
        changes["phone"] = _phone(body["phone"])
    return dataclasses.replace(profile, **changes)


def search_query(raw: str | None) -> str:
    """The name fragment to search for (trimmed; empty lists every profile)."""
    text = (raw or "").strip()
    if len(text) > MAX_QUERY_LENGTH:
        raise ValidationError(f"q is longer than {MAX_QUERY_LENGTH} characters", "q")
    return text


def changed_fields(before: Profile, after: Profile) -> list[str]:
    """The names of the fields an edit changed (for the audit entry: names, never values)."""
    return [name for name in sorted(_FIELDS) if getattr(before, name) != getattr(after, name)]


def profile_record(
    action: Action, profile: str, at: float, *, actor: str, role: str, **detail: str | int
) -> AuditRecord:
    """An audit entry about a profile itself (its record, its space link, its devices)."""
    return AuditRecord(
        at=at, actor=actor, actor_role=role, action=action, profile=profile, detail=detail
    )
