"""The per-packet edge of one peer connection: SRTP off what arrives, and header, SRTP and
`sendto` for what leaves, on the selected candidate pair's socket.

Two implementations behind one interface: `mediaserver.rtp._wire` in C (built by `pip install`
where a C compiler is present, see setup.py) and the pure-Python classes below, which are used
when the extension is missing or the setting `media_compiled_wire` is off (`use_compiled`; the
tests run both and compare them byte for byte). Both use pylibsrtp's sessions, so there is one
SRTP state per session whichever writes: the C module calls the libsrtp functions inside
pylibsrtp's own binding, by address, and reads each session's `srtp_t` the same way (read on
pylibsrtp 0.10-1.0; a different binding is detected and the Python path is used).

An `Egress` sends on its own duplicate of the socket's descriptor: the socket stays open as
long as the `Egress` does, so a descriptor number that aioice closed and the kernel gave to
another socket can never receive this connection's packets. `close()` lets it go.

Per packet: no exceptions on the normal path; a packet that cannot be sent (socket buffer
full, SRTP refused, too large) gives False, an SRTP packet that does not authenticate gives
None.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import pylibsrtp

from mediaserver.rtp import packet as rtp

LARGEST = 2048  # bytes of RTP the C path takes; pylibsrtp's own buffer stops at 1,356


class Egress(Protocol):
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
    ) -> bool: ...

    def rtcp(self, packet: bytes) -> bool: ...

    def close(self) -> None: ...

    @property
    def closed(self) -> bool: ...


class Ingress(Protocol):
    def rtp(self, packet: bytes) -> bytes | None: ...

    def rtcp(self, packet: bytes) -> bytes | None: ...


class PyEgress:
    """The Python version of `_wire.Egress`; also (`through`) an egress by an asyncio datagram
    transport's `sendto`, for a pair whose local candidate is a TURN relay (aioice's transport
    wraps each datagram for the TURN server) or whose address the socket path cannot take."""

    __slots__ = ("_addr", "_sendto", "_session", "_sock")

    def __init__(self, session: pylibsrtp.Session, fd: int, host: str, port: int) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            socket.inet_pton(family, host)
        except OSError:
            raise ValueError("not a numeric IP address") from None
        if not 0 < port < 65536:
            raise ValueError("port out of range")
        self._session = session
        self._sock: socket.socket | None = socket.socket(family, socket.SOCK_DGRAM, 0, os.dup(fd))
        self._sock.setblocking(False)
        self._sendto: Any = None
        self._addr = (host, port)

    @classmethod
    def through(cls, session: pylibsrtp.Session, transport: Any, addr: tuple[str, int]) -> PyEgress:
        egress = cls.__new__(cls)
        egress._session, egress._sock, egress._addr = session, None, addr
        egress._sendto = transport.sendto
        return egress

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
    ) -> bool:
        if not 0 <= start <= len(data):
            raise ValueError("start outside the packet")
        packet = rtp.assemble(first, second, seq, timestamp, ssrc, extension, head, data, start)
        return len(packet) <= LARGEST and self._send(packet, rtcp=False)

    def rtcp(self, packet: bytes) -> bool:
        return len(packet) <= LARGEST and self._send(packet, rtcp=True)

    def _send(self, packet: bytes, rtcp: bool) -> bool:
        sock, sendto = self._sock, self._sendto
        try:
            if sock is not None:
                data = self._session.protect_rtcp(packet) if rtcp else self._session.protect(packet)
                return sock.sendto(data, self._addr) == len(data)
            if sendto is not None:
                sendto(
                    self._session.protect_rtcp(packet) if rtcp else self._session.protect(packet),
                    self._addr,
                )
                return True
        except (OSError, ValueError, AttributeError, pylibsrtp.Error):
            pass
        return False

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = self._sendto = None

    def __del__(self) -> None:  # as the C type's dealloc: our duplicate goes with us
        sock = getattr(self, "_sock", None)  # None too when __init__ refused the address
        if sock is not None:
            sock.close()

    @property
    def closed(self) -> bool:
        return self._sock is None and self._sendto is None


class PyIngress:
    """The Python version of `_wire.Ingress`."""

    __slots__ = ("_session",)

    def __init__(self, session: pylibsrtp.Session) -> None:
        self._session = session

    def rtp(self, packet: bytes) -> bytes | None:
        try:
            return self._session.unprotect(packet)
        except (pylibsrtp.Error, ValueError):
            return None

    def rtcp(self, packet: bytes) -> bytes | None:
        try:
            return self._session.unprotect_rtcp(packet)
        except (pylibsrtp.Error, ValueError):
            return None


# --- the compiled path ----------------------------------------------------------------------

_SIGNATURE = "srtp_err_status_t(*)(struct srtp_ctx_t_ *, void *, int *)"
_FUNCTIONS = ("srtp_protect", "srtp_unprotect", "srtp_protect_rtcp", "srtp_unprotect_rtcp")


def _load() -> tuple[Any, Any] | None:
    """The C module configured with pylibsrtp's libsrtp, and the binding's ffi; None when the
    module was not built or the binding is not the one read."""
    try:
        from pylibsrtp._binding import ffi, lib

        from mediaserver.rtp import _wire
    except ImportError:
        return None
    try:
        addresses = []
        for name in _FUNCTIONS:
            function = ffi.addressof(lib, name)
            if ffi.typeof(function).cname != _SIGNATURE:
                return None
            addresses.append(int(ffi.cast("uintptr_t", function)))
        _wire.configure(*addresses)
    except (AttributeError, TypeError, ValueError):
        return None
    return _wire, ffi


_built = _load()
BUILT = _built is not None  # whether the C module is there (and fits pylibsrtp)
_compiled = _built


def use_compiled(wanted: bool) -> bool:
    """Make new egresses and ingresses in C (when built) or in Python; whether C is used.
    Those made before keep theirs."""
    global _compiled
    _compiled = _built if wanted else None
    return _compiled is not None


def compiled() -> bool:
    return _compiled is not None


def _context(session: pylibsrtp.Session) -> int:
    """The address of a pylibsrtp session's `srtp_t`."""
    assert _compiled is not None
    return int(_compiled[1].cast("uintptr_t", session._srtp[0]))


class PyLane:
    """The Python version of `_wire.Lane`: the fields as plain attributes (these defaults)."""

    _fast: object = None
    _egress: object = None
    _ext_fixed: bytes | None = None
    _ext_head = b""
    _ext_tail = b""
    _last_data = b""
    _last_start = 0
    _x = 0
    _pt = 0
    _ssrc = 0
    _seq_off = 0
    _ts_off = 0
    _first_in = 0
    _next_seq = 0
    _last_ts = 0
    _last_at = 0.0
    _packets = 0
    _octets = 0
    forwarded = 0
    _vp8 = False


def py_fanout(
    lanes: list[Any],
    source: object,
    data: bytes,
    seq: int,
    timestamp: int,
    start: int,
    key: bool,
    ast: bytes,
    now: float,
) -> int:
    """The Python version of `_wire.fanout`: every lane's `forward` (which counts itself)."""
    for lane in lanes:
        lane.forward(source, data, seq, timestamp, start, key, ast, now)
    return 0


class PyStream:
    """The Python version of `_wire.Stream`: no fields of its own (RtpForwarder sets them)."""


if TYPE_CHECKING:
    from mediaserver.rtp._wire import Lane as Lane
    from mediaserver.rtp._wire import Stream as Stream
else:
    Lane = _built[0].Lane if _built is not None else PyLane
    Stream = _built[0].Stream if _built is not None else PyStream

Fanout = Callable[[list[Any], object, bytes, int, int, int, bool, bytes, float], int]


def fanout() -> Fanout:
    """The fan-out to use for a stream made now (C when compiled, see `use_compiled`)."""
    if _compiled is not None:
        function: Fanout = _compiled[0].fanout
        return function
    return py_fanout


def demux(
    routes: dict[int, Callable[[bytes], None]],
    on_rtp: Callable[[bytes], None],
    on_rtcp: Callable[[bytes], None],
    fallback: Callable[[bytes, Any], None],
    on_error: Callable[[BaseException], None],
) -> Any:
    """A socket's datagram handler in C (`_wire.Demux`), or None on the Python path (where
    aioice's handler and `RtpTransport._datagram` do the same)."""
    if _compiled is None:
        return None
    return _compiled[0].Demux(routes, on_rtp, on_rtcp, fallback, on_error)


def estimator() -> Any:
    """A publisher stream's uplink estimator in C (`_wire.Estimator`, see
    mediaserver/estimator.py), or None on the Python path."""
    if _compiled is None:
        return None
    return _compiled[0].Estimator()


def egress(session: pylibsrtp.Session, fd: int, host: str, port: int) -> Egress:
    """Send through `session` on (a duplicate of) socket `fd` to (host, port)."""
    if _compiled is not None:
        egress: Egress = _compiled[0].Egress(session, _context(session), fd, host, port)
        return egress
    return PyEgress(session, fd, host, port)


def ingress(session: pylibsrtp.Session) -> Ingress:
    """Unprotect with `session`."""
    if _compiled is not None:
        ingress: Ingress = _compiled[0].Ingress(session, _context(session))
        return ingress
    return PyIngress(session)
