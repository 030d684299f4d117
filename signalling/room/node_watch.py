"""This node's registration among the signalling nodes, and the watch on the others.

Every `node_heartbeat` the node renews its registration (lapsing after `node_ttl`) and looks
for nodes whose registration lapsed (killed, frozen, cut off). Their sockets are gone, but
their members are still stored as in the room; one surviving node claims each lapsed node
(an atomic claim in the store, so two survivors never both act) and takes its members over as
if their sockets had dropped here: `reconnecting`, then `left` after the reconnect grace.

A node that finds its own registration had lapsed (a stall longer than `node_ttl`, Redis away)
waits until any takeover of it is over, then lets go of the sockets whose stay was taken
over: they reconnect, as after a restart. With one node (the embedded store) nothing lapses
but the node itself, which never takes itself over.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from core.store.base import PresenceStore
from core.tasks import Lifetime

log = structlog.get_logger(__name__)

STALL = 0.5  # seconds a watch tick may come late before it does not count


class NodeWatch:
    def __init__(
        self,
        presence: PresenceStore,
        node_id: str,
        interval: float,
        ttl: float,
        take_over: Callable[[str], Awaitable[int]],
        recover: Callable[[], Awaitable[None]],
    ) -> None:
        self._presence = presence
        self._node = node_id
        self._interval = interval  # node_heartbeat
        self._ttl = ttl  # node_ttl
        self._take_over = take_over  # a lapsed node's members become ours; returns how many
        self._recover = recover  # our own registration had lapsed: let go of what was taken
        self._suspects: set[str] = set()  # seen lapsed on the last check
        self._beats = 0

    @property
    def claim_ttl(self) -> float:
        """How long a takeover claim lasts: should its claimant die during the takeover,
        another survivor takes the node over after this."""
        return 2 * self._ttl

    async def beat(self) -> None:
        """Renew the registration; after a lapse, hand back what others took over."""
        was_live = await self._presence.register_node(self._node, self._ttl)
        self._beats += 1
        if was_live or self._beats == 1:
            return
        log.warning("node_registration_lapsed", node=self._node)
        for _ in range(int(self.claim_ttl / self._interval) + 1):
            if not await self._presence.node_claimed(self._node):
                break
            await asyncio.sleep(self._interval)  # a survivor is taking us over: let it finish
        await self._recover()

    async def run(self, lifetime: Lifetime) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            if not await lifetime.pause(self._interval):
                return
            late = loop.time() - before - self._interval
            try:
                await self.beat()
                if late > STALL:
                    # This process's loop was stalled (a saturated machine): so, perhaps, were
                    # the other nodes' heartbeats. Look again when time runs normally.
                    log.info("node_watch_skipped", late=round(late, 2))
                    self._suspects.clear()
                    continue
                await self.check_once()
            except Exception:  # the store may be briefly away; try again next beat
                log.exception("node_watch_failed")

    async def check_once(self) -> None:
        """Take over each node seen lapsed on this check and the one before: a node whose
        beat was merely due (a clock that jumped, a beat in flight) gets one more tick."""
        lapsed = await self._presence.lapsed_nodes() - {self._node}
        due, self._suspects = lapsed & self._suspects, lapsed
        for node in sorted(due):
            if not await self._presence.claim_node(node, self._node, self.claim_ttl):
                continue  # another survivor has it, or it beat again
            log.warning("node_lapsed", node=node, by=self._node)
            taken = await self._take_over(node)
            await self._presence.forget_node(node, self._node)
            self._suspects.discard(node)
            log.info("members_taken_over", node=node, by=self._node, members=taken)
