"""Deletion by policy: appointments (names, attendance, consents) go a set time after their
window ends; idle space sessions go; documents unused for their retention period are shredded.
Runs in every signalling process; deleting twice is harmless."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from signalling.context import SERVICES, Services
from signalling.folder import FOLDER, Folder

log = structlog.get_logger(__name__)

PURGE_INTERVAL = 3600.0


async def purge_once(services: Services) -> int:
    cutoff = services.clock.now() - services.settings.retention_days * 86400
    gone = await services.appointments.purge_appointments(cutoff)
    for appointment_id in gone:  # the room's ephemeral state goes with its record
        await services.presence.clear_members(appointment_id)
    if gone:
        log.info("appointments_purged", count=len(gone))
    return len(gone)


async def _purge_forever(services: Services, folder: Folder | None) -> None:
    while True:
        try:
            await purge_once(services)
            await services.profiles.purge_space_sessions()
            if folder is not None:  # documents unused for their retention period
                await folder.expire()
        except Exception:  # a store hiccup must not end the retention loop
            log.exception("purge_failed")
        await asyncio.sleep(PURGE_INTERVAL)


async def retention_ctx(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(_purge_forever(app[SERVICES], app.get(FOLDER)), name="retention")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
