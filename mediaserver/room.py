"""A room on this worker: its participants, who receives what, renegotiation and bandwidth.

Every change to a room runs in the room's own task, one request at a time (bus requests and
internal re-offers alike), so no locks are needed and a slow room does not hold up the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

import structlog

from core.contracts import media as protocol
from core.contracts.errors import ErrorCode
from mediaserver import bandwidth, network
from mediaserver.config import MediaConfig
from mediaserver.participant import Participant, Publication, TrackKey
from mediaserver.rtp.simulcast import SimulcastSource

log = structlog.get_logger(__name__)

Publish = Callable[[str, str, dict[str, Any]], Awaitable[None]]  # participant, conn, msg


class CloseReason(Enum):
    LEFT = "left"
    REPLACED = "replaced"
    ROOM_CLOSED = "room_closed"


@dataclass(frozen=True)
class _Renegotiate:
    """Internal request: re-offer the subscriber connections that changed."""


Request = protocol.Op | _Renegotiate


class Room:
    def __init__(
        self,
        room_id: str,
        config: MediaConfig,
        plan: network.HostPlan,
        publish: Publish,
        on_empty: Callable[[Room], None],
    ) -> None:
        self.id = room_id
        self.participants: dict[str, Participant] = {}
        self._config = config
        self._plan = plan
        self._publish = publish
        self._on_empty = on_empty
        # Unbounded: only `signal` messages are bounded (per participant, in `submit`); joins,
        # leaves, closes and re-offer wake-ups are never dropped.
        self._inbox: asyncio.Queue[Request] = asyncio.Queue()
        self._queued_signals: dict[str, int] = {}  # per participant
        self._backlogged: set[str] = set()  # participants whose signals are being dropped
        self._to_offer: set[str] = set()
        self._renegotiation: asyncio.TimerHandle | None = None
        self._closed = False
        self._stopping = False
        self._log = log.bind(appointment=room_id)
        self._runner = asyncio.create_task(self._run(), name=f"room:{room_id}")
        self._bandwidth = asyncio.create_task(self._bandwidth_loop(), name=f"remb:{room_id}")

    # --- requests -------------------------------------------------------------------------

    def submit(self, request: Request) -> None:
        """Queue a request for the room's task. Only a participant's `signal` messages are
        bounded (`signal_backlog` queued each); the excess is dropped, logged once per episode."""
        if self._closed:
            return
        if isinstance(request, protocol.Signal):
            queued = self._queued_signals.get(request.participant, 0)
            if queued >= self._config.signal_backlog:
                if request.participant not in self._backlogged:
                    self._backlogged.add(request.participant)
                    self._log.warning(
                        "room_signal_backlog_full", participant=request.participant, queued=queued
                    )
                return
            self._queued_signals[request.participant] = queued + 1
        self._inbox.put_nowait(request)

    def _dequeued(self, request: Request) -> None:
        if isinstance(request, protocol.Signal):
            left = self._queued_signals.get(request.participant, 1) - 1
            if left > 0:
                self._queued_signals[request.participant] = left
            else:
                self._queued_signals.pop(request.participant, None)
                self._backlogged.discard(request.participant)

    def _lost(self, participant: str, conn: str) -> None:
        """A participant's peer connection failed or closed without a leave: leave for it."""
        self.submit(protocol.Leave(self.id, participant, conn))

    async def _run(self) -> None:
        while not self._stopping:
            request = await self._inbox.get()
            self._dequeued(request)
            if self._stopping:
                break
            try:
                await self._handle(request)
            except asyncio.CancelledError:
                raise
            except protocol.ProtocolError as exc:
                # The client asked for something out of turn: its fault, no traceback.
                self._log.warning("room_request_refused", op=type(request).__name__, error=str(exc))
                await self._request_failed(request, exc)
            except Exception as exc:
                # One bad request (e.g. unparseable SDP) must not take the room down.
                self._log.exception("room_request_failed", op=type(request).__name__)
                await self._request_failed(request, exc)
            if not self.participants and self._inbox.empty():
                self._on_empty(self)
                break
        await self._shutdown()

    async def _request_failed(self, request: Request, exc: Exception) -> None:
        """Tell the participant whose request failed (if it is still this connection)."""
        if not isinstance(request, protocol.Signal | protocol.Join):
            return
        current = self.participants.get(request.participant)
        if current is not None and current.conn != request.conn:
            return
        code = (
            ErrorCode.BAD_REQUEST
            if isinstance(exc, protocol.ProtocolError)
            else ErrorCode.REQUEST_FAILED
        )
        with contextlib.suppress(Exception):
            await self._publish(
                request.participant, request.conn, protocol.error_message(code, str(exc))
            )

    async def _handle(self, request: Request) -> None:
        if isinstance(request, _Renegotiate):
            await self._renegotiate()
        elif isinstance(request, protocol.Join):
            await self._join(request)
        elif isinstance(request, protocol.Leave):
            current = self.participants.get(request.participant)
            if current is not None and current.conn == request.conn:
                await self._remove(current, CloseReason.LEFT)
        elif isinstance(request, protocol.Signal):
            current = self.participants.get(request.participant)
            if current is not None and current.conn == request.conn:
                await self._signal(current, request.msg)

    async def _join(self, join: protocol.Join) -> None:
        current = self.participants.get(join.participant)
        if current is not None:
            if current.conn == join.conn:
                return  # a repeated join
            await self._remove(current, CloseReason.REPLACED)
        if len(self.participants) >= self._config.max_participants:
            self._log.warning("room_full", participant=join.participant)
            await self._publish(
                join.participant,
                join.conn,
                protocol.error_message(ErrorCode.ROOM_FULL, "the room is full"),
            )
            return

        async def send(msg: dict[str, Any]) -> None:
            await self._publish(join.participant, join.conn, msg)

        def lost() -> None:
            self._lost(join.participant, join.conn)

        participant = Participant(self.id, join, self._config, self._plan, send, lost)
        self.participants[join.participant] = participant
        participant.log.info(
            "participant_joined",
            conn=join.conn,
            publish=sorted(join.publish),
            subscribe=join.subscribe,
        )
        self._sync_subscriptions()
        if join.participant in self._to_offer:
            # A newcomer's first offer carries everything published so far at once: there is
            # nothing to batch, and the wait would be the join's (the others' re-offers still
            # wait for the newcomer's own tracks).
            self._to_offer.discard(join.participant)
            await participant.negotiate()

    async def _signal(self, participant: Participant, msg: protocol.MediaMessage) -> None:
        if isinstance(msg, protocol.Offer):
            if await participant.on_pub_offer(msg):
                self._sync_subscriptions()
        elif isinstance(msg, protocol.Answer):
            await participant.on_sub_answer(msg)
        elif isinstance(msg, protocol.Candidate):
            await participant.add_candidate(msg)
        elif isinstance(msg, protocol.Mute):
            participant.set_muted(msg.source, msg.muted)
        elif isinstance(msg, protocol.View):
            participant.set_view(dict(msg.heights))
            now = time.monotonic()
            for member in self.participants.values():
                for publication in member.publications.values():
                    if isinstance(publication.forwarder, SimulcastSource):
                        publication.forwarder.select(now)  # the tile's layer at once

    async def _remove(self, participant: Participant, reason: CloseReason) -> None:
        del self.participants[participant.id]
        self._to_offer.discard(participant.id)
        await participant.close()
        participant.log.info("participant_left", reason=reason.value)
        self._sync_subscriptions()

    # --- who receives what ----------------------------------------------------------------

    def publications(self) -> dict[TrackKey, Publication]:
        return {
            p.key: p for member in self.participants.values() for p in member.publications.values()
        }

    @property
    def backlog(self) -> int:
        """Requests queued for the room task."""
        return self._inbox.qsize()

    @property
    def renegotiation_pending(self) -> bool:
        """A batched re-offer is scheduled and has not run yet."""
        return self._renegotiation is not None

    def reoffer(self, participant_id: str) -> None:
        """Offer the participant's subscriber connection again (batched like any change)."""
        self._to_offer.add(participant_id)
        self._sync_subscriptions()

    def _sync_subscriptions(self) -> None:
        available = self.publications()
        for member in self.participants.values():
            wanted = {k: p for k, p in available.items() if k[0] != member.id}
            if member.sync_subscriptions(wanted):
                self._to_offer.add(member.id)
        if self._to_offer and self._renegotiation is None and not self._closed:
            # Batch the changes of one moment (audio and video arrive in one offer; a leave
            # removes several tracks) into one re-offer each.
            self._renegotiation = asyncio.get_running_loop().call_later(
                self._config.renegotiate_delay, self.submit, _Renegotiate()
            )

    async def _renegotiate(self) -> None:
        self._renegotiation = None
        pending, self._to_offer = self._to_offer, set()
        for participant_id in sorted(pending):
            member = self.participants.get(participant_id)
            if member is not None:
                await member.negotiate()
        now = time.monotonic()
        for member in list(self.participants.values()):
            await member.resend_overdue_offer(now)

    # --- bandwidth ------------------------------------------------------------------------

    async def _bandwidth_loop(self) -> None:
        """Ask each video publisher for the lowest rate its subscribers can take (and, on the
        same beat, have subscriber offers that went unanswered sent again)."""
        while True:
            await asyncio.sleep(self._config.remb_interval)
            now = time.monotonic()
            if any(m.offer_overdue(now) for m in self.participants.values()):
                self.submit(_Renegotiate())  # resent in the room's task
            for member in list(self.participants.values()):
                member.send_reports()
            for member in list(self.participants.values()):
                for publication in list(member.publications.values()):
                    if publication.kind != "video":
                        continue
                    forwarder = publication.forwarder
                    if isinstance(forwarder, SimulcastSource):
                        # Each subscriber takes the layer it can; the publisher sends all of
                        # them. Its own congestion control (loss in our receiver reports)
                        # guards its uplink: the SFU's receive-side estimate would only follow
                        # what arrives and never let the largest layer start.
                        forwarder.select(now)
                        target = self._config.simulcast_max_bitrate
                    else:
                        estimates = bandwidth.fresh_estimates(
                            (s.estimate for s in forwarder.slots), now, self._config.estimate_ttl
                        )
                        target = bandwidth.remb_target(
                            estimates,
                            publication.uplink.bitrate if publication.uplink else None,
                            minimum=self._config.min_bitrate,
                            maximum=self._config.max_bitrate,
                        )
                    await member.send_remb(target, publication)

    # --- accounting and teardown ----------------------------------------------------------

    @property
    def published_streams(self) -> int:
        return sum(len(p.publications) for p in self.participants.values())

    @property
    def forwarded_streams(self) -> int:
        return sum(p.forwarded_streams for p in self.participants.values())

    async def close(self) -> None:
        """Close every participant and the room's tasks; idempotent. A request in progress
        may finish first (cancelling it halfway could leave a peer connection half closed)."""
        runner = self._runner
        if runner is not asyncio.current_task() and not runner.done():
            self._stopping = True
            self._inbox.put_nowait(_Renegotiate())  # wakes an idle runner (unbounded inbox)
            done, _ = await asyncio.wait({runner}, timeout=self._config.close_timeout)
            if not done:
                runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        await self._shutdown()

    async def _shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._renegotiation is not None:
            self._renegotiation.cancel()
            self._renegotiation = None
        self._bandwidth.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._bandwidth
        for member in list(self.participants.values()):
            del self.participants[member.id]
            await member.close()
            member.log.info("participant_left", reason=CloseReason.ROOM_CLOSED.value)
        self._log.info("room_closed")

    def when_closed(self, callback: Callable[[], None]) -> None:
        """Call `callback` once the room's task has ended."""
        self._runner.add_done_callback(lambda _task: callback())

    async def wait_closed(self) -> None:
        """Until the room's task has ended (after it emptied, or `close`)."""
        with contextlib.suppress(asyncio.CancelledError):
            await self._runner
