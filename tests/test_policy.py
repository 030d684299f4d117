"""Pure policy: when a link works, which worker takes a room, what the console shows."""

from __future__ import annotations

import dataclasses

import pytest

from core.model import Appointment, AttendanceEvent, Member, Participant, WorkerInfo
from signalling.auth.invites import LinkState, hash_code, link_state, looks_like_code, new_code
from signalling.room.placement import choose_worker
from signalling.room.status import live_state, time_in_call

T0 = 1_900_000_000.0


def _appointment(**changes: object) -> Appointment:
    base = Appointment(
        id="a1",
        title="t",
        starts_at=T0,
        ends_at=T0 + 1800,
        waiting_room=True,
        participants=(
            Participant("cw", "caseworker", "C", "de", "h1"),
            Participant("js", "jobseeker", "J", "tr", "h2"),
        ),
        created_by="becker",
        created_at=T0 - 86400,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_link_window() -> None:
    a = _appointment()
    assert link_state(a, T0 - 901, 900) is LinkState.TOO_EARLY
    assert link_state(a, T0 - 900, 900) is LinkState.OPEN
    assert link_state(a, T0 + 1799, 900) is LinkState.OPEN
    assert link_state(a, T0 + 1800, 900) is LinkState.EXPIRED
    assert link_state(_appointment(status="cancelled"), T0, 900) is LinkState.CANCELLED
    assert link_state(_appointment(status="ended"), T0, 900) is LinkState.ENDED


def test_codes_are_random_and_hashed() -> None:
    codes = {new_code() for _ in range(100)}
    assert len(codes) == 100 and all(looks_like_code(c) and len(c) == 22 for c in codes)
    code = next(iter(codes))
    assert hash_code(code) != code and len(hash_code(code)) == 64
    assert not looks_like_code("../../etc/passwd") and not looks_like_code("short")


def test_least_loaded_worker_wins() -> None:
    workers = [
        WorkerInfo("w2", 3.0, 2, T0),
        WorkerInfo("w1", 1.0, 5, T0),
        WorkerInfo("w3", 1.0, 1, T0),
    ]
    chosen = choose_worker(workers)
    assert chosen is not None and chosen.id == "w3"
    assert choose_worker([]) is None


def test_worker_info_from_another_version_reads() -> None:
    newer = {**WorkerInfo("w1", 1.0, 1, T0).to_dict(), "zone": "b"}
    assert WorkerInfo.from_dict(newer) == WorkerInfo("w1", 1.0, 1, T0)
    older = {"id": "w1", "load": 1.0, "rooms": 1, "heartbeat_at": T0}  # before `draining`
    assert WorkerInfo.from_dict(older) == WorkerInfo("w1", 1.0, 1, T0, draining=False)


def test_a_draining_worker_takes_no_new_room() -> None:
    idle_but_draining = WorkerInfo("w1", 0.0, 0, T0, draining=True)
    busy = WorkerInfo("w2", 9.0, 4, T0)
    chosen = choose_worker([idle_but_draining, busy])
    assert chosen is not None and chosen.id == "w2"
    assert choose_worker([idle_but_draining]) is None


def _member(pid: str, status: str) -> Member:
    return Member(pid, status, "n", "c", T0)


def test_live_states() -> None:
    a = _appointment()
    assert live_state(a, {}, [], T0) == "not_started"
    assert live_state(a, {"js": _member("js", "waiting")}, [], T0) == "waiting"
    both = {"cw": _member("cw", "admitted"), "js": _member("js", "reconnecting")}
    assert live_state(a, both, [], T0) == "in_call"
    assert live_state(a, {}, [], T0 + 1800) == "no_show"
    came = [AttendanceEvent("a1", "js", "joined", T0 + 60)]
    assert live_state(a, {}, came, T0 + 1800) == "ended"
    assert live_state(_appointment(status="ended"), {}, came, T0 + 100) == "ended"
    assert live_state(_appointment(status="cancelled"), {}, [], T0) == "cancelled"


def test_time_in_call_counts_each_stay_until_it_ends() -> None:
    def at(pid: str, event: str, minute: float) -> AttendanceEvent:
        return AttendanceEvent("a1", pid, event, T0 + minute * 60)

    events = [
        at("js", "waiting", 0),
        at("cw", "joined", 0),
        at("js", "joined", 1),  # admitted after a minute in the waiting room
        at("js", "left", 11),
        at("js", "joined", 14),  # back after three minutes
        at("em", "joined", 20),
        at("em", "removed", 25),
        at("x", "joined", 2),
        at("x", "denied", 4),  # let in by one caseworker, put out by another
    ]
    a = _appointment()
    # While the call goes on, open stays count until now.
    assert time_in_call(a, events, T0 + 30 * 60 - 60) == {
        "cw": 29 * 60,
        "js": (10 + 15) * 60,
        "em": 5 * 60,
        "x": 2 * 60,
    }
    # The caseworker ends it at minute 26: every open stay ends then, later events change
    # nothing.
    ended = [*events, at("cw", "ended", 26), at("js", "left", 26.1), at("cw", "left", 26.2)]
    done = _appointment(status="ended", ended_at=T0 + 26 * 60)
    assert time_in_call(done, ended, T0 + 3600) == {
        "cw": 26 * 60,
        "js": (10 + 12) * 60,
        "em": 5 * 60,
        "x": 2 * 60,
    }
    # Nobody ended it: stays end with the window, whenever one asks.
    assert time_in_call(a, events, T0 + 7200)["cw"] == 30 * 60
    # A stay never starts with a leave, and nobody who never came has time.
    assert time_in_call(a, [at("js", "left", 3)], T0 + 600) == {}


def test_stored_records_read_back_as_domain_enums() -> None:
    from core.model import AppointmentStatus, AttendanceKind, MemberState, Role

    appointment = Appointment.from_dict(_appointment(status="cancelled").to_dict())
    assert appointment.status is AppointmentStatus.CANCELLED
    assert [p.role for p in appointment.participants] == [Role.CASEWORKER, Role.JOBSEEKER]
    assert appointment == _appointment(status="cancelled")  # a StrEnum equals its string
    member = Member.from_dict(Member("js", "reconnecting", "n1", "c1", T0).to_dict())
    assert member.status is MemberState.RECONNECTING
    event = AttendanceEvent.from_dict(AttendanceEvent("a1", "js", "removed", T0).to_dict())
    assert event.event is AttendanceKind.REMOVED
    with pytest.raises(ValueError):
        Member.from_dict({**member.to_dict(), "status": "dancing"})
    with pytest.raises(ValueError):
        AttendanceEvent.from_dict({**event.to_dict(), "event": "dancing"})
