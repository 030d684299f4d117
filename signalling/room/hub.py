"""The rooms as one signalling node sees them: its local sockets, the shared presence in the
store, and the room channel on the bus that carries events to whichever node holds a socket.

Every state change is written to the store and announced on the room channel; each node then
acts only on its own sockets. So a chat sent through one node reaches a participant on
another, an admit clicked on one node lets in a jobseeker waiting on another, and `end`
closes every socket of the room everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from core.audit import Action, AuditRecord
from core.bus.base import Subscription, room_channel
from core.contracts import room as events
from core.contracts.client import CloseCode, MediaMessage, MediaStatus
from core.contracts.errors import ErrorCode, error_message
from core.model import (
    Appointment,
    AppointmentStatus,
    AttendanceEvent,
    AttendanceKind,
    LobbyNote,
    Member,
    MemberState,
    Participant,
    Role,
    ShownPanel,
)
from core.presence import IN_CALL, MemberEvent, next_state, on_connect, presence_of
from core.tasks import Lifetime
from signalling.appointments import shut_out
from signalling.console_feed import Notice, Topic, addressed, announce
from signalling.context import Services
from signalling.metrics import Metrics
from signalling.room.connection import Connection
from signalling.room.media_router import MediaRouter, NoMediaWorker
from signalling.room.media_watch import MediaWatch
from signalling.room.node_watch import NodeWatch
from signalling.room.status import host_present, may_admit, waiting_list

log = structlog.get_logger(__name__)

TASKS_WAIT = 5.0  # seconds the hub's tasks get to finish their work when it closes
# What the hub shows (hello, lobby lists, whether a host is there) may rest on an appointment
# read up to this long ago (core.store.recent): an admission reads it on both sides, a burst
# into one call again and again. Decisions (attach, deny, end, a lobby message) read it fresh.
SHOWN_MAX_AGE = 1.0

# Attendance that also goes to the audit trail (DESIGN.md, Audit log).
AUDITED = {
    AttendanceKind.ADMITTED: Action.ADMIT,
    AttendanceKind.JOINED: Action.JOIN,
    AttendanceKind.LEFT: Action.LEAVE,
}


# What to tell a participant who just entered the call, after `hello`, given the room's panel
# as it stands (read once for all of them).
Welcome = Callable[[Appointment, Participant, ShownPanel | None], Awaitable[list[dict[str, Any]]]]


def _media_failed(member: Member | None) -> bool:
    """Whether a member's page last said that its sound and picture cannot get through."""
    return member is not None and member.extra.get("media") == "failed"


class RoomHub:
    def __init__(
        self,
        services: Services,
        media: MediaRouter,
        reconnect_grace: float = 20.0,
        sweep_interval: float = 15.0,
        metrics: Metrics | None = None,
    ) -> None:
        self._s = services
        self._metrics = metrics or Metrics()
        self._media = media
        self._grace = reconnect_grace
        self._sweep_interval = sweep_interval
        self._local: dict[str, dict[str, Connection]] = {}
        self._subs: dict[str, Subscription] = {}
        # Held while a room's subscription and its local sockets change together: two sockets
        # of one room attaching at once must not subscribe twice (every event would arrive
        # twice), and the last one leaving must not close a subscription a new one relies on.
        self._subs_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._lifetime = Lifetime()  # the tasks pause through it: closing ends their pauses
        self._closed = False
        self._welcomes: list[Welcome] = []

    def on_enter(self, welcome: Welcome) -> None:
        """Ask `welcome` what to tell each socket right after its `hello` (a first join or a
        reconnect): the room's state that is not in `hello`, such as the document panel."""
        self._welcomes.append(welcome)

    # ---- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        settings = self._s.settings
        nodes = NodeWatch(
            self._s.presence,
            settings.node_id,
            settings.node_heartbeat,
            settings.node_ttl,
            self.take_over,
            self._recover,
        )
        await nodes.beat()
        self._spawn(self._sweep(), "hub-sweeper")
        self._spawn(nodes.run(self._lifetime), "hub-node-watch")
        watch = MediaWatch(
            self._media, lambda: list(self._local), self._media_lost, settings.media_heartbeat
        )
        self._spawn(watch.run(self._lifetime), "hub-media-watch")

    async def _media_lost(self, room: str) -> None:
        """The room's media worker is gone: its sockets here reconnect to move on."""
        moved = error_message(
            ErrorCode.MEDIA_MOVED, "the media server went away: reconnect to move on"
        )
        for conn in list(self._local.get(room, {}).values()):
            if conn.status == MemberState.ADMITTED:
                await conn.send(moved)

    async def _present(self, room: str) -> dict[str, Member]:
        """The room's members held by live nodes."""
        return await self._s.presence.present_members(room)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Pausing tasks end at once; one at work (a stay ending, a takeover) finishes it
        # first, while the stores are still open. Only one that hangs is cancelled.
        self._lifetime.end()
        tasks = set(self._tasks)
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=TASKS_WAIT)
            for task in late:
                log.warning("hub_task_cancelled", task=task.get_name().split(":")[0])
                task.cancel()
            for task in late:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for room in list(self._local.values()):
            for conn in list(room.values()):
                await conn.close(CloseCode.NORMAL, "server shutting down")
        for sub in list(self._subs.values()):
            await sub.close()
        self._subs.clear()

    def _spawn(self, coro: Any, name: str) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def local_connection(self, room: str, pid: str) -> Connection | None:
        return self._local.get(room, {}).get(pid)

    def connection_count(self) -> int:
        return sum(len(room) for room in self._local.values())

    def room_count(self) -> int:
        return len(self._local)

    # ---- events on the room channel --------------------------------------------------

    async def _publish(self, room: str, event: events.RoomEvent) -> None:
        await self._s.bus.publish(room_channel(room), event.to_dict())

    async def _changed(self, room: str) -> None:
        """Tell the consoles that who waits, is in the call or left has changed here."""
        await announce(self._s.bus, Notice(Topic.APPOINTMENT, room))

    async def _deliver(
        self,
        room: str,
        msg: dict[str, Any],
        *,
        to: list[str] | None = None,
        exclude: str | None = None,
        grant: str | None = None,
        waiting: bool = False,
    ) -> None:
        """Send `msg` to the admitted sockets of a room on every node (with `waiting`, to its
        waiting sockets instead)."""
        await self._publish(
            room, events.Deliver(msg, None if to is None else tuple(to), exclude, grant, waiting)
        )

    async def _on_event(self, room: str, raw: dict[str, Any]) -> None:
        try:
            event = events.parse_event(raw)
        except events.EventError as exc:
            # From a process of another version, or garbled: drop it, keep listening.
            log.warning("room_event_invalid", appointment=room, error=str(exc))
            return
        conns = self._local.get(room, {})
        if isinstance(event, events.Deliver):
            status = MemberState.WAITING if event.waiting else MemberState.ADMITTED
            for conn in list(conns.values()):
                if event.waiting and not conn.welcomed:
                    continue  # `waiting` comes first; it carries what this would update
                if conn.status == status and event.reaches(conn.pid, conn.claims.grants):
                    await conn.send(event.msg)
            return
        if isinstance(event, events.RoomEnded):
            for conn in list(conns.values()):
                await self._finish(conn, {"type": "ended"}, CloseCode.ENDED, "appointment ended")
            return
        target = conns.get(event.participant)
        if target is None:
            return
        if isinstance(event, events.MediaReply):
            if target.conn_id == event.conn:
                await target.send(event.msg)
        elif isinstance(event, events.Replaced):
            if target.conn_id != event.conn and not await self._is_current(target):
                await self._finish(
                    target,
                    {"type": "replaced"},
                    CloseCode.REPLACED,
                    "replaced by a newer connection",
                )
        elif isinstance(event, events.Admitted):
            if target.conn_id == event.conn and target.status == MemberState.WAITING:
                target.admitted_at = event.at if event.at is not None else time.time()
                await self._enter(target)
        elif isinstance(event, events.Denied):
            await self._finish(target, {"type": "denied"}, CloseCode.DENIED, "not admitted")
        elif isinstance(event, events.Revoked):
            await self._finish(
                target,
                error_message(ErrorCode.REVOKED, "this link was replaced"),
                CloseCode.AUTH_FAILED,
                "token revoked",
            )

    async def _is_current(self, conn: Connection) -> bool:
        """Whether the store names this socket as its participant's connection: a late
        `replace` event from an older connection must not close a newer one."""
        member = (await self._s.presence.get_members(conn.room)).get(conn.pid)
        return member is not None and member.conn == conn.conn_id

    async def _finish(
        self, conn: Connection, msg: dict[str, Any], code: CloseCode, reason: str
    ) -> None:
        """Tell a socket why, then close it in the background (a close waits for the peer)."""
        await self._drop(conn)
        await conn.send(msg)
        conn.close_soon(code, reason)

    async def _drop(self, conn: Connection) -> None:
        """Forget a local socket without treating it as leaving."""
        conn.closing = True
        async with self._subs_lock:
            room = self._local.get(conn.room)
            if room is not None and room.get(conn.pid) is conn:
                del room[conn.pid]
                if not room:
                    del self._local[conn.room]
                    sub = self._subs.pop(conn.room, None)
                    if sub is not None:
                        await sub.close()

    # ---- joining ---------------------------------------------------------------------

    async def attach(self, conn: Connection, appointment: Appointment) -> None:
        """A freshly authenticated socket: replace older ones, then wait or enter."""
        room, pid = conn.room, conn.pid
        async with self._subs_lock:
            if room not in self._subs:
                self._subs[room] = await self._s.bus.subscribe(
                    room_channel(room), lambda event: self._on_event(room, event)
                )
            older = self._local.setdefault(room, {}).get(pid)
            self._local[room][pid] = conn
        if older is not None:
            older.closing = True
            await older.send({"type": "replaced"})
            older.close_soon(CloseCode.REPLACED, "replaced by a newer connection")

        presence, now = self._s.presence, self._s.clock.now()
        previous = (await presence.get_members(room)).get(pid)
        was_in = previous is not None and previous.status in IN_CALL
        may_skip_lobby = conn.claims.grants.admit or not appointment.waiting_room
        conn.status = on_connect(previous.status if previous else None, may_skip_lobby)
        extra: dict[str, Any] = {"jti": conn.claims.jti, "exp": conn.claims.exp}
        if was_in and previous is not None and "media" in previous.extra:
            # A page that reconnects to retry its media keeps its reported media state.
            extra["media"] = previous.extra["media"]
        member = Member(pid, conn.status, self._s.settings.node_id, conn.conn_id, now, extra)
        await presence.set_member(room, member)
        conn.stored = True
        fresh = await self._s.appointments.get_appointment(room)
        if fresh is None or fresh.status != AppointmentStatus.SCHEDULED:
            # The appointment ended while this socket was connecting: do not bring it back.
            await presence.delete_member(room, pid)
            await self._finish(conn, {"type": "ended"}, CloseCode.ENDED, "appointment ended")
            return
        await self._publish(room, events.Replaced(pid, conn.conn_id))
        await self._changed(room)
        log.info(
            "participant_connected",
            appointment=room,
            participant=pid,
            role=conn.claims.role,
            status=conn.status,
            rejoin=was_in,
        )
        if conn.status == MemberState.ADMITTED:
            await self._enter(conn, first=not was_in)
        else:
            await self._attend(room, pid, AttendanceKind.WAITING)
            members = await self._present(room)
            note = await presence.get_lobby_note(room)
            await conn.send(
                {
                    "type": "waiting",
                    "appointment": appointment.guest_view(),
                    "host": {
                        **self._host(appointment),
                        "present": host_present(appointment, members),
                    },
                    **({"note": note.message()} if note is not None else {}),
                }
            )
            conn.welcomed = True
            await self._announce_lobby(room, appointment)

    @staticmethod
    def _host(appointment: Appointment) -> dict[str, Any]:
        host = next((p for p in appointment.participants if p.role == Role.CASEWORKER), None)
        return {"name": host.name if host else ""}

    async def _announce_host(self, room: str, pid: str) -> None:
        """Someone came into the call or left it: if they may admit, tell who waits whether
        anyone who may let them in is there now."""
        appointment = await self._s.appointments.get_appointment(room, max_age=SHOWN_MAX_AGE)
        if appointment is None or not may_admit(appointment, pid):
            return
        present = host_present(appointment, await self._present(room))
        await self._deliver(room, {"type": "host", "present": present}, waiting=True)

    async def _enter(self, conn: Connection, first: bool = True) -> None:
        """The socket is in the call: hello, presence to the others, media."""
        room = conn.room
        appointment = await self._s.appointments.get_appointment(room, max_age=SHOWN_MAX_AGE)
        if appointment is None:
            return
        conn.status = MemberState.ADMITTED
        members = await self._present(room)
        participants = [
            {
                **p.public(),
                "state": presence_of(members[p.id].status if p.id in members else None),
                # Whose sound and picture cannot get through, for someone who joins later.
                **({"media": "failed"} if _media_failed(members.get(p.id)) else {}),
            }
            for p in appointment.participants
        ]
        me = appointment.participant(conn.pid)
        # The worker must know the participant before the client can offer: a client
        # publishes as soon as it has `hello`, and the join and the offer travel the same
        # bus channel in order only if the join is sent first.
        try:
            await self._media.join(conn.claims, conn.conn_id, appointment.ends_at)
            media_ok = True
        except NoMediaWorker:
            media_ok = False
        await conn.send(
            {
                "type": "hello",
                "v": 1,
                "participant": me.public() if me else {"id": conn.pid},
                "participants": participants,
                "appointment": appointment.public(),
                "grants": conn.claims.grants.to_dict(),
                "ice_servers": list(self._s.settings.ice_servers),
                "ice_transport_policy": self._s.settings.ice_transport_policy,
                "exp": conn.exp,
            }
        )
        if conn.admitted_at is not None:
            self._metrics.observe_admit_to_hello(time.time() - conn.admitted_at)
        else:
            self._metrics.observe_join_to_hello(time.monotonic() - conn.authed_at)
        if first:
            await self._attend(room, conn.pid, AttendanceKind.JOINED)
        await self._deliver(
            room,
            {
                "type": "presence",
                "participant": conn.pid,
                "state": "joined",
                "info": me.public() if me else {},
            },
            exclude=conn.pid,
        )
        if conn.claims.grants.admit:
            await conn.send({"type": "lobby", "waiting": waiting_list(appointment, members)})
            if first:
                await self._announce_host(room, conn.pid)
        if not media_ok:
            await conn.send(
                error_message(
                    ErrorCode.MEDIA_UNAVAILABLE,
                    "no media server is available; audio and video are off",
                )
            )
        if me is not None:
            await self._welcome(conn, appointment, me)

    async def _welcome(self, conn: Connection, appointment: Appointment, me: Participant) -> None:
        if not self._welcomes:
            return
        panel = await self._s.presence.get_panel(appointment.id)
        for welcome in self._welcomes:
            try:
                messages = await welcome(appointment, me, panel)
            except Exception:  # the room's extras must never keep anyone out of the call
                log.exception("welcome_failed", appointment=conn.room, participant=conn.pid)
                continue
            for msg in messages:
                await conn.send(msg)

    async def _announce_lobby(self, room: str, appointment: Appointment | None = None) -> None:
        lobby = await self._lobby(room, appointment)
        if lobby is not None:
            await self._publish(room, lobby)

    async def _lobby(
        self,
        room: str,
        appointment: Appointment | None = None,
        members: dict[str, Member] | None = None,
    ) -> events.Deliver | None:
        """Who waits, for those who may admit (None once the appointment is gone); of
        `members` if the caller has just read them."""
        appointment = appointment or await self._s.appointments.get_appointment(
            room, max_age=SHOWN_MAX_AGE
        )
        if appointment is None:
            return None
        if members is None:
            members = await self._present(room)
        msg = {"type": "lobby", "waiting": waiting_list(appointment, members)}
        return events.Deliver(msg, grant="admit")

    async def _attend(
        self, room: str, pid: str, event: AttendanceKind, by: str | None = None
    ) -> None:
        now = self._s.clock.now()
        await self._s.appointments.add_attendance(AttendanceEvent(room, pid, event, now))
        action = AUDITED.get(event)
        if action is not None:  # admissions, joins and leaves are in the audit trail too
            await self._s.documents.audit.append(
                AuditRecord(
                    at=now,
                    actor=by or pid,
                    actor_role="participant",
                    action=action,
                    appointment=room,
                    subject=pid if by else None,
                )
            )

    # ---- moderation (from a socket or from the console) ------------------------------

    async def admit(self, room: str, pid: str, by: str) -> bool:
        member = (await self._s.presence.get_members(room)).get(pid)
        state = None if member is None else next_state(member.status, MemberEvent.ADMIT)
        if member is None or state is None:
            return False
        admitted = dataclasses.replace(member, status=state)
        # Compare and set, and who is there after it (for the lobby list), in one step.
        present = await self._s.presence.swap_member_present(room, member, admitted)
        if present is None:
            return False  # they left or reconnected meanwhile: admit the fresh entry instead
        await self._attend(room, pid, AttendanceKind.ADMITTED, by=by)
        log.info("participant_admitted", appointment=room, participant=pid, by=by)
        # `at`: wall time, for admit_to_hello_seconds on whichever node holds the socket.
        admitted_event = events.Admitted(pid, member.conn, at=time.time())
        out = [(room_channel(room), admitted_event.to_dict())]
        lobby = await self._lobby(room, members=present)
        if lobby is not None:
            out.append((room_channel(room), lobby.to_dict()))
        out.append(addressed(Notice(Topic.APPOINTMENT, room)))
        # One round trip: to the admitted socket's node, the lobby lists of those who may
        # admit, and the consoles.
        await self._s.bus.publish_many(out)
        return True

    async def deny(self, room: str, pid: str, by: str) -> bool:
        """Refuse a waiting participant, or remove one from the call: their link stops
        working, every token they hold is void, and their socket closes on every node."""
        appointment = await self._s.appointments.get_appointment(room)
        if appointment is None or appointment.participant(pid) is None:
            return False
        await self._s.appointments.put_appointment(shut_out(appointment, pid, self._s.clock.now()))
        await self.kick(room, pid, by, denied=True)
        return True

    async def kick(self, room: str, pid: str, by: str, *, denied: bool) -> None:
        """Close a participant's socket wherever it is and forget their presence."""
        member = (await self._s.presence.get_members(room)).get(pid)
        if member is not None:
            await self._revoke(member)
            await self._s.presence.delete_member(room, pid)
        await self._attend(room, pid, AttendanceKind.DENIED if denied else AttendanceKind.REMOVED)
        log.info("participant_removed", appointment=room, participant=pid, by=by, denied=denied)
        await self._publish(room, events.Denied(pid) if denied else events.Revoked(pid))
        if member is not None and member.status in IN_CALL:
            await self._media.leave(room, pid, member.conn)
            await self._deliver(room, {"type": "presence", "participant": pid, "state": "left"})
            await self._announce_host(room, pid)
        await self._announce_lobby(room)
        await self._changed(room)

    async def _revoke(self, member: Member) -> None:
        jti = member.extra.get("jti")
        if isinstance(jti, str):
            until = float(member.extra.get("exp", self._s.clock.now() + 600))
            await self._s.presence.revoke(jti, until)

    async def end(self, room: str, by: str) -> bool:
        """End the appointment: revoke every token, close every socket, free the media."""
        appointments, presence = self._s.appointments, self._s.presence
        appointment = await appointments.get_appointment(room)
        if appointment is None or appointment.status != AppointmentStatus.SCHEDULED:
            return False
        now = self._s.clock.now()
        await appointments.put_appointment(
            dataclasses.replace(appointment, status=AppointmentStatus.ENDED, ended_at=now)
        )
        for member in (await presence.get_members(room)).values():
            await self._revoke(member)
        await self._attend(room, by, AttendanceKind.ENDED)
        log.info("appointment_ended", appointment=room, by=by)
        await self._publish(room, events.RoomEnded())
        await presence.clear_members(room)
        await self._media.close_room(room)
        await self._changed(room)
        return True

    # ---- messages from a socket ------------------------------------------------------

    async def chat(self, conn: Connection, text: str) -> None:
        await self._deliver(
            conn.room, {"type": "chat", "from": conn.pid, "text": text, "at": self._s.clock.now()}
        )

    async def lobby_message(self, room: str, text: str, by: str) -> bool:
        """A message from one who may admit to everyone waiting in the room, now and (as the
        latest) who starts waiting later; False when the appointment is not live."""
        appointment = await self._s.appointments.get_appointment(room)
        now = self._s.clock.now()
        if (
            appointment is None
            or appointment.status != AppointmentStatus.SCHEDULED
            or now >= appointment.ends_at
        ):
            return False
        note = LobbyNote(text, now, by)
        await self._s.presence.set_lobby_note(room, note, appointment.ends_at)
        # Logged once stored, before it is sent: what is delivered is already on record. The
        # text is the caseworker's words, so it stays out of the log.
        log.info("lobby_message", appointment=room, by=by, length=len(text))
        await self._deliver(room, note.message(), waiting=True)
        await self._changed(room)
        return True

    async def relay(self, conn: Connection, msg: dict[str, Any], to: str | None = None) -> None:
        """Pass a message (mute, panel, e2ee) to the others in the call, marked with its sender."""
        await self._deliver(
            conn.room,
            {**msg, "from": conn.pid},
            to=[to] if to is not None else None,
            exclude=conn.pid,
        )

    async def tell(
        self,
        room: str,
        msg: dict[str, Any],
        to: list[str] | None = None,
        *,
        exclude: str | None = None,
        grant: str | None = None,
    ) -> None:
        """A message of the server's own to some participants of a room (or all), never to
        `exclude`, only to holders of `grant` if given."""
        await self._deliver(room, msg, to=to, exclude=exclude, grant=grant)

    async def media_status(self, conn: Connection, msg: MediaStatus) -> None:
        """A page says whether its sound and picture get through: log it (states only, no
        addresses) and tell the others, so a caseworker knows whose media cannot connect."""
        (log.warning if msg.state == "failed" else log.info)(
            "media_status",
            appointment=conn.room,
            participant=conn.pid,
            role=conn.claims.role,
            state=msg.state,
            pc=msg.pc,
            reason=msg.reason,
            ice=list(msg.history),
        )
        member = (await self._s.presence.get_members(conn.room)).get(conn.pid)
        if member is not None and member.conn == conn.conn_id:
            # Kept with the presence, so that who joins or reconnects later learns it too.
            await self._s.presence.swap_member(
                conn.room,
                member,
                dataclasses.replace(member, extra={**member.extra, "media": msg.state}),
            )
            await self._changed(conn.room)
        await self._deliver(
            conn.room,
            {"type": "media_status", "participant": conn.pid, "state": msg.state},
            exclude=conn.pid,
        )

    async def media_signal(self, conn: Connection, msg: MediaMessage) -> None:
        await self._media.signal(conn.room, conn.pid, conn.conn_id, msg)

    async def is_current(self, conn: Connection) -> bool:
        """Whether the store names this socket as its participant's connection."""
        return await self._is_current(conn)

    # ---- leaving ---------------------------------------------------------------------

    async def detach(self, conn: Connection, *, left: bool) -> None:
        """The socket closed: a `leave` ends the stay, a lost socket may come back."""
        if conn.closing:
            return
        await self._drop(conn)
        room, pid, presence = conn.room, conn.pid, self._s.presence
        member = (await presence.get_members(room)).get(pid)
        if member is None or member.conn != conn.conn_id:
            return  # a newer connection owns the stay
        state = next_state(member.status, MemberEvent.LEAVE if left else MemberEvent.LOSE)
        if state == MemberState.LEFT:
            await self._end_stay(room, member, "left")
            return
        if state is None or not await presence.swap_member(
            room, member, dataclasses.replace(member, status=state)
        ):
            return
        await self._media.leave(room, pid, conn.conn_id)
        await self._deliver(room, {"type": "presence", "participant": pid, "state": "reconnecting"})
        await self._changed(room)
        log.info("participant_reconnecting", appointment=room, participant=pid)
        self._spawn(self._expire(room, pid, conn.conn_id), f"grace:{room}:{pid}")

    async def take_over(self, node: str) -> int:
        """A lapsed node's members become this node's, as if their sockets had dropped here:
        who was in the call is `reconnecting` (the grace runs here), who waited has left.
        Compare and set: one who came back through another node meanwhile is left alone."""
        presence, me = self._s.presence, self._s.settings.node_id
        taken = 0
        for room in await presence.rooms_with_members():
            for member in (await presence.get_members(room)).values():
                if member.node != node:
                    continue
                pid = member.participant_id
                if next_state(member.status, MemberEvent.LOSE) == MemberState.LEFT:
                    await self._end_stay(room, member, "node_lapsed")
                    taken += 1
                    continue
                moved = dataclasses.replace(member, status=MemberState.RECONNECTING, node=me)
                if not await presence.swap_member(room, member, moved):
                    continue
                taken += 1
                await self._changed(room)
                if member.status == MemberState.ADMITTED:
                    await self._media.leave(room, pid, member.conn)
                    await self._deliver(
                        room, {"type": "presence", "participant": pid, "state": "reconnecting"}
                    )
                    log.info("participant_reconnecting", appointment=room, participant=pid)
                # Already reconnecting on the lapsed node: its grace died with it; run it here.
                self._spawn(self._expire(room, pid, member.conn), f"grace:{room}:{pid}")
        return taken

    async def _recover(self) -> None:
        """This node's registration had lapsed, so survivors may have taken its members over:
        a socket whose stay is gone or now held by another node reconnects (TRY_AGAIN), and
        comes back as any reconnect does."""
        me = self._s.settings.node_id
        for room in list(self._local):
            members = await self._s.presence.get_members(room)
            for conn in list(self._local.get(room, {}).values()):
                member = members.get(conn.pid)
                if not conn.stored or conn.closing:
                    continue  # still attaching (its presence comes next), or going anyway
                if member is None or (member.conn == conn.conn_id and member.node != me):
                    log.info("participant_released", appointment=room, participant=conn.pid)
                    await self._finish(
                        conn,
                        error_message(
                            ErrorCode.NODE_LAPSED, "this server was away: reconnect to go on"
                        ),
                        CloseCode.TRY_AGAIN,
                        "node lapsed",
                    )

    async def _expire(self, room: str, pid: str, conn_id: str) -> None:
        if not await self._lifetime.pause(self._grace):
            return  # shutting down: the stay stays `reconnecting` (another node takes it over)
        member = (await self._s.presence.get_members(room)).get(pid)
        if member is None or member.conn != conn_id:
            return
        if next_state(member.status, MemberEvent.TIME_OUT) is None:
            return
        await self._end_stay(room, member, "timeout")  # unless back just now

    async def _end_stay(self, room: str, member: Member, reason: str) -> None:
        """End a stay, if `member` is still the stored entry (compare and set: an admit, a
        deny, a reconnect or a newer socket that came first owns the stay): attendance, then
        the media leave and `left` presence for someone in the call (its media already left
        while reconnecting), or the lobby for someone waiting."""
        if not await self._s.presence.swap_member(room, member, None):
            return
        pid = member.participant_id
        await self._attend(room, pid, AttendanceKind.LEFT)
        if member.status == MemberState.WAITING:
            await self._announce_lobby(room)
        else:
            if member.status != MemberState.RECONNECTING:
                await self._media.leave(room, pid, member.conn)
            await self._deliver(room, {"type": "presence", "participant": pid, "state": "left"})
            await self._announce_host(room, pid)
        await self._changed(room)
        log.info("participant_left", appointment=room, participant=pid, reason=reason)

    async def _sweep(self) -> None:
        """Close sockets whose appointment is over or whose token ran out unrefreshed."""
        while await self._lifetime.pause(self._sweep_interval):
            await self.sweep_once()

    async def sweep_once(self) -> None:
        now = self._s.clock.now()
        # Every room of this node in one read (a read per room took ~1 ms of CPU each).
        rooms = list(self._local)
        found = await self._s.appointments.get_appointments(rooms)
        for room in rooms:
            appointment = found.get(room)
            over = appointment is None or appointment.status != AppointmentStatus.SCHEDULED
            if over or now >= appointment.ends_at:  # type: ignore[union-attr]
                for conn in list(self._local.get(room, {}).values()):
                    await self._finish(
                        conn, {"type": "ended"}, CloseCode.ENDED, "appointment is over"
                    )
                await self._s.presence.clear_members(room)
                await self._media.close_room(room)
                await self._changed(room)
                continue
            for conn in list(self._local.get(room, {}).values()):
                if now >= conn.exp:
                    await self._finish(
                        conn,
                        error_message(ErrorCode.TOKEN_EXPIRED, "token expired"),
                        CloseCode.AUTH_FAILED,
                        "token expired",
                    )
                    await self._gone(conn)

    async def _gone(self, conn: Connection) -> None:
        """A socket this node closed for good: its stay, its media and its presence end."""
        member = (await self._s.presence.get_members(conn.room)).get(conn.pid)
        if member is not None and member.conn == conn.conn_id:
            await self._end_stay(conn.room, member, "closed")
