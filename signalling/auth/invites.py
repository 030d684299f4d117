"""Invite codes: 128 random bits, stored only as a hash, valid inside the appointment window."""

from __future__ import annotations

import hashlib
import secrets
from enum import Enum

from core.model import Appointment


def new_code() -> str:
    """A fresh invite code: 128 random bits, URL-safe."""
    return secrets.token_urlsafe(16)


def hash_code(code: str) -> str:
    """The only form in which a code is stored. Codes are random, so no salt is needed."""
    return hashlib.sha256(code.encode()).hexdigest()


def looks_like_code(code: str) -> bool:
    """Cheap shape check before touching the store."""
    return 16 <= len(code) <= 64 and all(c.isalnum() or c in "-_" for c in code)


class LinkState(Enum):
    OPEN = "open"
    TOO_EARLY = "too_early"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    ENDED = "ended"


def link_state(appointment: Appointment, now: float, early_margin: float) -> LinkState:
    """Whether a join link works now: inside [start - margin, end) of a live appointment."""
    if appointment.status == "cancelled":
        return LinkState.CANCELLED
    if appointment.status == "ended":
        return LinkState.ENDED
    if now >= appointment.ends_at:
        return LinkState.EXPIRED
    if now < appointment.starts_at - early_margin:
        return LinkState.TOO_EARLY
    return LinkState.OPEN
