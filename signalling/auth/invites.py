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


def link_id(invite_hash: str) -> str:
    """Which of a participant's links a room token was minted from (its `lnk` claim).

    Derived from the stored hash, so it changes whenever the link is reissued or the
    participant removed; a token whose `lnk` is not the participant's current one is void,
    however close in time to the change it was minted (whole-second `iat` cannot tell).
    Domain-separated and truncated: it says nothing about the code or its hash.
    """
    return hashlib.sha256(b"lippejob-link:" + invite_hash.encode()).hexdigest()[:32]


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
