"""The embedded store: one process, no Redis; implements every store protocol."""

from __future__ import annotations

from core.clock import Clock
from core.model import Appointment, AttendanceEvent, Member, StaffUser, WorkerInfo
from core.store.base import MAX_ATTENDANCE


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

    async def purge_appointments(self, ended_before: float) -> list[str]:
        gone = [a for a in self._appointments.values() if a.ends_at < ended_before]
        for a in gone:
            del self._appointments[a.id]
            for p in a.participants:
                self._invites.pop(p.invite_hash, None)
            self._members.pop(a.id, None)
            self._attendance.pop(a.id, None)
            self._placements.pop(a.id, None)
        return [a.id for a in gone]

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
