"""The console's live socket: `GET /api/console/live` (WebSocket, staff session).

The console reads its lists over the API as before; this socket only tells it when to read
again, so that a caseworker working in another window hears at once that someone waits
(instead of on the next poll, which Chromium slows to once a minute in a tab hidden for
five minutes). The server sends:

- `{"type": "ready"}` once the socket is open (the console reads everything, which also
  covers what changed while it was disconnected);
- `{"type": "changed", "appointments": [ids], "help": bool}` after a change, with the
  notices of a quarter second coalesced.

The console sends nothing. The socket is the staff session's: the session cookie
(HttpOnly, SameSite=Strict) and an Origin of this server are needed to open it, and it is
closed with 4401 when the session ends (checked every minute). Notices hold
appointment ids only: what they mean is read over the API, which checks the session again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from aiohttp import WSMsgType, web

from core.contracts.client import CloseCode
from core.contracts.errors import ErrorCode
from core.tasks import finish
from signalling.auth.staff import SESSION_COOKIE, current_staff, session_hash
from signalling.console_feed import FEED_ERRORS, ConsoleFeed, Pending
from signalling.context import SERVICES
from signalling.room.ws import SOCKETS, origin_allowed

log = structlog.get_logger(__name__)

FEED = web.AppKey("console_feed", ConsoleFeed)
COALESCE = 0.25  # seconds notices gather before the console is told
HEARTBEAT = 20.0  # seconds between pings (aiohttp closes a socket whose pong is missing)


async def console_socket(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    if not origin_allowed(request, services.settings.public_url):
        return web.json_response(
            {"error": "origin not allowed", "code": ErrorCode.BAD_ORIGIN}, status=403
        )
    user = await current_staff(request)
    if user is None:
        return web.json_response(
            {"error": "log in first", "code": ErrorCode.UNAUTHENTICATED}, status=401
        )
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT, max_msg_size=1024)
    await ws.prepare(request)
    feed = request.app[FEED]
    try:
        await feed.ensure_subscribed()
    except FEED_ERRORS as exc:
        # Redis is away (or the server is closing): the console polls and comes back later.
        log.warning("console_live_unavailable", error=type(exc).__name__)
        await ws.close(code=int(CloseCode.TRY_AGAIN), message=b"try again later")
        return ws
    sockets = request.app[SOCKETS]  # closed with 1001 when the server shuts down
    me = sockets.add(ws)
    log.info("console_live_opened", staff=user.username)
    try:
        with feed.listen() as pending:
            await ws.send_json({"type": "ready"})
            teller = asyncio.create_task(
                _tell(request, ws, pending, feed.session_check), name="console-live"
            )
            try:
                async for msg in ws:
                    if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                        await ws.close(
                            code=int(CloseCode.BAD_MESSAGES), message=b"the console sends nothing"
                        )
            finally:
                teller.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await teller
    except (ConnectionError, RuntimeError):
        pass  # the console went away while being told
    finally:
        sockets.discard(me)
        log.info("console_live_closed", staff=user.username, code=ws.close_code)
    return ws


async def _tell(
    request: web.Request, ws: web.WebSocketResponse, pending: Pending, session_check: float
) -> None:
    """Send what changed, coalesced; close the socket once its session has ended."""
    accounts = request.app[SERVICES].accounts
    session = session_hash(request.cookies.get(SESSION_COOKIE, ""))
    loop = asyncio.get_running_loop()
    checked = loop.time()
    while not ws.closed:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(pending.ready.wait(), timeout=session_check)
        if loop.time() - checked >= session_check:
            checked = loop.time()
            # Not cut off half-way when the socket closes meanwhile (see core.tasks.finish).
            if await finish(accounts.get_session(session)) is None:
                await ws.close(code=int(CloseCode.AUTH_FAILED), message=b"session ended")
                return
        if pending.ready.is_set():
            await asyncio.sleep(COALESCE)
            await ws.send_json(pending.take())


async def _feed_ctx(app: web.Application) -> AsyncIterator[None]:
    yield
    await app[FEED].close()


def setup_console_socket(app: web.Application) -> None:
    app[FEED] = ConsoleFeed(app[SERVICES].bus)
    app.cleanup_ctx.append(_feed_ctx)
    app.router.add_get("/api/console/live", console_socket)
