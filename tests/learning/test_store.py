"""`LearningStore` (xAPI statements, resume points, recommendations) on SQLite and a real
PostgreSQL; erasing a profile erases its learning records."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa

from core.clock import FakeClock
from core.db.tables import learning_recommendations, learning_resume, learning_statements
from core.learning.records import (
    LearningStatement,
    Recommendation,
    ResumePoint,
    ScormPackage,
    ScormPlace,
    Verb,
)
from core.learning.xapi import Activity, Outcome, build_statement, canonical
from core.model import Profile
from core.store.sql import SqlStore

T0 = 1_800_000_000.0
HOME = "https://jobcenter.example"


@pytest.fixture
async def store(url: str) -> AsyncIterator[SqlStore]:
    s = SqlStore.from_url(url, FakeClock(T0))
    for pid in ("j_1", "j_2"):
        await s.put_profile(Profile(id=pid, name="Nadia", lang="ar", created_by="b", created_at=T0))
    yield s
    await s.close()


def statement(
    profile: str, module: str, verb: Verb, at: float, **extra: object
) -> LearningStatement:
    sid = str(uuid.uuid4())
    activity = Activity(f"{HOME}/learning/modules/{module}", "x", {"en": module})
    outcome = Outcome(
        scaled=extra.get("score"),  # type: ignore[arg-type]
        success=extra.get("success"),  # type: ignore[arg-type]
    )
    body = build_statement(
        statement_id=sid,
        home_page=HOME,
        profile=profile,
        verb=verb,
        activity=activity,
        at=at,
        outcome=outcome,
    )
    return LearningStatement(
        id=sid,
        profile=profile,
        module=module,
        verb=verb,
        at=at,
        statement=canonical(body),
        **extra,  # type: ignore[arg-type]
    )


async def test_statements_round_trip_in_recorded_order(store: SqlStore) -> None:
    made = [
        statement("j_1", "cv", Verb.LAUNCHED, T0),
        statement("j_1", "cv", Verb.EXPERIENCED, T0 + 1, section="intro"),
        statement("j_1", "cv", Verb.ANSWERED, T0 + 2, section="q", question="q1", success=False),
        statement("j_1", "video", Verb.LAUNCHED, T0 + 3),
        statement("j_2", "cv", Verb.LAUNCHED, T0 + 4),
        statement("j_1", "cv", Verb.PASSED, T0 + 5, success=True, score=0.75),
    ]
    for s in made:
        assert await store.add_statement(s, 100)
    mine = await store.list_statements("j_1")
    assert mine == [made[i] for i in (0, 1, 2, 3, 5)]
    assert await store.list_statements("j_1", "cv") == [made[i] for i in (0, 1, 2, 5)]
    assert await store.list_statements("j_1", limit=2) == [made[3], made[5]]
    assert await store.list_statements("j_3") == []
    back = json.loads(mine[-1].statement)
    assert back["actor"] == {
        "objectType": "Agent",
        "account": {"homePage": HOME, "name": "j_1"},
    }
    assert back["result"] == {"score": {"scaled": 0.75}, "success": True}


async def test_a_statement_id_is_stored_once(store: SqlStore) -> None:
    s = statement("j_1", "cv", Verb.LAUNCHED, T0)
    assert await store.add_statement(s, 100)
    with pytest.raises(sa.exc.IntegrityError):
        assert await store.add_statement(s, 100)


async def test_statements_per_profile_and_module_are_bounded(store: SqlStore) -> None:
    for i in range(3):
        assert await store.add_statement(statement("j_1", "cv", Verb.LAUNCHED, T0 + i), 3)
    assert not await store.add_statement(statement("j_1", "cv", Verb.LAUNCHED, T0 + 9), 3)
    assert await store.add_statement(statement("j_1", "video", Verb.LAUNCHED, T0), 3)
    assert await store.add_statement(statement("j_2", "cv", Verb.LAUNCHED, T0), 3)
    assert len(await store.list_statements("j_1", "cv")) == 3


async def test_a_statement_needs_an_existing_profile(store: SqlStore) -> None:
    with pytest.raises(sa.exc.IntegrityError):
        await store.add_statement(statement("j_gone", "cv", Verb.LAUNCHED, T0), 100)


async def test_resume_points_replace_per_module(store: SqlStore) -> None:
    assert await store.resume_points("j_1") == {}
    await store.set_resume(ResumePoint("j_1", "cv", "intro", T0))
    await store.set_resume(ResumePoint("j_1", "cv", "layout", T0 + 5))
    await store.set_resume(ResumePoint("j_1", "video", "tech", T0 + 6))
    await store.set_resume(ResumePoint("j_2", "cv", "quiz", T0 + 7))
    assert await store.resume_points("j_1") == {
        "cv": ResumePoint("j_1", "cv", "layout", T0 + 5),
        "video": ResumePoint("j_1", "video", "tech", T0 + 6),
    }


async def test_recommendations_replace_and_delete(store: SqlStore) -> None:
    await store.put_recommendation(Recommendation("j_1", "cv", "becker", T0, "2026-12-24"))
    await store.put_recommendation(Recommendation("j_1", "video", "becker", T0 + 1))
    await store.put_recommendation(Recommendation("j_1", "cv", "schulz", T0 + 2, None))
    assert await store.list_recommendations("j_1") == [
        Recommendation("j_1", "video", "becker", T0 + 1),
        Recommendation("j_1", "cv", "schulz", T0 + 2, None),
    ]
    assert await store.delete_recommendation("j_1", "video")
    assert not await store.delete_recommendation("j_1", "video")
    assert await store.list_recommendations("j_2") == []


async def test_deleting_a_profile_erases_its_learning_records(store: SqlStore) -> None:
    for pid in ("j_1", "j_2"):
        await store.add_statement(statement(pid, "cv", Verb.LAUNCHED, T0), 100)
        await store.set_resume(ResumePoint(pid, "cv", "intro", T0))
        await store.put_recommendation(Recommendation(pid, "cv", "becker", T0))
    assert await store.delete_profile("j_1")
    assert await store.list_statements("j_1") == []
    assert await store.resume_points("j_1") == {}
    assert await store.list_recommendations("j_1") == []
    async with store.engine.connect() as conn:
        for table in (learning_statements, learning_resume, learning_recommendations):
            left = await conn.execute(sa.select(table.c.profile_id))
            assert [r.profile_id for r in left] == ["j_2"]


def package(pid: str, at: float) -> ScormPackage:
    return ScormPackage(
        id=pid,
        title="Workplace safety basics",
        identifier="provider.course",
        launch="index.html?x=1",
        content_key=f"key-{pid}-0123456789abcdef",
        files=4,
        size=1234,
        mastery_score=70.0,
        imported_by="becker",
        imported_at=at,
    )


async def test_scorm_packages_round_trip(store: SqlStore) -> None:
    second, first = package("scorm-2", T0 + 1), package("scorm-1", T0)
    await store.add_package(second)
    await store.add_package(first)
    assert await store.list_packages() == [first, second]
    assert await store.get_package("scorm-1") == first
    assert await store.get_package("scorm-3") is None
    assert await store.package_by_key(second.content_key) == second
    assert await store.package_by_key("key-none") is None
    with pytest.raises(sa.exc.IntegrityError):  # a content key is one package's
        await store.add_package(dataclasses.replace(first, id="scorm-4"))


async def test_scorm_places_replace_and_go_with_the_profile(store: SqlStore) -> None:
    for pid in ("j_1", "j_2"):
        await store.set_scorm_place(ScormPlace(pid, "scorm-1", "p1", "a=1", T0))
    await store.set_scorm_place(ScormPlace("j_1", "scorm-1", "p2", "a=2" * 1000, T0 + 5))
    assert await store.get_scorm_place("j_1", "scorm-1") == ScormPlace(
        "j_1", "scorm-1", "p2", "a=2" * 1000, T0 + 5
    )
    assert await store.get_scorm_place("j_1", "scorm-2") is None
    assert await store.delete_profile("j_1")
    assert await store.get_scorm_place("j_1", "scorm-1") is None
    assert (await store.get_scorm_place("j_2", "scorm-1")) is not None
