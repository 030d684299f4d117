"""The bus contract between signalling and a media worker: parsing requests, building replies.

Signalling -> worker, on `media_channel(worker_id)`:
  {"op": "join", "room", "participant", "conn", "role", "name", "publish": [...], "subscribe"}
  {"op": "signal", "room", "participant", "conn", "msg": <the client's WebSocket message>}
  {"op": "leave", "room", "participant", "conn"}
  {"op": "close_room", "room"}
Worker -> signalling, on `room_channel(room)`:
  {"kind": "media", "participant", "conn", "msg": <delivered verbatim on that socket>}
  Errors are `{"type": "error", "code", "message"}`; codes: room_full, media_unavailable,
  publish_not_allowed, too_many_tracks (the publisher offer was refused unanswered),
  bad_answer (the subscriber answer was refused; the offer follows again), bad_request (an
  invalid request), request_failed (a valid request the worker could not carry out).

Client messages carried by `signal` (see `parse_client_message`):
  {"type": "offer", "pc": "pub", "sdp", "sources"?: {mid: "audio"|"video"|"screen"}}
  {"type": "answer", "pc": "sub", "sdp"}
  {"type": "candidate", "pc", "candidate": {"candidate", "sdpMid", "sdpMLineIndex"} | null}
  {"type": "mute", "kind": "audio"|"video"|"screen", "muted": bool}

Screen share is a second video track. The client names each track's source in `sources`
(keyed by the transceiver's mid); without it, a video track whose msid stream id or track id
contains "screen" (e.g. stream id `<anything>:screen`) is the screen share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

SOURCES = ("audio", "video", "screen")
Source = Literal["audio", "video", "screen"]
MAX_SDP = 64 * 1024


class ProtocolError(ValueError):
    """A request the worker does not understand; it is dropped, logged and answered with an
    error when it names a participant's connection."""


@dataclass(frozen=True)
class Join:
    room: str
    participant: str
    conn: str
    role: str = ""
    publish: frozenset[str] = frozenset()
    subscribe: bool = True


@dataclass(frozen=True)
class Signal:
    room: str
    participant: str
    conn: str
    msg: ClientMessage


@dataclass(frozen=True)
class Leave:
    room: str
    participant: str
    conn: str


@dataclass(frozen=True)
class CloseRoom:
    room: str


Op = Join | Signal | Leave | CloseRoom


@dataclass(frozen=True)
class Description:
    type: Literal["offer", "answer"]
    pc: Literal["pub", "sub"]
    sdp: str
    sources: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Candidate:
    pc: Literal["pub", "sub"]
    candidate: str | None  # None: end of candidates
    sdp_mid: str | None = None
    sdp_mline_index: int | None = None


@dataclass(frozen=True)
class Mute:
    source: str
    muted: bool


ClientMessage = Description | Candidate | Mute


def _str(data: dict[str, Any], key: str, limit: int = 200) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise ProtocolError(f"{key} must be a non-empty string")
    return value


def _pc(data: dict[str, Any]) -> Literal["pub", "sub"]:
    pc = data.get("pc")
    if pc == "pub":
        return "pub"
    if pc == "sub":
        return "sub"
    raise ProtocolError("pc must be 'pub' or 'sub'")


def parse_client_message(msg: Any) -> ClientMessage:
    """Validate a client's signalling message as forwarded by signalling."""
    if not isinstance(msg, dict):
        raise ProtocolError("msg must be an object")
    kind = msg.get("type")
    if kind in ("offer", "answer"):
        pc = _pc(msg)
        if (kind, pc) not in (("offer", "pub"), ("answer", "sub")):
            raise ProtocolError(f"the server does not take an {kind} for the {pc} connection")
        sdp = _str(msg, "sdp", MAX_SDP)
        sources = msg.get("sources") or {}
        if not isinstance(sources, dict) or not all(
            isinstance(k, str) and v in SOURCES for k, v in sources.items()
        ):
            raise ProtocolError("sources must map mids to audio, video or screen")
        return Description(type=kind, pc=pc, sdp=sdp, sources=dict(sources))
    if kind == "candidate":
        pc = _pc(msg)
        cand = msg.get("candidate")
        if cand is None:
            return Candidate(pc=pc, candidate=None)
        if not isinstance(cand, dict):
            raise ProtocolError("candidate must be an object or null")
        text = cand.get("candidate")
        if not isinstance(text, str) or len(text) > 1000:
            raise ProtocolError("candidate.candidate must be a string")
        mid = cand.get("sdpMid")
        index = cand.get("sdpMLineIndex")
        if mid is not None and not isinstance(mid, str):
            raise ProtocolError("sdpMid must be a string")
        if index is not None and (not isinstance(index, int) or isinstance(index, bool)):
            raise ProtocolError("sdpMLineIndex must be an integer")
        return Candidate(pc=pc, candidate=text or None, sdp_mid=mid, sdp_mline_index=index)
    if kind == "mute":
        source = msg.get("kind")
        muted = msg.get("muted")
        if source not in SOURCES or not isinstance(muted, bool):
            raise ProtocolError("mute needs kind (audio, video, screen) and muted (bool)")
        return Mute(source=source, muted=muted)
    raise ProtocolError(f"unknown message type {kind!r}")


def parse_op(message: dict[str, Any]) -> Op:
    """Validate one bus request."""
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
        return Signal(
            room=room,
            participant=participant,
            conn=conn,
            msg=parse_client_message(message.get("msg")),
        )
    if op == "leave":
        return Leave(room=room, participant=participant, conn=conn)
    raise ProtocolError(f"unknown op {op!r}")


# --- worker -> client ----------------------------------------------------------------------


def media_event(participant: str, conn: str, msg: dict[str, Any]) -> dict[str, Any]:
    """The envelope signalling unwraps and delivers on the participant's socket."""
    return {"kind": "media", "participant": participant, "conn": conn, "msg": msg}


def answer_message(sdp: str) -> dict[str, Any]:
    return {"type": "answer", "pc": "pub", "sdp": sdp}


def offer_message(sdp: str, tracks: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The subscriber offer; `tracks` maps each sending mid to its participant and source.
    Clients must map media by mid: a mid is reused for another track after one ends."""
    return {"type": "offer", "pc": "sub", "sdp": sdp, "tracks": tracks}


def error_message(code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message}
