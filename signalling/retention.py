"""Deletion by policy: appointments (names, attendance, consents) go a set time after their
window ends; idle space sessions go; documents unused for their retention period are shredded;
closed help requests go `help_retention_days` after their last change (open ones stay).
Runs in every signalling process; deleting twice is harmless."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from core.audit import Action, AuditRecord
from core.tasks import Lifetime
from signalling.context import SERVICES, Services
from signalling.folder import FOLDER, Folder

log = structlog.get_logger(__name__)

PURGE_INTERVAL = 3600.0
PURGE_FINISH_WAIT = 10.0  # seconds a purge at work gets to finish when the app shuts down


async def purge_once(services: Services) -> int:
    cutoff = services.clock.now() - services.settings.retention_days * 86400
    gone = await services.appointments.purge_appointments(cutoff)
    for appointment_id in gone:  # the room's ephemeral state goes with its record
        await services.presence.clear_members(appointment_id)
    if gone:
        log.info("appointments_purged", count=len(gone))
    return len(gone)


async def purge_help_requests(services: Services) -> int:
    """Delete closed help requests past their retention period; each deletion is audited."""
    now = services.clock.now()
    gone = await services.help.purge_help_requests(
        now - services.settings.help_retention_days * 86400
    )
    for request in gone:
        await services.documents.audit.append(
            AuditRecord(
                at=now,
                actor="retention",
                actor_role="system",
                action=Action.HELP_EXPIRE,
                profile=request.profile,
                appointment=request.appointment,
                subject=request.id,
                detail={"kind": str(request.kind), "status": str(request.status)},
            )
        )
    if gone:
        log.info("help_requests_purged", count=len(gone))
    return len(gone)


async def _purge_forever(services: Services, folder: Folder | None, lifetime: Lifetime) -> None:
    while True:
        try:
            await purge_once(services)
            await services.profiles.purge_space_sessions()
            await purge_help_requests(services)
            if folder is not None:  # documents unused for their retention period
                await folder.expire()
        except Exception:  # a store hiccup must not end the retention loop
            log.exception("purge_failed")
        if not await lifetime.pause(PURGE_INTERVAL):
            return


async def retention_ctx(app: web.Application) -> AsyncIterator[None]:
    lifetime = Lifetime()
    task = asyncio.create_task(
        _purge_forever(app[SERVICES], app.get(FOLDER), lifetime), name="retention"
    )
    yield
    # A purge at work (the app shuts down right after starting) finishes before the stores
    # close; only one that hangs is cancelled.
    lifetime.end()
    await asyncio.wait({task}, timeout=PURGE_FINISH_WAIT)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
