"""A participant's subscriber connection at the RTP level: the feedback its client sends about
each stream (NACK, PLI/FIR, REMB), routed to that stream's `DownTrack`, and the sender reports
the SFU owes the client."""

from __future__ import annotations

from typing import Any

from mediaserver import bandwidth
from mediaserver.rtp import rtcp
from mediaserver.rtp.downtrack import Binding, DownTrack
from mediaserver.rtp.transport import RtpTransport


class Downlink:
    def __init__(self, log_context: dict[str, str]) -> None:
        self.transport: RtpTransport | None = None
        self.invalid = 0
        self._tracks: dict[int, DownTrack] = {}  # by our media SSRC
        self._log_context = log_context

    def connect(self, dtls: Any) -> RtpTransport:
        self.transport = RtpTransport.attach(dtls, self._on_rtp, self._on_rtcp, self._log_context)

        def on_state() -> None:
            if dtls.state == "connected":
                self.connected()

        dtls.on("statechange", on_state)
        return self.transport

    def connected(self) -> None:
        """The connection can carry media now (`DownTrack.connection_up`)."""
        for track in list(self._tracks.values()):
            track.connection_up()

    def bind(self, track: DownTrack, binding: Binding) -> None:
        if self.transport is None:
            return
        for ssrc, known in list(self._tracks.items()):
            if known is track and ssrc != binding.ssrc:
                del self._tracks[ssrc]
        self._tracks[binding.ssrc] = track
        track.bind(self.transport, binding)

    def _on_rtp(self, data: bytes) -> None:
        self.invalid += 1  # a subscriber connection receives no media

    def _on_rtcp(self, data: bytes) -> None:
        events = rtcp.feedback(data)
        if events is None:
            self.invalid += 1
            return
        tracks = self._tracks
        for kind, ssrc, value in events:
            if kind == rtcp.NACK:
                track = tracks.get(ssrc)
                if track is not None:
                    track.on_nack(value)
            elif kind == rtcp.PLI or kind == rtcp.FIR:
                track = tracks.get(ssrc)
                if track is not None:
                    track.on_keyframe_request()
            elif kind == rtcp.REMB:
                share = bandwidth.remb_share(ssrc, value, set(tracks))  # ssrc: the bitrate
                for listed in value:
                    track = tracks.get(listed)
                    if track is not None:
                        track.on_bitrate(share)

    def send_reports(self) -> None:
        if self.transport is None:
            return
        for track in list(self._tracks.values()):
            report = track.sender_report()
            if report is not None:
                self.transport.send_rtcp(report)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.detach()
            self.transport = None
        self._tracks.clear()
