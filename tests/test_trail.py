"""Reading the audit trail (signalling.trail): who has seen a jobseeker's documents, folded
and naming nobody, and the caseworker's view of one entry. Pure functions, no I/O."""

from __future__ import annotations

from core.audit import Action, AuditEntry, AuditRecord, chain
from core.model import Appointment, Participant, Role
from signalling.trail import Who, trail_entry, who_has_seen

ZONE = "Europe/Berlin"
T0 = 1_796_000_000.0  # a Monday at 01:53 in Berlin (the day-fold is by local date)
CALL = Appointment(
    id="a_1",
    title="Vorstellung",
    starts_at=T0,
    ends_at=T0 + 1800,
    waiting_room=True,
    participants=(
        Participant("p_cw", Role.CASEWORKER, "Frau Becker", "de", "h1"),
        Participant("p_js", Role.JOBSEEKER, "Ayşe", "tr", "h2", profile_id="j_1"),
        Participant("p_em", Role.EMPLOYER, "Herr Wolf", "de", "h3"),
        Participant("p_in", Role.JOBSEEKER, "Dolmetscher", "ar", "h4"),  # not the linked one
    ),
    created_by="becker",
    created_at=T0 - 86400,
)


def entries(*records: AuditRecord) -> list[AuditEntry]:
    """Chained in order, returned newest first (as `for_profile` gives them)."""
    out: list[AuditEntry] = []
    for record in records:
        out.append(chain(out[-1] if out else None, record))
    return list(reversed(out))


def rec(
    at: float,
    action: Action,
    actor: str,
    role: str,
    document: str | None = "d_1",
    appointment: str | None = None,
    page: int | None = None,
) -> AuditRecord:
    detail = {} if page is None else {"page": page}
    return AuditRecord(at, actor, role, action, "j_1", appointment, document, None, detail)


def test_views_fold_per_person_and_call_or_day_and_own_views_are_left_out() -> None:
    log = entries(
        rec(T0 - 86400, Action.UPLOAD, "becker", "caseworker"),
        rec(T0 - 86400 + 60, Action.VIEW, "becker", "caseworker", page=1),  # yesterday
        rec(T0 + 10, Action.VIEW, "becker", "caseworker", page=1),  # today, two pages
        rec(T0 + 20, Action.VIEW, "becker", "caseworker", page=3),
        rec(T0 + 30, Action.VIEW, "j_1", "jobseeker", page=1),  # her own look: not listed
        rec(T0 + 40, Action.DOWNLOAD, "j_1", "jobseeker"),
        rec(T0 + 100, Action.SHARE, "p_cw", "caseworker", appointment="a_1"),
        rec(T0 + 110, Action.CONSENT, "p_js", "jobseeker", appointment="a_1"),
        rec(T0 + 120, Action.VIEW, "p_em", "guest", appointment="a_1", page=1),
        rec(T0 + 121, Action.VIEW, "p_cw", "caseworker", appointment="a_1", page=1),
        rec(T0 + 130, Action.VIEW, "p_em", "guest", appointment="a_1", page=2),
        rec(T0 + 140, Action.VIEW, "p_in", "guest", appointment="a_1", page=2),
        rec(T0 + 150, Action.WITHDRAW, "p_js", "jobseeker", appointment="a_1"),
        rec(T0 + 160, Action.VIEW, "p_em", "guest", "d_2", appointment="a_1", page=1),
        rec(T0 + 170, Action.EXPIRE, "retention", "system", "d_2"),
        rec(T0 + 180, Action.JOIN, "p_em", "participant", None, appointment="a_1"),
    )
    trails = who_has_seen(log, {"d_1": "Lebenslauf"}, {"a_1": CALL}, ZONE)
    assert [(t.document, t.title) for t in trails] == [("d_2", None), ("d_1", "Lebenslauf")]
    (gone,) = trails[0].seen
    assert (gone.who, gone.pages, gone.appointment_starts) == (Who.EMPLOYER, (1,), T0)
    got = [(s.action, s.who, s.appointment, s.pages, s.at) for s in trails[1].seen]
    assert got == [
        (Action.WITHDRAW, Who.YOU, "a_1", (), T0 + 150),
        (Action.VIEW, Who.PARTICIPANT, "a_1", (2,), T0 + 140),  # not an employer
        (Action.VIEW, Who.EMPLOYER, "a_1", (1, 2), T0 + 130),  # the newest of its entries
        (Action.VIEW, Who.CASEWORKER, "a_1", (1,), T0 + 121),
        (Action.CONSENT, Who.YOU, "a_1", (), T0 + 110),
        (Action.SHARE, Who.CASEWORKER, "a_1", (), T0 + 100),
        (Action.VIEW, Who.CASEWORKER, None, (1, 3), T0 + 20),
        (Action.VIEW, Who.CASEWORKER, None, (1,), T0 - 86400 + 60),
    ]


def test_a_guest_of_a_call_that_is_gone_is_only_a_participant() -> None:
    log = entries(rec(T0, Action.VIEW, "p_em", "guest", appointment="a_1", page=1))
    (trail,) = who_has_seen(log, {}, {}, ZONE)
    (line,) = trail.seen
    assert (line.who, line.appointment, line.appointment_starts) == (Who.PARTICIPANT, "a_1", None)
    assert trail.public()["seen"][0]["who"] == "participant"


def test_the_caseworkers_entry_names_titles_and_roles_never_people() -> None:
    (join,) = entries(rec(T0, Action.JOIN, "p_em", "participant", None, appointment="a_1"))
    shown = trail_entry(join, {}, {"a_1": CALL})
    assert shown["role_in_call"] == "employer" and shown["document"] is None
    assert shown["appointment"] == {"id": "a_1", "title": "Vorstellung", "starts_at": T0}
    assert "Wolf" not in repr(shown)
    (view,) = entries(rec(T0, Action.VIEW, "becker", "caseworker", page=2))
    shown = trail_entry(view, {"d_1": "Lebenslauf"}, {})
    assert shown["document"] == {"id": "d_1", "title": "Lebenslauf"}
    assert shown["appointment"] is None and shown["detail"] == {"page": 2}
    assert trail_entry(view, {}, {})["document"] == {"id": "d_1", "title": None}
