"""Document records of the application folders, their wrapped keys and the jobseekers'
consents, in the relational database. `SqlDocuments` is the `DocumentStore` half of
`core.store.sql.SqlStore` (which mixes it in)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from core.audit import AuditLog
from core.db.engine import writing
from core.db.tables import document_consents, documents
from core.documents.access import Consent, DocumentMeta
from core.documents.intake import Kind
from core.documents.sealing import WrappedKey
from core.store.sqlaudit import SqlAuditLog


def _meta(row: sa.Row[Any]) -> DocumentMeta:
    return DocumentMeta(
        id=row.id,
        profile=row.profile_id,
        title=row.title,
        kind=Kind(row.kind),
        media_type=row.media_type,
        size=row.size,
        pages=row.pages,
        uploaded_by=row.uploaded_by,
        uploaded_at=row.uploaded_at,
        last_used_at=row.last_used_at,
    )


def _consent(row: sa.Row[Any]) -> Consent:
    return Consent(row.document_id, row.appointment_id, row.given_at, row.withdrawn_at)


class SqlDocuments:
    _engine: AsyncEngine
    _audit_log: SqlAuditLog | None = None

    @property
    def audit(self) -> AuditLog:
        """The audit trail, in the same database (one log per store: its appends take turns)."""
        if self._audit_log is None:
            self._audit_log = SqlAuditLog(self._engine)
        return self._audit_log

    async def put_document(self, meta: DocumentMeta, wrapped: WrappedKey) -> None:
        values = {
            "id": meta.id,
            "profile_id": meta.profile,
            "title": meta.title,
            "kind": str(meta.kind),
            "media_type": meta.media_type,
            "size": meta.size,
            "pages": meta.pages,
            "uploaded_by": meta.uploaded_by,
            "uploaded_at": meta.uploaded_at,
            "last_used_at": meta.last_used_at,
            "key_kid": wrapped.kid,
            "wrapped_key": wrapped.blob,
        }
        async with writing(self._engine) as conn:
            await conn.execute(documents.insert().values(values))

    async def get_document(self, document_id: str) -> tuple[DocumentMeta, WrappedKey] | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(documents.select().where(documents.c.id == document_id))
            ).first()
        if row is None:
            return None
        return _meta(row), WrappedKey(row.key_kid, bytes(row.wrapped_key))

    async def list_documents(self, profile_id: str) -> list[DocumentMeta]:
        query = (
            documents.select()
            .where(documents.c.profile_id == profile_id)
            .order_by(documents.c.uploaded_at.desc(), documents.c.id)
        )
        async with self._engine.connect() as conn:
            return [_meta(row) for row in await conn.execute(query)]

    async def touch_document(self, document_id: str, at: float) -> None:
        async with writing(self._engine) as conn:
            await conn.execute(
                documents.update()
                .where(documents.c.id == document_id, documents.c.last_used_at < at)
                .values(last_used_at=at)
            )

    async def delete_document(self, document_id: str) -> bool:
        """The record and its wrapped key (and its consents) go: the blob is unreadable."""
        async with writing(self._engine) as conn:
            await conn.execute(
                document_consents.delete().where(document_consents.c.document_id == document_id)
            )
            result = await conn.execute(documents.delete().where(documents.c.id == document_id))
        return bool(result.rowcount)

    async def documents_unused_since(self, cutoff: float) -> list[DocumentMeta]:
        query = documents.select().where(documents.c.last_used_at < cutoff).limit(1000)
        async with self._engine.connect() as conn:
            return [_meta(row) for row in await conn.execute(query)]

    async def wrapped_keys(self, not_kid: str, limit: int = 500) -> list[tuple[str, WrappedKey]]:
        """Documents whose key is wrapped by another master key than `not_kid` (rewrap)."""
        query = (
            sa.select(documents.c.id, documents.c.key_kid, documents.c.wrapped_key)
            .where(documents.c.key_kid != not_kid)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = await conn.execute(query)
            return [(r.id, WrappedKey(r.key_kid, bytes(r.wrapped_key))) for r in rows]

    async def replace_wrapped_key(self, document_id: str, old: WrappedKey, new: WrappedKey) -> bool:
        """Swap the wrapped key if it is still `old` (compare and set)."""
        async with writing(self._engine) as conn:
            result = await conn.execute(
                documents.update()
                .where(documents.c.id == document_id, documents.c.wrapped_key == old.blob)
                .values(key_kid=new.kid, wrapped_key=new.blob)
            )
        return bool(result.rowcount)

    async def set_consent(self, consent: Consent) -> None:
        """Give (or give again) consent for a document in a call, or withdraw it."""
        async with writing(self._engine) as conn:
            await conn.execute(
                document_consents.delete().where(
                    document_consents.c.document_id == consent.document,
                    document_consents.c.appointment_id == consent.appointment,
                )
            )
            await conn.execute(
                document_consents.insert().values(
                    document_id=consent.document,
                    appointment_id=consent.appointment,
                    given_at=consent.given_at,
                    withdrawn_at=consent.withdrawn_at,
                )
            )

    async def consents(self, appointment_id: str) -> list[Consent]:
        query = document_consents.select().where(
            document_consents.c.appointment_id == appointment_id
        )
        async with self._engine.connect() as conn:
            return [_consent(row) for row in await conn.execute(query)]
