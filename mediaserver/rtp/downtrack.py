"""One subscriber m-line at the RTP level: whatever forwarder it is attached to, sent as one
continuous stream in the subscriber's own terms.

A `DownTrack` is the track an `RTCRtpSender` of the subscriber connection is given (so the
m-line exists and is negotiated), but the sender never reads from it: packets arrive from the
attached `RtpForwarder` and leave through the connection's `RtpTransport`. For each packet the
down track writes the subscriber's header (its SSRC, payload type, sequence number and
timestamp offsets, and the MID and abs-send-time extensions as negotiated) in front of the
untouched payload. It starts video at a keyframe, and when its source changes (another
publisher's track, a mute) it continues the subscriber's sequence numbers and timestamps
without a jump, so the subscriber sees one stream. It answers the subscriber's NACKs from the
forwarder's history (as RTX where negotiated) and writes the sender reports.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from aiortc.clock import current_ntp_time
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtp import RtcpSdesPacket, RtcpSenderInfo, RtcpSourceInfo, RtcpSrPacket

from mediaserver.metrics import MediaStats
from mediaserver.rtp import packet as rtp
from mediaserver.rtp import payload as vp8
from mediaserver.rtp import wire

if TYPE_CHECKING:
    from mediaserver.rtp.forwarder import RtpForwarder
    from mediaserver.rtp.simulcast import SimulcastSource
    from mediaserver.rtp.transport import RtpTransport

    Source: TypeAlias = RtpForwarder | SimulcastSource

SEQ_PACK = rtp.SEQ.pack
# Video kept for a subscriber whose connection is not up yet, from a keyframe on (`_keep_early`):
# a 1080p keyframe is ~150 packets; ICE and DTLS take tens of milliseconds on a good link.
EARLY_PACKETS = 256
EARLY_SECONDS = 1.0
# `forward`'s arguments, kept by `_keep_early` and given back to it by `connection_up`.
EarlyPacket: TypeAlias = tuple["RtpForwarder", bytes, int, int, int, bool, bytes, float]


@dataclass(frozen=True)
class Binding:
    """What the subscriber's answer fixed for this m-line."""

    ssrc: int
    payload_type: int
    rtx_ssrc: int | None
    rtx_payload_type: int | None
    mid: str | None
    mid_id: int
    ast_id: int
    cname: str | None


class DownTrack(MediaStreamTrack, wire.Lane):  # type: ignore[misc]
    """A subscriber's view of whatever RTP forwarder it is attached to.

    The per-packet fields live in `wire.Lane` (C members where the extension was built): in
    the steady state of a segment (`_fast` is the source) `wire.fanout` forwards in C with
    them, everything else (a segment's start, a switch, a hold, a VP8 descriptor to rewrite)
    takes `forward` below, which also hands the steady state back to C."""

    def __init__(self, kind: str, stats: MediaStats | None = None) -> None:
        super().__init__()
        self.kind = kind
        self._stats = stats or MediaStats()
        self._video = kind == "video"
        # What the room attached (a track, or a simulcast track's layers), and the stream
        # actually forwarded: `current`, or `pending` from its next keyframe on (a layer switch).
        self.forwarder: Source | None = None
        self.current: RtpForwarder | None = None
        self.pending: RtpForwarder | None = None
        self.switches = 0
        # Held: attached, but the subscriber has not yet accepted the offer naming the source.
        self.held = True
        self.waiting_keyframe = self._video
        self.waiting_since = time.monotonic()
        self.estimate: tuple[int, float] | None = None  # (REMB bits/s, monotonic time)
        # How tall the subscriber's page shows this video, in device pixels (0: not shown;
        # None: not said): a simulcast source sends no larger layer than fills it.
        self.view_height: int | None = None
        self.forwarded = 0
        self.dropped = 0
        self.retransmitted = 0
        self._transport: RtpTransport | None = None
        self._binding: Binding | None = None
        self._ssrc = 0
        self._pt = 0
        self._x = 0
        self._ext: rtp.ExtensionWriter = rtp.ExtensionWriter(None, 0, 0)
        self._rtx_seq = random.getrandbits(16)
        # Continuity: the next sequence number and the last timestamp sent, and the offsets
        # from the current source's numbers to ours.
        self._next_seq = random.getrandbits(15)
        self._last_ts = random.getrandbits(31)
        self._last_at = 0.0
        self._clock_rate = 90000 if self._video else 48000
        self._resync = True
        self._sent_any = False
        self._seq_off = 0
        self._ts_off = 0
        self._first_in = 0  # the source's sequence number that started the current segment
        self._first_out = 0
        # VP8 picture ids and TL0PICIDX continue across a change of source too (each layer of
        # a simulcast camera counts its own): offsets, and the last packet sent to read them.
        self._vp8 = False
        self._pid_off = 0
        self._tl0_off = 0
        self._last_data = b""
        self._last_start = 0
        self._packets = 0  # for sender reports
        self._octets = 0
        # Video from a keyframe on, kept while the connection cannot carry it yet (`_keep_early`).
        self._early: list[EarlyPacket] | None = None
        self._early_lost = False
        self._stopped: asyncio.Future[None] | None = None

    # --- the sender side aiortc sees: never yields ------------------------------------------

    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        if self._stopped is None:
            self._stopped = asyncio.get_running_loop().create_future()
        await self._stopped
        raise MediaStreamError

    # --- set-up -----------------------------------------------------------------------------

    def bind(self, transport: RtpTransport, binding: Binding) -> None:
        """Send through `transport` as the subscriber's answer negotiated."""
        if transport is not self._transport:
            self._fast = self._egress = None
        self._transport = transport
        if binding == self._binding:
            return
        self._binding = binding
        self._ssrc = binding.ssrc
        self._pt = binding.payload_type
        self._ext = rtp.ExtensionWriter(
            binding.mid, binding.mid_id, binding.ast_id if self._video else 0
        )
        self._x = 0x10 if self._ext.present else 0
        self._ext_fixed = self._ext.fixed
        self._ext_head, self._ext_tail = self._ext.head, self._ext.tail

    def attach(self, forwarder: Source | None) -> None:
        """Switch to another source (or none), held until `release`."""
        for stream in (self.current, self.pending):
            if stream is not None:
                stream.detach(self)
        if self.forwarder is not None:
            self.forwarder.detach(self)
        self.current = self.pending = None
        self.forwarder = forwarder
        self.held = True
        self.restart()
        if forwarder is not None:
            self._clock_rate = forwarder.clock_rate
            forwarder.attach(self)  # which calls `switch` with the stream to forward

    def switch(self, stream: RtpForwarder) -> None:
        """Forward `stream` from its next keyframe on (until then, what is forwarded now)."""
        if stream is self.pending or (stream is self.current and self.pending is None):
            return
        if self.pending is not None and self.pending is not self.current:
            self.pending.detach(self)
        if stream is self.current:
            self.pending = None
            return
        self.pending = stream
        self._vp8 = stream.mime_type.lower() == "video/vp8"
        stream.attach(self)
        self.waiting_keyframe = self._video
        self.waiting_since = time.monotonic()
        if not self.held:
            stream.want_keyframe()

    def release(self) -> None:
        """Start forwarding (video from the next keyframe, which is asked for now: if it
        comes before the connection is up, it waits for it, see `_keep_early`)."""
        self.held = False
        self.restart()
        stream = self.pending or self.current
        if self._video and stream is not None:
            stream.want_keyframe()

    def restart(self) -> None:
        """Begin a new segment at the source's next keyframe (video) or packet (audio)."""
        self._fast = None  # every packet through `forward` until the segment is under way
        self._early = None
        self._early_lost = False
        self._resync = True
        self.waiting_keyframe = self._video
        self.waiting_since = time.monotonic()

    # --- the per-packet path ----------------------------------------------------------------

    def forward(
        self,
        source: RtpForwarder,
        data: bytes,
        seq: int,
        ts: int,
        start: int,
        key: bool,
        ast: bytes,
        now: float,
    ) -> None:
        if self.held:
            return
        transport = self._transport
        if transport is None:
            return
        if (source is not self.current or self._resync) and not transport.ready:
            if self._video:
                self._keep_early((source, data, seq, ts, start, key, ast, now))
            return
        if source is not self.current:
            if source is not self.pending or not key:
                return
            old, self.current, self.pending = self.current, source, None
            self._fast = None
            if old is not None:
                old.detach(self)
                self.switches += 1
            self._resync = True
        if self._resync:
            if not key:
                return  # video starts at a keyframe (kept until it can be sent: `_keep_early`)
            self._seq_off = (self._next_seq - seq) & 0xFFFF
            if self._sent_any:
                gap = max(1, int((now - self._last_at) * self._clock_rate))
                self._ts_off = (self._last_ts + gap - ts) & 0xFFFFFFFF
            else:
                self._ts_off = (self._last_ts - ts) & 0xFFFFFFFF
            self._first_in = seq
            self._first_out = self._next_seq
            self._resync = False
            self.waiting_keyframe = False
            if self._vp8:
                self._continue_vp8(data, start)
        elif (seq - self._first_in) & 0x8000:
            return  # from before this segment began
        out_seq = (seq + self._seq_off) & 0xFFFF
        out_ts = (ts + self._ts_off) & 0xFFFFFFFF
        if not (out_seq - self._next_seq) & 0x8000:
            self._next_seq = (out_seq + 1) & 0xFFFF
            self._last_ts = out_ts
            self._last_at = now
        self._sent_any = True
        ext = self._ext
        fixed = ext.fixed
        if self._vp8:
            self._last_data, self._last_start = data, start
            if self._pid_off or self._tl0_off:
                head, start = self._vp8_head(data, start)
            else:
                head = b""
        else:
            head = b""
        extension = fixed if fixed is not None else ext.head + ast + ext.tail
        out = transport.egress()
        if out is None:
            return
        self._packets += 1
        self._octets += 12 + len(extension) + len(head) + len(data) - start
        self.forwarded += 1
        self._stats.forwarded += 1
        sent = out.rtp(
            0x80 | self._x | (data[0] & 0x20),
            (data[1] & 0x80) | self._pt,
            out_seq,
            out_ts,
            self._ssrc,
            extension,
            head,
            data,
            start,
        )
        if not sent:
            self._send_failed()
        if not head:  # nothing to rewrite in the payload: the next packets can take C
            self._fast, self._egress = source, out

    def _keep_early(self, packet: EarlyPacket) -> None:
        """Video that comes before the connection can carry it, kept from a keyframe of the
        stream to be forwarded on, and sent when the connection comes up (`connection_up`): the
        keyframe asked for when the subscriber accepted the offer then arrives while ICE and
        DTLS finish, instead of being asked for only once they have. At most `EARLY_PACKETS`
        packets and `EARLY_SECONDS` from the keyframe; beyond that the connection is slow and
        a new keyframe is asked for when it is up, as without the hold."""
        source, key, now = packet[0], packet[5], packet[7]
        if source is not (self.pending or self.current):
            return
        early = self._early
        if key:
            self._early = [packet]
        elif early is not None:
            if len(early) >= EARLY_PACKETS or now - early[0][7] > EARLY_SECONDS:
                self._early = None
                self._early_lost = True  # the keyframe asked for came and went
            else:
                early.append(packet)

    def connection_up(self) -> None:
        """The connection can carry media now: send what `_keep_early` kept, in order, as if
        it arrived now. A video track still waiting for a keyframe asks for one, unless one
        asked for since it began waiting is still to come (asked when the subscriber
        accepted, it may come a frame later than the connection; asking again would only hold
        the next request back by the publisher's keyframe interval, and a lost one is asked
        for again by the forwarder's retry)."""
        early, self._early = self._early, None
        if early:
            for packet in early:
                self.forward(*packet)
        lost, self._early_lost = self._early_lost, False
        if not self.waiting_keyframe or self.held:
            return
        stream = self.pending or self.current
        if stream is not None and (lost or not stream.keyframe_asked_since(self.waiting_since)):
            stream.want_keyframe()

    def _send_failed(self) -> None:
        transport = self._transport
        if transport is not None:
            transport.send_errors += 1
        self._stats.dropped += 1

    def _continue_vp8(self, data: bytes, start: int) -> None:
        """At the start of a segment: offsets that make this source's picture ids (and
        TL0PICIDX) follow the last ones the subscriber got, as LiveKit's VP8 munger does; a
        decoder that checks their continuity would otherwise see a jump at a layer switch."""
        new = vp8.vp8_descriptor(data[start : start + 8])
        last_data, last_start = self._last_data, self._last_start
        last = vp8.vp8_descriptor(last_data[last_start : last_start + 8]) if last_data else None
        pid_before, tl0_before = self._pid_off, self._tl0_off
        self._pid_off = self._tl0_off = 0
        if new is None or last is None:
            return
        if new.picture_id is not None and last.picture_id is not None:
            bits = 1 << new.picture_id_bits
            sent = (last.picture_id + pid_before) % (1 << last.picture_id_bits)
            self._pid_off = (sent + 1 - new.picture_id) % bits
        if new.tl0picidx is not None and last.tl0picidx is not None:
            sent = (last.tl0picidx + tl0_before) % 256
            self._tl0_off = (sent + 1 - new.tl0picidx) % 256

    def _vp8_head(self, data: bytes, start: int) -> tuple[bytes, int]:
        """The packet's VP8 descriptor with the offsets applied, and where the rest begins."""
        descriptor = vp8.vp8_descriptor(data[start : start + 8])
        if descriptor is None:
            return b"", start
        end = start + descriptor.size
        picture_id = None
        if descriptor.picture_id is not None:
            picture_id = (descriptor.picture_id + self._pid_off) % (1 << descriptor.picture_id_bits)
        tl0 = None
        if descriptor.tl0picidx is not None:
            tl0 = (descriptor.tl0picidx + self._tl0_off) % 256
        return vp8.vp8_rewrite(data[start:end], picture_id, tl0), end

    # --- feedback from the subscriber -------------------------------------------------------

    def on_nack(self, lost: list[int]) -> None:
        """Send again what the subscriber reports lost, if it is still in the history and
        from the current segment."""
        forwarder, transport, binding = self.current, self._transport, self._binding
        self._stats.nacked += len(lost)
        if forwarder is None or transport is None or binding is None or self._resync:
            return
        for out_seq in lost:
            if (out_seq - self._first_out) & 0x8000 or not (out_seq - self._next_seq) & 0x8000:
                continue  # before this segment, or never sent
            data = forwarder.packet((out_seq - self._seq_off) & 0xFFFF)
            if data is None:
                continue
            start = rtp.header_size(data)
            head = b""
            if self._vp8 and (self._pid_off or self._tl0_off):
                head, start = self._vp8_head(data, start)
            out_ts = (
                (data[4] << 24 | data[5] << 16 | data[6] << 8 | data[7]) + self._ts_off
            ) & 0xFFFFFFFF
            ext = self._ext.block(rtp.abs_send_time())
            marker = data[1] & 0x80
            out = transport.egress()
            if out is None:
                return
            if binding.rtx_ssrc is not None and binding.rtx_payload_type is not None:
                self._rtx_seq = (self._rtx_seq + 1) & 0xFFFF
                sent = out.rtp(
                    0x80 | self._x | (data[0] & 0x20),
                    marker | binding.rtx_payload_type,
                    self._rtx_seq,
                    out_ts,
                    binding.rtx_ssrc,
                    ext,
                    SEQ_PACK(out_seq) + head,
                    data,
                    start,
                )
            else:
                sent = out.rtp(
                    0x80 | self._x | (data[0] & 0x20),
                    marker | self._pt,
                    out_seq,
                    out_ts,
                    self._ssrc,
                    ext,
                    head,
                    data,
                    start,
                )
            if not sent:
                self._send_failed()
            self.retransmitted += 1
            self._stats.retransmitted += 1

    def on_keyframe_request(self) -> None:
        stream = self.pending or self.current
        if stream is not None:
            stream.want_keyframe()

    def on_bitrate(self, bitrate: int) -> None:
        self.estimate = (bitrate, time.monotonic())

    # --- reports ----------------------------------------------------------------------------

    def sender_report(self) -> bytes | None:
        """An SR (and SDES with the CNAME) for this stream, once it has sent anything."""
        binding = self._binding
        if binding is None or not self._sent_any:
            return None
        now = time.monotonic()
        timestamp: int | None = None
        forwarder = self.current
        if forwarder is not None and not self._resync:
            source_ts = forwarder.timestamp_at(now)
            if source_ts is not None:
                timestamp = (source_ts + self._ts_off) & 0xFFFFFFFF
        if timestamp is None:
            timestamp = (self._last_ts + int((now - self._last_at) * self._clock_rate)) & (
                0xFFFFFFFF
            )
        report = RtcpSrPacket(
            ssrc=binding.ssrc,
            sender_info=RtcpSenderInfo(
                ntp_timestamp=current_ntp_time(),
                rtp_timestamp=timestamp,
                packet_count=self._packets & 0xFFFFFFFF,
                octet_count=self._octets & 0xFFFFFFFF,
            ),
        )
        data = bytes(report)
        if binding.cname:
            data += bytes(
                RtcpSdesPacket(
                    chunks=[RtcpSourceInfo(ssrc=binding.ssrc, items=[(1, binding.cname.encode())])]
                )
            )
        return data

    def stop(self) -> None:
        self.attach(None)
        super().stop()
        stopped = self._stopped
        if stopped is not None and not stopped.done():
            stopped.set_result(None)
