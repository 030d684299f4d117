"""The room WebSocket's client messages (DESIGN.md, Room WebSocket protocol): one dataclass
per message type, each with one `parse` and one `to_dict`, used by signalling (which reads
every frame) and by the media worker (which reads the SDP and ICE messages signalling forwards
to it), so that both sides accept exactly the same messages.

Every message is checked for type, fields and sizes before anything acts on it; what is not
understood is rejected with a `MessageError`, never ignored silently. The one exception: a
candidate object may carry keys beyond `candidate`, `sdpMid` and `sdpMLineIndex` (browsers add
`usernameFragment`), which are dropped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, ClassVar, Literal, TypeAlias

from core.contracts.errors import ErrorCode
from core.jsonwire import loads_strict

MAX_TOKEN = 4096
MAX_CHAT = 2000
MAX_LOBBY_MESSAGE = 300  # a note to the waiting room: a sentence or two
# One limit for an SDP on both sides. A client frame may be at most `ws_max_message` (64 KiB)
# and JSON escaping of an SDP's line ends makes it longer on the wire; 32 KiB leaves room and
# is far above a real offer (a few KiB even with simulcast and many m-lines).
MAX_SDP = 32 * 1024
MAX_SEQ = 2**53  # offer numbers: any integer a JavaScript number holds exactly
MAX_CANDIDATE = 1024
MAX_MID = 32
MAX_SOURCES = 16  # entries in an offer's `sources`; each mid key at most 16 characters
MAX_E2EE = 8 * 1024
MAX_PANEL_STATE = 8 * 1024
MIN_ZOOM, MAX_ZOOM = 0.25, 4.0  # a document panel's zoom
MAX_ID = 64
MEDIA_KINDS = ("audio", "video", "screen")
PCS = ("pub", "sub")
PANEL_ACTIONS = ("open", "close", "sync")
MEDIA_STATES = ("failed", "ok")
# A browser's RTCIceConnectionState and RTCPeerConnectionState values: the only words a
# `media_status` history may hold (states, never candidates or addresses).
CONNECTION_STATES = (
    "new",
    "checking",
    "connecting",
    "connected",
    "completed",
    "disconnected",
    "failed",
    "closed",
)
MAX_HISTORY = 32
# Why a page's media failed: a connection did not connect in time, failed, stayed
# disconnected, gathered no candidate at all, or the publisher offer got no answer.
MEDIA_FAILURES = ("timeout", "failed", "disconnected", "no_candidates", "answer")

Pc: TypeAlias = Literal["pub", "sub"]
Source: TypeAlias = Literal["audio", "video", "screen"]


class CloseCode(IntEnum):
    """WebSocket close codes the room socket uses (4000-4999 are the application's)."""

    NORMAL = 1000
    GOING_AWAY = 1001  # this server shuts down or restarts: reconnect (to another node)
    TRY_AGAIN = 1013  # the server cannot serve this socket right now (Redis away): reconnect
    BAD_MESSAGES = 4400
    AUTH_FAILED = 4401
    DENIED = 4403
    AUTH_TIMEOUT = 4408
    REPLACED = 4409
    ENDED = 4410
    SLOW = 4429  # too slow to take messages, or sending too many
    NO_HEARTBEAT = 4002  # the client answered no ping in time (it may reconnect)
    LEFT = 4000


class MessageError(ValueError):
    """A client message that was not acted on; `code` goes into the `error` reply."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# ---- field checks ----------------------------------------------------------------------


def _str(data: dict[str, Any], key: str, max_len: int, *, allow_empty: bool = False) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise MessageError(ErrorCode.BAD_FIELD, f"{key} must be a string")
    if not allow_empty and not value.strip():
        raise MessageError(ErrorCode.BAD_FIELD, f"{key} must not be empty")
    if len(value) > max_len:
        raise MessageError(ErrorCode.TOO_LONG, f"{key} is longer than {max_len}")
    return value


def _choice(data: dict[str, Any], key: str, choices: tuple[str, ...]) -> str:
    value = data.get(key)
    if value not in choices:
        raise MessageError(ErrorCode.BAD_FIELD, f"{key} must be one of {', '.join(choices)}")
    return str(value)


def _pc(data: dict[str, Any]) -> Pc:
    return "pub" if _choice(data, "pc", PCS) == "pub" else "sub"


def _source(data: dict[str, Any], key: str) -> Source:
    value = _choice(data, key, MEDIA_KINDS)
    return "audio" if value == "audio" else "video" if value == "video" else "screen"


def _size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")))


def _sources(data: dict[str, Any]) -> dict[str, str]:
    sources = data.get("sources")
    if sources is None:
        return {}
    if (
        not isinstance(sources, dict)
        or len(sources) > MAX_SOURCES
        or not all(
            isinstance(k, str) and len(k) <= 16 and v in MEDIA_KINDS for k, v in sources.items()
        )
    ):
        raise MessageError(ErrorCode.BAD_FIELD, "sources must map mids to audio, video or screen")
    return dict(sources)


# ---- the messages ----------------------------------------------------------------------


@dataclass(frozen=True)
class Auth:
    """The first message on a socket."""

    TYPE: ClassVar[str] = "auth"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"token"})
    token: str

    @classmethod
    def parse(cls, d: dict[str, Any]) -> Auth:
        return cls(_str(d, "token", MAX_TOKEN))

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.TYPE, "token": self.token}


@dataclass(frozen=True)
class Admit:
    TYPE: ClassVar[str] = "admit"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"participant"})
    participant: str

    @classmethod
    def parse(cls, d: dict[str, Any]) -> Admit:
        return cls(_str(d, "participant", MAX_ID))

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.TYPE, "participant": self.participant}


@dataclass(frozen=True)
class Deny:
    TYPE: ClassVar[str] = "deny"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"participant"})
    participant: str

    @classmethod
    def parse(cls, d: dict[str, Any]) -> Deny:
        return cls(_str(d, "participant", MAX_ID))

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.TYPE, "participant": self.participant}


@dataclass(frozen=True)
class Chat:
    TYPE: ClassVar[str] = "chat"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"text"})
    text: str

    @classmethod
    def parse(cls, d: dict[str, Any]) -> Chat:
        return cls(_str(d, "text", MAX_CHAT))

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.TYPE, "text": self.text}


@dataclass(frozen=True)
class LobbyMessage:
    """From one who may admit, to everyone in the waiting room ("I am running 5 minutes
    late"); the room keeps the latest for who arrives later."""

    TYPE: ClassVar[str] = "lobby_message"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"text"})
    text: str

    @classmethod
    def parse(cls, d: dict[str, Any]) -> LobbyMessage:
        return cls(_str(d, "text", MAX_LOBBY_MESSAGE).strip())

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.TYPE, "text": self.text}


@dataclass(frozen=True)
class RefreshToken:
    """`{"type": "token"}`: asks for a fresh room token."""

    TYPE: ClassVar[str] = "token"
    FIELDS: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def parse(cls, d: dict[str, Any]) -> RefreshToken:
        return cls()

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.TYPE}


@dataclass(frozen=True)
class Leave:
    TYPE: ClassVar[str] = "leave"
    FIELDS: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def parse(cls, d: dict[str, Any]) -> Leave:
        return cls()

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.TYPE}


@dataclass(frozen=True)
class End:
    TYPE: ClassVar[str] = "end"
    FIELDS: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def parse(cls, d: dict[str, Any]) -> End:
        return cls()

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.TYPE}


MAX_VIEW_HEIGHT = 4320  # device pixels: an 8K screen
MAX_VIEWED = 64  # cameras in one view message (a room holds far fewer)


@dataclass(frozen=True)
class View:
    """How tall, in device pixels, the page shows each other participant's camera (0: not
    shown). A simulcast camera is then sent to this page in the smallest layer that fills
    its tile, if the bandwidth allows that much: a thumbnail on a phone costs a thumbnail."""

    TYPE: ClassVar[str] = "view"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"heights"})
    heights: tuple[tuple[str, int], ...]  # (participant id, height), sorted

    @classmethod
    def parse(cls, d: dict[str, Any]) -> View:
        heights = d.get("heights")
        if not isinstance(heights, dict) or len(heights) > MAX_VIEWED:
            raise MessageError(
                ErrorCode.BAD_FIELD, f"heights must be an object of at most {MAX_VIEWED}"
            )
        for pid, height in heights.items():
            if not 0 < len(pid) <= MAX_ID:
                raise MessageError(ErrorCode.BAD_FIELD, "heights must be keyed by participant")
            if (
                not isinstance(height, int)
                or isinstance(height, bool)
                or not 0 <= height <= MAX_VIEW_HEIGHT
            ):
                raise MessageError(
                    ErrorCode.BAD_FIELD, f"a height must be a whole number 0-{MAX_VIEW_HEIGHT}"
                )
        return cls(tuple(sorted(heights.items())))

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.TYPE, "heights": dict(self.heights)}


@dataclass(frozen=True)
class Mute:
    """A source muted or unmuted; `source` travels as `kind`. `missing`: muted because the
    device has no such source (no camera, no microphone), so the others can say so."""

    TYPE: ClassVar[str] = "mute"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"kind", "muted", "missing"})
    source: Source
    muted: bool
    missing: bool = False

    @classmethod
    def parse(cls, d: dict[str, Any]) -> Mute:
        source = _source(d, "kind")
        muted = d.get("muted")
        if not isinstance(muted, bool):
            raise MessageError(ErrorCode.BAD_FIELD, "muted must be true or false")
        missing = d.get("missing", False)
        if not isinstance(missing, bool):
            raise MessageError(ErrorCode.BAD_FIELD, "missing must be true or false")
        if missing and not muted:
            raise MessageError(ErrorCode.BAD_FIELD, "a missing source is muted")
        return cls(source, muted, missing)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.TYPE, "kind": self.source, "muted": self.muted}
        if self.missing:
            out["missing"] = True
        return out


@dataclass(frozen=True)
class Offer:
    """The publisher offer: the server offers the subscriber connection, never the client.
    `sources` names each sending mid's source (audio, video or screen)."""

    TYPE: ClassVar[str] = "offer"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"pc", "sdp", "sources"})
    sdp: str
    sources: dict[str, str] = field(default_factory=dict)
    pc: Literal["pub"] = "pub"

    @classmethod
    def parse(cls, d: dict[str, Any]) -> Offer:
        pc = _pc(d)
        sdp = _str(d, "sdp", MAX_SDP)
        sources = _sources(d)
        if pc != "pub":
            raise MessageError(ErrorCode.BAD_FIELD, "clients offer only on the pub connection")
        return cls(sdp, sources)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.TYPE, "pc": self.pc, "sdp": self.sdp}
        if self.sources:
            out["sources"] = dict(self.sources)
        return out


@dataclass(frozen=True)
class Answer:
    """The answer to the server's subscriber offer. `seq` repeats the offer's `seq`, so that
    an answer to an offer that was since replaced (a resent offer answered twice) is told
    apart from the answer to the current one; clients that send none are matched as before."""

    TYPE: ClassVar[str] = "answer"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"pc", "sdp", "seq"})
    sdp: str
    pc: Literal["sub"] = "sub"
    seq: int | None = None

    @classmethod
    def parse(cls, d: dict[str, Any]) -> Answer:
        pc = _pc(d)
        sdp = _str(d, "sdp", MAX_SDP)
        if pc != "sub":
            raise MessageError(ErrorCode.BAD_FIELD, "clients answer only on the sub connection")
        seq = d.get("seq")
        if seq is not None and (
            not isinstance(seq, int) or isinstance(seq, bool) or not 0 < seq <= MAX_SEQ
        ):
            raise MessageError(ErrorCode.BAD_FIELD, "seq must be a positive integer")
        return cls(sdp, seq=seq)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.TYPE, "pc": self.pc, "sdp": self.sdp}
        if self.seq is not None:
            out["seq"] = self.seq
        return out


@dataclass(frozen=True)
class Candidate:
    """A trickled ICE candidate; `candidate` None (a null object) or "" ends the candidates."""

    TYPE: ClassVar[str] = "candidate"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"pc", "candidate"})
    pc: Pc
    candidate: str | None
    sdp_mid: str | None = None
    sdp_mline_index: int | None = None

    @classmethod
    def parse(cls, d: dict[str, Any]) -> Candidate:
        pc = _pc(d)
        cand = d.get("candidate")
        if cand is None:
            return cls(pc, None)
        if not isinstance(cand, dict):
            raise MessageError(ErrorCode.BAD_FIELD, "candidate must be an object or null")
        text = _str(cand, "candidate", MAX_CANDIDATE, allow_empty=True)
        mid = cand.get("sdpMid")
        index = cand.get("sdpMLineIndex")
        if mid is not None and (not isinstance(mid, str) or len(mid) > MAX_MID):
            raise MessageError(ErrorCode.BAD_FIELD, "sdpMid must be a short string")
        if index is not None and (not isinstance(index, int) or isinstance(index, bool)):
            raise MessageError(ErrorCode.BAD_FIELD, "sdpMLineIndex must be an integer")
        return cls(pc, text, mid, index)

    def to_dict(self) -> dict[str, Any]:
        cand = (
            None
            if self.candidate is None
            else {
                "candidate": self.candidate,
                "sdpMid": self.sdp_mid,
                "sdpMLineIndex": self.sdp_mline_index,
            }
        )
        return {"type": self.TYPE, "pc": self.pc, "candidate": cand}


@dataclass(frozen=True)
class Panel:
    """Open, close or sync a shared panel (a document or a module); `state` is the panel's."""

    TYPE: ClassVar[str] = "panel"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"action", "panel", "state"})
    action: Literal["open", "close", "sync"]
    panel: str
    state: dict[str, Any] | None = None  # None: the message had none, and is relayed so

    @classmethod
    def parse(cls, d: dict[str, Any]) -> Panel:
        action = _choice(d, "action", PANEL_ACTIONS)
        panel = _str(d, "panel", MAX_ID)
        kind: Literal["open", "close", "sync"] = (
            "open" if action == "open" else "close" if action == "close" else "sync"
        )
        if "state" not in d:
            return cls(kind, panel)
        state = d["state"]
        if not isinstance(state, dict) or _size(state) > MAX_PANEL_STATE:
            raise MessageError(ErrorCode.BAD_FIELD, "state must be a small object")
        return cls(kind, panel, state)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.TYPE, "action": self.action, "panel": self.panel}
        if self.state is not None:
            out["state"] = self.state
        return out


@dataclass(frozen=True)
class E2ee:
    """End-to-end encryption key material for one participant (`to`) or everyone."""

    TYPE: ClassVar[str] = "e2ee"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"to", "data"})
    data: dict[str, Any]
    to: str | None = None

    @classmethod
    def parse(cls, d: dict[str, Any]) -> E2ee:
        to = d.get("to")
        if to is not None and (not isinstance(to, str) or len(to) > MAX_ID):
            raise MessageError(ErrorCode.BAD_FIELD, "to must be a participant id or null")
        data = d.get("data")
        if not isinstance(data, dict) or _size(data) > MAX_E2EE:
            raise MessageError(ErrorCode.BAD_FIELD, "data must be an object of at most 8 KiB")
        return cls(data, to)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.TYPE, "data": self.data}
        if self.to is not None:
            out["to"] = self.to
        return out


@dataclass(frozen=True)
class MediaStatus:
    """Whether this participant's sound and picture get through: `failed` when one of its
    peer connections did not connect in time or broke, `ok` once they connected again. `pc`
    names the connection that failed, `reason` why, and `history` its ICE states so far, for
    the log."""

    TYPE: ClassVar[str] = "media_status"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"state", "pc", "reason", "history"})
    state: Literal["failed", "ok"]
    pc: Pc | None = None
    history: tuple[str, ...] = ()
    reason: str | None = None

    @classmethod
    def parse(cls, d: dict[str, Any]) -> MediaStatus:
        state: Literal["failed", "ok"] = (
            "failed" if _choice(d, "state", MEDIA_STATES) == "failed" else "ok"
        )
        pc = None if d.get("pc") is None else _pc(d)
        reason = None if d.get("reason") is None else _choice(d, "reason", MEDIA_FAILURES)
        history = d.get("history", [])
        if (
            not isinstance(history, list)
            or len(history) > MAX_HISTORY
            or not all(h in CONNECTION_STATES for h in history)
        ):
            raise MessageError(
                ErrorCode.BAD_FIELD, f"history must list at most {MAX_HISTORY} connection states"
            )
        return cls(state, pc, tuple(history), reason)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.TYPE, "state": self.state}
        if self.pc is not None:
            out["pc"] = self.pc
        if self.history:
            out["history"] = list(self.history)
        if self.reason is not None:
            out["reason"] = self.reason
        return out


@dataclass(frozen=True)
class ShareConsent:
    """The jobseeker's answer on their own device: show `document` to the others in this
    call (`allow` true), or not, or no longer (false: withdraws a consent given before)."""

    TYPE: ClassVar[str] = "consent"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"document", "allow"})
    document: str
    allow: bool

    @classmethod
    def parse(cls, d: dict[str, Any]) -> ShareConsent:
        document = _str(d, "document", MAX_ID)
        allow = d.get("allow")
        if not isinstance(allow, bool):
            raise MessageError(ErrorCode.BAD_FIELD, "allow must be true or false")
        return cls(document, allow)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.TYPE, "document": self.document, "allow": self.allow}


def shown_document(panel: Panel) -> str | None:
    """The document a `panel` message opens or steers (`state.document`), if it names one."""
    document = (panel.state or {}).get("document")
    if document is None:
        return None
    if not isinstance(document, str) or not 0 < len(document) <= MAX_ID:
        raise MessageError(ErrorCode.BAD_FIELD, "state.document must be a document id")
    return document


LEARNING_PANEL = "learning"  # a `panel` message for a course section (issue 12)
_COURSE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")  # as the module manifests spell ids


def shown_section(panel: Panel) -> tuple[str, str]:
    """The module and section a learning `panel` message opens or steers (`state.module`,
    `state.section`): both ids as module manifests spell them."""
    state = panel.state or {}
    if set(state) - {"module", "section"}:
        raise MessageError(ErrorCode.BAD_FIELD, "state has only module and section")
    ids = []
    for key in ("module", "section"):
        value = state.get(key)
        if not isinstance(value, str) or not _COURSE_ID.fullmatch(value):
            raise MessageError(ErrorCode.BAD_FIELD, f"state.{key} must be an id")
        ids.append(value)
    return ids[0], ids[1]


def document_view(panel: Panel, pages: int) -> tuple[int, float]:
    """The page (1 to `pages`, default 1) and zoom (MIN_ZOOM to MAX_ZOOM, default 1) a
    document's `panel` message shows."""
    state = panel.state or {}
    page, zoom = state.get("page", 1), state.get("zoom", 1)
    if not isinstance(page, int) or isinstance(page, bool) or not 1 <= page <= pages:
        raise MessageError(ErrorCode.BAD_FIELD, f"state.page must be a page from 1 to {pages}")
    if (
        not isinstance(zoom, int | float)
        or isinstance(zoom, bool)
        or not MIN_ZOOM <= zoom <= MAX_ZOOM
    ):
        raise MessageError(
            ErrorCode.BAD_FIELD, f"state.zoom must be a number from {MIN_ZOOM} to {MAX_ZOOM}"
        )
    return page, float(zoom)


# ---- what the server says about the document panel -------------------------------------
# Built only by the server (signalling.sharing), so they have no `parse`; typed so that every
# sender of one message sends the same shape.


@dataclass(frozen=True)
class PanelShown:
    """The document panel opened or steered: `state` names the document, page and zoom,
    `pages` its page count, `consent` whether the jobseeker's consent for it stands in this
    call, `from` the presenter. `current`: not a presenter's change but the room's panel as it
    stands, sent right after `hello` to one who joins or reconnects (to a guest only while
    consent stands), and to the guests when consent is given."""

    TYPE: ClassVar[str] = "panel"
    action: Literal["open", "sync"]
    document: str
    page: int
    zoom: float
    pages: int
    presenter: str
    consent: bool
    current: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.TYPE,
            "action": self.action,
            "panel": "document",
            "state": {"document": self.document, "page": self.page, "zoom": self.zoom},
            "pages": self.pages,
            "consent": self.consent,
            "from": self.presenter,
        }
        if self.current:
            out["current"] = True
        return out


@dataclass(frozen=True)
class SectionShown:
    """The course section panel opened or steered (issue 12): `state` names the module and
    section, `from` the presenter; each page fetches the section in its own language.
    `current` as in `PanelShown`."""

    TYPE: ClassVar[str] = "panel"
    action: Literal["open", "sync"]
    module: str
    section: str
    presenter: str
    current: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.TYPE,
            "action": self.action,
            "panel": LEARNING_PANEL,
            "state": {"module": self.module, "section": self.section},
            "from": self.presenter,
        }
        if self.current:
            out["current"] = True
        return out


@dataclass(frozen=True)
class PanelClosed:
    """The panel closes: by its presenter (`reason` "closed"), or, for the guests only,
    because the jobseeker withdrew consent for the document it shows ("consent_withdrawn").
    `panel`: what it showed, "document" or "learning"."""

    TYPE: ClassVar[str] = "panel"
    presenter: str | None
    reason: Literal["closed", "consent_withdrawn"] = "closed"
    panel: str = "document"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.TYPE,
            "action": "close",
            "panel": self.panel,
            "reason": self.reason,
        }
        if self.presenter is not None:
            out["from"] = self.presenter
        return out


@dataclass(frozen=True)
class ConsentRequest:
    """To the jobseeker's device only: `by` wants to show `document` (its `title`, `pages`)
    to the call's `guests`. Sent when a document is opened while guests are in the
    appointment and no consent stands, and again to a jobseeker who arrives (joins or
    reconnects) while that question is still unanswered and the document still shown."""

    TYPE: ClassVar[str] = "consent_request"
    document: str
    title: str
    pages: int
    by: str
    guests: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.TYPE,
            "document": self.document,
            "title": self.title,
            "pages": self.pages,
            "by": self.by,
            "guests": list(self.guests),
        }


@dataclass(frozen=True)
class ConsentAnswer:
    """To everyone in the call: the jobseeker (`from`) allowed, declined or withdrew showing
    `document` to the guests. A jobseeker who arrives gets one (allow true) for each consent
    of theirs that stands in this call."""

    TYPE: ClassVar[str] = "consent"
    document: str
    allow: bool
    by: str

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.TYPE, "document": self.document, "allow": self.allow, "from": self.by}


@dataclass(frozen=True)
class ConsentWithdrawn:
    """To those who may share documents (the presenters), except the jobseeker who withdrew:
    `guests` no longer see `document` (its `title`, for the presenter's notice)."""

    TYPE: ClassVar[str] = "consent_withdrawn"
    document: str
    title: str
    by: str
    guests: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.TYPE,
            "document": self.document,
            "title": self.title,
            "from": self.by,
            "guests": list(self.guests),
        }


PanelMessage: TypeAlias = (
    PanelShown | PanelClosed | ConsentRequest | ConsentAnswer | ConsentWithdrawn
)


ClientMessage: TypeAlias = (
    Auth
    | Admit
    | Deny
    | Chat
    | LobbyMessage
    | RefreshToken
    | Leave
    | End
    | Mute
    | Offer
    | Answer
    | Candidate
    | Panel
    | E2ee
    | MediaStatus
    | ShareConsent
    | View
)
# What signalling forwards to the media worker.
MediaMessage: TypeAlias = Offer | Answer | Candidate | Mute | View

_TYPES: dict[str, type[ClientMessage]] = {
    cls.TYPE: cls
    for cls in (
        Auth,
        Admit,
        Deny,
        Chat,
        LobbyMessage,
        RefreshToken,
        Leave,
        End,
        Mute,
        Offer,
        Answer,
        Candidate,
        Panel,
        E2ee,
        MediaStatus,
        ShareConsent,
        View,
    )
}
CLIENT_TYPES = frozenset(_TYPES)


def parse_message(data: Any) -> ClientMessage:
    """Validate one decoded client message (a JSON object with its `type`)."""
    if not isinstance(data, dict):
        raise MessageError(ErrorCode.BAD_MESSAGE, "message must be a JSON object")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise MessageError(ErrorCode.BAD_MESSAGE, "message needs a string type")
    cls = _TYPES.get(kind)
    if cls is None:
        raise MessageError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {kind[:32]!r}")
    extra = set(data) - cls.FIELDS - {"type"}
    if extra:
        raise MessageError(
            ErrorCode.BAD_FIELD, f"unexpected fields: {', '.join(sorted(extra))[:200]}"
        )
    return cls.parse(data)


def parse_client_message(raw: str | bytes) -> ClientMessage:
    """Parse and validate one text frame from a client."""
    try:
        data = loads_strict(raw)
    except ValueError:
        raise MessageError(ErrorCode.BAD_JSON, "message is not JSON") from None
    return parse_message(data)
