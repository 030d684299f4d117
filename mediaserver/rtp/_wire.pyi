# The C module's interface (mediaserver/rtp/_wire.c); see mediaserver/rtp/wire.py.

from collections.abc import Callable
from typing import Any

def configure(protect: int, unprotect: int, protect_rtcp: int, unprotect_rtcp: int, /) -> None: ...

class Egress:
    def __init__(self, session: object, ctx: int, fd: int, host: str, port: int) -> None: ...
    def rtp(
        self,
        first: int,
        second: int,
        seq: int,
        timestamp: int,
        ssrc: int,
        extension: bytes,
        head: bytes,
        data: bytes,
        start: int,
        /,
    ) -> bool: ...
    def rtcp(self, packet: bytes, /) -> bool: ...
    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...

class Ingress:
    def __init__(self, session: object, ctx: int) -> None: ...
    def rtp(self, packet: bytes, /) -> bytes | None: ...
    def rtcp(self, packet: bytes, /) -> bytes | None: ...

class Lane:
    _fast: object
    _egress: object
    _ext_fixed: bytes | None
    _ext_head: bytes
    _ext_tail: bytes
    _last_data: bytes
    _last_start: int
    _x: int
    _pt: int
    _ssrc: int
    _seq_off: int
    _ts_off: int
    _first_in: int
    _next_seq: int
    _last_ts: int
    _last_at: float
    _packets: int
    _octets: int
    forwarded: int
    _vp8: bool

def fanout(
    lanes: list[object],
    source: object,
    data: bytes,
    seq: int,
    timestamp: int,
    start: int,
    key: bool,
    ast: bytes,
    now: float,
    /,
) -> int: ...

class Stream:
    _history: list[bytes | None]
    _missing: dict[int, list[float]]
    _slots: list[Any]
    _uplink: Any
    _stats: Any
    _keyframe_start: Callable[[int, bytes], bool]
    _cycles: int
    _received: int
    _frame_bytes: int
    recovered: int
    packets: int
    bytes_received: int
    _highest: int
    _base_seq: int
    _mask: int
    _codec: int
    _ast_id: int
    last_timestamp: int
    last_arrival: float
    _last_request: float
    _retry: float
    _retry_at: float
    _video: bool
    muted: bool
    def _receive(self, packet: bytes, /) -> None: ...

class Estimator:
    """aiortc's RemoteBitrateEstimator in C (mediaserver/estimator.Estimate)."""

    frames: int
    @property
    def bitrate(self) -> int | None: ...
    @property
    def last_frame(self) -> tuple[int, int, int] | None: ...
    def frame(self, arrival_ms: int, abs_send_time: int, size: int, ssrc: int, /) -> None: ...

class Demux:
    ingress: Ingress | None
    rtp_received: int
    rtcp_received: int
    failures: int
    def __init__(
        self,
        routes: dict[int, Callable[[bytes], None]],
        on_rtp: Callable[[bytes], None],
        on_rtcp: Callable[[bytes], None],
        fallback: Callable[[bytes, Any], None],
        on_error: Callable[[BaseException], None],
    ) -> None: ...
    def __call__(self, data: bytes, addr: Any, /) -> None: ...
