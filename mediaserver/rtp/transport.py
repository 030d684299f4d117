"""The media packets of one peer connection, below aiortc's receivers and senders.

aiortc keeps ICE (aioice), DTLS and SDP. Every datagram aioice receives on the selected pair
reaches `Connection.data_received`, which queues it for the DTLS transport's read loop; from
there aiortc unprotects SRTP, parses each packet into objects and hands it to a receiver
(jitter buffer, decoder thread). `RtpTransport` takes the SRTP and SRTCP datagrams before the
queue: it unprotects them with the DTLS transport's own SRTP session and hands the plain bytes
to the SFU's handlers, synchronously, in the datagram callback. DTLS and anything else still
take aiortc's way. Outgoing packets are protected with the DTLS transport's sending session and
written to the selected candidate pair's socket directly, without aioice's or aiortc's
per-packet layers. The SRTP and socket work per packet is `mediaserver.rtp.wire`'s (in C where
it was built).

This module and `mediaserver.feedback` are the only ones that touch aiortc internals (read
on aiortc 1.14-1.16 and aioice 0.10; pyproject pins aiortc <1.17).
"""

from __future__ import annotations

import threading
import types
from collections.abc import Callable
from typing import Any

import structlog
from aioice.ice import StunProtocol

from mediaserver.metrics import current_stats
from mediaserver.rtp import wire

log = structlog.get_logger(__name__)

PacketHandler = Callable[[bytes], None]

_install_lock = threading.Lock()
_original_datagram_received: Callable[[StunProtocol, bytes, Any], None] | None = None


def _datagram_received(protocol: StunProtocol, data: bytes, addr: Any) -> None:
    """aioice's datagram callback, for every socket of the process. A datagram whose first
    byte marks RTP/RTCP (128-191) on a connection with an `RtpTransport` goes straight to it:
    aioice would first try to parse it as STUN (and fail with an exception) on every packet."""
    if data and 127 < data[0] < 192:
        fast = protocol.receiver.__dict__.get("_lippejob_rtp")
        if fast is not None:
            fast(data, protocol.local_candidate.component)
            return
    assert _original_datagram_received is not None
    _original_datagram_received(protocol, data, addr)


def install() -> None:
    """Put the fast dispatch in place (once per process; inert for other connections)."""
    global _original_datagram_received
    with _install_lock:
        if _original_datagram_received is None:
            _original_datagram_received = StunProtocol.datagram_received
            StunProtocol.datagram_received = _datagram_received


class RtpTransport:
    """SRTP in and out of one peer connection's (bundled) DTLS transport."""

    __slots__ = (
        "_connection",
        "_demuxes",
        "_detached",
        "_dtls",
        "_failures",
        "_in",
        "_in_session",
        "_log",
        "_out",
        "_out_session",
        "_pair",
        "_queue_datagram",
        "_routes",
        "_rtcp_received",
        "_rtp_received",
        "on_rtcp",
        "on_rtp",
        "send_errors",
        "stats",
    )

    def __init__(
        self,
        dtls: Any,
        on_rtp: PacketHandler,
        on_rtcp: PacketHandler,
        log_context: dict[str, str] | None = None,
        routes: dict[int, PacketHandler] | None = None,
    ) -> None:
        self._dtls = dtls
        self._connection = dtls.transport._connection  # the aioice Connection
        self.on_rtp = on_rtp
        self.on_rtcp = on_rtcp
        self._rtp_received = 0
        self._rtcp_received = 0
        self._failures = 0  # SRTP authentication failures and handler errors (this side)
        self.send_errors = 0
        self.stats = current_stats()  # the worker's: packets that could not be sent count there
        # The wire for the current receiving session, and for the sending session and pair.
        self._in: wire.Ingress | None = None
        self._in_session: Any = None
        self._out: wire.Egress | None = None
        self._out_session: Any = None
        self._pair: Any = None
        self._detached = False
        self._log = log.bind(**(log_context or {}))
        self._queue_datagram = self._connection.data_received  # aioice's own: to the DTLS loop
        self._connection.data_received = self._datagram
        install()
        self._connection._lippejob_rtp = self._datagram
        # SRTP that arrived before the keys existed waits in aiortc's queue and is unprotected
        # by aiortc's read loop once the handshake is done: hand that to the SFU too, so that
        # no packet ever reaches aiortc's receivers (their estimators and decoders).
        dtls._handle_rtp_data = self._queued_rtp
        dtls._handle_rtcp_data = self._queued_rtcp
        self._routes: dict[int, PacketHandler] = routes if routes is not None else {}
        self._demuxes: list[tuple[Any, Any]] = []  # installed with the first SRTP keys

    @classmethod
    def attach(
        cls,
        dtls: Any,
        on_rtp: PacketHandler,
        on_rtcp: PacketHandler,
        log_context: dict[str, str] | None = None,
        routes: dict[int, PacketHandler] | None = None,
    ) -> RtpTransport:
        """The transport of `dtls`, created on first use (one per DTLS transport). `routes`
        (SSRC -> handler) lets the C path hand a known stream's packets to its handler
        directly; `on_rtp` gets the others."""
        existing = getattr(dtls, "_lippejob_rtp", None)
        if isinstance(existing, RtpTransport):
            existing.on_rtp = on_rtp
            existing.on_rtcp = on_rtcp
            existing._routes = routes if routes is not None else {}
            if existing._in is not None:
                existing._install_demuxes()
            return existing
        transport = cls(dtls, on_rtp, on_rtcp, log_context, routes)
        dtls._lippejob_rtp = transport
        return transport

    def _install_demuxes(self) -> None:
        """Where the C module is used: a `wire.Demux` as each socket's datagram handler, so
        that SRTP reaches the streams without a Python frame (a TURN relay's datagrams keep
        aioice's way and `_datagram`)."""
        self._remove_demuxes()
        if not wire.compiled() or _original_datagram_received is None:
            return
        for protocol in list(self._connection._protocols):
            if getattr(protocol, "local_candidate", None) is None:
                continue
            if protocol.local_candidate.type == "relay":
                continue
            demux = wire.demux(
                self._routes,
                self.on_rtp,
                self.on_rtcp,
                types.MethodType(_original_datagram_received, protocol),
                self._handler_failed,
            )
            if demux is None:
                return
            if self._in is not None:
                demux.ingress = self._in
            protocol.datagram_received = demux
            self._demuxes.append((protocol, demux))

    def _remove_demuxes(self) -> None:
        for protocol, demux in self._demuxes:
            if protocol.__dict__.get("datagram_received") is demux:
                del protocol.datagram_received
            self._rtp_received += demux.rtp_received  # the counters go on here
            self._rtcp_received += demux.rtcp_received
            self._failures += demux.failures
        self._demuxes = []

    def _handler_failed(self, error: BaseException) -> None:
        self._log.error("rtp_handler_failed", exc_info=error)

    @property
    def rtp_received(self) -> int:
        return self._rtp_received + sum(int(d.rtp_received) for _, d in self._demuxes)

    @property
    def rtcp_received(self) -> int:
        return self._rtcp_received + sum(int(d.rtcp_received) for _, d in self._demuxes)

    @property
    def failures(self) -> int:
        return self._failures + sum(int(d.failures) for _, d in self._demuxes)

    # --- receiving: called by aioice for every datagram of the selected pair --------------

    def _datagram(self, data: bytes, component: int) -> None:
        first = data[0] if data else 0
        srtp = self._dtls._rx_srtp
        if 127 < first < 192 and srtp is not None and len(data) > 11:
            ingress = self._in
            if srtp is not self._in_session or ingress is None:
                ingress = self._in = wire.ingress(srtp)
                self._in_session = srtp
                self._install_demuxes()  # from now on SRTP stays in C (the sockets exist now)
            try:
                if 191 < data[1] < 224:  # RTCP packet types 192-223 (RFC 5761 4)
                    plain = ingress.rtcp(data)
                    if plain is None:
                        self._failures += 1  # forged, replayed or garbage: dropped
                        return
                    self._rtcp_received += 1
                    self.on_rtcp(plain)
                else:
                    plain = ingress.rtp(data)
                    if plain is None:
                        self._failures += 1
                        return
                    self._rtp_received += 1
                    self.on_rtp(plain)
            except Exception:
                self._failures += 1
                if self._failures < 5:
                    self._log.exception("rtp_handler_failed")
            return
        if 19 < first < 64 or 127 < first < 192:
            self._queue_datagram(data, component)  # DTLS, or SRTP before the keys exist
        else:
            # Nothing aiortc reads: an empty datagram would end its DTLS read loop (and with
            # it the connection) with an IndexError.
            self._failures += 1

    async def _queued_rtp(self, data: bytes, arrival_time_ms: int = 0) -> None:
        self._rtp_received += 1
        try:
            self.on_rtp(data)
        except Exception:
            self._failures += 1
            self._log.exception("rtp_handler_failed")

    async def _queued_rtcp(self, data: bytes) -> None:
        self._rtcp_received += 1
        try:
            self.on_rtcp(data)
        except Exception:
            self._failures += 1
            self._log.exception("rtcp_handler_failed")

    # --- sending ----------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self._dtls._tx_srtp is not None and bool(self._connection._nominated)

    def egress(self) -> wire.Egress | None:
        """The way out for the current sending session and selected pair (None before both
        exist); made again only when aioice selects another pair."""
        pair = self._connection._nominated.get(1)
        srtp = self._dtls._tx_srtp
        if pair is self._pair and srtp is self._out_session:
            return self._out
        return self._new_egress(pair, srtp)

    def _new_egress(self, pair: Any, srtp: Any) -> wire.Egress | None:
        if self._detached:
            return None
        if self._out is not None:
            self._out.close()
        self._out = None
        self._pair, self._out_session = pair, srtp
        if pair is None or srtp is None:
            return None
        transport = pair.protocol.transport
        host, port = pair.remote_addr[:2]
        out: wire.Egress
        try:
            if pair.local_candidate.type == "relay":
                raise ValueError("through the TURN server")  # aioice wraps each datagram
            sock = transport.get_extra_info("socket")
            out = wire.egress(srtp, sock.fileno(), host, port)
        except (OSError, ValueError, AttributeError):
            out = wire.PyEgress.through(srtp, transport, (host, port))
        self._out = out
        return out

    def send_rtcp(self, packet: bytes) -> None:
        out = self.egress()
        if out is not None and not out.rtcp(packet):
            self.send_errors += 1

    def detach(self) -> None:
        """Give the datagrams back to aiortc (the connection is closing), and let go of the
        socket."""
        self._remove_demuxes()
        self._detached = True
        if self._out is not None:
            self._out.close()
            self._out = None
        self._pair = self._out_session = None
        if self._connection.data_received == self._datagram:
            self._connection.data_received = self._queue_datagram
        self._connection.__dict__.pop("_lippejob_rtp", None)
        self._dtls.__dict__.pop("_handle_rtp_data", None)
        self._dtls.__dict__.pop("_handle_rtcp_data", None)
        if getattr(self._dtls, "_lippejob_rtp", None) is self:
            self._dtls._lippejob_rtp = None
