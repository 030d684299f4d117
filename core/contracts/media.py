"""The bus contract between signalling and a media worker: one dataclass per request, each with
one `parse` (`parse_op`) and one `to_dict`, and the replies.

Signalling -> worker, on `media_channel(worker_id)`:
  {"op": "join", "room", "participant", "conn", "role", "publish": [...], "subscribe"}
  {"op": "signal", "room", "participant", "conn", "msg": <the client's WebSocket message>}
  {"op": "leave", "room", "participant", "conn"}
  {"op": "close_room", "room"}
Worker -> signalling, on `room_channel(room)`: the `media` event of `core.contracts.room`,
  {"kind": "media", "participant", "conn", "msg": <delivered verbatim on that socket>}
  Errors are `{"type": "error", "code", "message"}`; codes (`ErrorCode`): room_full,
  media_unavailable, publish_not_allowed, too_many_tracks (the publisher offer was refused
  unanswered), bad_answer (the subscriber answer was refused; the offer follows again),
  bad_request (an invalid request), request_failed (a valid request the worker could not carry
  out), media_moved (the worker is going away: reconnect).

Client messages carried by `signal` are those of `core.contracts.client` (`MediaMessage`:
offer, answer, candidate, mute, view), parsed by the same code and with the same limits as
signalling parses them:
  {"type": "offer", "pc": "pub", "sdp", "sources"?: {mid: "audio"|"video"|"screen"}}
  {"type": "answer", "pc": "sub", "sdp"}
  {"type": "candidate", "pc", "candidate": {"candidate", "sdpMid", "sdpMLineIndex"} | null}
  {"type": "mute", "kind": "audio"|"video"|"screen", "muted": bool, "missing"?: bool}
  {"type": "view", "heights": {participant: device pixels the page shows their camera at}}

Screen share is a second video track. The client names each track's source in `sources`
(keyed by the transceiver's mid); without it, a video track whose msid stream id or track id
contains "screen" (e.g. stream id `<anything>:screen`) is the screen share.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, TypeAlias

from core.contracts.client import (
    MAX_SDP,
    MEDIA_KINDS,
    Answer,
    Candidate,
    MediaMessage,
    MessageError,
    Mute,
    Offer,
    Source,
    View,
    parse_message,
)
from core.contracts.errors import ErrorCode
from core.contracts.errors import error_message as _error_message
from core.contracts.room import MediaReply

__all__ = [
    "MAX_SDP",
    "SOURCES",
    "Answer",
    "Candidate",
    "CloseRoom",
    "Join",
    "Leave",
    "MediaMessage",
    "Mute",
    "Offer",
    "Op",
    "ProtocolError",
    "Signal",
    "Source",
    "View",
    "answer_message",
    "error_message",
    "media_event",
    "offer_message",
    "parse_op",
]

SOURCES = MEDIA_KINDS
MAX_ID = 200


class ProtocolError(ValueError):
    """A request the worker does not understand; it is dropped, logged and answered with an
    error when it names a participant's connection."""


@dataclass(frozen=True)
class Join:
    OP: ClassVar[str] = "join"
    room: str
    participant: str
    conn: str
    role: str = ""
    publish: frozenset[str] = frozenset()
    subscribe: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "op": self.OP,
            "room": self.room,
            "participant": self.participant,
            "conn": self.conn,
            "role": self.role,
            "publish": sorted(self.publish),
            "subscribe": self.subscribe,
        }


@dataclass(frozen=True)
class Signal:
    OP: ClassVar[str] = "signal"
    room: str
    participant: str
    conn: str
    msg: MediaMessage

    def to_dict(self) -> dict[str, Any]:
        return {
            "op": self.OP,
            "room": self.room,
            "participant": self.participant,
            "conn": self.conn,
            "msg": self.msg.to_dict(),
        }


@dataclass(frozen=True)
class Leave:
    OP: ClassVar[str] = "leave"
    room: str
    participant: str
    conn: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "op": self.OP,
            "room": self.room,
            "participant": self.participant,
            "conn": self.conn,
        }


@dataclass(frozen=True)
class CloseRoom:
    OP: ClassVar[str] = "close_room"
    room: str

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.OP, "room": self.room}


Op: TypeAlias = Join | Signal | Leave | CloseRoom


def _str(data: dict[str, Any], key: str, limit: int = MAX_ID) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise ProtocolError(f"{key} must be a non-empty string")
    return value


def parse_media_message(msg: Any) -> MediaMessage:
    """Validate a client's media message as forwarded by signalling."""
    try:
        parsed = parse_message(msg)
    except MessageError as exc:
        raise ProtocolError(exc.message) from None
    if not isinstance(parsed, Offer | Answer | Candidate | Mute | View):
        raise ProtocolError(f"{parsed.TYPE} is not a media message")
    return parsed


def parse_op(message: Any) -> Op:
    """Validate one bus request."""
    if not isinstance(message, dict):
        raise ProtocolError("a request must be an object")
    op = message.get("op")
    if op == "close_room":
        return CloseRoom(room=_str(message, "room"))
    room, participant, conn = (_str(message, k) for k in ("room", "participant", "conn"))
    if op == "join":
        publish = message.get("publish", [])
        if not isinstance(publish, list) or not all(p in SOURCES for p in publish):
            raise ProtocolError("publish must list audio, video or screen")
        subscribe = message.get("subscribe", True)
        if not isinstance(subscribe, bool):
            raise ProtocolError("subscribe must be a boolean")
        role = message.get("role", "")
        return Join(
            room=room,
            participant=participant,
            conn=conn,
            role=role if isinstance(role, str) else "",
            publish=frozenset(publish),
            subscribe=subscribe,
        )
    if op == "signal":
        return Signal(room, participant, conn, parse_media_message(message.get("msg")))
    if op == "leave":
        return Leave(room=room, participant=participant, conn=conn)
    raise ProtocolError(f"unknown op {str(op)[:32]!r}")


# --- worker -> client ----------------------------------------------------------------------


def media_event(participant: str, conn: str, msg: dict[str, Any]) -> dict[str, Any]:
    """The envelope signalling unwraps and delivers on the participant's socket."""
    return MediaReply(participant, conn, msg).to_dict()


def answer_message(sdp: str) -> dict[str, Any]:
    return {"type": "answer", "pc": "pub", "sdp": sdp}


def offer_message(sdp: str, tracks: dict[str, dict[str, str]], seq: int) -> dict[str, Any]:
    """The subscriber offer; `tracks` maps each sending mid to its participant and source.
    Clients must map media by mid: a mid is reused for another track after one ends. `seq`
    numbers the offers of one subscriber connection (a resent offer keeps its number); the
    answer repeats it, and a client that gets an offer it already answered sends that answer
    again instead of negotiating anew."""
    return {"type": "offer", "pc": "sub", "sdp": sdp, "tracks": tracks, "seq": seq}


def error_message(code: ErrorCode, message: str) -> dict[str, Any]:
    return dict(_error_message(code, message))
