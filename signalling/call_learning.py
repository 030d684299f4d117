"""Course sections in a call (issue 12): the caseworker shows a section of an e-learning
module in the call's panel, everyone sees it in their own language and steps through it
together. It is read-only: nobody's answers are taken and no progress is recorded, since a
call is not one learner's session. Imported SCORM courses are not shown here (a SCORM course
needs one learner's runtime); only the catalog's own modules are.

The panel is the call's one panel (`PresenceStore.set_panel`, shared with the documents of
`signalling.sharing`): opening a section replaces a shown document and the other way round.
Course content is not personal data, so guests (employers, interpreters) see it as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web

from core.audit import Action, AuditLog, AuditRecord
from core.clock import Clock
from core.contracts.client import (
    LEARNING_PANEL,
    MessageError,
    Panel,
    PanelClosed,
    SectionShown,
    shown_section,
)
from core.contracts.errors import ErrorCode
from core.documents.access import role_of
from core.model import Appointment, Participant, ShownDocument, ShownPanel, ShownSection
from core.store.base import PresenceStore
from signalling.learning.catalog import Catalog, Module, Section
from signalling.sharing import Outgoing, linked_profile, viewer_in_call

log = structlog.get_logger(__name__)


@dataclass
class CallLearning:
    """The course section panel of each call and its audit trail; the room socket
    (signalling.room.ws) delivers what `present` returns, the hub what `welcome` returns."""

    catalog: Catalog
    presence: PresenceStore
    audit: AuditLog
    clock: Clock

    def find(self, module_id: str, section_id: str) -> tuple[Module, Section]:
        """The catalog's module and its section, or not_found."""
        module = self.catalog.get(module_id)
        section = None if module is None else module.section(section_id)
        if module is None or section is None:
            raise MessageError(ErrorCode.NOT_FOUND, "no such module or section")
        return module, section

    async def present(
        self, appointment: Appointment, presenter: Participant, msg: Panel
    ) -> list[Outgoing]:
        """A presenter's learning `panel` message: `open` (audited), `sync` (another section,
        audited when it is another module) or `close`. Kept for later arrivals; the others
        are told."""
        if msg.action == "close":
            if not isinstance(await self.presence.get_panel(appointment.id), ShownDocument):
                # (a document shown meanwhile is not this panel's to close)
                await self.presence.set_panel(appointment.id, None, appointment.ends_at)
            log.info(
                "learning_closed_in_call", appointment=appointment.id, participant=presenter.id
            )
            closed = PanelClosed(presenter.id, panel=LEARNING_PANEL)
            return [Outgoing(closed.to_dict(), exclude=presenter.id)]
        module_id, section_id = shown_section(msg)
        module, section = self.find(module_id, section_id)
        before = await self.presence.get_panel(appointment.id)
        if msg.action == "sync" and not isinstance(before, ShownSection):
            raise MessageError(ErrorCode.BAD_FIELD, "no course section is shown: open one first")
        shown = ShownSection(module.id, section.id, presenter.id)
        await self.presence.set_panel(appointment.id, shown, appointment.ends_at)
        if msg.action == "open" or (
            isinstance(before, ShownSection) and before.module != module.id
        ):
            await self.audit.append(
                AuditRecord(
                    at=self.clock.now(),
                    actor=presenter.id,
                    actor_role=role_of(viewer_in_call(appointment, presenter)),
                    action=Action.LEARNING_SHOWN,
                    profile=linked_profile(appointment),
                    appointment=appointment.id,
                    detail={"module": module.id, "section": section.id},
                )
            )
            log.info(
                "learning_shown_in_call",
                appointment=appointment.id,
                participant=presenter.id,
                module=module.id,
                section=section.id,
            )
        told = SectionShown(msg.action, module.id, section.id, presenter.id)
        return [Outgoing(told.to_dict(), exclude=presenter.id)]

    async def welcome(
        self, appointment: Appointment, participant: Participant, shown: ShownPanel | None
    ) -> list[dict[str, Any]]:
        """For one who just joined or reconnected: the section the panel shows, if any."""
        if not isinstance(shown, ShownSection):
            return []
        if self.catalog.get(shown.module) is None:  # the catalog changed meanwhile
            await self.presence.set_panel(appointment.id, None, appointment.ends_at)
            return []
        log.info(
            "learning_panel_resumed",
            appointment=appointment.id,
            participant=participant.id,
            module=shown.module,
            section=shown.section,
        )
        current = SectionShown("open", shown.module, shown.section, shown.presenter, current=True)
        return [current.to_dict()]


CALL_LEARNING = web.AppKey("call_learning", CallLearning)
