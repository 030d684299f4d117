"""A published video track sent as simulcast: several encodings of one camera (e.g. 640x480,
320x240, 160x120), each its own RTP stream with its own SSRC, told apart by their rid.

Each layer is an `RtpForwarder` of its own (history, NACKs, keyframes, reports). Every
subscriber's `DownTrack` forwards exactly one layer: the best one its bandwidth estimate allows,
but no larger than fills the tile its page shows it in (`DownTrack.view_height`, from the
page's `view` message; a page in the background or a tile out of sight takes the lowest).
A change of layer waits for a keyframe of the new layer (asked for at once), and the down track
continues its own sequence numbers and timestamps across it, so the subscriber sees one stream
that changes resolution, never a gap. A tablet on a weak link so keeps a picture, and the
others keep the top layer: the publisher is no longer slowed to the weakest subscriber.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mediaserver.rtp.forwarder import RtpForwarder

if TYPE_CHECKING:
    from mediaserver.rtp.downtrack import DownTrack

RATE_WINDOW = 2.0  # seconds over which a layer's bitrate is measured
STALE = 1.5  # a layer without packets for this long is off (the publisher paused it)
CONGESTED = 0.8  # an estimate below this share of the layer's rate: step down
SEVERE = 0.5  # ... the same while the estimate settles after a step up
UP_FIT = 0.75  # step up when the estimate is at least this share of the next layer's rate
SETTLE = 4.0  # seconds an estimate gets to catch up with a step up
UPGRADE_AFTER = 4.0  # seconds after a change before trying the next layer up
FAILED_UPGRADE = 8.0  # a step down this soon after a step up: the step up failed
MAX_BACKOFF = 32.0
FILLS = 0.85  # a layer this share of the tile's height fills it (a little upscaling is fine)


@dataclass
class _SlotState:
    changed: float = 0.0  # last change of layer
    raised: float = -1e9  # last step up
    backoff: float = UPGRADE_AFTER
    # The layer the bandwidth allows: the one sent, unless the tile wants a smaller one.
    level: RtpForwarder | None = None


class SimulcastSource:
    """The layers of one simulcast track, lowest first once their bitrates are known."""

    def __init__(self, layers: dict[str, RtpForwarder], clock_rate: int) -> None:
        self.kind = "video"
        self.clock_rate = clock_rate
        self.layers = layers  # by rid, in the offer's order
        self._slots: list[DownTrack] = []
        self._state: dict[int, _SlotState] = {}  # by id(slot)
        self._bytes: dict[str, tuple[int, float]] = {}  # rid -> (bytes seen, at)
        self.bitrates: dict[str, int] = {}

    # --- the forwarder interface the room and the participant use --------------------------

    @property
    def slots(self) -> list[DownTrack]:
        return list(self._slots)

    @property
    def packets(self) -> int:
        return sum(layer.packets for layer in self.layers.values())

    @property
    def keyframe_requests(self) -> int:
        return sum(layer.keyframe_requests for layer in self.layers.values())

    @property
    def ssrc(self) -> int | None:
        return None

    def attach(self, slot: DownTrack) -> None:
        if slot not in self._slots:
            self._slots.append(slot)
        layer = self.choose(slot, time.monotonic())
        if layer is not None:
            slot.switch(layer)

    def detach(self, slot: DownTrack) -> None:
        if slot in self._slots:
            self._slots.remove(slot)
        self._state.pop(id(slot), None)

    def set_muted(self, muted: bool) -> None:
        for layer in self.layers.values():
            layer.set_muted(muted)

    def want_keyframe(self) -> None:
        for layer in self.layers.values():
            layer.want_keyframe()

    async def close(self) -> None:
        for slot in list(self._slots):
            slot.attach(None)
        for layer in self.layers.values():
            await layer.close()

    # --- choosing layers --------------------------------------------------------------------

    def ranked(self, now: float) -> list[RtpForwarder]:
        """The layers that are sending, lowest bitrate first (the offer's order until
        measured)."""
        order = list(self.layers)
        live = [
            layer
            for layer in self.layers.values()
            if layer.packets and now - layer.last_arrival < STALE
        ]
        return sorted(
            live,
            key=lambda layer: (
                self.bitrates.get(self._rid(layer), 0),
                order.index(self._rid(layer)),
            ),
        )

    def _rid(self, layer: RtpForwarder) -> str:
        return next(rid for rid, known in self.layers.items() if known is layer)

    def measure(self, now: float) -> None:
        """Update each layer's bitrate (called on the room's bandwidth beat)."""
        for rid, layer in self.layers.items():
            seen = layer.bytes_received
            before = self._bytes.get(rid)
            if before is None or now - before[1] >= RATE_WINDOW:
                if before is not None and now > before[1]:
                    self.bitrates[rid] = int((seen - before[0]) * 8 / (now - before[1]))
                self._bytes[rid] = (seen, now)

    def choose(self, slot: DownTrack, now: float) -> RtpForwarder | None:
        """The layer `slot` should forward now: the one its bandwidth allows (`_by_bandwidth`),
        or the smaller one that fills its tile (`_fitting`)."""
        ranked = self.ranked(now)
        if not ranked:
            return slot.current or slot.pending or next(iter(self.layers.values()), None)
        state = self._state.get(id(slot))
        if state is None:
            state = self._state[id(slot)] = _SlotState(changed=now)
        current = slot.pending or slot.current
        if state.level not in ranked:  # the first choice, or its layer stopped
            if current in ranked:
                state.level = current
            else:
                state.changed = now
                state.level = ranked[(len(ranked) - 1) // 2]
                return ranked[min(ranked.index(state.level), self._fitting(slot, ranked))]
        assert state.level is not None
        cap = self._fitting(slot, ranked)
        index = ranked.index(state.level)
        sent = ranked.index(current) if current in ranked else None
        if index <= cap:
            if sent is not None and sent < index:
                # The tile had wanted less and now takes what the bandwidth allowed: as after
                # a step up, the estimate gets time to catch up with it.
                state.changed = state.raised = now
            else:
                # Sent as the bandwidth allows: the estimate speaks of this layer.
                state.level = self._by_bandwidth(slot, state, ranked, index, cap, now)
                index = ranked.index(state.level)
        chosen = ranked[min(index, cap)]
        if index > cap and chosen is not current:
            state.changed = now  # smaller for the tile's sake
        return chosen

    def _fitting(self, slot: DownTrack, ranked: list[RtpForwarder]) -> int:
        """The index in `ranked` of the largest layer worth sending to `slot`: the smallest
        that fills the height its page shows it at; the lowest for a page that shows it not
        at all; any while the page has not said or a layer's size is not known yet."""
        wanted = slot.view_height
        top = len(ranked) - 1
        if wanted is None:
            return top
        if wanted == 0:
            return 0
        heights = [layer.height for layer in ranked]
        if any(height is None for height in heights):
            return top
        return next(
            (i for i, height in enumerate(heights) if height and height >= wanted * FILLS), top
        )

    def _by_bandwidth(
        self,
        slot: DownTrack,
        state: _SlotState,
        ranked: list[RtpForwarder],
        index: int,
        cap: int,
        now: float,
    ) -> RtpForwarder:
        """The layer the bandwidth allows, from `ranked[index]`, the one being sent, and no
        higher than `ranked[cap]` (`_fitting`).

        A subscriber's REMB follows what it receives: uncongested, a browser's estimate
        settles above its incoming rate (up to about one and a half times it); congested, it
        falls below. So it can say "too much" but never "the next layer would fit". Hence:
        start with the lower of the middle layers; step down when the estimate falls clearly
        below the current layer's rate (after a step up, give the estimate a few seconds to
        catch up first); step up one layer at a time, a while after the last change, when the
        estimate is near the next layer's rate; and wait twice as long after a step up that
        had to be taken back."""
        current = ranked[index]
        estimate = slot.estimate
        if estimate is None or now - estimate[1] > 5.0:
            return current
        bitrate = estimate[0]
        rate = self.bitrates.get(self._rid(current), 0)
        settling = now - state.raised < SETTLE
        if index > 0 and bitrate < rate * (SEVERE if settling else CONGESTED):
            fitting = [
                layer
                for layer in ranked[:index]
                if self.bitrates.get(self._rid(layer), 0) <= bitrate * CONGESTED
            ]
            if now - state.raised < FAILED_UPGRADE:
                state.backoff = min(MAX_BACKOFF, state.backoff * 2)
            state.changed = now
            return fitting[-1] if fitting else ranked[0]
        if (
            index + 1 < len(ranked)
            and index + 1 <= cap
            and not settling
            and now - state.changed >= state.backoff
            and bitrate >= self.bitrates.get(self._rid(ranked[index + 1]), 0) * UP_FIT
        ):
            state.changed = state.raised = now
            return ranked[index + 1]
        if now - state.changed > 3 * MAX_BACKOFF:
            state.backoff = UPGRADE_AFTER  # long settled: be hopeful again
        return current

    def select(self, now: float) -> None:
        """Move every subscriber to the layer that fits it now."""
        self.measure(now)
        for slot in list(self._slots):
            layer = self.choose(slot, now)
            if layer is not None:
                slot.switch(layer)
