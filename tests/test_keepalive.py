"""The liveness rule of a room socket, on a clock the test drives: when a silent client is
pinged and dropped, and that silence counts only while the handler listens."""

from __future__ import annotations

from typing import cast

from aiohttp import web

from signalling.room.keepalive import Keepalive


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def keepalive(clock: Clock) -> Keepalive:
    return Keepalive(cast(web.WebSocketResponse, None), interval=2.0, timeout=4.0, clock=clock)


def test_a_silent_client_is_pinged_then_closed_at_its_deadlines() -> None:
    clock = Clock()
    k = keepalive(clock)
    k.listening()
    assert k.due() is None
    assert k.until_due(0.5) == 0.5  # far from a deadline: the tick
    clock.now += 1.8
    assert abs(k.until_due(0.5) - 0.2) < 1e-9  # wakes exactly when the ping is due
    clock.now += 0.2
    assert k.due() == "ping"
    k.pinged = True
    assert k.until_due(0.5) == 0.5
    clock.now += 3.7
    assert abs(k.until_due(0.5) - 0.3) < 1e-9  # ... and when the close is due
    clock.now += 0.3
    assert k.due() == "close"
    assert k.until_due(0.5) == 0.0


def test_a_frame_moves_the_deadlines_and_clears_the_ping() -> None:
    clock = Clock()
    k = keepalive(clock)
    k.listening()
    clock.now += 2.0
    assert k.due() == "ping"
    k.pinged = True
    clock.now += 3.0
    k.seen()  # the pong
    k.listening()
    assert not k.pinged
    clock.now += 1.9
    assert k.due() is None


def test_silence_while_the_handler_works_does_not_count() -> None:
    clock = Clock()
    k = keepalive(clock)
    k.seen()  # a frame; the handler is busy with it (an auth waiting for the store)
    clock.now += 10.0
    assert k.due() is None
    assert k.until_due(0.5) == 0.5
    k.listening()  # back to reading: silence counts from here
    clock.now += 1.0
    assert k.due() is None
    clock.now += 1.0
    assert k.due() == "ping"
