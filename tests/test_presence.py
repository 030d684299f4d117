"""The member state transitions (core.presence): a pure table, tested without I/O."""

from __future__ import annotations

import pytest

from core.model import MemberState
from core.presence import (
    GONE,
    IN_CALL,
    TRANSITIONS,
    MemberEvent,
    next_state,
    on_connect,
    presence_of,
)

W, A, R = MemberState.WAITING, MemberState.ADMITTED, MemberState.RECONNECTING
L, D = MemberState.LEFT, MemberState.DENIED


def history(start: MemberState | None, *events: MemberEvent) -> list[MemberState | None]:
    """Every state a member passes through; a refused event leaves the state as it was."""
    states = [start]
    for event in events:
        states.append(next_state(states[-1], event) or states[-1])
    return states


def test_a_waiting_person_is_admitted_loses_the_socket_and_comes_back() -> None:
    assert history(
        None,
        MemberEvent.CONNECT,
        MemberEvent.ADMIT,
        MemberEvent.LOSE,
        MemberEvent.CONNECT,
        MemberEvent.LEAVE,
    ) == [None, W, A, R, A, L]


def test_a_reconnect_that_does_not_come_back_in_time_ends_the_stay() -> None:
    assert history(None, MemberEvent.CONNECT_TRUSTED, MemberEvent.LOSE, MemberEvent.TIME_OUT) == [
        None,
        A,
        R,
        L,
    ]


@pytest.mark.parametrize(
    ("previous", "trusted", "expected"),
    [
        (None, False, W),
        (W, False, W),
        (A, False, A),  # a second tab of someone in the call
        (R, False, A),  # back within the grace time: no lobby again
        (None, True, A),
        (W, True, A),
    ],
)
def test_connecting(previous: MemberState | None, trusted: bool, expected: MemberState) -> None:
    assert on_connect(previous, trusted) is expected


@pytest.mark.parametrize("gone", [L, D])
def test_a_gone_state_is_never_connected_to(gone: MemberState) -> None:
    with pytest.raises(ValueError, match="cannot be"):
        on_connect(gone, may_skip_lobby=False)


@pytest.mark.parametrize(
    ("current", "event"),
    [
        (A, MemberEvent.ADMIT),  # admitted twice (two admitters at once)
        (R, MemberEvent.ADMIT),
        (None, MemberEvent.ADMIT),  # left before the click
        (W, MemberEvent.TIME_OUT),  # only a reconnect times out
        (A, MemberEvent.TIME_OUT),  # came back just now
        (R, MemberEvent.LOSE),  # its socket is already gone
        (None, MemberEvent.LEAVE),
        (L, MemberEvent.DENY),
    ],
)
def test_events_that_do_not_apply_change_nothing(
    current: MemberState | None, event: MemberEvent
) -> None:
    assert next_state(current, event) is None


def test_a_waiting_socket_that_closes_leaves_and_one_in_the_call_may_come_back() -> None:
    assert next_state(W, MemberEvent.LOSE) is L
    assert next_state(A, MemberEvent.LOSE) is R


def test_deny_ends_any_stay() -> None:
    assert {next_state(s, MemberEvent.DENY) for s in (W, A, R)} == {D}


def test_plain_strings_from_the_store_look_up_like_the_enum() -> None:
    assert next_state(MemberState("waiting"), MemberEvent.ADMIT) is A
    assert next_state("waiting", MemberEvent.ADMIT) is A  # type: ignore[arg-type]


def test_the_table_never_stores_a_gone_state_and_never_leaves_one() -> None:
    for (current, _event), after in TRANSITIONS.items():
        assert current not in GONE
        assert after in IN_CALL | GONE | {W}
    assert IN_CALL.isdisjoint(GONE)


def test_presence_as_others_see_it() -> None:
    assert [presence_of(s) for s in (A, W, R, L, None)] == [
        "joined",
        "waiting",
        "reconnecting",
        "absent",
        "absent",
    ]
    assert presence_of("admitted") == "joined"  # type: ignore[arg-type]
