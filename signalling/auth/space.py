"""The jobseeker's space: personal links (`/s/<code>`) and device sessions.

A space code is 128 random bits like an invite code, stored only as its SHA-256. Opening it
starts a device session: an opaque cookie (only its hash stored) that ends when idle for
`space_idle_timeout`, on "sign out on this device", or for every device of the profile when
the caseworker reissues or revokes the link (the link version moves on).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from aiohttp import web

from core.model import Profile, SpaceSession
from signalling.auth.invites import hash_code, looks_like_code, new_code
from signalling.auth.staff import new_session_token, session_hash
from signalling.context import SERVICES

SPACE_COOKIE = "lj_space"
MAX_COOKIE_LENGTH = 128

new_space_code = new_code
hash_space_code = hash_code
looks_like_space_code = looks_like_code


@dataclass(frozen=True)
class SpaceVisit:
    """A request from a device signed in to a profile's space."""

    profile: Profile
    session: SpaceSession
    token: str  # the cookie value, for the CSRF token derived from it


def csrf_for_space(token: str) -> str:
    """Derived from the session cookie (like the console's), domain-separated from it."""
    return hashlib.sha256(b"space-csrf:" + token.encode()).hexdigest()[:32]


def space_csrf_ok(visit: SpaceVisit, sent: str) -> bool:
    return hmac.compare_digest(sent.encode(), csrf_for_space(visit.token).encode())


async def start_session(request: web.Request, profile: Profile) -> str:
    """A new device session in `profile`'s space; returns the cookie value."""
    services = request.app[SERVICES]
    token = new_session_token()
    now = services.clock.now()
    await services.profiles.put_space_session(
        SpaceSession(
            session_hash=session_hash(token),
            profile_id=profile.id,
            created_at=now,
            last_seen=now,
            expires_at=now + services.settings.space_idle_timeout,
            link_version=profile.space_link_version,
        )
    )
    return token


async def current_visit(request: web.Request) -> SpaceVisit | None:
    """The live space session of this device, its idle expiry moved on; None if signed out."""
    token = request.cookies.get(SPACE_COOKIE)
    if not token or len(token) > MAX_COOKIE_LENGTH:
        return None
    services = request.app[SERVICES]
    found = await services.profiles.get_space_session(session_hash(token))
    if found is None:
        return None
    profile = await services.profiles.get_profile(found.profile_id)
    if profile is None:
        return None
    await services.profiles.touch_space_session(
        found.session_hash, services.clock.now() + services.settings.space_idle_timeout
    )
    return SpaceVisit(profile, found, token)


def set_space_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    """HttpOnly, SameSite=Strict, Secure over HTTPS; a browser-session cookie (the server's
    idle expiry decides how long it is worth anything)."""
    base = request.app[SERVICES].settings.base_url()
    response.set_cookie(
        SPACE_COOKIE,
        token,
        httponly=True,
        secure=request.secure or base.startswith("https://"),
        samesite="Strict",
        path="/",
    )


async def end_session(request: web.Request, response: web.StreamResponse) -> None:
    """Sign this device out: forget its session and clear the cookie."""
    token = request.cookies.get(SPACE_COOKIE)
    if token and len(token) <= MAX_COOKIE_LENGTH:
        await request.app[SERVICES].profiles.delete_space_session(session_hash(token))
    response.del_cookie(SPACE_COOKIE, path="/")
