"""The appointment kinds' pure parts: which fields a kind takes, marking attendance, the
console's status for in-person and phone appointments, and the calendar file's LOCATION."""

from __future__ import annotations

import dataclasses

import pytest

from core.model import Appointment, AppointmentStatus, AttendanceEvent, Participant
from signalling.appointments import Conflict, KindFields, ValidationError, kind_fields
from signalling.attendance import mark
from signalling.ics import CalendarEvent, calendar
from signalling.room.status import live_state

T0 = 1_800_000_000.0


def appointment(kind: str = "in_person") -> Appointment:
    return Appointment(
        id="a_1",
        title="Gespräch",
        starts_at=T0,
        ends_at=T0 + 1800,
        waiting_room=False,
        participants=(
            Participant("p_c", "caseworker", "Frau Becker", "de", "h1"),
            Participant("p_j", "jobseeker", "Ayşe", "tr", "h2", profile_id="j_1"),
        ),
        created_by="becker",
        created_at=T0 - 86400,
        kind=kind,
        place="Raum 2" if kind == "in_person" else "",
        address="Weg 1" if kind == "in_person" else "",
    )


def test_kind_fields() -> None:
    assert kind_fields("video", {}) == KindFields("video")
    got = kind_fields("in_person", {"place": " Raum 2 ", "address": "Weg 1", "bring": ""})
    assert got == KindFields("in_person", "Raum 2", "Weg 1", "")
    assert kind_fields("phone", {"bring": "Bescheid"}).bring == "Bescheid"
    before = KindFields("in_person", "Raum 2", "Weg 1", "Pass")
    assert kind_fields("in_person", {"bring": "Zeugnis"}, before).place == "Raum 2"
    for kind, data, field in [
        ("fax", {}, "kind"),
        ("in_person", {"address": "Weg 1"}, "place"),
        ("in_person", {"place": "Raum"}, "address"),
        ("phone", {"address": "Weg 1"}, "address"),
        ("video", {"bring": "x"}, "bring"),
        ("in_person", {"place": "R\u202e2", "address": "W"}, "place"),  # a bidi control
    ]:
        with pytest.raises(ValidationError) as caught:
            kind_fields(kind, data)
        assert caught.value.field == field


def test_marking_attendance() -> None:
    a = appointment()
    with pytest.raises(Conflict):
        mark(a, True, T0 - 1)  # not started
    with pytest.raises(Conflict):
        mark(appointment("video"), True, T0 + 1)
    with pytest.raises(Conflict):
        mark(dataclasses.replace(a, status=AppointmentStatus.CANCELLED), True, T0 + 1)
    events = mark(a, True, T0 + 60)
    assert [(e.participant_id, e.event) for e in events] == [("p_j", "attended")]


def test_status_of_an_in_person_appointment() -> None:
    a = appointment()
    assert live_state(a, {}, [], T0 - 1) == "not_started"
    assert live_state(a, {}, [], T0 + 1) == "to_mark"
    assert live_state(a, {}, [], T0 + 7200) == "to_mark"
    came = AttendanceEvent("a_1", "p_j", "attended", T0 + 60)
    gone = AttendanceEvent("a_1", "p_j", "absent", T0 + 120)
    assert live_state(a, {}, [came], T0 + 7200) == "attended"
    assert live_state(a, {}, [came, gone], T0 + 7200) == "no_show"  # the later mark counts
    assert live_state(a, {}, [gone, came], T0 + 7200) == "no_show"  # by time, not by order
    cancelled = dataclasses.replace(a, status=AppointmentStatus.CANCELLED)
    assert live_state(cancelled, {}, [came], T0) == "cancelled"


def test_calendar_location_is_escaped() -> None:
    event = CalendarEvent(
        uid="a_1@x", starts_at=T0, ends_at=T0 + 60, summary="S", location="Raum 2, Weg 1; Ort"
    )
    text = calendar(event, T0)
    assert "LOCATION:Raum 2\\, Weg 1\\; Ort\r\n" in text
    assert "LOCATION" not in calendar(dataclasses.replace(event, location=""), T0)
