"""The room channel contract: events on `room_channel(room)` that reach every signalling node
holding a socket of the room. Each node acts only on its own sockets.

  {"kind": "deliver", "msg", "to": [ids] | null, "exclude": id | null, "grant": name | null,
   "waiting"?: true}
      send `msg` to the room's admitted sockets (all, or `to`; not `exclude`; only those
      whose token holds `grant`); with `waiting`, to its waiting sockets instead
  {"kind": "end"}                               the appointment ended: close every socket
  {"kind": "replace", "participant", "conn"}    a newer socket took over: close older ones
  {"kind": "admitted", "participant", "conn", "at"?}  let that waiting socket in (`at`: the
                                               admit's wall time, for admit_to_hello_seconds)
  {"kind": "denied", "participant"}             close the participant's socket: not admitted
  {"kind": "revoked", "participant"}            close it: their link was replaced or removed
  {"kind": "media", "participant", "conn", "msg"}  from the media worker, for that socket only

Events come from other trusted processes, but a garbled one (e.g. from a process of another
version during a rolling update) raises `EventError`, and the receiver drops it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, TypeAlias

# The Grants flags a `deliver` may require of its receivers.
GRANT_NAMES = ("subscribe", "share_documents", "admit", "moderate")
MAX_ID = 200


class EventError(ValueError):
    """A room channel event this version does not understand."""


def _id(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value or len(value) > MAX_ID:
        raise EventError(f"{key} must be a non-empty string")
    return value


def _opt_id(data: dict[str, Any], key: str) -> str | None:
    return None if data.get(key) is None else _id(data, key)


def _msg(data: dict[str, Any]) -> dict[str, Any]:
    msg = data.get("msg")
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        raise EventError("msg must be a message object with a type")
    return msg


@dataclass(frozen=True)
class Deliver:
    KIND: ClassVar[str] = "deliver"
    msg: dict[str, Any]
    to: tuple[str, ...] | None = None
    exclude: str | None = None
    grant: str | None = None
    waiting: bool = False  # for those in the waiting room, not those in the call

    def reaches(self, pid: str, grants: object) -> bool:
        """Whether an admitted socket of `pid` holding `grants` receives the message."""
        if pid == self.exclude or (self.to is not None and pid not in self.to):
            return False
        return self.grant is None or getattr(grants, self.grant, False) is True

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Deliver:
        to = data.get("to")
        if to is not None and (
            not isinstance(to, list) or not all(isinstance(p, str) and p for p in to)
        ):
            raise EventError("to must be a list of participant ids or null")
        grant = data.get("grant")
        if grant is not None and grant not in GRANT_NAMES:
            raise EventError(f"grant must be one of {', '.join(GRANT_NAMES)}")
        waiting = data.get("waiting", False)
        if not isinstance(waiting, bool):
            raise EventError("waiting must be true or false")
        return cls(
            _msg(data), None if to is None else tuple(to), _opt_id(data, "exclude"), grant, waiting
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.KIND,
            "msg": self.msg,
            "to": None if self.to is None else list(self.to),
            "exclude": self.exclude,
            "grant": self.grant,
        }
        if self.waiting:
            out["waiting"] = True
        return out


@dataclass(frozen=True)
class RoomEnded:
    KIND: ClassVar[str] = "end"

    @classmethod
    def parse(cls, data: dict[str, Any]) -> RoomEnded:
        return cls()

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.KIND}


@dataclass(frozen=True)
class Replaced:
    KIND: ClassVar[str] = "replace"
    participant: str
    conn: str  # the new socket: every other socket of the participant closes

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Replaced:
        return cls(_id(data, "participant"), _id(data, "conn"))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.KIND, "participant": self.participant, "conn": self.conn}


@dataclass(frozen=True)
class Admitted:
    KIND: ClassVar[str] = "admitted"
    participant: str
    conn: str  # the waiting socket that was admitted
    # Wall time of the admit, so that whichever node holds the socket can time admit -> hello.
    at: float | None = None

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Admitted:
        at = data.get("at")
        if at is not None and (
            not isinstance(at, int | float) or isinstance(at, bool) or not math.isfinite(at)
        ):
            raise EventError("at must be a number")
        return cls(_id(data, "participant"), _id(data, "conn"), None if at is None else float(at))

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.KIND, "participant": self.participant}
        data["conn"] = self.conn
        if self.at is not None:
            data["at"] = self.at
        return data


@dataclass(frozen=True)
class Denied:
    KIND: ClassVar[str] = "denied"
    participant: str

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Denied:
        return cls(_id(data, "participant"))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.KIND, "participant": self.participant}


@dataclass(frozen=True)
class Revoked:
    KIND: ClassVar[str] = "revoked"
    participant: str

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Revoked:
        return cls(_id(data, "participant"))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.KIND, "participant": self.participant}


@dataclass(frozen=True)
class MediaReply:
    """A media worker's message for one participant's socket, delivered verbatim."""

    KIND: ClassVar[str] = "media"
    participant: str
    conn: str
    msg: dict[str, Any]

    @classmethod
    def parse(cls, data: dict[str, Any]) -> MediaReply:
        return cls(_id(data, "participant"), _id(data, "conn"), _msg(data))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.KIND,
            "participant": self.participant,
            "conn": self.conn,
            "msg": self.msg,
        }


RoomEvent: TypeAlias = Deliver | RoomEnded | Replaced | Admitted | Denied | Revoked | MediaReply

_KINDS: dict[str, type[RoomEvent]] = {
    cls.KIND: cls for cls in (Deliver, RoomEnded, Replaced, Admitted, Denied, Revoked, MediaReply)
}


def parse_event(data: Any) -> RoomEvent:
    """Validate one room channel event."""
    if not isinstance(data, dict):
        raise EventError("an event must be an object")
    kind = data.get("kind")
    cls = _KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise EventError(f"unknown event kind {str(kind)[:32]!r}")
    return cls.parse(data)
