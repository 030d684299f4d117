"""Help requests and the caseworkers' replies in the relational database. `SqlHelp` is the
`HelpStore` half of `core.store.sql.SqlStore` (which mixes it in)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.db.engine import writing
from core.db.tables import help_replies, help_requests
from core.help import CLOSED, HelpKind, HelpReply, HelpRequest, HelpStatus, ReplyKind

_CLOSED = sorted(str(s) for s in CLOSED)


def _ages(text: str) -> tuple[int, ...]:
    return tuple(int(a) for a in text.split(",")) if text else ()


def _request(row: sa.Row[Any], replies: Sequence[HelpReply]) -> HelpRequest:
    return HelpRequest(
        id=row.id,
        profile=row.profile_id,
        kind=HelpKind(row.kind),
        text=row.text,
        created_at=row.created_at,
        updated_at=row.updated_at,
        status=HelpStatus(row.status),
        appointment=row.appointment_id,
        child_ages=_ages(row.child_ages),
        replies=tuple(replies),
    )


async def _with_replies(conn: AsyncConnection, rows: Sequence[sa.Row[Any]]) -> list[HelpRequest]:
    if not rows:
        return []
    found = await conn.execute(
        help_replies.select()
        .where(help_replies.c.request_id.in_([r.id for r in rows]))
        .order_by(help_replies.c.seq)
    )
    by_request: dict[str, list[HelpReply]] = {}
    for r in found:
        reply = HelpReply(r.request_id, ReplyKind(r.kind), r.author, r.text, r.at)
        by_request.setdefault(r.request_id, []).append(reply)
    return [_request(row, by_request.get(row.id, ())) for row in rows]


class _Full(Exception):
    """A request holds as many replies as it may."""


class SqlHelp:
    """`HelpStore` on SQLite or PostgreSQL."""

    _engine: AsyncEngine

    async def add_help_request(self, request: HelpRequest, max_open: int) -> bool:
        """Store a new request unless its profile already has `max_open` requests that are
        not closed (False then). The count and the insert are one statement, as for
        attendance: exact on SQLite; on PostgreSQL racing writers may pass the bound by one."""
        still_open = (
            sa.select(sa.func.count())
            .select_from(help_requests)
            .where(
                help_requests.c.profile_id == request.profile,
                help_requests.c.status.not_in(_CLOSED),
            )
            .scalar_subquery()
        )
        values = sa.select(
            sa.literal(request.id, sa.String),
            sa.literal(request.profile, sa.String),
            sa.literal(str(request.kind), sa.String),
            sa.literal(request.text, sa.Text),
            sa.literal(str(request.status), sa.String),
            sa.literal(request.appointment, sa.String),
            sa.literal(",".join(str(a) for a in request.child_ages), sa.String),
            sa.literal(request.created_at, sa.Double),
            sa.literal(request.updated_at, sa.Double),
        ).where(still_open < max_open)
        columns = [
            "id",
            "profile_id",
            "kind",
            "text",
            "status",
            "appointment_id",
            "child_ages",
            "created_at",
            "updated_at",
        ]
        async with writing(self._engine) as conn:
            result = await conn.execute(help_requests.insert().from_select(columns, values))
        return bool(result.rowcount)

    async def get_help_request(self, request_id: str) -> HelpRequest | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(help_requests.select().where(help_requests.c.id == request_id))
            ).first()
            found = await _with_replies(conn, [row] if row is not None else [])
        return found[0] if found else None

    async def list_help_requests(
        self, profile_id: str | None = None, limit: int = 200
    ) -> list[HelpRequest]:
        """Newest first; one profile's, or everyone's (the inbox)."""
        query = (
            help_requests.select()
            .order_by(help_requests.c.created_at.desc(), help_requests.c.id)
            .limit(limit)
        )
        if profile_id is not None:
            query = query.where(help_requests.c.profile_id == profile_id)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
            return await _with_replies(conn, rows)

    async def add_help_reply(self, reply: HelpReply, max_replies: int) -> bool:
        """Add an answer or note unless the request is gone or holds `max_replies` already."""
        held = (
            sa.select(sa.func.count())
            .select_from(help_replies)
            .where(help_replies.c.request_id == reply.request)
            .scalar_subquery()
        )
        values = sa.select(
            sa.literal(reply.request, sa.String),
            sa.literal(str(reply.kind), sa.String),
            sa.literal(reply.author, sa.String),
            sa.literal(reply.text, sa.Text),
            sa.literal(reply.at, sa.Double),
        ).where(held < max_replies)
        try:
            async with writing(self._engine) as conn:
                # The update comes first: it locks the request's row, so replies take turns.
                touched = await conn.execute(
                    help_requests.update()
                    .where(help_requests.c.id == reply.request)
                    .values(updated_at=reply.at)
                )
                if not touched.rowcount:
                    return False
                added = await conn.execute(
                    help_replies.insert().from_select(
                        ["request_id", "kind", "author", "text", "at"], values
                    )
                )
                if not added.rowcount:
                    raise _Full  # the touch goes back with the transaction
        except _Full:
            return False
        return True

    async def set_help_status(self, request_id: str, status: HelpStatus, at: float) -> bool:
        async with writing(self._engine) as conn:
            result = await conn.execute(
                help_requests.update()
                .where(help_requests.c.id == request_id)
                .values(status=str(status), updated_at=at)
            )
        return bool(result.rowcount)

    async def purge_help_requests(self, closed_before: float) -> list[HelpRequest]:
        """Delete closed requests whose last change is older than `closed_before`, with their
        replies; returns what went (without replies), at most 1000 a call."""
        old = (
            sa.select(help_requests.c.id)
            .where(
                help_requests.c.status.in_(_CLOSED),
                help_requests.c.updated_at < closed_before,
            )
            .limit(1000)
        )
        async with writing(self._engine) as conn:  # the replies go by the foreign key's cascade
            gone = (
                await conn.execute(
                    help_requests.delete()
                    .where(help_requests.c.id.in_(old))
                    .returning(*help_requests.c)
                )
            ).all()
        return [_request(row, ()) for row in gone]
