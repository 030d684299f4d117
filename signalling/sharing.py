"""Showing documents in a call (issue 9): who in a call is which kind of viewer, whether the
call is live, and the jobseeker's consent given over the room socket.

A call reaches exactly one folder: that of the profile linked to the appointment's jobseeker.
Its jobseeker is the folder's owner, its caseworker sees it as staff does, anyone else (an
employer, an interpreter) is a guest who sees rendered pages of a document only while the
jobseeker's consent for it in this call stands (`core.documents.access.decide`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web

from core.audit import Action
from core.clock import Clock
from core.contracts.client import MessageError
from core.contracts.errors import ErrorCode
from core.documents.access import Consent, DocumentMeta, Viewer, ViewerKind, audit_record
from core.model import Appointment, AppointmentStatus, Participant, Role
from core.store.base import DocumentStore

log = structlog.get_logger(__name__)


def linked_profile(appointment: Appointment) -> str | None:
    """The profile whose folder this call may show: its jobseeker's, if scheduled for one."""
    return next(
        (
            p.profile_id
            for p in appointment.participants
            if p.role == Role.JOBSEEKER and p.profile_id is not None
        ),
        None,
    )


def viewer_in_call(appointment: Appointment, participant: Participant) -> Viewer:
    """Policy: the linked jobseeker owns the folder, a caseworker opens it as staff do,
    everyone else is a guest of this call."""
    profile = linked_profile(appointment)
    if participant.role == Role.JOBSEEKER and profile and participant.profile_id == profile:
        return Viewer(ViewerKind.OWNER, participant.id, profile=profile, appointment=appointment.id)
    if participant.role == Role.CASEWORKER:
        return Viewer(ViewerKind.STAFF, participant.id, appointment=appointment.id)
    return Viewer(ViewerKind.GUEST, participant.id, appointment=appointment.id)


def call_live(appointment: Appointment, now: float) -> bool:
    """The call runs: scheduled, not ended, inside its window (as the hub's sweep sees it)."""
    return appointment.status == AppointmentStatus.SCHEDULED and now < appointment.ends_at


def guests(appointment: Appointment) -> list[Participant]:
    return [
        p
        for p in appointment.participants
        if viewer_in_call(appointment, p).kind is ViewerKind.GUEST
    ]


@dataclass(frozen=True)
class Answer:
    """What the room is told after the jobseeker answered."""

    document: str
    allow: bool
    changed: bool  # a consent was given or withdrawn (not a "not now" with nothing standing)


@dataclass
class Sharing:
    """Consent and its audit trail; the room socket (signalling.room.ws) delivers the messages."""

    documents: DocumentStore
    clock: Clock

    async def _audit(
        self, viewer: Viewer, action: Action, meta: DocumentMeta, subject: str | None = None
    ) -> None:
        record = audit_record(viewer, action, meta, self.clock.now(), subject=subject)
        await self.documents.audit.append(record)

    async def document(self, appointment: Appointment, document_id: str) -> DocumentMeta:
        """A document of the call's folder, or not_found (another folder does not exist here)."""
        found = await self.documents.get_document(document_id)
        if found is None or found[0].profile != linked_profile(appointment):
            raise MessageError(ErrorCode.NOT_FOUND, "no such document")
        return found[0]

    async def standing(self, appointment_id: str, document_id: str) -> bool:
        return any(
            c.document == document_id and c.stands()
            for c in await self.documents.consents(appointment_id)
        )

    async def share(
        self, appointment: Appointment, presenter: Participant, document_id: str
    ) -> tuple[DocumentMeta, dict[str, Any] | None]:
        """The presenter opens a document in the panel: audited; returns the question for the
        jobseeker's device when guests are in the call and no consent stands, else None."""
        meta = await self.document(appointment, document_id)
        viewer = viewer_in_call(appointment, presenter)
        others = guests(appointment)
        await self._audit(viewer, Action.SHARE, meta)
        log.info(
            "document_shared",
            appointment=appointment.id,
            participant=presenter.id,
            document=meta.id,
        )
        if not others or await self.standing(appointment.id, meta.id):
            return meta, None
        return meta, {
            "type": "consent_request",
            "document": meta.id,
            "title": meta.title,
            "pages": meta.pages,
            "by": presenter.id,
            "guests": [p.id for p in others],
        }

    async def answer(
        self, appointment: Appointment, participant: Participant, document_id: str, allow: bool
    ) -> Answer:
        """The jobseeker's yes (consent for this call), no, or withdrawal."""
        viewer = viewer_in_call(appointment, participant)
        if viewer.kind is not ViewerKind.OWNER:
            raise MessageError(
                ErrorCode.FORBIDDEN, "only the jobseeker decides about their documents"
            )
        meta = await self.document(appointment, document_id)
        now = self.clock.now()
        stands = await self.standing(appointment.id, meta.id)
        if allow:
            await self.documents.set_consent(Consent(meta.id, appointment.id, now))
            if not stands:
                await self._audit(viewer, Action.CONSENT, meta)
            changed = not stands
        elif stands:
            given = next(
                c
                for c in await self.documents.consents(appointment.id)
                if c.document == meta.id and c.stands()
            )
            await self.documents.set_consent(
                Consent(meta.id, appointment.id, given.given_at, withdrawn_at=now)
            )
            await self._audit(viewer, Action.WITHDRAW, meta)
            changed = True
        else:
            changed = False
        log.info(
            "document_consent",
            appointment=appointment.id,
            participant=participant.id,
            document=meta.id,
            allow=allow,
            changed=changed,
        )
        return Answer(meta.id, allow, changed)


SHARING = web.AppKey("sharing", Sharing)
