"""One published track at the RTP level: what arrives from the publisher, fanned out to the
attached `DownTrack`s packet by packet.

`RtpForwarder` sees every decrypted RTP packet of its publisher's stream (`on_rtp`; RTX
retransmissions are unwrapped first by `on_rtx`). It keeps a short history (for the
subscribers' NACKs), notices gaps and asks the publisher for the missing packets (NACK), keeps
the counters of a receiver report, remembers the publisher's last sender report (so the
subscribers' sender reports map RTP time to wall time as the publisher does), spots the first
packet of each keyframe, and hands each packet to the down tracks unchanged: each writes its
own header in front of the same payload. Nothing is depacketised, decoded or copied per
subscriber beyond that header.

Keyframe requests from subscribers are coalesced and rate-limited as in the frame path.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import structlog

from mediaserver.metrics import MediaStats
from mediaserver.rtp import packet as rtp
from mediaserver.rtp import payload, wire

if TYPE_CHECKING:
    from mediaserver.estimator import Estimate
    from mediaserver.rtp.downtrack import DownTrack

log = structlog.get_logger(__name__)

KeyframeSender = Callable[[], Awaitable[None]]
NackSender = Callable[[int, list[int]], None]  # media SSRC, lost sequence numbers

VIDEO_HISTORY = 1024  # packets kept for retransmission (~9 s at 1 Mbit/s); a power of two
AUDIO_HISTORY = 128
NACK_MAX_GAP = 128  # a larger jump is a restart, not loss
NACK_RETRY = 0.1  # seconds between NACKs for the same packet
NACK_TRIES = 3
NACK_GIVE_UP = 1.0  # seconds after which a missing packet is no longer asked for


class RtpForwarder(wire.Stream):
    """Reads one publisher stream (packets pushed by its connection) for the down tracks.

    Packets arrive at `receive`: `on_rtp` below, or the same in C (`wire.Stream._receive`,
    over the same fields) where the extension was built."""

    def __init__(
        self,
        *,
        kind: str,
        mime_type: str,
        clock_rate: int,
        send_keyframe_request: KeyframeSender,
        send_nack: NackSender,
        min_keyframe_interval: float,
        keyframe_retry: float,
        log_context: dict[str, str],
        stats: MediaStats | None = None,
        uplink: Estimate | None = None,
        ast_id: int = 0,
    ) -> None:
        self.kind = kind
        self.mime_type = mime_type
        self.clock_rate = clock_rate
        self._codec = payload.codec_id(mime_type)
        self._video = kind == "video"
        self._stats = stats or MediaStats()
        self.muted = False
        self.packets = 0
        self.keyframes = 0
        self.keyframe_requests = 0
        self.height: int | None = None  # the picture's, from its last keyframe (VP8 only)
        self.ssrc: int | None = None
        self._slots: list[DownTrack] = []
        self._fanout = wire.fanout()
        self._send_keyframe_request = send_keyframe_request
        self._send_nack = send_nack
        self._min_interval = min_keyframe_interval
        self._retry = keyframe_retry
        self._uplink = uplink  # the SFU's estimate of the publisher's uplink, fed per frame
        self._ast_id = ast_id
        self._frame_bytes = 0
        self._log = log.bind(**log_context)
        size = VIDEO_HISTORY if self._video else AUDIO_HISTORY
        self._mask = size - 1
        self._history: list[bytes | None] = [None] * size
        # Receiver-report state (RFC 3550 A.3)
        self._base_seq = -1
        self._highest = -1  # highest sequence number seen (16 bits)
        self._cycles = 0
        self._received = 0
        self._expected_prior = 0
        self._received_prior = 0
        self._missing: dict[int, list[float]] = {}  # seq -> [last NACK time, tries, first seen]
        self.nacks_sent = 0
        self.recovered = 0
        self.bytes_received = 0
        # The publisher's last sender report: (RTP timestamp, NTP middle 32 bits, arrival)
        self.sender_report: tuple[int, int, float] | None = None
        self.last_timestamp = 0
        self.last_arrival = 0.0
        self._keyframe_wanted = asyncio.Event()
        self._last_request = 0.0
        self._retry_at = 0.0  # when a waiting subscriber may next be due a keyframe again
        self._closed = False
        self._tasks: list[asyncio.Task[None]] = []
        if self._video:
            self._tasks.append(asyncio.create_task(self._keyframes(), name="forwarder-pli"))
        self._keyframe_start = payload.keyframe_start  # C asks it of codecs other than VP8
        self.receive: Callable[[bytes], None] = self._receive if wire.compiled() else self.on_rtp

    # --- subscribers ------------------------------------------------------------------------

    @property
    def slots(self) -> list[DownTrack]:
        return list(self._slots)

    def attach(self, slot: DownTrack) -> None:
        if slot not in self._slots:
            self._slots.append(slot)
        if slot.forwarder is self and slot.current is not self and slot.pending is not self:
            slot.switch(self)  # attached by the room: forward this stream

    def detach(self, slot: DownTrack) -> None:
        if slot in self._slots:
            self._slots.remove(slot)

    def set_muted(self, muted: bool) -> None:
        self.muted = muted
        if not muted:
            for slot in self._slots:
                slot.restart()
            self.want_keyframe()

    def new_source(self, ssrc: int) -> None:
        """The publisher restarted the stream under a new SSRC: forget the old numbers; the
        subscribers continue their own at the new stream's next keyframe."""
        self.ssrc = ssrc
        self._history = [None] * len(self._history)
        self._base_seq = self._highest = -1
        self._cycles = self._received = self._expected_prior = self._received_prior = 0
        self._missing.clear()
        self.sender_report = None
        for slot in self._slots:
            slot.restart()
        self.want_keyframe()

    def packet(self, seq: int) -> bytes | None:
        """The packet with sequence number `seq`, if still in the history."""
        data = self._history[seq & self._mask]
        if data is not None and ((data[2] << 8) | data[3]) == seq:
            return data
        return None

    # --- keyframes --------------------------------------------------------------------------

    def want_keyframe(self) -> None:
        """Ask the publisher for a keyframe; requests are coalesced and rate-limited."""
        if self._video and not self._closed:
            self._keyframe_wanted.set()

    def keyframe_asked_since(self, since: float) -> bool:
        """Whether a keyframe was asked for at `since` (monotonic) or later, or is about to be
        (a request waits out the rate limit)."""
        return self._keyframe_wanted.is_set() or self._last_request >= since

    async def _keyframes(self) -> None:
        while True:
            await self._keyframe_wanted.wait()
            self._keyframe_wanted.clear()
            self._last_request = time.monotonic()
            self.keyframe_requests += 1
            with contextlib.suppress(ConnectionError):
                await self._send_keyframe_request()
            await asyncio.sleep(self._min_interval)

    def _retry_keyframe(self, now: float) -> None:
        """A subscriber still waiting (e.g. the keyframe got lost) asks again after a while.

        Checked at the end of a frame from `_retry_at` on, which this sets to the soonest a
        subscriber can be due: one waiting now at its own time; one that starts waiting later
        (every track starting to wait sets `waiting_since` then) no sooner than `_retry` from
        now. So a frame's end costs a comparison, not a walk over the subscribers."""
        due = self._last_request + self._retry
        if now < due:
            self._retry_at = due
            return
        soonest = now + self._retry
        for s in self._slots:
            if s.waiting_keyframe and not s.held:
                at = s.waiting_since + self._retry
                if at <= now:
                    self.want_keyframe()  # until it is sent, frames keep checking
                    return
                soonest = min(soonest, at)
        self._retry_at = soonest

    # --- the per-packet path: no logging, no allocation beyond what is forwarded -----------

    def on_rtp(self, data: bytes) -> None:
        """A decrypted RTP packet of this stream (already checked by `rtp.valid`)."""
        self.packets += 1
        self._stats.received += 1
        seq = (data[2] << 8) | data[3]
        highest = self._highest
        if highest < 0:
            self._base_seq = seq
            self._highest = seq
        else:
            delta = (seq - highest) & 0xFFFF
            if delta == 0:
                return  # a duplicate
            if delta < 0x8000:  # newer
                if seq < highest:
                    self._cycles += 0x10000
                self._highest = seq
                if 1 < delta <= NACK_MAX_GAP:
                    self._lost(highest, delta)
            else:  # older: reordered, or a retransmission
                missing = self._missing.pop(seq, None)
                if missing is None:
                    if self.packet(seq) is not None:
                        return  # a duplicate
                else:
                    self.recovered += 1
        self._received += 1
        self.bytes_received += len(data)
        self._history[seq & self._mask] = data
        now = time.monotonic()
        timestamp = (data[4] << 24) | (data[5] << 16) | (data[6] << 8) | data[7]
        self.last_timestamp = timestamp
        self.last_arrival = now
        uplink = self._uplink
        if uplink is not None:
            # The uplink estimator sees one entry per frame (its last packet's arrival and send
            # time, the frame's bytes): it groups a frame's packets anyway, at a quarter of the
            # cost of feeding it each packet.
            self._frame_bytes += len(data)
            if data[1] & 0x80:
                ast = rtp.extension(data, self._ast_id)
                if ast is not None and len(ast) == 3:
                    uplink.frame(
                        int(time.time() * 1000),
                        (ast[0] << 16) | (ast[1] << 8) | ast[2],
                        self._frame_bytes,
                        (data[8] << 24) | (data[9] << 16) | (data[10] << 8) | data[11],
                    )
                self._frame_bytes = 0
        if self.muted:
            return
        start = rtp.header_size(data)
        if self._video:
            head = data[start : start + 64]
            key = payload.keyframe_start(self._codec, head)
            if key:
                self._keyframe(head)
            ast_now = rtp.abs_send_time()
        else:
            key = True
            ast_now = b""
        forwarded = self._fanout(self._slots, self, data, seq, timestamp, start, key, ast_now, now)
        if forwarded:
            self._stats.forwarded += forwarded  # those sent in C (`forward` counts its own)
        if self._missing and data[1] & 0x80:
            self._renack(now)
        if self._video and data[1] & 0x80 and not key and now >= self._retry_at:
            self._retry_keyframe(now)

    def _keyframe(self, head: bytes) -> None:
        """The first packet of a keyframe arrived (`head`: up to 64 bytes of its payload)."""
        self.keyframes += 1
        if self._codec == payload.VP8:
            size = payload.vp8_keyframe_size(head)
            if size is not None:
                self.height = size[1]

    def on_rtx(self, data: bytes, media_pt: int) -> None:
        """A retransmission (RFC 4588): the original sequence number leads the payload."""
        start = rtp.header_size(data)
        if rtp.payload_size(data) < 2:
            return  # padding-only probe
        osn = data[start : start + 2]
        first = data[0] & ~0x20  # padding, if any, is dropped with the RTX payload's tail
        end = len(data) - data[-1] if data[0] & 0x20 else len(data)
        ssrc = self.ssrc
        if ssrc is None:
            return
        original = b"".join(
            (
                bytes((first, (data[1] & 0x80) | media_pt)),
                osn,
                data[4:8],
                rtp.U32.pack(ssrc),
                data[12:start],
                data[start + 2 : end],
            )
        )
        self.receive(original)

    # --- loss: NACKs to the publisher -------------------------------------------------------

    def _lost(self, highest: int, delta: int) -> None:
        now = time.monotonic()
        lost = [(highest + i) & 0xFFFF for i in range(1, delta)]
        for seq in lost:
            self._missing[seq] = [now, 1.0, now]
        if self.ssrc is not None:
            self.nacks_sent += 1
            self._send_nack(self.ssrc, lost)

    def _renack(self, now: float) -> None:
        again: list[int] = []
        for seq, entry in list(self._missing.items()):
            if now - entry[2] > NACK_GIVE_UP or entry[1] >= NACK_TRIES:
                if now - entry[2] > NACK_GIVE_UP:
                    del self._missing[seq]
                continue
            if now - entry[0] >= NACK_RETRY:
                entry[0] = now
                entry[1] += 1
                again.append(seq)
        if again and self.ssrc is not None:
            self.nacks_sent += 1
            self._send_nack(self.ssrc, again)

    # --- reports ----------------------------------------------------------------------------

    def on_sender_report(self, rtp_timestamp: int, ntp: int) -> None:
        self.sender_report = (rtp_timestamp, (ntp >> 16) & 0xFFFFFFFF, time.monotonic())

    def timestamp_at(self, now: float) -> int | None:
        """This stream's RTP time at `now` (monotonic), from the publisher's sender report,
        else from the last packet."""
        report = self.sender_report
        if report is not None:
            return (report[0] + int((now - report[2]) * self.clock_rate)) & 0xFFFFFFFF
        if self.packets:
            return (self.last_timestamp + int((now - self.last_arrival) * self.clock_rate)) & (
                0xFFFFFFFF
            )
        return None

    def report_block(self) -> tuple[int, int, int, int, int, int] | None:
        """(SSRC, fraction lost, cumulative lost, extended highest seq, LSR, DLSR) for a
        receiver report to the publisher (RFC 3550 6.4.1, A.3), or None before any packet."""
        if self.ssrc is None or self._highest < 0:
            return None
        extended = self._cycles + self._highest
        expected = extended - self._base_seq + 1
        lost = max(0, expected - self._received)
        expected_interval = expected - self._expected_prior
        received_interval = self._received - self._received_prior
        self._expected_prior = expected
        self._received_prior = self._received
        lost_interval = expected_interval - received_interval
        fraction = 0
        if expected_interval > 0 and lost_interval > 0:
            fraction = min(255, (lost_interval << 8) // expected_interval)
        lsr = dlsr = 0
        if self.sender_report is not None:
            lsr = self.sender_report[1]
            dlsr = int((time.monotonic() - self.sender_report[2]) * 65536) & 0xFFFFFFFF
        return (self.ssrc, fraction, min(lost, 0x7FFFFF), extended & 0xFFFFFFFF, lsr, dlsr)

    async def close(self) -> None:
        """Stop and let go of the subscribers; idempotent."""
        if self._closed:
            return
        self._closed = True
        for slot in list(self._slots):
            slot.attach(None)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
