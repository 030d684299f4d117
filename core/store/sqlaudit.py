"""The audit trail in the relational database (`core.audit.AuditLog` on SQLite or PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Collection, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from core.audit import Action, AuditEntry, AuditRecord, chain
from core.db.engine import writing
from core.db.group_commit import GroupCommit
from core.db.tables import audit_log

APPEND_ATTEMPTS = 50
_INSERT = audit_log.insert()  # built once: every admission, join and leave appends


def _entry(row: sa.Row[Any]) -> AuditEntry:
    record = AuditRecord(
        at=row.at,
        actor=row.actor,
        actor_role=row.actor_role,
        action=Action(row.action),
        profile=row.profile_id,
        appointment=row.appointment_id,
        document=row.document_id,
        subject=row.subject,
        detail=json.loads(row.detail),
    )
    return AuditEntry(row.seq, record, row.prev, row.hash)


class SqlAuditLog:
    """Appends of one process are written in turn by one writer (a group commit: a burst
    shares a few transactions), which chains onto the head it wrote last. Another node's
    append shows as a primary-key conflict, and the loser reads the head again and chains the
    whole batch onto it."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._appends = GroupCommit(self._insert, "audit-appends")
        self._head: AuditEntry | None = None
        self._head_known = False

    async def append(self, record: AuditRecord) -> AuditEntry:
        """Returns once the entry is committed."""
        return await self._appends.submit(record)

    async def drain(self) -> None:
        """Wait for the appends under way."""
        await self._appends.drain()

    async def _insert(self, records: Sequence[AuditRecord]) -> list[AuditEntry]:
        for attempt in range(APPEND_ATTEMPTS):
            if not self._head_known:
                self._head, self._head_known = await self.head(), True
            entries, head = [], self._head
            for record in records:
                head = chain(head, record)
                entries.append(head)
            try:
                async with writing(self._engine) as conn:
                    await conn.execute(_INSERT, [self._row(entry) for entry in entries])
            except IntegrityError:
                # Another node appended one of these `seq` first: chain onto its entries.
                self._head_known = False
                await asyncio.sleep(0.001 * attempt)
                continue
            self._head = entries[-1]
            return entries
        raise RuntimeError("the audit log is too busy to append to")

    @staticmethod
    def _row(entry: AuditEntry) -> dict[str, Any]:
        r = entry.record
        return {
            "seq": entry.seq,
            "at": r.at,
            "actor": r.actor,
            "actor_role": r.actor_role,
            "action": str(r.action),
            "profile_id": r.profile,
            "appointment_id": r.appointment,
            "document_id": r.document,
            "subject": r.subject,
            "detail": json.dumps(dict(sorted(r.detail.items())), separators=(",", ":")),
            "prev": entry.prev,
            "hash": entry.hash,
        }

    async def head(self) -> AuditEntry | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(audit_log.select().order_by(audit_log.c.seq.desc()).limit(1))
            ).first()
        return _entry(row) if row is not None else None

    async def entries(self, after: int = 0, limit: int = 1000) -> list[AuditEntry]:
        query = (
            audit_log.select().where(audit_log.c.seq > after).order_by(audit_log.c.seq).limit(limit)
        )
        async with self._engine.connect() as conn:
            return [_entry(row) for row in await conn.execute(query)]

    async def for_profile(
        self, profile: str, limit: int = 200, appointments: Collection[str] = ()
    ) -> list[AuditEntry]:
        about = audit_log.c.profile_id == profile
        if appointments:
            about = sa.or_(about, audit_log.c.appointment_id.in_(sorted(appointments)))
        query = audit_log.select().where(about).order_by(audit_log.c.seq.desc()).limit(limit)
        async with self._engine.connect() as conn:
            return [_entry(row) for row in await conn.execute(query)]
