"""A learner's progress in a module, read from their statements (pure functions).

A module is started with its first statement and completed when the learner finished it;
finishing grades it: the share of its quiz questions whose latest answer is right is the
score, passed at or above the module's pass mark, failed below. Trying a question again after
a wrong answer is how a quiz is meant to be used, so the latest answer counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from core.learning.records import LearningStatement, Verb
from signalling.learning.catalog import Module


class Status(StrEnum):
    NEW = "new"
    STARTED = "started"
    PASSED = "passed"
    FAILED = "failed"
    COMPLETED = "completed"  # a module without questions


@dataclass(frozen=True)
class ModuleProgress:
    module: str
    status: Status = Status.NEW
    started_at: float | None = None
    completed_at: float | None = None
    last_activity: float | None = None
    score: float | None = None  # scaled 0..1, from the latest completion
    experienced: frozenset[str] = frozenset()  # sections gone through
    answers: Mapping[str, bool] = field(default_factory=dict)  # question: latest right?

    @property
    def started(self) -> bool:
        return self.started_at is not None

    @property
    def completed(self) -> bool:
        return self.completed_at is not None


def summarise(module: str, statements: Iterable[LearningStatement]) -> ModuleProgress:
    """Progress in `module` from a profile's statements in recorded order."""
    started = completed = last = score = None
    status = Status.NEW
    experienced: set[str] = set()
    answers: dict[str, bool] = {}
    for s in statements:
        if s.module != module:
            continue
        started = s.at if started is None else started
        last = s.at
        if status == Status.NEW:
            status = Status.STARTED
        if s.verb == Verb.EXPERIENCED and s.section:
            experienced.add(s.section)
        elif s.verb == Verb.ANSWERED and s.question and s.section:
            answers[f"{s.section}/{s.question}"] = bool(s.success)
        elif s.verb == Verb.COMPLETED:
            completed = s.at
            if status == Status.STARTED:
                status = Status.COMPLETED
        elif s.verb in (Verb.PASSED, Verb.FAILED):
            status = Status.PASSED if s.verb == Verb.PASSED else Status.FAILED
            score = s.score
    return ModuleProgress(
        module=module,
        status=status,
        started_at=started,
        completed_at=completed,
        last_activity=last,
        score=score,
        experienced=frozenset(experienced),
        answers=answers,
    )


def question_key(section: str, question: str) -> str:
    return f"{section}/{question}"


def unanswered(module: Module, progress: ModuleProgress) -> list[str]:
    """The module's questions (section/question) not answered yet."""
    return [
        question_key(s.id, q.id)
        for s, q in module.questions()
        if question_key(s.id, q.id) not in progress.answers
    ]


def grade(module: Module, progress: ModuleProgress) -> tuple[int, int]:
    """(right, total): the module's questions whose latest answer is right, of all."""
    keys = [question_key(s.id, q.id) for s, q in module.questions()]
    return sum(1 for k in keys if progress.answers.get(k)), len(keys)
