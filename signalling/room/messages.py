"""Room WebSocket messages: parsing and validation of what clients send, in one place.

Every client message is checked for type, fields and sizes before anything acts on it; what
is not understood is rejected with a `MessageError`, never ignored silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from core.jsonwire import loads_strict

MAX_CHAT = 2000
MAX_SDP = 32 * 1024
MAX_E2EE = 8 * 1024
MAX_PANEL_STATE = 8 * 1024
MAX_ID = 64
MEDIA_KINDS = ("audio", "video", "screen")
PCS = ("pub", "sub")


class CloseCode(IntEnum):
    """WebSocket close codes the room socket uses (4000-4999 are the application's)."""

    NORMAL = 1000
    BAD_MESSAGES = 4400
    AUTH_FAILED = 4401
    DENIED = 4403
    AUTH_TIMEOUT = 4408
    REPLACED = 4409
    ENDED = 4410
    SLOW = 4429  # too slow to take messages, or sending too many
    LEFT = 4000


class MessageError(ValueError):
    """A client message that was not acted on; `code` goes into the `error` reply."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ClientMessage:
    type: str
    data: dict[str, Any]


def _str(data: dict[str, Any], key: str, max_len: int, *, allow_empty: bool = False) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise MessageError("bad_field", f"{key} must be a string")
    if not allow_empty and not value.strip():
        raise MessageError("bad_field", f"{key} must not be empty")
    if len(value) > max_len:
        raise MessageError("too_long", f"{key} is longer than {max_len}")
    return value


def _choice(data: dict[str, Any], key: str, choices: tuple[str, ...]) -> str:
    value = data.get(key)
    if value not in choices:
        raise MessageError("bad_field", f"{key} must be one of {', '.join(choices)}")
    return str(value)


def _size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")))


def _auth(d: dict[str, Any]) -> None:
    _str(d, "token", 4096)


def _participant_ref(d: dict[str, Any]) -> None:
    _str(d, "participant", MAX_ID)


def _chat(d: dict[str, Any]) -> None:
    _str(d, "text", MAX_CHAT)


def _mute(d: dict[str, Any]) -> None:
    _choice(d, "kind", MEDIA_KINDS)
    if not isinstance(d.get("muted"), bool):
        raise MessageError("bad_field", "muted must be true or false")


def _sdp(d: dict[str, Any]) -> None:
    _choice(d, "pc", PCS)
    _str(d, "sdp", MAX_SDP)
    sources = d.get("sources")
    if sources is not None and (
        not isinstance(sources, dict)
        or len(sources) > 16
        or not all(
            isinstance(k, str) and len(k) <= 16 and v in MEDIA_KINDS for k, v in sources.items()
        )
    ):
        raise MessageError("bad_field", "sources must map mids to audio, video or screen")


def _offer(d: dict[str, Any]) -> None:
    _sdp(d)
    if d["pc"] != "pub":  # the server offers the subscriber connection, never the client
        raise MessageError("bad_field", "clients offer only on the pub connection")


def _answer(d: dict[str, Any]) -> None:
    _sdp(d)
    if d["pc"] != "sub":
        raise MessageError("bad_field", "clients answer only on the sub connection")


def _candidate(d: dict[str, Any]) -> None:
    _choice(d, "pc", PCS)
    cand = d.get("candidate")
    if cand is None:
        return
    if not isinstance(cand, dict):
        raise MessageError("bad_field", "candidate must be an object or null")
    _str(cand, "candidate", 1024, allow_empty=True)
    mid = cand.get("sdpMid")
    index = cand.get("sdpMLineIndex")
    if mid is not None and (not isinstance(mid, str) or len(mid) > 32):
        raise MessageError("bad_field", "sdpMid must be a short string")
    if index is not None and (not isinstance(index, int) or isinstance(index, bool)):
        raise MessageError("bad_field", "sdpMLineIndex must be an integer")


def _panel(d: dict[str, Any]) -> None:
    _choice(d, "action", ("open", "close", "sync"))
    _str(d, "panel", MAX_ID)
    state = d.get("state", {})
    if not isinstance(state, dict) or _size(state) > MAX_PANEL_STATE:
        raise MessageError("bad_field", "state must be a small object")


def _e2ee(d: dict[str, Any]) -> None:
    to = d.get("to")
    if to is not None and (not isinstance(to, str) or len(to) > MAX_ID):
        raise MessageError("bad_field", "to must be a participant id or null")
    data = d.get("data")
    if not isinstance(data, dict) or _size(data) > MAX_E2EE:
        raise MessageError("bad_field", "data must be an object of at most 8 KiB")


def _nothing(d: dict[str, Any]) -> None:
    return None


_FIELDS: dict[str, tuple[frozenset[str], Any]] = {
    "auth": (frozenset({"token"}), _auth),
    "admit": (frozenset({"participant"}), _participant_ref),
    "deny": (frozenset({"participant"}), _participant_ref),
    "chat": (frozenset({"text"}), _chat),
    "token": (frozenset(), _nothing),
    "leave": (frozenset(), _nothing),
    "end": (frozenset(), _nothing),
    "mute": (frozenset({"kind", "muted"}), _mute),
    "offer": (frozenset({"pc", "sdp", "sources"}), _offer),
    "answer": (frozenset({"pc", "sdp"}), _answer),
    "candidate": (frozenset({"pc", "candidate"}), _candidate),
    "panel": (frozenset({"action", "panel", "state"}), _panel),
    "e2ee": (frozenset({"to", "data"}), _e2ee),
}

CLIENT_TYPES = frozenset(_FIELDS)


def parse_client_message(raw: str) -> ClientMessage:
    """Parse and validate one text frame from a client."""
    try:
        data = loads_strict(raw)
    except ValueError:
        raise MessageError("bad_json", "message is not JSON") from None
    if not isinstance(data, dict):
        raise MessageError("bad_message", "message must be a JSON object")
    kind = data.pop("type", None)
    if not isinstance(kind, str):
        raise MessageError("bad_message", "message needs a string type")
    spec = _FIELDS.get(kind)
    if spec is None:
        raise MessageError("unknown_type", f"unknown message type {kind[:32]!r}")
    allowed, check = spec
    extra = set(data) - allowed
    if extra:
        raise MessageError("bad_field", f"unexpected fields: {', '.join(sorted(extra))[:200]}")
    check(data)
    return ClientMessage(kind, data)
