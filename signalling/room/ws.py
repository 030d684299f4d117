"""The room WebSocket at /ws: authenticate with the first message, then speak the protocol
of DESIGN.md. Messages are parsed and validated by `core.contracts.client`; room state lives
in `signalling.room.hub`."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import structlog
from aiohttp import WSMessage, WSMsgType, web

from core.contracts import client as cm
from core.contracts.client import CloseCode, MessageError, parse_client_message
from core.contracts.errors import ErrorCode, error_message
from core.model import Appointment, AppointmentStatus, MemberState, Participant
from core.store.redis_client import UNAVAILABLE
from core.tasks import finish
from signalling.appointments import token_void
from signalling.auth.invites import LinkState, link_state
from signalling.auth.tokens import TokenError
from signalling.call_learning import CALL_LEARNING
from signalling.context import SERVICES
from signalling.metrics import METRICS
from signalling.room.connection import Connection
from signalling.room.hub import RoomHub
from signalling.room.keepalive import Keepalive
from signalling.sharing import SHARING, Outgoing, Sharing

log = structlog.get_logger(__name__)

HUB = web.AppKey("hub", RoomHub)
SHUTDOWN_WAIT = 5.0  # seconds the room sockets get to close when the server shuts down


class OpenSockets:
    """The room sockets this process serves. When the server shuts down they are closed
    first (1001, their pages reconnect, to another node behind a balancer) and their
    handlers finish while the stores are still open: otherwise aiohttp cancels a handler
    in the middle of its last writes (a stay, an attendance) and leaves the database
    connection it held to be torn down half-way."""

    def __init__(self, wait: float = SHUTDOWN_WAIT) -> None:
        self.wait = wait  # seconds the handlers get to finish once their sockets are closed
        # Each socket's handler resolves its future when it is done.
        self._open: dict[asyncio.Future[None], web.WebSocketResponse] = {}

    def add(self, ws: web.WebSocketResponse) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._open[done] = ws
        return done

    def discard(self, done: asyncio.Future[None]) -> None:
        self._open.pop(done, None)
        if not done.done():
            done.set_result(None)

    def __len__(self) -> int:
        return len(self._open)

    async def close_all(self) -> int:
        """Close every socket; wait up to `wait` seconds for their handlers. How many were
        open."""
        handlers = set(self._open)
        if not handlers:
            return 0
        closers = {
            asyncio.create_task(_close(ws, CloseCode.GOING_AWAY, "server shutting down"))
            for ws in self._open.values()
        }
        _, late = await asyncio.wait({*handlers, *closers}, timeout=self.wait)
        for task in late & closers:  # a client that does not answer the close frame
            task.cancel()
        if late & handlers:
            log.warning("ws_shutdown_late", handlers=len(late & handlers))
        return len(handlers)


SOCKETS = web.AppKey("room_sockets", OpenSockets)


def origin_allowed(request: web.Request, public_url: str) -> bool:
    """Browsers send Origin; it must be this server. Native clients send none."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    allowed = {request.host}
    if public_url:
        allowed.add(urlsplit(public_url).netloc)
    return parts.scheme in ("http", "https") and parts.netloc in allowed


async def room_socket(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    settings = services.settings
    if not origin_allowed(request, settings.public_url):
        return web.json_response(
            {"error": "origin not allowed", "code": ErrorCode.BAD_ORIGIN}, status=403
        )
    # Pings and pongs are handled here (autoping off): `Keepalive` needs to see the pongs.
    ws = web.WebSocketResponse(autoping=False, max_msg_size=settings.ws_max_message)
    await ws.prepare(request)
    keepalive = Keepalive(ws, interval=settings.ws_heartbeat, timeout=settings.ws_pong_timeout)
    watcher = asyncio.create_task(keepalive.watch(_aborter(request)), name="ws-keepalive")
    sockets = request.app[SOCKETS]
    me = sockets.add(ws)
    try:
        return await _session(request, ws, keepalive)
    finally:
        sockets.discard(me)
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        if keepalive.lapsed:
            log.info("ws_heartbeat_lapsed", silent_for=keepalive.interval + keepalive.timeout)


def _aborter(request: web.Request) -> Callable[[], None]:
    def abort() -> None:
        if request.transport is not None:
            request.transport.close()

    return abort


async def _session(
    request: web.Request, ws: web.WebSocketResponse, keepalive: Keepalive
) -> web.WebSocketResponse:
    try:
        conn = await _authenticate(request, ws, keepalive)
    except UNAVAILABLE as exc:
        # Redis is away for now: say so, and let the client come back (it reconnects on any
        # close code that is not final).
        log.warning("ws_auth_store_unavailable", error=type(exc).__name__)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_json(
                error_message(ErrorCode.STORE_UNAVAILABLE, "briefly unavailable; try again")
            )
        await _close(ws, CloseCode.TRY_AGAIN, "store unavailable")
        return ws
    if conn is None:
        return ws
    hub = request.app[HUB]
    left = False
    try:
        left = await _serve(request, hub, conn, keepalive)
    finally:
        # To its end even if the handler is cancelled (the client's connection lost, with
        # handler cancellation on; the server shutting down): the stay must not be half-ended.
        await finish(hub.detach(conn, left=left))
        await conn.wait_closed()
    return ws


async def _close(ws: web.WebSocketResponse, code: CloseCode, reason: str) -> None:
    with contextlib.suppress(ConnectionError, RuntimeError):
        await ws.close(code=int(code), message=reason.encode())


async def _receive(ws: web.WebSocketResponse, keepalive: Keepalive) -> WSMessage:
    """The next message that is not a ping or pong (those are answered or noted here)."""
    while True:
        keepalive.listening()
        msg = await ws.receive()
        keepalive.seen()
        if msg.type == WSMsgType.PING:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.pong(msg.data)
        elif msg.type != WSMsgType.PONG:
            return msg


async def _authenticate(
    request: web.Request, ws: web.WebSocketResponse, keepalive: Keepalive
) -> Connection | None:
    services = request.app[SERVICES]
    try:
        msg = await asyncio.wait_for(_receive(ws, keepalive), services.settings.ws_auth_timeout)
        arrived = time.monotonic()  # for join_to_hello_seconds
    except TimeoutError:
        await _close(ws, CloseCode.AUTH_TIMEOUT, "no auth message in time")
        return None
    if msg.type != WSMsgType.TEXT:
        await _close(ws, CloseCode.AUTH_FAILED, "first message must be auth")
        return None
    try:
        parsed = parse_client_message(msg.data)
        if not isinstance(parsed, cm.Auth):
            raise MessageError(ErrorCode.AUTH_REQUIRED, "first message must be auth")
        claims = services.verifier.verify(parsed.token)
    except MessageError as exc:
        await _close(ws, CloseCode.AUTH_FAILED, exc.code)
        return None
    except TokenError as exc:
        request.app[METRICS].rejected(exc.reason)
        log.info("ws_auth_rejected", reason=exc.reason)
        await _close(ws, CloseCode.AUTH_FAILED, f"token {exc.reason}")
        return None
    if await services.presence.is_revoked(claims.jti):
        request.app[METRICS].rejected("revoked")
        log.info(
            "ws_auth_rejected", reason="revoked", appointment=claims.room, participant=claims.sub
        )
        await _close(ws, CloseCode.AUTH_FAILED, "token revoked")
        return None
    appointment = await services.appointments.get_appointment(claims.room)
    participant = appointment.participant(claims.sub) if appointment else None
    if appointment is None or participant is None:
        await _close(ws, CloseCode.AUTH_FAILED, "unknown appointment")
        return None
    if token_void(participant, claims):
        await _close(ws, CloseCode.AUTH_FAILED, "token revoked")
        return None
    state = link_state(appointment, services.clock.now(), services.settings.early_join_margin)
    if state in (LinkState.CANCELLED, LinkState.ENDED, LinkState.EXPIRED):
        await _close(ws, CloseCode.ENDED, f"appointment {state.value}")
        return None
    conn = Connection(ws, claims, authed_at=arrived)
    await request.app[HUB].attach(conn, appointment)
    return conn


async def _serve(
    request: web.Request, hub: RoomHub, conn: Connection, keepalive: Keepalive
) -> bool:
    """Read messages until the socket closes; True when the participant left on purpose."""
    settings = request.app[SERVICES].settings
    errors = 0
    while True:
        msg = await _receive(conn.ws, keepalive)
        if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            break
        try:
            if msg.type != WSMsgType.TEXT:
                raise MessageError(ErrorCode.BINARY, "text frames only")
            if not conn.allow():
                raise MessageError(ErrorCode.RATE_LIMITED, "too many messages; slow down")
            parsed = parse_client_message(msg.data)
            request.app[METRICS].message(parsed.TYPE)
            done = await _dispatch(request, hub, conn, parsed)
        except UNAVAILABLE as exc:
            # Redis is away for now: not the client's fault, and not a reason to drop the
            # socket; it may send the message again (an admit, a chat) once Redis is back.
            log.warning(
                "ws_store_unavailable",
                appointment=conn.room,
                participant=conn.pid,
                error=type(exc).__name__,
            )
            await conn.send(
                error_message(ErrorCode.STORE_UNAVAILABLE, "briefly unavailable; try again")
            )
            continue
        except MessageError as exc:
            errors += 1
            log.info("ws_bad_message", appointment=conn.room, participant=conn.pid, code=exc.code)
            await conn.send(error_message(exc.code, exc.message))
            if errors >= settings.ws_max_errors:
                await _close(conn.ws, CloseCode.BAD_MESSAGES, "too many bad messages")
                return False
            continue
        if done:
            return True
    return False


async def _dispatch(
    request: web.Request, hub: RoomHub, conn: Connection, msg: cm.ClientMessage
) -> bool:
    services = request.app[SERVICES]
    if isinstance(msg, cm.Leave):
        await hub.detach(conn, left=True)
        await _close(conn.ws, CloseCode.NORMAL, "left")
        return True
    if isinstance(msg, cm.RefreshToken):
        return await _refresh(request, hub, conn)
    if conn.status != MemberState.ADMITTED:
        raise MessageError(ErrorCode.NOT_ADMITTED, "wait until you are admitted")
    if isinstance(msg, cm.Admit | cm.Deny):
        if not conn.claims.grants.admit:
            raise MessageError(ErrorCode.FORBIDDEN, "you may not admit participants")
        action = hub.admit if isinstance(msg, cm.Admit) else hub.deny
        if not await action(conn.room, msg.participant, conn.pid):
            raise MessageError(ErrorCode.UNKNOWN_PARTICIPANT, "nobody by that id is waiting")
    elif isinstance(msg, cm.LobbyMessage):
        if not conn.claims.grants.admit:
            raise MessageError(ErrorCode.FORBIDDEN, "you may not write to the waiting room")
        if not await hub.lobby_message(conn.room, msg.text, conn.pid):
            raise MessageError(ErrorCode.WINDOW_CLOSED, "the appointment is over")
    elif isinstance(msg, cm.End):
        if not conn.claims.grants.moderate:
            raise MessageError(ErrorCode.FORBIDDEN, "you may not end the appointment")
        await hub.end(conn.room, conn.pid)
    elif isinstance(msg, cm.Chat):
        await hub.chat(conn, msg.text.strip())
    elif isinstance(msg, cm.Offer | cm.Answer | cm.Candidate | cm.View):
        await hub.media_signal(conn, msg)
    elif isinstance(msg, cm.Mute):
        await hub.relay(conn, {**msg.to_dict(), "participant": conn.pid})
        await hub.media_signal(conn, msg)
    elif isinstance(msg, cm.MediaStatus):
        await hub.media_status(conn, msg)
    elif isinstance(msg, cm.Panel) and msg.panel == cm.LEARNING_PANEL:
        # A course section (issue 12): shown by whoever leads the call.
        if not conn.claims.grants.moderate:
            raise MessageError(ErrorCode.FORBIDDEN, "you may not show course sections")
        await _learning_panel(request, hub, conn, msg)
    elif isinstance(msg, cm.Panel):
        # The application folder belongs to the jobseeker: only those who may share
        # documents open or steer it; everyone in the call sees it.
        if not conn.claims.grants.share_documents:
            raise MessageError(ErrorCode.FORBIDDEN, "you may not share documents")
        await _panel(request, hub, conn, msg)
    elif isinstance(msg, cm.ShareConsent):
        await _consent(request, hub, conn, msg)
    elif isinstance(msg, cm.E2ee):
        appointment = await services.appointments.get_appointment(conn.room)
        if msg.to is not None and (appointment is None or appointment.participant(msg.to) is None):
            raise MessageError(ErrorCode.UNKNOWN_PARTICIPANT, "no such participant")
        await hub.relay(conn, {"type": "e2ee", "data": msg.data}, to=msg.to)
    else:  # an Auth after the first message
        raise MessageError(ErrorCode.UNKNOWN_TYPE, msg.TYPE)
    return False


async def _in_call(request: web.Request, conn: Connection) -> tuple[Appointment, Participant]:
    appointment = await request.app[SERVICES].appointments.get_appointment(conn.room)
    participant = appointment.participant(conn.pid) if appointment else None
    if appointment is None or participant is None:
        raise MessageError(ErrorCode.WINDOW_CLOSED, "the appointment is over")
    return appointment, participant


async def _panel(request: web.Request, hub: RoomHub, conn: Connection, msg: cm.Panel) -> None:
    """A document's panel message goes through `Sharing.present` (audited, kept for later
    arrivals, the jobseeker asked where guests would see it); another panel is relayed."""
    if cm.shown_document(msg) is None and not (msg.action == "close" and msg.panel == "document"):
        await hub.relay(conn, msg.to_dict())
        return
    appointment, presenter = await _in_call(request, conn)
    await _tell(hub, conn.room, await request.app[SHARING].present(appointment, presenter, msg))


async def _learning_panel(
    request: web.Request, hub: RoomHub, conn: Connection, msg: cm.Panel
) -> None:
    """A course section's panel message goes through `CallLearning.present` (checked against
    the catalog, audited, kept for later arrivals)."""
    if CALL_LEARNING not in request.app:
        raise MessageError(ErrorCode.NOT_FOUND, "no course catalog here")
    appointment, presenter = await _in_call(request, conn)
    await _tell(
        hub, conn.room, await request.app[CALL_LEARNING].present(appointment, presenter, msg)
    )


async def _consent(
    request: web.Request, hub: RoomHub, conn: Connection, msg: cm.ShareConsent
) -> None:
    """The jobseeker allows, declines or withdraws: everyone in the call learns the answer."""
    appointment, participant = await _in_call(request, conn)
    sharing = request.app[SHARING]
    await _tell(
        hub, conn.room, await sharing.answer(appointment, participant, msg.document, msg.allow)
    )


async def _tell(hub: RoomHub, room: str, out: list[Outgoing]) -> None:
    for o in out:
        await hub.tell(
            room, o.msg, to=None if o.to is None else list(o.to), exclude=o.exclude, grant=o.grant
        )


async def _refresh(request: web.Request, hub: RoomHub, conn: Connection) -> bool:
    services = request.app[SERVICES]
    appointment = await services.appointments.get_appointment(conn.room)
    participant = appointment.participant(conn.pid) if appointment else None
    if (
        appointment is None
        or participant is None
        or appointment.status != AppointmentStatus.SCHEDULED
    ):
        raise MessageError(ErrorCode.WINDOW_CLOSED, "the appointment is over")
    if token_void(participant, conn.claims) or not await hub.is_current(conn):
        # Removed, link reissued, or replaced by a newer connection: no fresh token.
        await _close(conn.ws, CloseCode.AUTH_FAILED, "token revoked")
        return True
    try:
        token, claims = services.issuer.mint(appointment.id, participant, appointment.ends_at)
    except ValueError:
        raise MessageError(ErrorCode.WINDOW_CLOSED, "the appointment window is over") from None
    conn.exp = claims.exp
    await conn.send({"type": "token", "token": token, "exp": claims.exp})
    return False


async def _hub_ctx(app: web.Application) -> Any:
    hub = app[HUB]
    await hub.start()
    yield
    await hub.close()


async def _close_sockets(app: web.Application) -> None:
    closed = await app[SOCKETS].close_all()
    if closed:
        log.info("ws_closed_for_shutdown", sockets=closed)


def setup_ws(app: web.Application, hub: RoomHub) -> None:
    app[HUB] = hub
    app[SOCKETS] = OpenSockets()
    app.on_shutdown.append(_close_sockets)
    services = app[SERVICES]
    sharing = Sharing(services.documents, services.presence, services.clock)
    app[SHARING] = sharing
    hub.on_enter(sharing.welcome)
    if CALL_LEARNING in app:  # set up with the e-learning API (signalling.http.call_learning)
        hub.on_enter(app[CALL_LEARNING].welcome)
    app.router.add_get("/ws", room_socket)
    app.cleanup_ctx.append(_hub_ctx)
