"""The application folder as a service: uploads become clean, sealed documents; every read,
download and deletion is decided by `core.documents.access` and written to the audit trail.

The HTTP layer (signalling.http.documents_api) says who is asking; this module does the rest.
CPU-heavy work (parsing, re-encoding, rendering, sealing) runs in a worker thread so the
event loop keeps serving calls meanwhile.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

import structlog
from aiohttp import web

from core.audit import Action, AuditRecord
from core.clock import Clock
from core.contracts.errors import ErrorCode
from core.documents import intake
from core.documents.access import (
    Consent,
    Decision,
    DocumentMeta,
    Use,
    Viewer,
    ViewerKind,
    audit_record,
    decide,
    expired,
    room_for,
)
from core.documents.blobs import BlobError
from core.documents.intake import Clean, Kind
from core.documents.render import Page, render_page
from core.documents.sealing import SealError
from core.documents.vault import DocumentVault
from core.store.base import DocumentStore

log = structlog.get_logger(__name__)


class FolderError(Exception):
    """A request the folder refuses, with its HTTP status."""

    def __init__(self, status: int, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def new_document_id() -> str:
    return f"d_{secrets.token_hex(16)}"


def _clean(files: list[bytes]) -> Clean:
    """One file as it is (cleaned); several (photos of one paper) as one PDF."""
    return intake.clean(files[0]) if len(files) == 1 else intake.photos_to_pdf(files)


@dataclass
class Folder:
    documents: DocumentStore
    vault: DocumentVault
    clock: Clock
    retention_days: float = 180.0

    async def _audit(
        self, viewer: Viewer, action: Action, meta: DocumentMeta, **detail: str | int
    ) -> None:
        record = audit_record(viewer, action, meta, self.clock.now(), detail=detail)
        await self.documents.audit.append(record)

    async def documents_of(self, viewer: Viewer, profile: str) -> list[DocumentMeta]:
        if viewer.kind is ViewerKind.OWNER and viewer.profile != profile:
            raise FolderError(404, ErrorCode.NOT_FOUND, "no such folder")
        if viewer.kind is ViewerKind.GUEST:
            raise FolderError(
                403, ErrorCode.FORBIDDEN, "only the owner and caseworkers see the folder"
            )
        return await self.documents.list_documents(profile)

    async def upload(
        self, viewer: Viewer, profile: str, title: str, kind: Kind, files: list[bytes]
    ) -> DocumentMeta:
        """One document from one file, or from several photos of one paper document."""
        if viewer.kind is ViewerKind.GUEST or (
            viewer.kind is ViewerKind.OWNER and viewer.profile != profile
        ):
            raise FolderError(
                403, ErrorCode.FORBIDDEN, "only the owner and caseworkers add documents"
            )
        name = intake.clean_title(title)
        if not name:
            raise FolderError(400, ErrorCode.INVALID, "a document needs a title")
        if not files:
            raise FolderError(400, ErrorCode.INVALID, "no file")
        try:
            clean = await asyncio.to_thread(_clean, files)
        except intake.IntakeError as exc:
            raise FolderError(422, ErrorCode(str(exc.refusal)), str(exc)) from None
        present = await self.documents.list_documents(profile)
        if (why := room_for(present, len(clean.data))) is not None:
            raise FolderError(409, why, "the folder has no room for this document")
        now = self.clock.now()
        meta = DocumentMeta(
            id=new_document_id(),
            profile=profile,
            title=name,
            kind=kind,
            media_type=clean.media_type,
            size=len(clean.data),
            pages=clean.pages,
            uploaded_by=viewer.actor,
            uploaded_at=now,
            last_used_at=now,
        )
        wrapped = await self.vault.put(meta.id, clean.data)
        try:
            await self.documents.put_document(meta, wrapped)
        except BaseException:
            await self.vault.shred(meta.id)  # no blob without its record
            raise
        await self._audit(viewer, Action.UPLOAD, meta, pages=meta.pages, kind=str(kind))
        log.info("document_uploaded", profile=profile, document=meta.id, pages=meta.pages)
        return meta

    @staticmethod
    def _check(decision: Decision) -> None:
        if decision.allowed:
            return
        reason = decision.reason or ErrorCode.FORBIDDEN
        status = 404 if reason is ErrorCode.NOT_FOUND else 403
        raise FolderError(status, reason, "not allowed")

    async def _find(
        self, viewer: Viewer, document_id: str, use: Use, within: str | None = None
    ) -> tuple[DocumentMeta, bytes]:
        found = await self.documents.get_document(document_id)
        if found is None or (within is not None and found[0].profile != within):
            raise FolderError(404, ErrorCode.NOT_FOUND, "no such document")
        meta, wrapped = found
        consents: tuple[Consent, ...] = ()
        call_live = False
        if viewer.kind is ViewerKind.GUEST and viewer.appointment is not None:
            consents = tuple(await self.documents.consents(viewer.appointment))
            call_live = True  # the HTTP layer admits guests only with a live room token
        self._check(decide(viewer, meta, use, consents=consents, call_live=call_live))
        try:
            data = await self.vault.read(meta.id, wrapped)
        except (SealError, BlobError):
            # Tampered with, cut short or missing: refused, never served; someone must look.
            log.error("document_unreadable", profile=meta.profile, document=meta.id)
            raise FolderError(
                500, ErrorCode.DOCUMENT_DAMAGED, "the document cannot be read"
            ) from None
        await self.documents.touch_document(meta.id, self.clock.now())
        return meta, data

    async def page(
        self, viewer: Viewer, document_id: str, number: int, width: int, within: str | None = None
    ) -> Page:
        """A rendered page; `within`: only a document of that profile exists (a call reaches
        only the folder of its own jobseeker)."""
        meta, data = await self._find(viewer, document_id, Use.PAGES, within)
        if not 1 <= number <= meta.pages:
            raise FolderError(404, ErrorCode.NOT_FOUND, "no such page")
        page = await asyncio.to_thread(render_page, data, meta.media_type, number, width)
        await self._audit(viewer, Action.VIEW, meta, page=number)
        return page

    async def original(self, viewer: Viewer, document_id: str) -> tuple[DocumentMeta, bytes]:
        meta, data = await self._find(viewer, document_id, Use.ORIGINAL)
        await self._audit(viewer, Action.DOWNLOAD, meta)
        return meta, data

    async def delete(self, viewer: Viewer, document_id: str) -> None:
        found = await self.documents.get_document(document_id)
        if found is None:
            raise FolderError(404, ErrorCode.NOT_FOUND, "no such document")
        meta = found[0]
        self._check(decide(viewer, meta, Use.DELETE))
        await self._shred(meta)
        await self._audit(viewer, Action.DELETE, meta)

    async def _shred(self, meta: DocumentMeta) -> None:
        # The wrapped key first: once it is gone the blob is unreadable even if removing the
        # blob fails (or a copy survives in a backup).
        await self.documents.delete_document(meta.id)
        await self.vault.shred(meta.id)

    async def expire(self) -> int:
        """Shred documents unused for the retention period; returns how many."""
        now = self.clock.now()
        cutoff = now - self.retention_days * 86400
        gone = 0
        for meta in await self.documents.documents_unused_since(cutoff):
            if not expired(meta, now, self.retention_days):
                continue
            await self._shred(meta)
            await self.documents.audit.append(
                AuditRecord(
                    at=now,
                    actor="retention",
                    actor_role="system",
                    action=Action.EXPIRE,
                    profile=meta.profile,
                    document=meta.id,
                )
            )
            gone += 1
        if gone:
            log.info("documents_expired", count=gone)
        return gone


FOLDER = web.AppKey("folder", Folder)
