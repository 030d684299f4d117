"""The learner's steps through a module, each recorded as an xAPI statement and audited.

`Learning` holds the catalog and the learning store. It records `launched` when a module is
opened, `experienced` for a page or video gone through (the resume point moves to the next
section), `answered` for each quiz answer (with success and the chosen choice ids as the
response, never their text), and `completed` with `passed` or `failed` (score) at the end.
Every statement is audited with ids only: module, section, question, verb.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import structlog

from core.audit import Action, AuditLog, AuditRecord
from core.clock import Clock
from core.learning.records import LearningStatement, ResumePoint, ScormPlace, Verb
from core.learning.xapi import (
    ACTIVITY_ASSESSMENT,
    ACTIVITY_INTERACTION,
    ACTIVITY_LESSON,
    ACTIVITY_MEDIA,
    ACTIVITY_MODULE,
    Activity,
    Outcome,
    build_statement,
    canonical,
)
from core.store.base import LearningStore
from signalling.learning.catalog import Catalog, Module, Question, Section, SectionKind
from signalling.learning.courses import Course, ScormCourse, scorm_outcome
from signalling.learning.progress import ModuleProgress, grade, summarise, unanswered

log = structlog.get_logger(__name__)

# Statements a profile may hold per module: going through a course many times stays far
# below it; a loop that launches a module forever stops there.
MAX_STATEMENTS_PER_MODULE = 2000


class LearningError(Exception):
    """A step that cannot be taken: `code` says why (not_found, invalid, not_ready, full)."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


@dataclass(frozen=True)
class Answer:
    """What the learner hears back: right or not, and the feedback of each chosen choice."""

    correct: bool
    feedback: list[dict[str, Any]]


def _module_activity(home: str, module: Course) -> Activity:
    return Activity(f"{home}/learning/modules/{module.id}", ACTIVITY_MODULE, dict(module.title))


def _section_activity(home: str, module: Module, section: Section) -> Activity:
    kind = {
        SectionKind.PAGE: ACTIVITY_LESSON,
        SectionKind.VIDEO: ACTIVITY_MEDIA,
        SectionKind.QUIZ: ACTIVITY_ASSESSMENT,
    }[section.kind]
    iri = f"{home}/learning/modules/{module.id}/sections/{section.id}"
    return Activity(iri, kind, dict(section.title))


def _question_activity(home: str, module: Module, section: Section, q: Question) -> Activity:
    iri = f"{home}/learning/modules/{module.id}/sections/{section.id}/questions/{q.id}"
    interaction = {
        "description": dict(q.prompt),
        "interactionType": "choice",
        "correctResponsesPattern": ["[,]".join(sorted(q.right()))],
        "choices": [{"id": c.id, "description": dict(c.text)} for c in q.choices],
    }
    return Activity(iri, ACTIVITY_INTERACTION, dict(q.prompt), interaction)


class Learning:
    """Modules, progress and recommendations for the API and the pages."""

    def __init__(
        self,
        catalog: Catalog,
        store: LearningStore,
        audit: AuditLog,
        clock: Clock,
        home_page: str,
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.audit = audit
        self.clock = clock
        self.home_page = home_page.rstrip("/")

    def module(self, module_id: str) -> Module:
        found = self.catalog.get(module_id)
        if found is None:
            raise LearningError("not_found", "no such module")
        return found

    def _section(self, module: Module, section_id: str) -> Section:
        found = module.section(section_id)
        if found is None:
            raise LearningError("not_found", "no such section")
        return found

    async def _record(
        self,
        profile: str,
        module: Course,
        verb: Verb,
        activity: Activity,
        lang: str,
        *,
        section: Section | None = None,
        question: Question | None = None,
        outcome: Outcome | None = None,
    ) -> LearningStatement:
        now = self.clock.now()
        statement_id = str(uuid.uuid4())
        parents = (
            [] if activity.type == ACTIVITY_MODULE else [_module_activity(self.home_page, module)]
        )
        body = build_statement(
            statement_id=statement_id,
            home_page=self.home_page,
            profile=profile,
            verb=verb,
            activity=activity,
            at=now,
            outcome=outcome,
            parents=parents,
            language=module.content_language(lang),
        )
        statement = LearningStatement(
            id=statement_id,
            profile=profile,
            module=module.id,
            verb=verb,
            at=now,
            statement=canonical(body),
            section=section.id if section else None,
            question=question.id if question else None,
            success=outcome.success if outcome else None,
            score=outcome.scaled if outcome else None,
        )
        if not await self.store.add_statement(statement, MAX_STATEMENTS_PER_MODULE):
            log.warning("learning_statements_full", profile=profile, module=module.id)
            raise LearningError("full", "this course holds as many records as it may")
        detail: dict[str, str | int] = {"module": module.id, "verb": verb.value}
        if section is not None:
            detail["section"] = section.id
        if question is not None:
            detail["question"] = question.id
        if outcome is not None and outcome.success is not None:
            detail["success"] = int(outcome.success)
        await self.audit.append(
            AuditRecord(
                at=now,
                actor=profile,
                actor_role="jobseeker",
                action=Action.LEARNING,
                profile=profile,
                subject=statement_id,
                detail=detail,
            )
        )
        log.info("learning_statement", profile=profile, module=module.id, verb=verb.value)
        return statement

    async def progress(self, profile: str, module: Course) -> ModuleProgress:
        return summarise(module.id, await self.store.list_statements(profile, module.id))

    async def all_progress(self, profile: str) -> dict[str, ModuleProgress]:
        """Progress in every module of the catalog and every imported SCORM course."""
        statements = await self.store.list_statements(profile)
        ids = [*self.catalog.modules, *(p.id for p in await self.store.list_packages())]
        return {m: summarise(m, statements) for m in ids}

    async def scorm_course(self, package_id: str) -> ScormCourse:
        found = None
        if package_id.startswith("scorm-"):
            found = await self.store.get_package(package_id)
        if found is None:
            raise LearningError("not_found", "no such module")
        return ScormCourse(found)

    async def exists(self, module_id: str) -> bool:
        """A module of the catalog or an imported SCORM course."""
        if self.catalog.get(module_id) is not None:
            return True
        try:
            await self.scorm_course(module_id)
        except LearningError:
            return False
        return True

    async def launch_scorm(self, profile: str, package_id: str, lang: str) -> ScormCourse:
        """A SCORM course opened in its frame: `launched`."""
        course = await self.scorm_course(package_id)
        activity = _module_activity(self.home_page, course)
        await self._record(profile, course, Verb.LAUNCHED, activity, lang)
        return course

    async def keep_scorm_place(
        self, profile: str, package_id: str, location: str, suspend_data: str
    ) -> None:
        """Where the learner left the course (what the course keeps), for the next visit."""
        course = await self.scorm_course(package_id)
        place = ScormPlace(profile, course.id, location, suspend_data, self.clock.now())
        await self.store.set_scorm_place(place)

    async def scorm_place(self, profile: str, package_id: str) -> ScormPlace | None:
        return await self.store.get_scorm_place(profile, package_id)

    async def scorm_result(
        self,
        profile: str,
        package_id: str,
        lesson_status: str,
        score: tuple[float, float, float] | None,
        lang: str,
    ) -> ModuleProgress:
        """What the course's runtime committed (cmi.core.lesson_status and score): completed,
        passed or failed become `completed` and `passed`/`failed` with the score, once per
        change (a course commits the same result again and again)."""
        course = await self.scorm_course(package_id)
        before = summarise(course.id, await self.store.list_statements(profile, course.id))
        outcome, verdict = scorm_outcome(lesson_status, score, course.package.mastery_score)
        if outcome is None:
            return before
        scaled = outcome.scaled
        if (
            before.completed
            and (verdict is None or str(before.status) == verdict)
            and (scaled is None or before.score == scaled)
        ):
            return before
        activity = _module_activity(self.home_page, course)
        completion = Outcome(scaled=scaled, raw=outcome.raw, max=outcome.max, completion=True)
        await self._record(profile, course, Verb.COMPLETED, activity, lang, outcome=completion)
        if verdict is not None:
            verb = Verb.PASSED if verdict == "passed" else Verb.FAILED
            await self._record(profile, course, verb, activity, lang, outcome=outcome)
        return summarise(course.id, await self.store.list_statements(profile, course.id))

    async def resume_section(self, profile: str, module: Module) -> str:
        """Where the learner goes on: their resume point, else the first section."""
        point = (await self.store.resume_points(profile)).get(module.id)
        if point is not None and module.section(point.section) is not None:
            return point.section
        return module.sections[0].id

    async def launch(self, profile: str, module_id: str, lang: str) -> str:
        """Open a module: `launched`; returns the section to show (none for a SCORM course,
        which keeps its own place)."""
        if self.catalog.get(module_id) is None and module_id.startswith("scorm-"):
            await self.launch_scorm(profile, module_id, lang)
            return ""
        module = self.module(module_id)
        await self._record(
            profile, module, Verb.LAUNCHED, _module_activity(self.home_page, module), lang
        )
        return await self.resume_section(profile, module)

    async def experience(self, profile: str, module_id: str, section_id: str, lang: str) -> str:
        """A section gone through: `experienced`; the resume point moves to the next section
        (the last stays). Returns that section."""
        module = self.module(module_id)
        section = self._section(module, section_id)
        activity = _section_activity(self.home_page, module, section)
        await self._record(profile, module, Verb.EXPERIENCED, activity, lang, section=section)
        index = module.sections.index(section)
        following = module.sections[min(index + 1, len(module.sections) - 1)].id
        await self.store.set_resume(ResumePoint(profile, module.id, following, self.clock.now()))
        return following

    async def goto(self, profile: str, module_id: str, section_id: str) -> None:
        """The learner moved to a section (back, or on from a quiz): resume there."""
        module = self.module(module_id)
        section = self._section(module, section_id)
        await self.store.set_resume(ResumePoint(profile, module.id, section.id, self.clock.now()))

    async def answer(
        self,
        profile: str,
        module_id: str,
        section_id: str,
        question_id: str,
        chosen: Collection[str],
        lang: str,
    ) -> Answer:
        """A quiz answer: `answered` with success and the chosen ids; feedback per choice."""
        module = self.module(module_id)
        section = self._section(module, section_id)
        question = next((q for q in section.questions if q.id == question_id), None)
        if question is None:
            raise LearningError("not_found", "no such question")
        ids = {c.id for c in question.choices}
        if not chosen or not set(chosen) <= ids or len(set(chosen)) != len(chosen):
            raise LearningError("invalid", "choose among the question's choices", "choices")
        if not question.multiple and len(chosen) != 1:
            raise LearningError("invalid", "choose exactly one", "choices")
        correct = question.grade(chosen)
        activity = _question_activity(self.home_page, module, section, question)
        outcome = Outcome(
            scaled=1.0 if correct else 0.0,
            raw=1.0 if correct else 0.0,
            max=1.0,
            success=correct,
            response="[,]".join(sorted(chosen)),
        )
        await self._record(
            profile,
            module,
            Verb.ANSWERED,
            activity,
            lang,
            section=section,
            question=question,
            outcome=outcome,
        )
        text_lang = module.content_language(lang)
        feedback = [
            {"choice": c.id, "correct": c.correct, "feedback": c.feedback[text_lang]}
            for c in question.choices
            if c.id in chosen
        ]
        return Answer(correct, feedback)

    async def finish(self, profile: str, module_id: str, lang: str) -> ModuleProgress:
        """The end of the module: `completed`, then `passed` or `failed` with the score when
        it has questions (all must have been answered). The resume point goes back to the start."""
        module = self.module(module_id)
        before = await self.progress(profile, module)
        missing = unanswered(module, before)
        if missing:
            raise LearningError("not_ready", f"{len(missing)} questions are not answered yet")
        right, total = grade(module, before)
        activity = _module_activity(self.home_page, module)
        scaled = right / total if total else None
        outcome = Outcome(scaled=scaled, raw=right, max=total, completion=True) if total else None
        await self._record(
            profile,
            module,
            Verb.COMPLETED,
            activity,
            lang,
            outcome=outcome or Outcome(completion=True),
        )
        if total and scaled is not None:
            passed = scaled >= module.pass_score
            verdict = Outcome(scaled=scaled, raw=right, max=total, success=passed, completion=True)
            verb = Verb.PASSED if passed else Verb.FAILED
            await self._record(profile, module, verb, activity, lang, outcome=verdict)
        first = module.sections[0].id
        await self.store.set_resume(ResumePoint(profile, module.id, first, self.clock.now()))
        return await self.progress(profile, module)

    async def export(self, profile: str) -> list[str]:
        """The profile's statements as stored (xAPI JSON text), oldest first."""
        return [s.statement for s in await self.store.list_statements(profile, limit=100_000)]
