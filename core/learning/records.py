"""What the learning store keeps: statements (one per step a learner took), a resume point per
profile and module, and caseworkers' recommendations. Statements carry their xAPI JSON as it
was built when they were made (core.learning.xapi), so an export hands out exactly that."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Verb(StrEnum):
    """The xAPI verbs a module's steps are recorded with (ADL's vocabulary, see `VERB_IRIS`)."""

    LAUNCHED = "launched"  # the learner opened the module
    EXPERIENCED = "experienced"  # ... went through a page or a video
    ANSWERED = "answered"  # ... answered a quiz question (`success`: right or wrong)
    COMPLETED = "completed"  # ... reached the end
    PASSED = "passed"  # ... with a score at or above the module's pass mark
    FAILED = "failed"  # ... or below it


VERB_IRIS: dict[Verb, str] = {v: f"http://adlnet.gov/expapi/verbs/{v.value}" for v in Verb}


@dataclass(frozen=True)
class LearningStatement:
    """One recorded step. `statement` is the canonical JSON of the full xAPI statement; the
    other fields repeat what progress views need, so that they never parse it."""

    id: str  # the statement's UUID
    profile: str
    module: str
    verb: Verb
    at: float
    statement: str
    section: str | None = None
    question: str | None = None
    success: bool | None = None
    score: float | None = None  # scaled, 0 to 1


@dataclass(frozen=True)
class Recommendation:
    """A caseworker suggests a module to a jobseeker, optionally to finish by `due`
    (an ISO date, YYYY-MM-DD)."""

    profile: str
    module: str
    by: str  # the staff username
    at: float
    due: str | None = None


@dataclass(frozen=True)
class ResumePoint:
    """The section a learner comes back to in a module."""

    profile: str
    module: str
    section: str
    at: float


@dataclass(frozen=True)
class ScormPackage:
    """A SCORM 1.2 course a caseworker imported: unpacked under the data directory in a folder
    named by `id`, its launch page `launch` (a path inside it). `content_key` is the random
    part of the content URL (the sandboxed frame gets no cookies, so the URL itself opens the
    content; it is handed only to signed-in jobseekers and staff)."""

    id: str  # "scorm-" and 16 hex digits; a module id for statements and recommendations
    title: str
    identifier: str  # the manifest's own identifier (the provider's)
    launch: str
    content_key: str
    files: int
    size: int  # bytes unpacked
    mastery_score: float | None  # adlcp:masteryscore, 0-100, when the manifest names one
    imported_by: str
    imported_at: float


@dataclass(frozen=True)
class ScormPlace:
    """Where a learner left a SCORM course: what the course itself kept
    (cmi.core.lesson_location and cmi.suspend_data), handed back on the next visit."""

    profile: str
    module: str
    location: str
    suspend_data: str
    at: float
