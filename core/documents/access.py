"""Who may do what with a document of someone's application folder: pure rules, no I/O.

The folder belongs to the jobseeker (the profile). Its owner and the job centre's caseworkers
may always open, download and present its documents. Anybody else in a call (an employer, an
interpreter) sees rendered pages of one document only while the jobseeker's consent for that
document in that call stands: given on the jobseeker's own device, withdrawn at any time, and
over when the call ends. Nobody but the owner and caseworkers is ever handed the original.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from core.audit import Action, AuditRecord
from core.contracts.errors import ErrorCode
from core.documents.intake import Kind

MAX_DOCUMENTS = 50  # per folder
MAX_FOLDER_BYTES = 200 * 1024 * 1024


class Use(StrEnum):
    PAGES = "pages"  # rendered pages (the panel, the folder's preview)
    ORIGINAL = "original"  # the file itself, as an attachment
    DELETE = "delete"
    PRESENT = "present"  # show it in a call's panel


class ViewerKind(StrEnum):
    OWNER = "owner"  # the jobseeker, through their space or as the call's jobseeker
    STAFF = "staff"  # a caseworker of the job centre
    GUEST = "guest"  # anybody else in a call: employer, interpreter


@dataclass(frozen=True)
class DocumentMeta:
    id: str
    profile: str
    title: str
    kind: Kind
    media_type: str
    size: int  # bytes of the stored (clean) document
    pages: int
    uploaded_by: str  # actor id
    uploaded_at: float
    last_used_at: float  # retention counts from here


@dataclass(frozen=True)
class Viewer:
    kind: ViewerKind
    actor: str  # profile id, staff user or participant id
    profile: str | None = None  # OWNER: whose space
    appointment: str | None = None  # GUEST: the call they are in


@dataclass(frozen=True)
class Consent:
    """The jobseeker's yes to showing `document` to the others in `appointment`."""

    document: str
    appointment: str
    given_at: float
    withdrawn_at: float | None = None

    def stands(self) -> bool:
        return self.withdrawn_at is None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: ErrorCode | None = None  # why not


def decide(
    viewer: Viewer,
    document: DocumentMeta,
    use: Use,
    *,
    consents: tuple[Consent, ...] = (),
    call_live: bool = False,
) -> Decision:
    """May `viewer` put `document` to `use`? `call_live`: the guest's appointment is running."""
    if viewer.kind is ViewerKind.STAFF:
        return Decision(True)
    if viewer.kind is ViewerKind.OWNER:
        if viewer.profile == document.profile:
            return Decision(True)
        return Decision(
            False, ErrorCode.NOT_FOUND
        )  # another person's folder does not exist for them
    if use is not Use.PAGES:
        return Decision(False, ErrorCode.FORBIDDEN)
    if viewer.appointment is None or not call_live:
        return Decision(False, ErrorCode.CONSENT_REQUIRED)
    if any(
        c.document == document.id and c.appointment == viewer.appointment and c.stands()
        for c in consents
    ):
        return Decision(True)
    return Decision(False, ErrorCode.CONSENT_REQUIRED)


def room_for(documents: list[DocumentMeta], size: int) -> ErrorCode | None:
    """Why one more document of `size` bytes does not fit the folder, or None."""
    if len(documents) >= MAX_DOCUMENTS:
        return ErrorCode.FOLDER_FULL
    if sum(d.size for d in documents) + size > MAX_FOLDER_BYTES:
        return ErrorCode.FOLDER_TOO_LARGE
    return None


def expired(document: DocumentMeta, now: float, retention_days: float) -> bool:
    """The retention period is over: unused for `retention_days` (then it is shredded)."""
    return now - document.last_used_at > retention_days * 86400


def role_of(viewer: Viewer) -> str:
    """The role an audit entry names for `viewer`."""
    return {
        ViewerKind.OWNER: "jobseeker",
        ViewerKind.STAFF: "caseworker",
        ViewerKind.GUEST: "guest",
    }[viewer.kind]


def audit_record(
    viewer: Viewer,
    action: Action,
    document: DocumentMeta,
    at: float,
    subject: str | None = None,
    detail: dict[str, str | int] | None = None,
) -> AuditRecord:
    """The audit entry for `viewer` doing `action` to `document` (in their call, if any)."""
    return AuditRecord(
        at=at,
        actor=viewer.actor,
        actor_role=role_of(viewer),
        action=action,
        profile=document.profile,
        appointment=viewer.appointment,
        document=document.id,
        subject=subject,
        detail=detail or {},
    )
