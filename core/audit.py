"""The audit trail: who did what to which document, appointment, profile or help
request, as a hash chain.

Each entry carries the hash of the one before it, so an entry that was edited, removed or
moved breaks the chain at that point (`verify`). Somebody who can write the database could
still rewrite the whole chain from some point on, or cut its tail: against that, the chain's
head (`seq` and hash) is written out now and then to a place the database's users cannot
rewrite (`Anchor`: an append-only file, a log shipped elsewhere), and `verify` checks that
every written head is still in the chain.

Entries hold ids and roles, never names, titles or content (DESIGN.md, Audit log).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol

GENESIS = "0" * 64  # the `prev` of the first entry
DETAIL_VALUE = re.compile(r"^[A-Za-z0-9_.:-]{0,64}$")  # ids, numbers, codes: never free text


class Action(StrEnum):
    UPLOAD = "document.upload"
    VIEW = "document.view"  # a page shown (in a call: `appointment`, to whom: `subject`)
    DOWNLOAD = "document.download"
    SHARE = "document.share"  # asked to show to an employer
    CONSENT = "document.consent"  # the jobseeker allowed it
    WITHDRAW = "document.withdraw"  # ... and took it back
    DELETE = "document.delete"
    EXPIRE = "document.expire"  # removed by the retention period
    PARTICIPANT = "appointment.participant"  # a participant added (`subject`, detail `role`)
    ADMIT = "call.admit"
    JOIN = "call.join"
    LEAVE = "call.leave"
    PROFILE = "profile.change"  # detail `change`: create, edit (with `fields`) or delete
    SPACE_LINK = "profile.space_link"  # detail `change`: issue, reissue or revoke
    SIGN_IN = "space.sign_in"  # a device opened the space link (detail `session`)
    SIGN_OUT = "space.sign_out"  # "sign out on this device"
    HELP_REQUEST = "help.request"  # a jobseeker asked for help (`subject`: the request)
    HELP_ANSWER = "help.answer"  # a caseworker answered it
    HELP_NOTE = "help.note"  # ... or noted what was arranged
    HELP_STATUS = "help.status"
    HELP_EXPIRE = "help.expire"  # removed by the retention period
    APPOINTMENT_EDIT = "appointment.edit"  # rescheduled or edited (detail `changed`), same links
    # In person or by phone: the caseworker marked whether the jobseeker came (detail `event`).
    APPOINTMENT_ATTENDANCE = "appointment.attendance"
    # E-learning: a step recorded as an xAPI statement (`subject`: the statement id; detail
    # module, verb, section, question, success), a caseworker's recommendation (detail module,
    # `change`: recommend or withdraw) and an export of a profile's statements.
    LEARNING = "learning.statement"
    LEARNING_RECOMMEND = "learning.recommend"
    LEARNING_EXPORT = "learning.export"
    # A SCORM 1.2 package imported through the console (`subject`: the package id; detail
    # files, size) or refused (detail `reason`).
    SCORM_IMPORT = "learning.scorm_import"
    # A module's section shown in a call's panel by a presenter (issue 12; `appointment`, and
    # `profile` if the call has a jobseeker's profile; detail module, section). Read-only:
    # no statement, no progress for anyone.
    LEARNING_SHOWN = "learning.shown_in_call"


@dataclass(frozen=True)
class AuditRecord:
    """What happened. `actor` is a participant, profile or staff id; `subject` the other
    party where there is one (to whom a page was shown, who was admitted)."""

    at: float
    actor: str
    actor_role: str
    action: Action
    profile: str | None = None
    appointment: str | None = None
    document: str | None = None
    subject: str | None = None
    detail: Mapping[str, str | int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key, value in self.detail.items():
            text = str(value)
            if not DETAIL_VALUE.fullmatch(key) or not DETAIL_VALUE.fullmatch(text):
                raise ValueError("audit details are ids, numbers and codes only")

    def canonical(self) -> dict[str, object]:
        return {
            "at": repr(float(self.at)),  # exact, and the same on every database
            "actor": self.actor,
            "actor_role": self.actor_role,
            "action": str(self.action),
            "profile": self.profile,
            "appointment": self.appointment,
            "document": self.document,
            "subject": self.subject,
            "detail": dict(sorted(self.detail.items())),
        }


@dataclass(frozen=True)
class AuditEntry:
    seq: int  # 1, 2, 3, ... without gaps
    record: AuditRecord
    prev: str
    hash: str


def entry_hash(seq: int, record: AuditRecord, prev: str) -> str:
    body = json.dumps(
        {"seq": seq, "prev": prev, **record.canonical()},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def chain(previous: AuditEntry | None, record: AuditRecord) -> AuditEntry:
    """The entry that follows `previous` (None: the first one)."""
    seq = previous.seq + 1 if previous else 1
    prev = previous.hash if previous else GENESIS
    return AuditEntry(seq, record, prev, entry_hash(seq, record, prev))


@dataclass(frozen=True)
class Head:
    seq: int
    hash: str


@dataclass(frozen=True)
class Verdict:
    ok: bool
    checked: int
    problem: str = ""
    seq: int | None = None  # where the chain breaks


def verify(entries: Iterable[AuditEntry], heads: Iterable[Head] = ()) -> Verdict:
    """Check the chain from its first entry, and that every anchored head is in it."""
    wanted = {h.seq: h.hash for h in heads}
    previous: AuditEntry | None = None
    checked = 0
    for entry in entries:
        expected_seq = previous.seq + 1 if previous else 1
        if entry.seq != expected_seq:
            return Verdict(False, checked, f"entry {expected_seq} is missing", expected_seq)
        if entry.prev != (previous.hash if previous else GENESIS):
            return Verdict(False, checked, "the chain is broken before this entry", entry.seq)
        if entry_hash(entry.seq, entry.record, entry.prev) != entry.hash:
            return Verdict(False, checked, "this entry was changed", entry.seq)
        if entry.seq in wanted and wanted.pop(entry.seq) != entry.hash:
            return Verdict(False, checked, "this entry differs from its anchored head", entry.seq)
        previous = entry
        checked += 1
    if wanted:
        first = min(wanted)
        return Verdict(False, checked, "entries that were anchored are gone", first)
    return Verdict(True, checked)


class AuditLog(Protocol):
    async def append(self, record: AuditRecord) -> AuditEntry:
        """Chain and store one record (concurrent appends from several nodes take turns)."""
        ...

    async def entries(self, after: int = 0, limit: int = 1000) -> list[AuditEntry]:
        """Entries with `seq` above `after`, in order."""
        ...

    async def head(self) -> AuditEntry | None: ...

    async def for_profile(
        self, profile: str, limit: int = 200, appointments: Collection[str] = ()
    ) -> list[AuditEntry]:
        """The newest entries about one profile (and, if named, about these appointments of
        it: admissions, joins and leaves carry no profile), newest first."""
        ...


class Anchor:
    """Heads written to an append-only file, one JSON line each (mode 0600)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, head: Head, at: float) -> None:
        line = json.dumps({"seq": head.seq, "hash": head.hash, "at": at}) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def heads(self) -> Iterator[Head]:
        try:
            lines = self.path.read_text().splitlines()
        except FileNotFoundError:
            return
        for number, line in enumerate(lines, start=1):
            try:
                data = json.loads(line)
                yield Head(int(data["seq"]), str(data["hash"]))
            except (ValueError, KeyError, TypeError):
                raise ValueError(f"{self.path}:{number} is not an anchored head") from None
