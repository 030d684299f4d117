"""The console's live feed: notices that something the caseworkers' console shows has changed.

A notice names what changed (an appointment's people, or the help-request inbox) and nothing
else: no names, no texts. It goes over the bus on one channel, so a notice raised on any node
reaches the consoles of every node; each console then reads the list again through the API,
which checks the session as every read does. Notices are a hint, not a record: one lost
(Redis away for a moment) costs a console at most its safety poll.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import structlog

from core.bus.base import Bus, Message, Subscription
from core.store.redis_client import UNAVAILABLE

log = structlog.get_logger(__name__)

CONSOLE_CHANNEL = "console"
# What the bus raises while Redis is away, or once it is closed.
FEED_ERRORS: tuple[type[Exception], ...] = (*UNAVAILABLE, RuntimeError)


class Topic(StrEnum):
    APPOINTMENT = "appointment"  # who waits, is in the call or left; the appointment itself
    HELP = "help"  # the help-request inbox


@dataclass(frozen=True)
class Notice:
    topic: Topic
    appointment: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"topic": self.topic.value, "appointment": self.appointment}

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> Notice | None:
        try:
            topic = Topic(str(raw.get("topic")))
        except ValueError:
            return None
        appointment = raw.get("appointment")
        if appointment is not None and (not isinstance(appointment, str) or len(appointment) > 64):
            return None
        return cls(topic, appointment)


def addressed(notice: Notice) -> tuple[str, Message]:
    """The notice as the bus carries it: (channel, message), e.g. for `Bus.publish_many`."""
    return CONSOLE_CHANNEL, notice.to_dict()


async def announce(bus: Bus, notice: Notice) -> None:
    """Publish a notice; a bus that cannot take it now is logged, not raised: the change
    itself has happened, and consoles poll now and then as well."""
    try:
        await bus.publish(*addressed(notice))
    except FEED_ERRORS as exc:
        log.warning(
            "console_notice_lost",
            topic=notice.topic.value,
            appointment=notice.appointment,
            error=type(exc).__name__,
        )


@dataclass(eq=False)  # each console socket's own: compared and hashed by identity
class Pending:
    """What one console socket has not been told yet; notices coalesce until it is sent."""

    appointments: set[str] = field(default_factory=set)
    help: bool = False
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, notice: Notice) -> None:
        if notice.topic is Topic.HELP:
            self.help = True
        elif notice.appointment is not None:
            self.appointments.add(notice.appointment)
        self.ready.set()

    def take(self) -> dict[str, Any]:
        """The message for the console, and forget it."""
        message = {"type": "changed", "appointments": sorted(self.appointments), "help": self.help}
        self.appointments.clear()
        self.help = False
        self.ready.clear()
        return message


class ConsoleFeed:
    """One subscription to the console channel per node, fanned out to this node's console
    sockets (each a `Pending`). The subscription is made when the first console connects, so
    a node starts without Redis and a node no console uses listens to nothing."""

    def __init__(self, bus: Bus, *, session_check: float = 60.0) -> None:
        self._bus = bus
        self.session_check = session_check  # seconds between checks that a session lives
        self._listeners: set[Pending] = set()
        self._subscription: Subscription | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    async def ensure_subscribed(self) -> None:
        """Subscribe unless done; raises what the bus raises when it cannot now."""
        async with self._lock:
            if self._closed:
                raise RuntimeError("the console feed is closed")
            if self._subscription is None:
                self._subscription = await self._bus.subscribe(CONSOLE_CHANNEL, self._on_notice)

    async def close(self) -> None:
        async with self._lock:
            self._closed = True
            if self._subscription is not None:
                with contextlib.suppress(*FEED_ERRORS):
                    await self._subscription.close()
                self._subscription = None

    async def _on_notice(self, raw: dict[str, Any]) -> None:
        notice = Notice.parse(raw)
        if notice is None:
            log.warning("console_notice_malformed")
            return
        for pending in self._listeners:
            pending.add(notice)

    @contextlib.contextmanager
    def listen(self) -> Iterator[Pending]:
        pending = Pending()
        self._listeners.add(pending)
        try:
            yield pending
        finally:
            self._listeners.discard(pending)

    def __len__(self) -> int:
        return len(self._listeners)
