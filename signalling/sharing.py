"""Showing documents in a call (issue 9): who in a call is which kind of viewer, whether the
call is live, the document panel as it stands (for whoever arrives later), and the jobseeker's
consent given over the room socket.

A call reaches exactly one folder: that of the profile linked to the appointment's jobseeker.
Its jobseeker is the folder's owner, its caseworker sees it as staff does, anyone else (an
employer, an interpreter) is a guest who sees rendered pages of a document only while the
jobseeker's consent for it in this call stands (`core.documents.access.decide`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web

from core.audit import Action
from core.clock import Clock
from core.contracts.client import (
    ConsentAnswer,
    ConsentRequest,
    ConsentWithdrawn,
    MessageError,
    Panel,
    PanelClosed,
    PanelShown,
    document_view,
    shown_document,
)
from core.contracts.errors import ErrorCode
from core.documents.access import Consent, DocumentMeta, Viewer, ViewerKind, audit_record
from core.model import (
    Appointment,
    AppointmentStatus,
    Participant,
    Role,
    ShownDocument,
    ShownPanel,
)
from core.store.base import DocumentStore, PresenceStore

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
class Outgoing:
    """A message for the room: to everyone in the call, or only to `to`, or only to holders
    of `grant`, never to `exclude` (as `signalling.room.hub.RoomHub.tell` delivers it)."""

    msg: dict[str, Any]
    to: tuple[str, ...] | None = None
    grant: str | None = None
    exclude: str | None = None


@dataclass
class Sharing:
    """The document panel of each call, consent and its audit trail; the room socket
    (signalling.room.ws) delivers what these return. What the panel shows is kept in the
    ephemeral store (`PresenceStore.set_panel`), so it is the same on every node and whoever
    arrives later is shown it (`welcome`)."""

    documents: DocumentStore
    presence: PresenceStore
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
    ) -> tuple[DocumentMeta, ConsentRequest | None]:
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
        return meta, ConsentRequest(
            meta.id, meta.title, meta.pages, presenter.id, tuple(p.id for p in others)
        )

    async def present(
        self, appointment: Appointment, presenter: Participant, msg: Panel
    ) -> list[Outgoing]:
        """A presenter's `panel` message for a document: `open` (audited; asks the jobseeker's
        device where guests would see it), `sync` (page and zoom) or `close`. The room's panel
        is kept for later arrivals; the others are told."""
        document = shown_document(msg)
        if msg.action == "close":
            current = await self.presence.get_panel(appointment.id)
            if current is None or document_panel(current) is not None:  # not a course section
                await self.presence.set_panel(appointment.id, None, appointment.ends_at)
            closed = PanelClosed(presenter.id).to_dict()
            return [Outgoing(closed, exclude=presenter.id)]
        if document is None:
            raise MessageError(ErrorCode.BAD_FIELD, "state.document must be a document id")
        out: list[Outgoing] = []
        if msg.action == "open":
            meta, question = await self.share(appointment, presenter, document)
            asked = question is not None
            if question is not None:
                out.append(Outgoing(question.to_dict(), to=tuple(owners(appointment))))
        else:
            meta = await self.document(appointment, document)
            before = document_panel(await self.presence.get_panel(appointment.id))
            asked = before is not None and before.document == meta.id and before.asked
        page, zoom = document_view(msg, meta.pages)
        shown = ShownDocument(meta.id, page, zoom, meta.pages, presenter.id, asked)
        await self.presence.set_panel(appointment.id, shown, appointment.ends_at)
        consent = await self.standing(appointment.id, meta.id)
        panel = PanelShown(msg.action, meta.id, page, zoom, meta.pages, presenter.id, consent)
        if msg.action == "sync" and not consent:
            # A guest without consent sees no page, so no page change either: after a
            # withdrawal their panel stays closed (an `open` still shows them the wait).
            others = {p.id for p in guests(appointment)} | {presenter.id}
            to = tuple(p.id for p in appointment.participants if p.id not in others)
            out.append(Outgoing(panel.to_dict(), to=to))
        else:
            out.append(Outgoing(panel.to_dict(), exclude=presenter.id))
        return out

    async def welcome(
        self, appointment: Appointment, participant: Participant, panel: ShownPanel | None
    ) -> list[dict[str, Any]]:
        """For one who just joined or reconnected (after `hello`): the consents of theirs that
        stand (the jobseeker's), the panel as it stands (to a guest only while consent for its
        document stands), and the jobseeker's question if it is still unanswered."""
        viewer = viewer_in_call(appointment, participant)
        out: list[dict[str, Any]] = []
        if viewer.kind is ViewerKind.OWNER:
            out.extend(
                ConsentAnswer(c.document, True, participant.id).to_dict()
                for c in await self.documents.consents(appointment.id)
                if c.stands()
            )
        shown = document_panel(panel)
        if shown is None:  # nothing, or a course section (signalling.call_learning)
            return out
        found = await self.documents.get_document(shown.document)
        if found is None:  # deleted while shown
            await self.presence.set_panel(appointment.id, None, appointment.ends_at)
            return out
        consent = await self.standing(appointment.id, shown.document)
        if viewer.kind is not ViewerKind.GUEST or consent:
            out.append(_current(shown, consent).to_dict())
        if viewer.kind is ViewerKind.OWNER and shown.asked and not consent:
            meta = found[0]
            others = tuple(p.id for p in guests(appointment))
            out.append(
                ConsentRequest(meta.id, meta.title, meta.pages, shown.presenter, others).to_dict()
            )
        log.info(
            "panel_resumed",
            appointment=appointment.id,
            participant=participant.id,
            document=shown.document,
            asked=viewer.kind is ViewerKind.OWNER and shown.asked and not consent,
        )
        return out

    async def answer(
        self, appointment: Appointment, participant: Participant, document_id: str, allow: bool
    ) -> list[Outgoing]:
        """The jobseeker's yes (consent for this call), no, or withdrawal. Everyone learns the
        answer; a withdrawal closes the panel for the guests where it shows that document and
        tells the presenters; a consent opens it for them."""
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
        shown = document_panel(await self.presence.get_panel(appointment.id))
        if shown is not None and shown.document != meta.id:
            shown = None
        if shown is not None and shown.asked:  # answered: no longer asked on arrival
            shown = dataclasses.replace(shown, asked=False)
            await self.presence.set_panel(appointment.id, shown, appointment.ends_at)
        log.info(
            "document_consent",
            appointment=appointment.id,
            participant=participant.id,
            document=meta.id,
            allow=allow,
            changed=changed,
            shown=shown is not None,
        )
        others = tuple(p.id for p in guests(appointment))
        told = Outgoing(ConsentAnswer(meta.id, allow, participant.id).to_dict())
        if not changed:
            return [told]
        if allow:
            if shown is None or not others:
                return [told]
            return [told, Outgoing(_current(shown, True).to_dict(), to=others)]
        out: list[Outgoing] = []
        if shown is not None and others:
            closed = PanelClosed(shown.presenter, "consent_withdrawn")
            out.append(Outgoing(closed.to_dict(), to=others))
        out.append(told)
        withdrawn = ConsentWithdrawn(meta.id, meta.title, participant.id, others)
        out.append(Outgoing(withdrawn.to_dict(), grant="share_documents", exclude=participant.id))
        return out


def document_panel(shown: ShownPanel | None) -> ShownDocument | None:
    """The document the panel shows, if it shows one (not a course section)."""
    return shown if isinstance(shown, ShownDocument) else None


def owners(appointment: Appointment) -> list[str]:
    """Who decides about the call's folder: its jobseeker."""
    return [
        p.id
        for p in appointment.participants
        if viewer_in_call(appointment, p).kind is ViewerKind.OWNER
    ]


def _current(shown: ShownDocument, consent: bool) -> PanelShown:
    return PanelShown(
        "open",
        shown.document,
        shown.page,
        shown.zoom,
        shown.pages,
        shown.presenter,
        consent,
        current=True,
    )


SHARING = web.AppKey("sharing", Sharing)
