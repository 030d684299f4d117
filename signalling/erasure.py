"""The jobseeker's right to erasure: deleting a profile takes its documents (crypto-shredded,
as the folder deletes one), its device sessions and the profile's record (name, language,
phone) with it. The audit trail stays: it holds ids and roles, never names (core.audit), and
says who erased what.

Not while an appointment for the profile is still to come (cancel it first): its call would
show the folder of a profile that is gone. Appointments that took place keep their record,
with the participant's name, until the retention period removes them (signalling.retention).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import structlog

from core.audit import Action
from core.documents.access import Viewer, ViewerKind
from core.model import Appointment, AppointmentStatus, Profile
from core.store.base import ProfileStore
from signalling.folder import Folder, FolderError
from signalling.profiles import profile_record

log = structlog.get_logger(__name__)


def pending(appointments: list[Appointment], now: float) -> list[Appointment]:
    """The appointments that stand in the way of erasure: scheduled and not over yet."""
    return [a for a in appointments if a.status == AppointmentStatus.SCHEDULED and a.ends_at > now]


@dataclass(frozen=True)
class Erased:
    profile: str
    documents: int


async def erase_profile(
    profile: Profile, profiles: ProfileStore, folder: Folder, staff_user: str
) -> Erased | None:
    """Shred every document of `profile`, then delete it and its sessions; None if it was
    gone meanwhile. Each shredded document and the deletion itself are audited."""
    staff = Viewer(ViewerKind.STAFF, staff_user)
    documents = await folder.documents.list_documents(profile.id)
    for meta in documents:
        with contextlib.suppress(FolderError):  # deleted meanwhile
            await folder.delete(staff, meta.id)  # key first, then blob; audited as a deletion
    if not await profiles.delete_profile(profile.id):
        return None
    record = profile_record(
        Action.PROFILE,
        profile.id,
        folder.clock.now(),
        actor=staff_user,
        role="caseworker",
        change="delete",
        documents=len(documents),
    )
    await folder.documents.audit.append(record)
    log.info("profile_erased", profile=profile.id, staff=staff_user, documents=len(documents))
    return Erased(profile.id, len(documents))
