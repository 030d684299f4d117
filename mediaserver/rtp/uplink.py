"""A participant's publisher connection at the RTP level: which forwarder each arriving packet
belongs to, and the RTCP the SFU owes the publisher (NACKs, receiver reports).

Packets are routed by SSRC. An SSRC not seen before is learned from the packet's MID header
extension (browsers send it until the SFU has answered), else from its payload type when only
one published track could carry it; a retransmission SSRC (RFC 4588) is recognised by its RTX
payload type and unwrapped before its forwarder sees it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiortc.rtp import (
    RTCP_RTPFB_NACK,
    RtcpPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSrPacket,
)

from mediaserver.rtp import packet as rtp
from mediaserver.rtp.forwarder import RtpForwarder
from mediaserver.rtp.transport import RtpTransport

log = structlog.get_logger(__name__)

MAX_SSRCS = 32  # per connection: more is garbage, or an attack on the table


@dataclass(eq=False)
class UplinkStream:
    """One published m-line: its forwarder (or, for simulcast, one per rid) and the payload
    types its SDP negotiated."""

    mid: str
    forwarder: RtpForwarder | None
    payload_types: frozenset[int]
    rtx: dict[int, int] = field(default_factory=dict)  # RTX payload type -> media payload type
    layers: dict[str, RtpForwarder] = field(default_factory=dict)  # simulcast, by rid
    rid_id: int = 0  # header extension ids of the rid and the repaired (RTX) rid
    repaired_rid_id: int = 0

    def forwarders(self) -> list[RtpForwarder]:
        return list(self.layers.values()) if self.layers else [f for f in [self.forwarder] if f]

    def target(self, data: bytes, rtx: bool) -> RtpForwarder | None:
        """The forwarder a packet of a new SSRC belongs to (simulcast: by its rid)."""
        if not self.layers:
            return self.forwarder
        rid = rtp.extension(data, self.repaired_rid_id if rtx else self.rid_id)
        return self.layers.get(rid.decode("ascii", "replace")) if rid else None


class Uplink:
    def __init__(self, log_context: dict[str, str]) -> None:
        self.transport: RtpTransport | None = None
        self.rtcp_ssrc = 0  # our SSRC in RTCP to the publisher
        self.mid_id = 0
        self.invalid = 0
        self.unroutable = 0
        self._streams: dict[str, UplinkStream] = {}
        self._routes: dict[int, Callable[[bytes], None]] = {}
        self._route_streams: dict[int, UplinkStream] = {}
        self._media: dict[int, RtpForwarder] = {}  # media SSRC -> its forwarder
        self._log_context = log_context
        self._log = log.bind(**log_context)

    def connect(self, dtls: Any, mid_id: int, rtcp_ssrc: int) -> None:
        self.mid_id = mid_id
        self.rtcp_ssrc = rtcp_ssrc
        self.transport = RtpTransport.attach(
            dtls, self._on_rtp, self._on_rtcp, self._log_context, routes=self._routes
        )

    def add(self, stream: UplinkStream, ssrc: int | None = None) -> None:
        self._streams[stream.mid] = stream
        if ssrc is not None and stream.forwarder is not None:
            self._route(ssrc, stream, stream.forwarder, rtx_pt=None)

    def remove(self, mid: str) -> None:
        stream = self._streams.pop(mid, None)
        if stream is None:
            return
        for ssrc, owner in list(self._route_streams.items()):
            if owner is stream:
                del self._route_streams[ssrc]
                self._routes.pop(ssrc, None)
                self._media.pop(ssrc, None)

    # --- per packet -------------------------------------------------------------------------

    def _on_rtp(self, data: bytes) -> None:
        if not rtp.valid(data):
            self.invalid += 1
            return
        ssrc = (data[8] << 24) | (data[9] << 16) | (data[10] << 8) | data[11]
        route = self._routes.get(ssrc)
        if route is None:
            route = self._learn(data, ssrc)
            if route is None:
                self.unroutable += 1
                return
        route(data)

    def _learn(self, data: bytes, ssrc: int) -> Callable[[bytes], None] | None:
        if len(self._routes) >= MAX_SSRCS:
            return None
        pt = data[1] & 0x7F
        stream: UplinkStream | None = None
        mid = rtp.extension(data, self.mid_id)
        if mid is not None:
            stream = self._streams.get(mid.decode("ascii", "replace"))
        if stream is None:
            candidates = [s for s in self._streams.values() if pt in s.payload_types or pt in s.rtx]
            if len(candidates) == 1:
                stream = candidates[0]
        if stream is None or (pt not in stream.payload_types and pt not in stream.rtx):
            return None
        rtx_pt = pt if pt in stream.rtx else None
        forwarder = stream.target(data, rtx=rtx_pt is not None)
        if forwarder is None:
            return None  # a simulcast packet without its rid: the next one may carry it
        return self._route(ssrc, stream, forwarder, rtx_pt)

    def _route(
        self, ssrc: int, stream: UplinkStream, forwarder: RtpForwarder, rtx_pt: int | None
    ) -> Callable[[bytes], None]:
        route: Callable[[bytes], None]
        if rtx_pt is not None:
            media_pt = stream.rtx[rtx_pt]

            def route(data: bytes) -> None:
                forwarder.on_rtx(data, media_pt)

        else:
            if forwarder.ssrc is not None and forwarder.ssrc != ssrc:
                forwarder.new_source(ssrc)
            forwarder.ssrc = ssrc
            self._media[ssrc] = forwarder
            route = forwarder.receive
        self._routes[ssrc] = route
        self._route_streams[ssrc] = stream
        return route

    # --- RTCP from the publisher ------------------------------------------------------------

    def _on_rtcp(self, data: bytes) -> None:
        try:
            packets = RtcpPacket.parse(data)
        except ValueError:
            self.invalid += 1
            return
        for report in packets:
            if isinstance(report, RtcpSrPacket):
                forwarder = self._media.get(report.ssrc)
                if forwarder is not None and forwarder.ssrc == report.ssrc:
                    forwarder.on_sender_report(
                        report.sender_info.rtp_timestamp, report.sender_info.ntp_timestamp
                    )

    # --- RTCP to the publisher --------------------------------------------------------------

    def send_nack(self, media_ssrc: int, lost: list[int]) -> None:
        if self.transport is None:
            return
        nack = RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=self.rtcp_ssrc, media_ssrc=media_ssrc)
        nack.lost = lost
        self.transport.send_rtcp(bytes(nack))

    def send_reports(self) -> None:
        """A receiver report on every stream received so far."""
        if self.transport is None:
            return
        blocks = []
        for forwarder in (f for s in self._streams.values() for f in s.forwarders()):
            block = forwarder.report_block()
            if block is not None:
                ssrc, fraction, lost, highest, lsr, dlsr = block
                blocks.append(
                    RtcpReceiverInfo(
                        ssrc=ssrc,
                        fraction_lost=fraction,
                        packets_lost=lost,
                        highest_sequence=highest,
                        jitter=0,
                        lsr=lsr,
                        dlsr=dlsr,
                    )
                )
        if blocks:
            self.transport.send_rtcp(bytes(RtcpRrPacket(ssrc=self.rtcp_ssrc, reports=blocks[:31])))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.detach()
            self.transport = None
        self._routes.clear()
        self._route_streams.clear()
        self._media.clear()
        self._streams.clear()
