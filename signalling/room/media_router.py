"""Routing a room's media signalling to the media worker that hosts it, over the bus.

The signalling node never touches media: it places a room on the least-loaded live worker
(SET NX in the store, so every node agrees) and forwards join/leave/SDP messages to that
worker's channel. Answers come back on the room channel (see `signalling.room.hub`).
"""

from __future__ import annotations

import structlog

from core.bus.base import Bus, media_channel
from core.clock import Clock
from core.contracts import media as protocol
from core.store.base import RegistryStore
from signalling.auth.tokens import RoomClaims
from signalling.room.placement import choose_worker

log = structlog.get_logger(__name__)

PLACEMENT_MARGIN = 3600.0  # a placement outlives the window by this much, then expires


class NoMediaWorker(RuntimeError):
    """No live media worker can take the room."""


class MediaRouter:
    def __init__(self, store: RegistryStore, bus: Bus, clock: Clock) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock

    async def worker_for(self, appointment_id: str, ends_at: float) -> str:
        """The worker hosting the room, placing it on the least-loaded live one if needed."""
        held = await self._store.live_room_worker(appointment_id)
        if held is not None:
            return held  # placed on a live worker: one round trip, the common case
        live = {w.id: w for w in await self._store.list_workers()}
        held = await self._store.get_room_worker(appointment_id)
        if held is not None and held in live:
            return held
        if held is not None:  # its worker died: move the room
            await self._store.release_room(appointment_id, held)
        chosen = choose_worker(live.values())
        if chosen is None:
            raise NoMediaWorker("no live media worker")
        ttl = max(60.0, ends_at - self._clock.now() + PLACEMENT_MARGIN)
        winner = await self._store.assign_room(appointment_id, chosen.id, ttl)
        log.info("room_placed", appointment=appointment_id, worker=winner)
        return winner

    async def dead_placements(self, appointment_ids: list[str]) -> dict[str, str]:
        """Of these rooms, those placed on a worker whose registration has lapsed (killed,
        frozen, cut off): room -> that worker. The placement stays; the next join moves it.
        None at all while no worker is registered: there is nowhere to move to, and every
        registration lapsing at once means Redis was away, not that every worker died."""
        if not appointment_ids:
            return {}
        live = {w.id for w in await self._store.list_workers()}
        if not live:
            return {}
        placed = await self._store.room_workers(appointment_ids)
        return {room: worker for room, worker in placed.items() if worker not in live}

    async def _send(self, appointment_id: str, op: protocol.Op) -> None:
        worker = await self._store.get_room_worker(appointment_id)
        if worker is None:
            log.warning("media_no_placement", appointment=appointment_id, op=op.OP)
            return
        await self._bus.publish(media_channel(worker), op.to_dict())

    async def join(self, claims: RoomClaims, conn: str, ends_at: float) -> None:
        worker = await self.worker_for(claims.room, ends_at)
        join = protocol.Join(
            room=claims.room,
            participant=claims.sub,
            conn=conn,
            role=claims.role,
            publish=frozenset(claims.grants.publish),
            subscribe=claims.grants.subscribe,
        )
        await self._bus.publish(media_channel(worker), join.to_dict())

    async def signal(
        self, appointment_id: str, participant_id: str, conn: str, msg: protocol.MediaMessage
    ) -> None:
        await self._send(appointment_id, protocol.Signal(appointment_id, participant_id, conn, msg))

    async def leave(self, appointment_id: str, participant_id: str, conn: str) -> None:
        await self._send(appointment_id, protocol.Leave(appointment_id, participant_id, conn))

    async def close_room(self, appointment_id: str) -> None:
        worker = await self._store.get_room_worker(appointment_id)
        if worker is None:
            return
        await self._bus.publish(media_channel(worker), protocol.CloseRoom(appointment_id).to_dict())
        await self._store.release_room(appointment_id, worker)
