"""A UDP relay on loopback that gives its clients a thin downlink: what comes back from
`upstream` (a TURN server) to a client is paced at `rate` bits/s through a short queue, and
dropped when the queue is full, as a weak mobile link does (the kernel here has no netem).
What the clients send goes through untouched."""

from __future__ import annotations

import collections
import selectors
import socket
import time
from dataclasses import dataclass

from tests.browser.lossy import LossyRelay


@dataclass
class ThrottledRelay(LossyRelay):
    """`LossyRelay`'s sockets and life cycle (its `loss` unused), with a paced downlink."""

    rate: int = 0  # bits/s towards the clients; 0: unlimited
    queue_bytes: int = 40_000  # about 0.6 s at 500 kbit/s

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._listen, selectors.EVENT_READ, None)
        upstream_of: dict[tuple[str, int], socket.socket] = {}
        queue: collections.deque[tuple[bytes, tuple[str, int]]] = collections.deque()
        queued = 0
        next_send = time.monotonic()
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                # Send what the link has room for by now.
                while queue and (self.rate == 0 or next_send <= now):
                    data, client = queue.popleft()
                    queued -= len(data)
                    self._listen.sendto(data, client)
                    self.forwarded += 1
                    if self.rate:
                        next_send = max(next_send, now - 0.005) + len(data) * 8 / self.rate
                timeout = max(0.0, next_send - now) if queue else 0.2
                for key, _ in selector.select(timeout=min(timeout, 0.2)):
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
                        out.send(data)
                    elif queued + len(data) > self.queue_bytes:
                        self.dropped += 1  # the link's queue is full
                    else:
                        queue.append((data, key.data))
                        queued += len(data)
        finally:
            for out in upstream_of.values():
                out.close()
            selector.close()
