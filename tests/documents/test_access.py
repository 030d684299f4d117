"""Who may see a document: the owner and caseworkers always; an employer only with the
jobseeker's standing consent, in that call, while it runs."""

from __future__ import annotations

import dataclasses

from core.documents.access import (
    MAX_DOCUMENTS,
    MAX_FOLDER_BYTES,
    Consent,
    DocumentMeta,
    Use,
    Viewer,
    ViewerKind,
    decide,
    expired,
    room_for,
)
from core.documents.intake import Kind

T0 = 1_800_000_000.0
DOC = DocumentMeta(
    id="d_" + "ab" * 16,
    profile="j_1",
    title="Lebenslauf",
    kind=Kind.CV,
    media_type="application/pdf",
    size=1000,
    pages=2,
    uploaded_by="j_1",
    uploaded_at=T0,
    last_used_at=T0,
)
OWNER = Viewer(ViewerKind.OWNER, "j_1", profile="j_1")
STRANGER = Viewer(ViewerKind.OWNER, "j_2", profile="j_2")
STAFF = Viewer(ViewerKind.STAFF, "becker")
EMPLOYER = Viewer(ViewerKind.GUEST, "p_wolf", appointment="a_1")
YES = Consent(DOC.id, "a_1", T0)


def test_owner_and_staff_may_do_everything_a_stranger_nothing() -> None:
    for use in Use:
        assert decide(OWNER, DOC, use).allowed
        assert decide(STAFF, DOC, use).allowed
        refused = decide(STRANGER, DOC, use)
        assert not refused.allowed and refused.reason == "not_found"


def test_an_employer_sees_pages_only_with_consent_in_a_live_call() -> None:
    assert decide(EMPLOYER, DOC, Use.PAGES, consents=(YES,), call_live=True).allowed
    refusals = {
        "no consent": decide(EMPLOYER, DOC, Use.PAGES, call_live=True),
        "after the call": decide(EMPLOYER, DOC, Use.PAGES, consents=(YES,), call_live=False),
        "withdrawn": decide(
            EMPLOYER,
            DOC,
            Use.PAGES,
            consents=(dataclasses.replace(YES, withdrawn_at=T0 + 5),),
            call_live=True,
        ),
        "another call": decide(
            EMPLOYER,
            DOC,
            Use.PAGES,
            consents=(dataclasses.replace(YES, appointment="a_2"),),
            call_live=True,
        ),
        "another document": decide(
            EMPLOYER,
            DOC,
            Use.PAGES,
            consents=(dataclasses.replace(YES, document="d_" + "cd" * 16),),
            call_live=True,
        ),
    }
    for what, decision in refusals.items():
        assert not decision.allowed and decision.reason == "consent_required", what
    for use in (Use.ORIGINAL, Use.DELETE, Use.PRESENT):  # never the file, even with consent
        decision = decide(EMPLOYER, DOC, use, consents=(YES,), call_live=True)
        assert not decision.allowed and decision.reason == "forbidden"


def test_folder_limits_and_retention() -> None:
    assert room_for([DOC] * (MAX_DOCUMENTS - 1), 10) is None
    assert room_for([DOC] * MAX_DOCUMENTS, 10) == "folder_full"
    assert room_for([DOC], MAX_FOLDER_BYTES) == "folder_too_large"
    assert not expired(DOC, T0 + 180 * 86400, 180)
    assert expired(DOC, T0 + 180 * 86400 + 1, 180)
