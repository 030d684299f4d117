"""xAPI 1.0.3 statements as JSON (the wire format; no I/O).

The actor is the profile's pseudonymous id as an `account` on this server (homePage: its base
URL), never a name. Activities are IRIs under the server's base URL. A statement's `id` is a
UUID, its `timestamp` ISO 8601 in UTC; `version` is 1.0.3.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.learning.records import VERB_IRIS, Verb

XAPI_VERSION = "1.0.3"
ACTIVITY_MODULE = "http://adlnet.gov/expapi/activities/module"
ACTIVITY_LESSON = "http://adlnet.gov/expapi/activities/lesson"
ACTIVITY_ASSESSMENT = "http://adlnet.gov/expapi/activities/assessment"
ACTIVITY_INTERACTION = "http://adlnet.gov/expapi/activities/cmi.interaction"
ACTIVITY_MEDIA = "http://adlnet.gov/expapi/activities/media"


def timestamp(at: float) -> str:
    """Epoch seconds as ISO 8601 in UTC with milliseconds (`2026-12-01T06:10:00.000Z`)."""
    moment = datetime.fromtimestamp(at, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Activity:
    """An xAPI activity: its IRI, type and name per language."""

    iri: str
    type: str
    name: Mapping[str, str]
    interaction: Mapping[str, Any] | None = None  # interactionType, choices, ... (cmi.interaction)

    def json(self) -> dict[str, Any]:
        definition: dict[str, Any] = {"type": self.type, "name": dict(self.name)}
        if self.interaction:
            definition.update(self.interaction)
        return {"objectType": "Activity", "id": self.iri, "definition": definition}


@dataclass(frozen=True)
class Outcome:
    """An xAPI result: score (scaled 0..1, raw and max), success, completion, response."""

    scaled: float | None = None
    raw: float | None = None
    max: float | None = None
    success: bool | None = None
    completion: bool | None = None
    response: str | None = None

    def json(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        if self.scaled is not None:
            score: dict[str, float] = {"scaled": round(self.scaled, 4)}
            if self.raw is not None and self.max is not None:
                score.update(raw=self.raw, min=0, max=self.max)
            result["score"] = score
        if self.success is not None:
            result["success"] = self.success
        if self.completion is not None:
            result["completion"] = self.completion
        if self.response is not None:
            result["response"] = self.response
        return result


def agent(home_page: str, profile: str) -> dict[str, Any]:
    """The learner: an account on this server named by the profile's pseudonymous id."""
    return {"objectType": "Agent", "account": {"homePage": home_page, "name": profile}}


def build_statement(
    *,
    statement_id: str,
    home_page: str,
    profile: str,
    verb: Verb,
    activity: Activity,
    at: float,
    outcome: Outcome | None = None,
    parents: Sequence[Activity] = (),
    language: str | None = None,
) -> dict[str, Any]:
    """One statement, ready to store and export."""
    statement: dict[str, Any] = {
        "id": statement_id,
        "actor": agent(home_page, profile),
        "verb": {"id": VERB_IRIS[verb], "display": {"en-US": verb.value}},
        "object": activity.json(),
        "timestamp": timestamp(at),
        "version": XAPI_VERSION,
    }
    if outcome is not None and outcome.json():
        statement["result"] = outcome.json()
    context: dict[str, Any] = {}
    if parents:
        context["contextActivities"] = {"parent": [p.json() for p in parents]}
    if language:
        context["language"] = language
    if context:
        statement["context"] = context
    return statement


def canonical(statement: Mapping[str, Any]) -> str:
    """The JSON text a statement is stored as."""
    return json.dumps(statement, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def statement_result(statements: Sequence[str]) -> dict[str, Any]:
    """Stored statements as an xAPI StatementResult (the export)."""
    return {"statements": [json.loads(s) for s in statements], "more": ""}
