"""The embedded ephemeral store: one process, no Redis; presence and the registry.

Durable records never live here: they go to `core.store.sql.SqlStore` (SQLite embedded).
"""

from __future__ import annotations

from collections.abc import Sequence

from core.clock import Clock
from core.model import LobbyNote, Member, ShownPanel, WorkerInfo


class MemoryStore:
    """Presence and registry of one process. Expiry is read from the given clock."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._revoked: dict[str, float] = {}
        self._members: dict[str, dict[str, Member]] = {}
        self._panels: dict[str, tuple[ShownPanel, float]] = {}
        self._notes: dict[str, tuple[LobbyNote, float]] = {}
        self._workers: dict[str, tuple[WorkerInfo, float]] = {}
        self._placements: dict[str, tuple[str, float]] = {}
        self._nodes: dict[str, float] = {}
        self._claims: dict[str, tuple[str, float]] = {}  # node -> (claimant, until)

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

    async def swap_member_present(
        self, appointment_id: str, current: Member, new: Member | None
    ) -> dict[str, Member] | None:
        if not await self.swap_member(appointment_id, current, new):
            return None
        return await self.present_members(appointment_id)

    async def clear_members(self, appointment_id: str) -> None:
        self._members.pop(appointment_id, None)
        self._panels.pop(appointment_id, None)
        self._notes.pop(appointment_id, None)

    async def set_panel(self, appointment_id: str, shown: ShownPanel | None, until: float) -> None:
        if shown is None or until <= self._clock.now():
            self._panels.pop(appointment_id, None)
        else:
            self._panels[appointment_id] = (shown, until)

    async def get_panel(self, appointment_id: str) -> ShownPanel | None:
        kept = self._panels.get(appointment_id)
        if kept is None:
            return None
        if kept[1] <= self._clock.now():
            del self._panels[appointment_id]
            return None
        return kept[0]

    async def set_lobby_note(self, appointment_id: str, note: LobbyNote, until: float) -> None:
        if until > self._clock.now():
            self._notes[appointment_id] = (note, until)

    async def get_lobby_note(self, appointment_id: str) -> LobbyNote | None:
        kept = self._notes.get(appointment_id)
        if kept is None:
            return None
        if kept[1] <= self._clock.now():
            del self._notes[appointment_id]
            return None
        return kept[0]

    async def register_node(self, node_id: str, ttl: float) -> bool:
        now = self._clock.now()
        was_live = self._nodes.get(node_id, now) > now
        self._nodes[node_id] = now + ttl
        return was_live

    async def live_nodes(self) -> set[str]:
        now = self._clock.now()
        return {node for node, until in self._nodes.items() if until > now}

    async def present_members(self, appointment_id: str) -> dict[str, Member]:
        live = await self.live_nodes()
        return {
            pid: m for pid, m in self._members.get(appointment_id, {}).items() if m.node in live
        }

    async def lapsed_nodes(self) -> set[str]:
        now = self._clock.now()
        return {node for node, until in self._nodes.items() if until <= now}

    async def claim_node(self, node_id: str, by: str, ttl: float) -> bool:
        now = self._clock.now()
        if self._nodes.get(node_id, now) > now or await self.node_claimed(node_id):
            return False
        self._claims[node_id] = (by, now + ttl)
        return True

    async def node_claimed(self, node_id: str) -> bool:
        held = self._claims.get(node_id)
        return held is not None and held[1] > self._clock.now()

    async def forget_node(self, node_id: str, by: str) -> None:
        held = self._claims.get(node_id)
        if held is not None and held[0] == by:
            del self._claims[node_id]
        until = self._nodes.get(node_id)
        if until is not None and until <= self._clock.now():
            del self._nodes[node_id]

    async def rooms_with_members(self) -> list[str]:
        return list(self._members)

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

    async def room_workers(self, appointment_ids: Sequence[str]) -> dict[str, str]:
        held = {room: await self.get_room_worker(room) for room in appointment_ids}
        return {room: worker for room, worker in held.items() if worker is not None}

    async def live_room_worker(self, appointment_id: str) -> str | None:
        held = await self.get_room_worker(appointment_id)
        registered = self._workers.get(held) if held is not None else None
        return held if registered is not None and registered[1] > self._clock.now() else None

    async def release_room(self, appointment_id: str, worker_id: str) -> None:
        held = self._placements.get(appointment_id)
        if held is not None and held[0] == worker_id:
            del self._placements[appointment_id]

    async def close(self) -> None:
        return None
