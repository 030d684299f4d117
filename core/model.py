"""Domain models: appointments, participants, staff, jobseeker profiles. Small, typed,
serialisable."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal


class Role(StrEnum):
    CASEWORKER = "caseworker"
    JOBSEEKER = "jobseeker"
    EMPLOYER = "employer"
    INTERPRETER = "interpreter"  # joins like an employer; a guest for the jobseeker's documents


ROLES: tuple[str, ...] = tuple(r.value for r in Role)


class AppointmentStatus(StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"
    ENDED = "ended"


class AppointmentKind(StrEnum):
    """How an appointment takes place: only a video appointment has links, a room and tokens."""

    VIDEO = "video"
    IN_PERSON = "in_person"  # at a place (name, address, what to bring)
    PHONE = "phone"  # the job centre calls the jobseeker on the number it has


KINDS: tuple[str, ...] = tuple(k.value for k in AppointmentKind)


class MemberState(StrEnum):
    """A participant's presence in a live room; the transitions are in `core.presence`.
    Only waiting, admitted and reconnecting are ever stored: a stay that ends (left, denied)
    deletes the member."""

    WAITING = "waiting"
    ADMITTED = "admitted"
    RECONNECTING = "reconnecting"
    LEFT = "left"
    DENIED = "denied"


class AttendanceKind(StrEnum):
    """What the attendance record notes about a participant."""

    JOINED = "joined"  # entered the call (not counted again on a reconnect)
    WAITING = "waiting"  # connected and waits to be admitted
    ADMITTED = "admitted"
    DENIED = "denied"  # refused, or removed from the call and their link voided
    REMOVED = "removed"  # their socket closed by a moderator without voiding their link
    LEFT = "left"
    ENDED = "ended"  # the appointment ended (noted for who ended it)
    CONSENT = "consent"  # agreed to the terms on the join page
    # In person or by phone there is no room to join: the caseworker marks who came.
    ATTENDED = "attended"
    ABSENT = "absent"


Media = Literal["audio", "video", "screen"]

# The languages the client ships catalogs for; a participant's language must be one of them.
# "de-x-ls" is German in Leichte Sprache (easy language, rules of the Netzwerk Leichte Sprache):
# a BCP 47 private-use tag, so it never collides with a real language tag.
EASY_GERMAN = "de-x-ls"
LANGUAGES: tuple[str, ...] = ("de", "en", "tr", "ar", "uk", "ru", EASY_GERMAN)
# What a browser's Accept-Language may pick: easy language is chosen by the invitation or on
# the page, never guessed (no browser asks for it, and "de" must stay plain German).
NEGOTIABLE_LANGUAGES: tuple[str, ...] = tuple(lang for lang in LANGUAGES if lang != EASY_GERMAN)


def locale_of(lang: str) -> str:
    """The locale for dates, numbers and plural rules (Babel, Intl) and for the page's `lang`
    attribute: easy language is German to them."""
    return "de" if lang == EASY_GERMAN else lang


@dataclass(frozen=True)
class Grants:
    """What a room token allows; mirrors the `grants` claim of DESIGN.md."""

    publish: tuple[str, ...] = ()
    subscribe: bool = True
    share_documents: bool = False
    admit: bool = False
    moderate: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "publish": list(self.publish),
            "subscribe": self.subscribe,
            "share_documents": self.share_documents,
            "admit": self.admit,
            "moderate": self.moderate,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Grants:
        publish = data.get("publish", [])
        if not isinstance(publish, list) or not all(isinstance(p, str) for p in publish):
            raise ValueError("grants.publish must be a list of strings")
        flags = {
            k: data.get(k, d)
            for k, d in (
                ("subscribe", True),
                ("share_documents", False),
                ("admit", False),
                ("moderate", False),
            )
        }
        if not all(isinstance(v, bool) for v in flags.values()):
            raise ValueError("grant flags must be booleans")
        return cls(publish=tuple(publish), **flags)


def grants_for(role: str) -> Grants:
    """Policy: what each role may do in a room."""
    if role == Role.CASEWORKER:
        return Grants(
            publish=("audio", "video", "screen"), share_documents=True, admit=True, moderate=True
        )
    if role == Role.JOBSEEKER:
        return Grants(publish=("audio", "video", "screen"), share_documents=True)
    if role in (Role.EMPLOYER, Role.INTERPRETER):
        return Grants(publish=("audio", "video", "screen"))
    raise ValueError(f"unknown role {role!r}")


@dataclass(frozen=True)
class Participant:
    id: str
    role: str
    name: str
    lang: str
    invite_hash: str  # SHA-256 of the invite code; the code itself is never stored
    # Tokens issued before this time are void: set when the participant is removed or their
    # link reissued, so every token they hold (however many refreshes) dies at once.
    not_before: float = 0.0
    # The jobseeker profile this participant stands for (scheduled "for a profile"): the
    # profile's space lists the appointment and can join as this participant.
    profile_id: str | None = None

    def public(self) -> dict[str, Any]:
        """What other participants may see."""
        return {"id": self.id, "role": self.role, "name": self.name, "lang": self.lang}


@dataclass(frozen=True)
class Appointment:
    id: str
    title: str
    starts_at: float
    ends_at: float
    waiting_room: bool
    participants: tuple[Participant, ...]
    created_by: str
    created_at: float
    status: str = AppointmentStatus.SCHEDULED  # an AppointmentStatus
    ended_at: float | None = None
    notes: str = ""  # the caseworker's own notes: staff see them, participants never
    kind: str = AppointmentKind.VIDEO  # an AppointmentKind
    place: str = ""  # in person: the place's name ("Jobcenter Detmold, room 2.14")
    address: str = ""  # in person: where it is (the calendar file's LOCATION)
    bring: str = ""  # in person or by phone: what to bring or have at hand

    @property
    def is_video(self) -> bool:
        """Only a video appointment has join links, a waiting room and room tokens."""
        return self.kind == AppointmentKind.VIDEO

    def participant(self, participant_id: str) -> Participant | None:
        return next((p for p in self.participants if p.id == participant_id), None)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Appointment:
        data = dict(data)
        data["participants"] = tuple(
            Participant(**{**p, "role": Role(p["role"])}) for p in data["participants"]
        )
        if "status" in data:
            data["status"] = AppointmentStatus(data["status"])
        if "kind" in data:
            data["kind"] = AppointmentKind(data["kind"])
        return cls(**data)

    def _window(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "waiting_room": self.waiting_room,
            "status": self.status,
            "kind": self.kind,
            "place": self.place,
            "address": self.address,
            "bring": self.bring,
        }

    def guest_view(self) -> dict[str, Any]:
        """What someone not yet admitted may see: the window and who will let them in."""
        host = next((p for p in self.participants if p.role == Role.CASEWORKER), None)
        return {**self._window(), "host": {"name": host.name if host else ""}}

    def public(self) -> dict[str, Any]:
        """The appointment as staff and admitted participants see it (no invite hashes)."""
        return {**self._window(), "participants": [p.public() for p in self.participants]}


@dataclass(frozen=True)
class Profile:
    """A jobseeker as their caseworkers keep them (DESIGN.md, "The jobseeker's space")."""

    id: str  # j_<hex>, pseudonymous
    name: str
    lang: str  # one of LANGUAGES: the space's and the invitations' language
    created_by: str
    created_at: float
    phone: str | None = None
    # SHA-256 of the space code (None: no link issued, or revoked). The version goes up on
    # every issue, reissue and revocation; device sessions of an older version are void.
    space_link_hash: str | None = None
    space_link_version: int = 0

    def public(self) -> dict[str, Any]:
        """The profile as staff see it (no link hash: only whether a link is active)."""
        return {
            "id": self.id,
            "name": self.name,
            "lang": self.lang,
            "phone": self.phone,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "space_link": self.space_link_hash is not None,
        }


@dataclass(frozen=True)
class SpaceSession:
    """One device's session in a jobseeker's space; only the cookie's hash is stored."""

    session_hash: str
    profile_id: str
    created_at: float
    last_seen: float
    expires_at: float  # idle expiry: moved on by every request
    link_version: int  # the profile's space_link_version when the link was opened


@dataclass(frozen=True)
class StaffUser:
    username: str
    display_name: str
    password_hash: str
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StaffUser:
        return cls(**data)


@dataclass(frozen=True)
class Member:
    """A participant's presence in a live room, shared between signalling nodes."""

    participant_id: str
    status: MemberState
    node: str  # the signalling node holding the socket
    conn: str  # connection id; a newer connection replaces an older one
    since: float
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Member:
        return cls(**{**data, "status": MemberState(data["status"])})


@dataclass(frozen=True)
class ShownDocument:
    """The document a call's panel shows now (DESIGN.md, Documents), kept with the room's
    presence so that whoever joins or reconnects later is shown the same page and zoom, and
    a jobseeker who arrives late is still asked. Ids and numbers only, never a title."""

    document: str
    page: int
    zoom: float
    pages: int
    presenter: str  # who opened or last steered it
    asked: bool = False  # the jobseeker's consent was asked for and not answered yet

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ShownDocument:
        return cls(
            document=str(data["document"]),
            page=int(data["page"]),
            zoom=float(data["zoom"]),
            pages=int(data["pages"]),
            presenter=str(data["presenter"]),
            asked=bool(data.get("asked", False)),
        )


@dataclass(frozen=True)
class ShownSection:
    """The e-learning section a call's panel shows now (issue 12): a module's section, kept
    like `ShownDocument` for who joins or reconnects later. Ids only; each participant's page
    fetches the section in their own language."""

    module: str
    section: str
    presenter: str  # who opened or last steered it

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "learning", **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ShownSection:
        return cls(str(data["module"]), str(data["section"]), str(data["presenter"]))


# What a call's one panel shows: a document of the folder or a course section.
ShownPanel = ShownDocument | ShownSection


def shown_panel_from_dict(data: dict[str, Any]) -> ShownPanel:
    """A kept panel back from its `to_dict` (a document's has no `kind`)."""
    if data.get("kind") == "learning":
        return ShownSection.from_dict(data)
    return ShownDocument.from_dict(data)


@dataclass(frozen=True)
class LobbyNote:
    """The latest message to a room's waiting room from one who may admit ("I am running 5
    minutes late"), kept with the room's presence for who starts waiting later."""

    text: str
    at: float
    by: str  # a participant id, or the staff user who sent it from the console

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LobbyNote:
        return cls(text=str(data["text"]), at=float(data["at"]), by=str(data["by"]))

    def message(self) -> dict[str, Any]:
        """The `lobby_message` a waiting socket is sent."""
        return {"type": "lobby_message", "text": self.text, "at": self.at}


@dataclass(frozen=True)
class AttendanceEvent:
    appointment_id: str
    participant_id: str
    event: str  # an AttendanceKind
    at: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AttendanceEvent:
        return cls(**{**data, "event": AttendanceKind(data["event"])})


@dataclass(frozen=True)
class WorkerInfo:
    """A media worker as registered in the node registry."""

    id: str
    load: float  # rooms (or streams) it carries; lower is better
    rooms: int
    heartbeat_at: float
    draining: bool = False  # shutting down: keeps its rooms, takes no new ones

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkerInfo:
        """Fields this version does not know are ignored: during a rolling update, workers of
        a newer version may register next to signalling nodes of an older one."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
