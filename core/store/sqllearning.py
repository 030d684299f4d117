"""Learning statements, resume points and recommendations in the relational database.
`SqlLearning` is the `LearningStore` half of `core.store.sql.SqlStore` (which mixes it in).
The rows go with their profile (cascading foreign keys, migration 0007)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.db.engine import writing
from core.db.tables import (
    learning_recommendations,
    learning_resume,
    learning_statements,
    scorm_packages,
    scorm_places,
)
from core.learning.records import (
    LearningStatement,
    Recommendation,
    ResumePoint,
    ScormPackage,
    ScormPlace,
    Verb,
)


def _statement(row: sa.Row[Any]) -> LearningStatement:
    return LearningStatement(
        id=row.id,
        profile=row.profile_id,
        module=row.module_id,
        verb=Verb(row.verb),
        at=row.at,
        statement=row.statement,
        section=row.section_id,
        question=row.question_id,
        success=None if row.success is None else bool(row.success),
        score=row.score,
    )


def _package(row: sa.Row[Any]) -> ScormPackage:
    return ScormPackage(
        id=row.id,
        title=row.title,
        identifier=row.identifier,
        launch=row.launch,
        content_key=row.content_key,
        files=row.files,
        size=row.size,
        mastery_score=row.mastery_score,
        imported_by=row.imported_by,
        imported_at=row.imported_at,
    )


async def _upsert(
    conn: AsyncConnection, table: sa.Table, values: dict[str, Any], key: list[str]
) -> None:
    stmt: Any = (
        postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)
    ).values(values)
    update = {k: stmt.excluded[k] for k in values if k not in key}
    await conn.execute(stmt.on_conflict_do_update(index_elements=key, set_=update))


class SqlLearning:
    """`LearningStore` on SQLite or PostgreSQL."""

    _engine: AsyncEngine

    async def add_statement(self, statement: LearningStatement, max_per_module: int) -> bool:
        """Store a statement unless its profile holds `max_per_module` for that module already
        (False then): a button held down or a script in a loop cannot fill the database. The
        count and the insert are one statement, as for help requests."""
        held = (
            sa.select(sa.func.count())
            .select_from(learning_statements)
            .where(
                learning_statements.c.profile_id == statement.profile,
                learning_statements.c.module_id == statement.module,
            )
            .scalar_subquery()
        )
        values = sa.select(
            sa.literal(statement.id, sa.String),
            sa.literal(statement.profile, sa.String),
            sa.literal(statement.module, sa.String),
            sa.literal(statement.section, sa.String),
            sa.literal(statement.question, sa.String),
            sa.literal(str(statement.verb), sa.String),
            sa.literal(statement.success, sa.Boolean),
            sa.literal(statement.score, sa.Double),
            sa.literal(statement.at, sa.Double),
            sa.literal(statement.statement, sa.Text),
        ).where(held < max_per_module)
        columns = [
            "id",
            "profile_id",
            "module_id",
            "section_id",
            "question_id",
            "verb",
            "success",
            "score",
            "at",
            "statement",
        ]
        async with writing(self._engine) as conn:
            result = await conn.execute(learning_statements.insert().from_select(columns, values))
        return bool(result.rowcount)

    async def list_statements(
        self, profile_id: str, module_id: str | None = None, limit: int = 5000
    ) -> list[LearningStatement]:
        """A profile's statements in the order they were recorded (the newest `limit`)."""
        query = (
            learning_statements.select()
            .where(learning_statements.c.profile_id == profile_id)
            .order_by(learning_statements.c.seq.desc())
            .limit(limit)
        )
        if module_id is not None:
            query = query.where(learning_statements.c.module_id == module_id)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_statement(r) for r in reversed(rows)]

    async def set_resume(self, point: ResumePoint) -> None:
        values = {
            "profile_id": point.profile,
            "module_id": point.module,
            "section_id": point.section,
            "at": point.at,
        }
        async with writing(self._engine) as conn:
            await _upsert(conn, learning_resume, values, ["profile_id", "module_id"])

    async def resume_points(self, profile_id: str) -> dict[str, ResumePoint]:
        """Where the profile resumes each module it started, by module id."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                learning_resume.select().where(learning_resume.c.profile_id == profile_id)
            )
            return {
                r.module_id: ResumePoint(r.profile_id, r.module_id, r.section_id, r.at)
                for r in rows
            }

    async def put_recommendation(self, recommendation: Recommendation) -> None:
        """Recommend a module (again: the newer due date and caseworker replace the older)."""
        values = {
            "profile_id": recommendation.profile,
            "module_id": recommendation.module,
            "due": recommendation.due,
            "by": recommendation.by,
            "at": recommendation.at,
        }
        async with writing(self._engine) as conn:
            await _upsert(conn, learning_recommendations, values, ["profile_id", "module_id"])

    async def list_recommendations(self, profile_id: str) -> list[Recommendation]:
        """A profile's recommendations, oldest first."""
        query = (
            learning_recommendations.select()
            .where(learning_recommendations.c.profile_id == profile_id)
            .order_by(learning_recommendations.c.at, learning_recommendations.c.module_id)
        )
        async with self._engine.connect() as conn:
            rows = await conn.execute(query)
            return [Recommendation(r.profile_id, r.module_id, r.by, r.at, r.due) for r in rows]

    async def module_recommendations(self, module_id: str) -> list[Recommendation]:
        """Everyone a module is recommended to, oldest recommendation first."""
        query = (
            learning_recommendations.select()
            .where(learning_recommendations.c.module_id == module_id)
            .order_by(learning_recommendations.c.at, learning_recommendations.c.profile_id)
        )
        async with self._engine.connect() as conn:
            rows = await conn.execute(query)
            return [Recommendation(r.profile_id, r.module_id, r.by, r.at, r.due) for r in rows]

    async def delete_recommendation(self, profile_id: str, module_id: str) -> bool:
        async with writing(self._engine) as conn:
            gone = await conn.execute(
                learning_recommendations.delete().where(
                    learning_recommendations.c.profile_id == profile_id,
                    learning_recommendations.c.module_id == module_id,
                )
            )
        return bool(gone.rowcount)

    async def add_package(self, package: ScormPackage) -> None:
        """Record an imported SCORM package (its id and content key are fresh)."""
        async with writing(self._engine) as conn:
            await conn.execute(
                scorm_packages.insert().values(
                    id=package.id,
                    title=package.title,
                    identifier=package.identifier,
                    launch=package.launch,
                    content_key=package.content_key,
                    files=package.files,
                    size=package.size,
                    mastery_score=package.mastery_score,
                    imported_by=package.imported_by,
                    imported_at=package.imported_at,
                )
            )

    async def list_packages(self) -> list[ScormPackage]:
        """Every imported SCORM package, oldest first."""
        query = scorm_packages.select().order_by(scorm_packages.c.imported_at, scorm_packages.c.id)
        async with self._engine.connect() as conn:
            return [_package(r) for r in await conn.execute(query)]

    async def get_package(self, package_id: str) -> ScormPackage | None:
        query = scorm_packages.select().where(scorm_packages.c.id == package_id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _package(row)

    async def package_by_key(self, content_key: str) -> ScormPackage | None:
        query = scorm_packages.select().where(scorm_packages.c.content_key == content_key)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _package(row)

    async def set_scorm_place(self, place: ScormPlace) -> None:
        values = {
            "profile_id": place.profile,
            "module_id": place.module,
            "location": place.location,
            "suspend_data": place.suspend_data,
            "at": place.at,
        }
        async with writing(self._engine) as conn:
            await _upsert(conn, scorm_places, values, ["profile_id", "module_id"])

    async def get_scorm_place(self, profile_id: str, module_id: str) -> ScormPlace | None:
        query = scorm_places.select().where(
            scorm_places.c.profile_id == profile_id, scorm_places.c.module_id == module_id
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return ScormPlace(row.profile_id, row.module_id, row.location, row.suspend_data, row.at)
