"""The media worker's settings: one frozen dataclass, derived from `core.settings`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.settings import Settings


@dataclass(frozen=True)
class MediaConfig:
    """Everything a media worker needs to know; intervals are seconds, bitrates bits/s."""

    # ICE: STUN/TURN servers for the SFU's own side (dicts with `urls`, optional
    # `username`/`credential`); empty, the default, means host candidates only. Never None:
    # aiortc would fall back to Google's STUN. Not the browsers' servers (`Settings.ice_servers`).
    ice_servers: tuple[dict[str, Any], ...] = ()
    # Addresses written into host candidates. A local address is bound directly; any other
    # (a public address in front of a 1:1 NAT) replaces the bound address in the SDP.
    announce_ips: tuple[str, ...] = ()
    # Local addresses to bind; empty: the announced addresses that are local, else every
    # non-loopback interface address (aioice's default).
    bind_ips: tuple[str, ...] = ()
    port_min: int = 0  # 0/0: ephemeral ports
    port_max: int = 0
    # Bandwidth (REMB sent to publishers)
    min_bitrate: int = 150_000
    max_bitrate: int = 1_500_000
    simulcast_max_bitrate: int = 2_500_000  # all layers of a simulcast camera together
    remb_interval: float = 1.0
    estimate_ttl: float = 5.0  # a subscriber's REMB older than this no longer counts
    # Keyframes
    keyframe_min_interval: float = 0.3  # at most one PLI per publisher track per interval
    keyframe_retry: float = 1.0  # a subscriber still waiting for a keyframe asks again
    # Registry
    heartbeat: float = 0.5  # core.settings: media_heartbeat
    ttl: float = 2.0  # core.settings: media_worker_ttl
    # Memory bounds
    max_participants: int = 8
    max_rooms: int = 200
    # Negotiation
    renegotiate_delay: float = 0.05  # batch track changes that arrive together
    # A subscriber offer (or its answer) lost on the way is sent again after this long; until
    # answered, later changes wait for it.
    offer_timeout: float = 5.0
    # Queued `signal` messages per participant before more are dropped (joins, leaves and
    # internal re-offers are never dropped).
    signal_backlog: int = 200
    # A participant's publisher offer may carry at most this many sending m-lines (and at
    # most one per source).
    max_published_tracks: int = 4
    close_timeout: float = 5.0  # a closing room lets its current request finish this long
    # Draining (SIGTERM): rooms may end on their own this long, then their calls move.
    drain_timeout: float = 30.0
    # The per-packet SRTP and sendto in C (mediaserver/rtp/_wire.c) where it was built;
    # False: the Python version of the same (mediaserver/rtp/wire.py).
    compiled_wire: bool = True

    def __post_init__(self) -> None:
        if self.port_min > self.port_max or self.port_min < 0 or self.port_max > 65535:
            raise ValueError("media port range is invalid")
        if (self.port_min == 0) != (self.port_max == 0):
            raise ValueError("set both media_port_min and media_port_max, or neither")
        if not 0 < self.min_bitrate <= self.max_bitrate:
            raise ValueError("min_bitrate must be positive and not above max_bitrate")
        if self.signal_backlog < 1:
            raise ValueError("signal_backlog must be positive")
        for server in self.ice_servers:
            if not isinstance(server, dict) or "urls" not in server:
                raise ValueError("each ICE server needs 'urls'")

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> MediaConfig:
        """The media part of the deployment's settings."""
        values: dict[str, Any] = {
            # Only the explicit server-side setting: the browsers' TURN servers would make the
            # SFU allocate relays of its own (one per peer connection) that nobody needs.
            "ice_servers": tuple(dict(s) for s in settings.media_ice_servers),
            "announce_ips": tuple(settings.media_announce_ips),
            "port_min": settings.media_port_min,
            "port_max": settings.media_port_max,
            "heartbeat": settings.media_heartbeat,
            "ttl": settings.media_worker_ttl,
            "max_participants": settings.max_participants,
            "drain_timeout": settings.media_drain_timeout,
            "compiled_wire": settings.media_compiled_wire,
        }
        values.update(overrides)
        return cls(**values)
