"""A UDP relay on loopback that loses a share of what one side sends: a weak uplink for a
browser whose only way to the media server is a TURN server behind this relay (the kernel
here has no netem, so the loss is made in user space)."""

from __future__ import annotations

import random
import selectors
import socket
import threading
from dataclasses import dataclass, field


@dataclass
class LossyRelay:
    """Relays datagrams between clients and `upstream` (host, port); drops `loss` (0..1) of
    those going upstream, from a seeded random source so that runs are alike."""

    upstream: tuple[str, int]
    loss: float
    seed: int = 15
    forwarded: int = 0
    dropped: int = 0
    _listen: socket.socket = field(init=False)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self._listen = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._listen.bind(("127.0.0.1", 0))
        self._random = random.Random(self.seed)

    @property
    def port(self) -> int:
        port: int = self._listen.getsockname()[1]
        return port

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="lossy-relay", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._listen.close()

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._listen, selectors.EVENT_READ, None)
        # one upstream socket per client, so the TURN server tells the clients apart
        upstream_of: dict[tuple[str, int], socket.socket] = {}
        try:
            while not self._stop.is_set():
                for key, _ in selector.select(timeout=0.2):
                    sock: socket.socket = key.fileobj  # type: ignore[assignment]
                    try:
                        data, source = sock.recvfrom(65535)
                    except OSError:
                        continue
                    if key.data is None:  # from a client, going upstream
                        out = upstream_of.get(source)
                        if out is None:
                            out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                            out.connect(self.upstream)
                            upstream_of[source] = out
                            selector.register(out, selectors.EVENT_READ, source)
                        if self._random.random() < self.loss:
                            self.dropped += 1
                            continue
                        self.forwarded += 1
                        out.send(data)
                    else:  # from upstream, back to its client, untouched
                        self._listen.sendto(data, key.data)
        finally:
            for out in upstream_of.values():
                out.close()
            selector.close()
