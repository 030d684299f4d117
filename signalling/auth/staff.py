"""Staff accounts and console sessions: scrypt password hashes, opaque session cookies."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from aiohttp import web

from core.model import StaffUser
from signalling.context import SERVICES

SESSION_COOKIE = "lj_session"
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    """scrypt with a random salt, in a self-describing string."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    """Constant-time check of a password against `hash_password`'s output."""
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def check_new_password(password: str) -> None:
    """Refuse weak staff passwords."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")


def session_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_for_session(token: str) -> str:
    """Derived from the session so it needs no storage; useless without the HttpOnly cookie."""
    return hashlib.sha256(b"csrf:" + token.encode()).hexdigest()[:32]


async def current_staff(request: web.Request) -> StaffUser | None:
    """The staff member whose live session cookie came with the request."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 128:
        return None
    services = request.app[SERVICES]
    username = await services.accounts.get_session(session_hash(token))
    if username is None:
        return None
    return await services.accounts.get_staff(username)


def csrf_token(request: web.Request) -> str:
    """The CSRF token console pages put in their meta tag ('' without a session)."""
    token = request.cookies.get(SESSION_COOKIE)
    return csrf_for_session(token) if token else ""


def csrf_ok(request: web.Request) -> bool:
    sent = request.headers.get("X-CSRF-Token", "")
    expected = csrf_token(request)
    return bool(expected) and hmac.compare_digest(sent, expected)
