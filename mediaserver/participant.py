"""One participant's media: a publisher and a subscriber peer connection, what it publishes
(one `RtpForwarder` per track, or a `SimulcastSource` of them) and what it receives (reusable
`DownTrack` slots). Media packets pass below aiortc (`mediaserver.rtp`): aiortc negotiates and
connects, the SFU forwards."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.exceptions import InvalidStateError
from aiortc.rtcrtpparameters import RTCRtpCodecCapability
from aiortc.sdp import candidate_from_sdp

from core.contracts import media as protocol
from core.contracts.errors import ErrorCode
from mediaserver import feedback, network, sdp_info
from mediaserver.config import MediaConfig
from mediaserver.estimator import Estimate, uplink_estimate
from mediaserver.metrics import current_stats
from mediaserver.rtp import packet as rtp_packet
from mediaserver.rtp.downlink import Downlink
from mediaserver.rtp.downtrack import Binding, DownTrack
from mediaserver.rtp.forwarder import RtpForwarder
from mediaserver.rtp.simulcast import SimulcastSource
from mediaserver.rtp.uplink import Uplink, UplinkStream

log = structlog.get_logger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]
TrackKey = tuple[str, str]  # (publisher participant id, source)


def codec_key(codec: Any) -> tuple[str, int, int | None, tuple[tuple[str, str], ...]]:
    """What must match for a subscriber m-line to carry a publisher's packets."""
    params = tuple(sorted((str(k), str(v)) for k, v in codec.parameters.items()))
    return (codec.mimeType.lower(), codec.clockRate, codec.channels, params)


@dataclass(eq=False)
class Publication:
    """A track the participant sends, fanned out by its forwarder."""

    participant: str
    mid: str
    source: str
    kind: str
    codec: Any
    transceiver: Any
    ssrc: int | None
    forwarder: RtpForwarder | SimulcastSource
    uplink: Estimate | None = None
    simulcast: sdp_info.Simulcast | None = None

    @property
    def key(self) -> TrackKey:
        return (self.participant, self.source)

    def media_ssrc(self) -> int | None:
        """The publisher's SSRC: from its SDP, else from the first packets seen."""
        if self.ssrc is None:
            self.ssrc = self.forwarder.ssrc
        return self.ssrc


@dataclass(eq=False)
class Slot:
    """One m-line of the subscriber connection; reused for the next track of its codec."""

    transceiver: Any
    track: DownTrack
    codec: tuple[str, int, int | None, tuple[tuple[str, str], ...]]
    carries: TrackKey | None = None
    source: str = ""
    offered: TrackKey | None = None  # what the last offer said this m-line carries


@dataclass
class _SubState:
    pc: RTCPeerConnection | None = None
    offered: bool = False  # an offer waits for its answer
    dirty: bool = False  # changes arrived while it waited
    slots: list[Slot] = field(default_factory=list)
    offer: dict[str, Any] | None = None  # the offer message that waits for its answer
    offered_at: float = 0.0  # monotonic time the offer was (last) sent
    seq: int = 0  # the number of the latest offer (1, 2, ...); answers repeat it


class Participant:
    def __init__(
        self,
        room: str,
        join: protocol.Join,
        config: MediaConfig,
        plan: network.HostPlan,
        send: Send,
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        self.id = join.participant
        self.conn = join.conn
        self.role = join.role
        self.publish = join.publish
        self.subscribe = join.subscribe
        self.publications: dict[str, Publication] = {}  # by mid of the publisher connection
        self._room = room
        self._config = config
        self._plan = plan
        self._send = send
        self._on_lost = on_lost  # a peer connection failed or closed while not closing
        self._lost = False
        self._pub: RTCPeerConnection | None = None
        self._sub = _SubState()
        self._closed = False
        self._view: dict[str, int] = {}  # participant -> device pixels (`set_view`)
        self._stats = current_stats()  # the worker's counters (see mediaserver.metrics)
        self.log = log.bind(appointment=room, participant=self.id, role=join.role)
        context = {"appointment": room, "participant": self.id}
        self._uplink = Uplink({**context, "pc": "pub"})
        self._downlink = Downlink({**context, "pc": "sub"})

    # --- publisher connection -------------------------------------------------------------

    async def on_pub_offer(self, desc: protocol.Offer) -> bool:
        """Answer the client's publisher offer; True when the published tracks changed. An
        offer with too many sending m-lines (or two for one source) is refused unread."""
        offered_tracks = sdp_info.offered_tracks(desc.sdp, desc.sources)
        sending = [t.source for t in offered_tracks if t.sending]
        if len(sending) > self._config.max_published_tracks or len(sending) != len(set(sending)):
            self.log.warning("publish_too_many_tracks", sources=sending)
            await self._send(
                protocol.error_message(
                    ErrorCode.TOO_MANY_TRACKS,
                    f"at most {self._config.max_published_tracks} sending tracks, one per source",
                )
            )
            return False
        if self._pub is None:
            self._pub = self._new_pc("pub")
        pc = self._pub
        await pc.setRemoteDescription(RTCSessionDescription(sdp=desc.sdp, type="offer"))
        for transceiver in pc.getTransceivers():
            transceiver.receiver.receive = _not_started
        self._connect_uplink(pc)
        changed = False
        refused: list[str] = []
        transceivers = {t.mid: t for t in pc.getTransceivers()}
        for offered in offered_tracks:
            transceiver = transceivers.get(offered.mid)
            if transceiver is None:
                continue
            allowed = offered.source in self.publish
            transceiver.direction = "recvonly" if allowed else "inactive"
            if offered.sending and not allowed:
                refused.append(offered.source)
            current = self.publications.get(offered.mid)
            keep = offered.sending and allowed
            if current is not None and (not keep or current.source != offered.source):
                await self._unpublish(offered.mid)
                changed = True
            if keep and offered.mid not in self.publications:
                self._publish(offered, transceiver)
                changed = True
        network.prepare(pc, self._plan)
        await pc.setLocalDescription(await pc.createAnswer())
        answer = network.announce(pc.localDescription.sdp, self._plan)
        # aiortc knows no simulcast: the SFU answers the layers it takes itself.
        layers = {
            p.mid: p.simulcast
            for p in self.publications.values()
            if isinstance(p.forwarder, SimulcastSource) and p.simulcast is not None
        }
        answer = sdp_info.answer_simulcast(answer, layers)
        await self._send(protocol.answer_message(answer))
        for source in sorted(set(refused)):
            self.log.warning("publish_refused", source=source)
            await self._send(
                protocol.error_message(
                    ErrorCode.PUBLISH_NOT_ALLOWED, f"this participant may not publish {source}"
                )
            )
        return changed

    def _connect_uplink(self, pc: RTCPeerConnection) -> None:
        """Take the publisher connection's media packets below aiortc (RTP path)."""
        transceivers = pc.getTransceivers()
        if not transceivers or self._uplink.transport is not None:
            return
        first = transceivers[0]
        self._uplink.connect(
            first.receiver.transport,
            mid_id=_extension_id(first, rtp_packet.URI_MID),
            rtcp_ssrc=feedback.sender_ssrc(first),
        )

    def _publish(self, offered: sdp_info.OfferedTrack, transceiver: Any) -> None:
        codec = feedback.negotiated_codec(transceiver)
        receiver = transceiver.receiver
        publication: Publication

        async def request_keyframe() -> None:
            ssrc = publication.media_ssrc()
            if ssrc is not None:
                self._stats.keyframe_requests += 1
                await feedback.send_pli(receiver, ssrc)

        log_context = {"appointment": self._room, "participant": self.id, "source": offered.source}
        uplink: Estimate | None = None
        forwarder: RtpForwarder | SimulcastSource
        if codec is None:
            self.log.warning("publish_without_codec", source=offered.source, mid=offered.mid)
            return
        # The SFU's own estimate of the publisher's uplink, fed by the RTP path (aiortc's
        # receiver sees no packets there), once per frame. Not for a simulcast camera: its
        # layers are chosen per subscriber and the publisher's own congestion control guards
        # its uplink (see Room._bandwidth_loop), so the estimate would go unused.
        if offered.kind == "video" and offered.simulcast is None:
            uplink = uplink_estimate()

        def stream(keyframe: Callable[[], Awaitable[None]]) -> RtpForwarder:
            return RtpForwarder(
                kind=offered.kind,
                mime_type=codec.mimeType,
                clock_rate=codec.clockRate,
                send_keyframe_request=keyframe,
                send_nack=self._uplink.send_nack,
                min_keyframe_interval=self._config.keyframe_min_interval,
                keyframe_retry=self._config.keyframe_retry,
                log_context=log_context,
                stats=self._stats,
                uplink=uplink,
                ast_id=_extension_id(transceiver, rtp_packet.URI_ABS_SEND_TIME),
            )

        media_pts, rtx = _payload_types(transceiver)
        simulcast = offered.simulcast if offered.kind == "video" else None
        if simulcast is not None:

            def layer() -> RtpForwarder:
                created: RtpForwarder

                async def keyframe() -> None:  # a PLI for this layer's own SSRC
                    if created.ssrc is not None:
                        self._stats.keyframe_requests += 1
                        await feedback.send_pli(receiver, created.ssrc)

                created = stream(keyframe)
                return created

            layers = {rid: layer() for rid in simulcast.rids}
            forwarder = SimulcastSource(layers, codec.clockRate)
            self._uplink.add(
                UplinkStream(
                    offered.mid,
                    None,
                    frozenset(media_pts),
                    rtx,
                    layers=layers,
                    rid_id=simulcast.rid_id,
                    repaired_rid_id=simulcast.repaired_rid_id,
                )
            )
        else:
            forwarder = stream(request_keyframe)
            self._uplink.add(
                UplinkStream(offered.mid, forwarder, frozenset(media_pts), rtx),
                ssrc=offered.ssrc,
            )
        publication = Publication(
            participant=self.id,
            mid=offered.mid,
            source=offered.source,
            kind=offered.kind,
            codec=codec,
            transceiver=transceiver,
            ssrc=offered.ssrc,
            forwarder=forwarder,
            uplink=uplink,
            simulcast=offered.simulcast if isinstance(forwarder, SimulcastSource) else None,
        )
        self.publications[offered.mid] = publication
        self.log.info(
            "track_published",
            source=offered.source,
            mid=offered.mid,
            codec=codec.mimeType if codec else None,
        )

    async def _unpublish(self, mid: str) -> None:
        publication = self.publications.pop(mid)
        self._uplink.remove(mid)
        await publication.forwarder.close()
        self.log.info("track_unpublished", source=publication.source, mid=mid)

    def set_muted(self, source: str, muted: bool) -> None:
        for publication in self.publications.values():
            if publication.source == source:
                publication.forwarder.set_muted(muted)

    async def send_remb(self, bitrate: int, publication: Publication) -> None:
        if isinstance(publication.forwarder, SimulcastSource):
            ssrcs = [layer.ssrc for layer in publication.forwarder.layers.values() if layer.ssrc]
        else:
            ssrc = publication.media_ssrc()
            ssrcs = [ssrc] if ssrc is not None else []
        if not ssrcs:
            return
        with contextlib.suppress(ConnectionError):
            await feedback.send_remb(
                publication.transceiver.receiver,
                feedback.sender_ssrc(publication.transceiver),
                bitrate,
                ssrcs,
            )

    # --- subscriber connection ------------------------------------------------------------

    def sync_subscriptions(self, wanted: dict[TrackKey, Publication]) -> bool:
        """Point this participant's slots at `wanted`; True when a re-offer is needed."""
        if not self.subscribe or self._closed:
            return False
        changed = False
        for slot in self._sub.slots:
            if slot.carries is not None and (
                slot.carries not in wanted
                or wanted[slot.carries].forwarder is not slot.track.forwarder
            ):
                slot.track.attach(None)
                slot.carries = None
                slot.transceiver.direction = "inactive"
                changed = True
        carried = {s.carries for s in self._sub.slots}
        for key, publication in wanted.items():
            if key in carried or publication.codec is None:
                continue
            slot = self._free_slot(publication)
            slot.carries = key
            slot.source = publication.source
            slot.transceiver.direction = "sendonly"
            slot.track.view_height = self._view_height(key)
            slot.track.attach(publication.forwarder)
            changed = True
        return changed

    def set_view(self, heights: dict[str, int]) -> None:
        """How tall this participant's page shows the others' cameras, in device pixels (its
        `view` message): a simulcast camera is sent no larger than fills the tile."""
        self._view = heights
        for slot in self._sub.slots:
            carries = slot.carries
            slot.track.view_height = None if carries is None else self._view_height(carries)

    def _view_height(self, key: TrackKey) -> int | None:
        participant, source = key
        return self._view.get(participant) if source == "video" else None

    def _free_slot(self, publication: Publication) -> Slot:
        key = codec_key(publication.codec)
        for slot in self._sub.slots:
            if slot.carries is None and slot.codec == key and slot.track.kind == publication.kind:
                return slot
        if self._sub.pc is None:
            self._sub.pc = self._new_pc("sub")
        track = DownTrack(publication.kind, self._stats)
        transceiver = self._sub.pc.addTransceiver(track, direction="sendonly")
        transceiver.setCodecPreferences(_capabilities(publication.codec))
        transceiver.sender.send = _not_started
        slot = Slot(transceiver=transceiver, track=track, codec=key)
        self._sub.slots.append(slot)
        return slot

    async def negotiate(self) -> None:
        """Offer the subscriber connection, unless an offer is still unanswered."""
        sub = self._sub
        if sub.pc is None or self._closed:
            return
        if sub.offered:
            sub.dirty = True
            return
        sub.dirty = False
        pc = sub.pc
        if pc.signalingState == "closed":
            return  # the connection failed or closed before the participant left: no offer
        network.prepare(pc, self._plan)
        try:
            await pc.setLocalDescription(await pc.createOffer())
        except InvalidStateError:
            if pc.signalingState == "closed" or self._closed:
                return  # it closed while the offer was being made (a leave that raced it)
            raise
        sub.offered = True
        for slot in sub.slots:
            slot.offered = slot.carries
        tracks = {
            slot.transceiver.mid: {"participant": slot.carries[0], "source": slot.source}
            for slot in sub.slots
            if slot.carries is not None and slot.transceiver.mid is not None
        }
        sdp = network.announce(sub.pc.localDescription.sdp, self._plan)
        sub.seq += 1
        sub.offer = protocol.offer_message(sdp, tracks, sub.seq)
        sub.offered_at = time.monotonic()
        await self._send(sub.offer)

    def offer_overdue(self, now: float) -> bool:
        sub = self._sub
        return sub.offered and now - sub.offered_at > self._config.offer_timeout

    async def resend_overdue_offer(self, now: float) -> None:
        """Send an offer unanswered for `offer_timeout` again: it, or its answer, was lost
        (a client that already answered answers the same offer again)."""
        sub = self._sub
        if self._closed or sub.pc is None or sub.offer is None or not self.offer_overdue(now):
            return
        if sub.pc.signalingState != "have-local-offer":
            return
        sub.offered_at = now
        self.log.warning("sub_offer_resent")
        await self._send(sub.offer)

    async def on_sub_answer(self, desc: protocol.Answer) -> None:
        sub = self._sub
        if sub.pc is None or (not sub.offered and desc.seq is None):
            raise protocol.ProtocolError("no subscriber offer waits for an answer")
        if desc.seq is not None and (desc.seq != sub.seq or not sub.offered):
            # The answer to an offer that was resent (the client answered both) or replaced
            # since: the current offer's own answer is still to come, or came already.
            self.log.info("sub_answer_stale", seq=desc.seq, current=sub.seq)
            return
        try:
            await sub.pc.setRemoteDescription(RTCSessionDescription(sdp=desc.sdp, type="answer"))
        except Exception as exc:
            await self._answer_failed(exc)
            return
        sub.offered = False
        sub.offer = None
        self._bind_downlink(sub.pc)
        for slot in sub.slots:
            # The subscriber now knows whose media each m-line carries and sends on it.
            if slot.carries is not None and slot.offered == slot.carries and slot.track.held:
                slot.track.release()
        if sub.dirty:
            await self.negotiate()

    def _bind_downlink(self, pc: RTCPeerConnection) -> None:
        """Send each negotiated m-line's media as the subscriber's answer said (RTP path)."""
        slots = [s for s in self._sub.slots if s.transceiver.mid is not None]
        if not slots:
            return
        if self._downlink.transport is None:
            self._downlink.connect(slots[0].transceiver.sender.transport)
        cname = getattr(pc, "_RTCPeerConnection__cname", None)
        for slot in slots:
            binding = _binding(slot.transceiver, cname)
            if binding is not None:
                self._downlink.bind(slot.track, binding)

    def send_reports(self) -> None:
        """RTCP the SFU owes both connections (RTP path): receiver reports to the publisher,
        sender reports to the subscriber."""
        if not self._closed:
            self._uplink.send_reports()
            self._downlink.send_reports()

    async def _answer_failed(self, exc: Exception) -> None:
        """Tell the client its answer was refused and offer again, so that the subscriber
        connection does not wait for an answer forever."""
        sub = self._sub
        self.log.warning("sub_answer_failed", error=str(exc))
        await self._send(
            protocol.error_message(
                ErrorCode.BAD_ANSWER, f"the subscriber answer was refused: {exc}"
            )
        )
        if sub.pc is not None and sub.pc.signalingState == "have-local-offer" and sub.offer:
            await self._send(sub.offer)  # the same offer again
        else:
            sub.offered = False
            sub.offer = None
            await self.negotiate()

    async def add_candidate(self, cand: protocol.Candidate) -> None:
        pc = self._pub if cand.pc == "pub" else self._sub.pc
        if pc is None:
            return
        if not cand.candidate:  # null or empty: the end of the candidates
            await pc.addIceCandidate(None)
            return
        text = cand.candidate.removeprefix("candidate:")
        candidate = candidate_from_sdp(text)
        candidate.sdpMid = cand.sdp_mid
        candidate.sdpMLineIndex = cand.sdp_mline_index
        await pc.addIceCandidate(candidate)

    # --- accounting and teardown ----------------------------------------------------------

    @property
    def awaiting_sub_answer(self) -> bool:
        """A subscriber offer was sent and its answer has not come yet."""
        return self._sub.offered

    @property
    def forwarded_streams(self) -> int:
        return sum(1 for slot in self._sub.slots if slot.carries is not None)

    @property
    def slots(self) -> list[Slot]:
        return list(self._sub.slots)

    def peer_connections(self) -> list[RTCPeerConnection]:
        return [pc for pc in (self._pub, self._sub.pc) if pc is not None]

    def _new_pc(self, which: str) -> RTCPeerConnection:
        pc = RTCPeerConnection(network.rtc_configuration(self._config))
        bound = self.log.bind(pc=which)
        # The ICE states this connection went through (states only, never addresses): a call
        # whose media never flows shows ["new", "checking", "failed"] or stays at ["new"].
        ice: list[str] = [pc.iceConnectionState]

        def on_ice_state() -> None:
            ice.append(pc.iceConnectionState)
            bound.info("ice_state", state=pc.iceConnectionState, ice=list(ice))

        def on_state() -> None:
            state = pc.connectionState
            bound.info("pc_state", state=state, ice=list(ice))
            if state in ("failed", "closed") and not self._closed and not self._lost:
                # The client vanished without a leave: the room removes the participant.
                self._lost = True
                bound.warning("pc_lost", state=state, ice=list(ice))
                if self._on_lost is not None:
                    self._on_lost()

        pc.on("iceconnectionstatechange", on_ice_state)
        pc.on("connectionstatechange", on_state)
        return pc

    async def close(self) -> None:
        """Close forwarders, slots and both connections; idempotent."""
        if self._closed:
            return
        self._closed = True
        for mid in list(self.publications):
            await self._unpublish(mid)
        for slot in self._sub.slots:
            slot.track.stop()
        self._sub.slots.clear()
        self._uplink.close()
        self._downlink.close()
        for pc in self.peer_connections():
            try:
                await pc.close()
            except Exception:
                self.log.exception("pc_close_failed")
        self._pub = None
        self._sub.pc = None
        self.log.info("participant_closed")


def _capabilities(codec: Any) -> list[RTCRtpCodecCapability]:
    """The subscriber m-line offers exactly the publisher's codec (forwarding cannot
    transcode), plus RTX for video."""
    kind = codec.mimeType.split("/")[0].lower()
    wanted = codec_key(codec)
    capabilities = RTCRtpSender.getCapabilities(kind).codecs
    chosen = [c for c in capabilities if codec_key(c) == wanted][:1]
    if kind == "video":
        chosen += [c for c in capabilities if c.mimeType.lower() == "video/rtx"][:1]
    return chosen


async def _not_started(parameters: Any) -> None:
    """Stands in for `send` of aiortc's senders and `receive` of its receivers, which aiortc
    calls once the connection is up. Media and RTCP pass below them (`mediaserver.rtp`):
    started, each sender would run two tasks that send nothing useful (its sender reports,
    with zero counts, would contradict the down track's) and each receiver would start a
    decoder thread and its own receiver-report loop, and stopping it would join that thread
    on the event loop, which took up to 60 ms under load when a publisher left. Not started,
    `stop()` has nothing to do."""


def _extension_id(transceiver: Any, uri: str) -> int:
    """The id the negotiation gave header extension `uri` on `transceiver` (0: none)."""
    for extension in transceiver._headerExtensions:
        if extension.uri == uri:
            return int(extension.id)
    return 0


def _payload_types(transceiver: Any) -> tuple[set[int], dict[int, int]]:
    """The negotiated media payload types, and RTX payload type -> media payload type."""
    media: set[int] = set()
    rtx: dict[int, int] = {}
    for codec in transceiver._codecs:
        if codec.mimeType.lower() == "video/rtx":
            apt = codec.parameters.get("apt")
            if apt is not None:
                rtx[codec.payloadType] = int(apt)
        else:
            media.add(codec.payloadType)
    return media, rtx


def _binding(transceiver: Any, cname: str | None) -> Binding | None:
    _media, rtx = _payload_types(transceiver)
    codec = feedback.negotiated_codec(transceiver)
    if codec is None:
        return None
    rtx_pt = next((pt for pt, apt in rtx.items() if apt == codec.payloadType), None)
    sender = transceiver.sender
    return Binding(
        ssrc=int(sender._ssrc),
        payload_type=int(codec.payloadType),
        rtx_ssrc=int(sender._rtx_ssrc) if rtx_pt is not None else None,
        rtx_payload_type=rtx_pt,
        mid=transceiver.mid,
        mid_id=_extension_id(transceiver, rtp_packet.URI_MID),
        ast_id=_extension_id(transceiver, rtp_packet.URI_ABS_SEND_TIME),
        cname=cname,
    )
