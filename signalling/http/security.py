"""Security headers on every response: a strict CSP, no referrer (join links carry codes), and
HSTS on every HTTPS response, errors included."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(self), microphone=(self), display-capture=(self), "
    "geolocation=(), payment=()",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


HSTS = "max-age=31536000"


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(HEADERS)
        raise
    if not response.prepared:  # a WebSocket is already upgraded
        for name, value in HEADERS.items():  # a handler's own (stricter) policy stays
            response.headers.setdefault(name, value)
        if request.path.startswith("/api/") or request.path.startswith("/j/"):
            response.headers["Cache-Control"] = "no-store"
    return response


async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """Every response the app sends, also those no middleware sees (aiohttp's own 404, 405
    and 500 answers, raised HTTP errors): the fixed headers (where a handler set none of its
    own) and, over HTTPS, HSTS."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.secure:
        response.headers["Strict-Transport-Security"] = HSTS


def setup_security(app: web.Application) -> None:
    """Security headers on every response of `app`."""
    app.on_response_prepare.append(on_prepare)
