"""Help requests from the jobseeker's space (DESIGN.md, E-learning and help requests).

A jobseeker asks the job centre for help: childcare for one of their appointments (the date
and time come from the appointment; the ages of the children and their needs from the
request), transport, an interpreter, technical help, or something else. Caseworkers answer,
add notes such as the childcare place and time, and move the status along; the jobseeker
sees both in the space. Closed requests go after their retention period.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class HelpKind(StrEnum):
    CHILDCARE = "childcare"
    TRANSPORT = "transport"
    INTERPRETER = "interpreter"
    TECHNICAL = "technical"
    OTHER = "other"


class HelpStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    ARRANGED = "arranged"
    DECLINED = "declined"


# Nothing more will happen to these: retention counts from their last change.
CLOSED = frozenset({HelpStatus.ARRANGED, HelpStatus.DECLINED})


class ReplyKind(StrEnum):
    ANSWER = "answer"  # the caseworker's message to the jobseeker
    NOTE = "note"  # what was arranged (place, time, who); the jobseeker sees it too


@dataclass(frozen=True)
class HelpReply:
    """One answer or note on a request, by a caseworker (`author`: the staff username)."""

    request: str
    kind: ReplyKind
    author: str
    text: str
    at: float


@dataclass(frozen=True)
class HelpRequest:
    """What a jobseeker asked for. `appointment` and `child_ages` belong to childcare."""

    id: str
    profile: str
    kind: HelpKind
    text: str
    created_at: float
    updated_at: float
    status: HelpStatus = HelpStatus.OPEN
    appointment: str | None = None
    child_ages: tuple[int, ...] = ()
    replies: tuple[HelpReply, ...] = ()

    @property
    def closed(self) -> bool:
        return self.status in CLOSED

    @property
    def new(self) -> bool:
        """Not yet touched by a caseworker: the inbox shows it first and marked."""
        return self.status == HelpStatus.OPEN and not self.replies
