"""What the recorder needs of a course, and the imported SCORM 1.2 course as one.

A module of the catalog and an imported SCORM package are recorded alike: the same verbs,
the same activity IRIs (`/learning/modules/<id>`), the same progress views. A SCORM
manifest names its title in one unknown language, so its activity name is tagged `und`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from core.learning.records import ScormPackage
from core.learning.xapi import Outcome

SCORM_FINISHED = {"passed", "failed", "completed"}
SCORM_STATUSES = {*SCORM_FINISHED, "incomplete", "browsed", "not attempted"}


class Course(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def title(self) -> Mapping[str, str]: ...

    def content_language(self, lang: str) -> str | None: ...


@dataclass(frozen=True)
class ScormCourse:
    package: ScormPackage
    title: Mapping[str, str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "title", {"und": self.package.title})

    @property
    def id(self) -> str:
        return self.package.id

    def content_language(self, lang: str) -> str | None:
        return None  # a provider's course does not say which language it is in


def scorm_outcome(
    lesson_status: str, score: tuple[float, float, float] | None, mastery: float | None
) -> tuple[Outcome | None, str | None]:
    """A SCORM 1.2 result (cmi.core.lesson_status; score raw, min, max) as an xAPI outcome,
    and the verdict (passed, failed or None). Nothing (None) while the course is not finished.
    A course that says only `completed` is judged by the manifest's mastery score if any."""
    if lesson_status not in SCORM_FINISHED:
        return None, None
    scaled = raw = top = None
    if score is not None:
        raw_value, low, high = score
        if high > low:
            scaled = min(1.0, max(0.0, (raw_value - low) / (high - low)))
            if low == 0 and 0 <= raw_value <= high:
                raw, top = raw_value, high
    verdict = lesson_status if lesson_status != "completed" else None
    if verdict is None and mastery is not None and score is not None:
        verdict = "passed" if score[0] >= mastery else "failed"
    success = None if verdict is None else verdict == "passed"
    return Outcome(scaled=scaled, raw=raw, max=top, success=success, completion=True), verdict
