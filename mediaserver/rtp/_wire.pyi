# The C module's interface (mediaserver/rtp/_wire.c); see mediaserver/rtp/wire.py.

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
