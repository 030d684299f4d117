"""The pure parts of rescheduling and of the console list's filters, without I/O."""

from __future__ import annotations

import pytest

from core.model import Appointment, AppointmentStatus, Grants, Participant
from core.settings import Settings
from signalling.appointment_filter import ListFilter, apply_filter, fold, parse_filter
from signalling.appointments import ValidationError, token_void
from signalling.auth.invites import link_id
from signalling.auth.tokens import RoomClaims
from signalling.rescheduling import EditRefused, edit

T0 = 1_800_000_000.0
SETTINGS = Settings()


def appointment(start: float = T0 + 3600, status: str = AppointmentStatus.SCHEDULED) -> Appointment:
    people = (
        Participant("p_cw", "caseworker", "Frau Becker", "de", "h1"),
        Participant("p_js", "jobseeker", "Ayşe Yılmaz", "tr", "h2"),  # noqa: RUF001
    )
    return Appointment("a_1", "Beratung", start, start + 1800, True, people, "becker", T0, status)


def claims(iat: int, invite_hash: str) -> RoomClaims:
    return RoomClaims(
        "lippejob", "room", "p_js", "a_1", "jobseeker", Grants(), "", "tr",
        iat, iat, iat + 600, "j1", link_id(invite_hash),
    )  # fmt: skip


def test_a_move_keeps_the_links_and_voids_older_tokens() -> None:
    before = appointment()
    edited = edit(before, {"starts_at": T0 + 7200}, now=T0 + 10.4, settings=SETTINGS)
    assert edited.changed == ("window",)
    moved = edited.appointment
    assert (moved.starts_at, moved.ends_at) == (T0 + 7200, T0 + 9000)
    for old, new in zip(before.participants, moved.participants, strict=True):
        assert new.invite_hash == old.invite_hash  # the same links
        assert new.not_before == T0 + 11
    js = moved.participant("p_js")
    assert js is not None
    assert token_void(js, claims(int(T0 + 10), "h2"))  # minted for the old window
    assert not token_void(js, claims(int(T0 + 11), "h2"))


def test_renames_and_titles_do_not_void_tokens() -> None:
    edited = edit(
        appointment(),
        {"title": "Neu", "participants": [{"id": "p_js", "lang": "ar"}]},
        now=T0,
        settings=SETTINGS,
    )
    assert edited.changed == ("participants", "title")
    assert all(p.not_before == 0.0 for p in edited.appointment.participants)
    js = edited.appointment.participant("p_js")
    assert js is not None and (js.name, js.lang) == ("Ayşe Yılmaz", "ar")  # noqa: RUF001


@pytest.mark.parametrize(
    "status, now",
    [(AppointmentStatus.CANCELLED, T0), (AppointmentStatus.ENDED, T0), ("scheduled", T0 + 5400)],
)
def test_only_live_appointments_change(status: str, now: float) -> None:
    with pytest.raises(EditRefused):
        edit(appointment(status=status), {"title": "Neu"}, now=now, settings=SETTINGS)


def test_bad_input_is_refused_before_the_state_is_looked_at() -> None:
    with pytest.raises(ValidationError, match="unknown fields"):
        edit(appointment(status=AppointmentStatus.CANCELLED), {"x": 1}, now=T0, settings=SETTINGS)


def test_fold_ignores_case_accents_and_the_dotless_i() -> None:
    assert fold("Ayşe YILMAZ") == fold("ayse yilmaz")
    assert "uben" in fold("Bewerbung üben")


def test_filters() -> None:
    upcoming = appointment()
    over = appointment(start=T0 - 7200)
    cancelled = appointment(start=T0 + 7200, status=AppointmentStatus.CANCELLED)
    every = [over, upcoming, cancelled]
    assert apply_filter(every, ListFilter(status="upcoming"), T0) == [upcoming]
    assert apply_filter(every, ListFilter(status="past"), T0) == [cancelled, over]
    assert apply_filter(every, ListFilter(query="yilmaz", limit=2), T0) == [over, upcoming]
    assert parse_filter({"q": " x ", "status": "past", "limit": "5"}) == ListFilter(
        None, None, "x", "past", 5
    )
    with pytest.raises(ValidationError):
        parse_filter({"from": "inf"})
