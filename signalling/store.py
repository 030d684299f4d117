"""The shared state of the deployment: one protocol, a memory and a Redis implementation.

What lives here: appointments and their invite index, staff and console sessions, revoked
token ids, room presence (who waits, who is admitted, on which node), attendance, and the
media worker registry with its room placement. The memory store serves `lippejob serve`
without Redis; `signalling.store_redis.RedisStore` serves several processes.
"""

from __future__ import annotations

from typing import Protocol

from signalling.clock import Clock
from signalling.models import Appointment, AttendanceEvent, Member, StaffUser, WorkerInfo

# Attendance events kept per appointment: a link holder re-joining in a loop cannot grow it
# without bound; the first events (who came, when) are the ones kept.
MAX_ATTENDANCE = 500


class Store(Protocol):
    # appointments and invites
    async def put_appointment(self, appointment: Appointment) -> None:
        """Create or replace an appointment and index its participants' invite hashes."""
        ...

    async def get_appointment(self, appointment_id: str) -> Appointment | None: ...

    async def list_appointments(
        self, *, starts_after: float | None = None, starts_before: float | None = None
    ) -> list[Appointment]:
        """Appointments ordered by start time, optionally within [after, before)."""
        ...

    async def find_invite(self, invite_hash: str) -> tuple[str, str] | None:
        """(appointment id, participant id) for an invite hash, or None."""
        ...

    # staff and console sessions
    async def put_staff(self, user: StaffUser) -> None: ...

    async def get_staff(self, username: str) -> StaffUser | None: ...

    async def put_session(self, session_hash: str, username: str, expires_at: float) -> None: ...

    async def get_session(self, session_hash: str) -> str | None:
        """The username of a live session, or None when unknown or expired."""
        ...

    async def delete_session(self, session_hash: str) -> None: ...

    # token revocation
    async def revoke(self, jti: str, until: float) -> None:
        """Remember a revoked token id until it would have expired anyway."""
        ...

    async def is_revoked(self, jti: str) -> bool: ...

    # room presence
    async def set_member(self, appointment_id: str, member: Member) -> None: ...

    async def get_members(self, appointment_id: str) -> dict[str, Member]: ...

    async def delete_member(self, appointment_id: str, participant_id: str) -> None: ...

    async def swap_member(self, appointment_id: str, current: Member, new: Member | None) -> bool:
        """Replace (or, with None, delete) a member only if the stored one still has
        `current`'s connection and status (compare and set); False if it changed meanwhile."""
        ...

    async def clear_members(self, appointment_id: str) -> None: ...

    # attendance
    async def add_attendance(self, event: AttendanceEvent) -> None: ...

    async def list_attendance(self, appointment_id: str) -> list[AttendanceEvent]: ...

    # retention
    async def purge_appointments(self, ended_before: float) -> int:
        """Delete appointments whose window ended before the given time, with their invites,
        presence and attendance; returns how many went."""
        ...

    # signalling node liveness: presence held by a node that died is not shown as present
    async def register_node(self, node_id: str, ttl: float) -> None: ...

    async def live_nodes(self) -> set[str]: ...

    # media worker registry and room placement
    async def register_worker(self, info: WorkerInfo, ttl: float) -> None: ...

    async def list_workers(self) -> list[WorkerInfo]:
        """Workers whose registration has not expired."""
        ...

    async def remove_worker(self, worker_id: str) -> None: ...

    async def assign_room(self, appointment_id: str, worker_id: str, ttl: float) -> str:
        """Place a room on a worker unless it already has one (SET NX); return the holder."""
        ...

    async def get_room_worker(self, appointment_id: str) -> str | None: ...

    async def release_room(self, appointment_id: str, worker_id: str) -> None:
        """Forget the placement only if `worker_id` still holds it (compare and delete)."""
        ...

    async def close(self) -> None: ...


class MemoryStore:
    """The embedded store: one process, no Redis. Expiry is read from the given clock."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._appointments: dict[str, Appointment] = {}
        self._invites: dict[str, tuple[str, str]] = {}
        self._staff: dict[str, StaffUser] = {}
        self._sessions: dict[str, tuple[str, float]] = {}
        self._revoked: dict[str, float] = {}
        self._members: dict[str, dict[str, Member]] = {}
        self._attendance: dict[str, list[AttendanceEvent]] = {}
        self._workers: dict[str, tuple[WorkerInfo, float]] = {}
        self._placements: dict[str, tuple[str, float]] = {}
        self._nodes: dict[str, float] = {}

    async def put_appointment(self, appointment: Appointment) -> None:
        previous = self._appointments.get(appointment.id)
        if previous is not None:  # a reissued link must stop the old one from working
            for p in previous.participants:
                self._invites.pop(p.invite_hash, None)
        self._appointments[appointment.id] = appointment
        for p in appointment.participants:
            self._invites[p.invite_hash] = (appointment.id, p.id)

    async def get_appointment(self, appointment_id: str) -> Appointment | None:
        return self._appointments.get(appointment_id)

    async def list_appointments(
        self, *, starts_after: float | None = None, starts_before: float | None = None
    ) -> list[Appointment]:
        found = [
            a
            for a in self._appointments.values()
            if (starts_after is None or a.starts_at >= starts_after)
            and (starts_before is None or a.starts_at < starts_before)
        ]
        return sorted(found, key=lambda a: (a.starts_at, a.id))

    async def find_invite(self, invite_hash: str) -> tuple[str, str] | None:
        return self._invites.get(invite_hash)

    async def put_staff(self, user: StaffUser) -> None:
        self._staff[user.username] = user

    async def get_staff(self, username: str) -> StaffUser | None:
        return self._staff.get(username)

    async def put_session(self, session_hash: str, username: str, expires_at: float) -> None:
        self._sessions[session_hash] = (username, expires_at)

    async def get_session(self, session_hash: str) -> str | None:
        entry = self._sessions.get(session_hash)
        if entry is None:
            return None
        if entry[1] <= self._clock.now():
            del self._sessions[session_hash]
            return None
        return entry[0]

    async def delete_session(self, session_hash: str) -> None:
        self._sessions.pop(session_hash, None)

    async def revoke(self, jti: str, until: float) -> None:
        self._revoked[jti] = max(until, self._revoked.get(jti, 0.0))

    async def is_revoked(self, jti: str) -> bool:
        until = self._revoked.get(jti)
        if until is None:
            return False
        if until <= self._clock.now():
            del self._revoked[jti]
            return False
        return True

    async def set_member(self, appointment_id: str, member: Member) -> None:
        self._members.setdefault(appointment_id, {})[member.participant_id] = member

    async def get_members(self, appointment_id: str) -> dict[str, Member]:
        return dict(self._members.get(appointment_id, {}))

    async def delete_member(self, appointment_id: str, participant_id: str) -> None:
        room = self._members.get(appointment_id)
        if room is not None:
            room.pop(participant_id, None)
            if not room:
                del self._members[appointment_id]

    async def swap_member(self, appointment_id: str, current: Member, new: Member | None) -> bool:
        stored = self._members.get(appointment_id, {}).get(current.participant_id)
        if stored is None or (stored.conn, stored.status) != (current.conn, current.status):
            return False
        if new is None:
            await self.delete_member(appointment_id, current.participant_id)
        else:
            await self.set_member(appointment_id, new)
        return True

    async def clear_members(self, appointment_id: str) -> None:
        self._members.pop(appointment_id, None)

    async def add_attendance(self, event: AttendanceEvent) -> None:
        events = self._attendance.setdefault(event.appointment_id, [])
        if len(events) < MAX_ATTENDANCE:
            events.append(event)

    async def list_attendance(self, appointment_id: str) -> list[AttendanceEvent]:
        return list(self._attendance.get(appointment_id, []))

    async def purge_appointments(self, ended_before: float) -> int:
        gone = [a for a in self._appointments.values() if a.ends_at < ended_before]
        for a in gone:
            del self._appointments[a.id]
            for p in a.participants:
                self._invites.pop(p.invite_hash, None)
            self._members.pop(a.id, None)
            self._attendance.pop(a.id, None)
            self._placements.pop(a.id, None)
        return len(gone)

    async def register_node(self, node_id: str, ttl: float) -> None:
        self._nodes[node_id] = self._clock.now() + ttl

    async def live_nodes(self) -> set[str]:
        now = self._clock.now()
        return {node for node, until in self._nodes.items() if until > now}

    async def register_worker(self, info: WorkerInfo, ttl: float) -> None:
        self._workers[info.id] = (info, self._clock.now() + ttl)

    async def list_workers(self) -> list[WorkerInfo]:
        now = self._clock.now()
        return sorted(
            (info for info, until in self._workers.values() if until > now), key=lambda w: w.id
        )

    async def remove_worker(self, worker_id: str) -> None:
        self._workers.pop(worker_id, None)

    async def assign_room(self, appointment_id: str, worker_id: str, ttl: float) -> str:
        now = self._clock.now()
        held = self._placements.get(appointment_id)
        if held is not None and held[1] > now:
            return held[0]
        self._placements[appointment_id] = (worker_id, now + ttl)
        return worker_id

    async def get_room_worker(self, appointment_id: str) -> str | None:
        held = self._placements.get(appointment_id)
        if held is None or held[1] <= self._clock.now():
            return None
        return held[0]

    async def release_room(self, appointment_id: str, worker_id: str) -> None:
        held = self._placements.get(appointment_id)
        if held is not None and held[0] == worker_id:
            del self._placements[appointment_id]

    async def close(self) -> None:
        return None
