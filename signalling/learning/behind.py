"""Who is behind with a recommended module (pure functions): the caseworker's view per module.

A learner is behind when the module is not done (completed or passed) and either its due date
has passed, or it was recommended without a date, or with a later one, at least
`NOT_STARTED_AFTER` days ago and they have not opened it yet. A failed attempt is not done:
it counts as behind once the due date has passed, like any other unfinished module.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from core.learning.records import Recommendation
from signalling.learning.progress import ModuleProgress, Status

NOT_STARTED_AFTER = 14  # days after the recommendation with nothing opened


class Behind(StrEnum):
    OVERDUE = "overdue"  # the due date has passed, the module is not done
    NOT_STARTED = "not_started"  # recommended long ago, never opened


def is_done(progress: ModuleProgress) -> bool:
    return progress.status in (Status.PASSED, Status.COMPLETED)


def behind(
    recommendation: Recommendation, progress: ModuleProgress, today: dt.date, now: float
) -> Behind | None:
    """Why the learner is behind with the recommended module, or None when they are not.
    `today` is the job centre's date (due dates are days in its zone)."""
    if is_done(progress):
        return None
    if recommendation.due is not None and dt.date.fromisoformat(recommendation.due) < today:
        return Behind.OVERDUE
    if not progress.started and now - recommendation.at >= NOT_STARTED_AFTER * 86400:
        return Behind.NOT_STARTED
    return None
