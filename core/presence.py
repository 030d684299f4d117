"""How a participant's presence in a live room changes: every transition of `MemberState` in
one table, a pure function of the current state and what happened. The hub applies a
transition with the store's compare-and-set (`swap_member`), so that of two nodes acting on
one member at once only the first wins."""

from __future__ import annotations

from enum import StrEnum

from core.model import MemberState


class MemberEvent(StrEnum):
    CONNECT = "connect"  # a socket authenticated; the lobby applies
    CONNECT_TRUSTED = "connect_trusted"  # ... one who may skip the lobby (an admitter, or none)
    ADMIT = "admit"
    LOSE = "lose"  # the socket closed without a leave
    LEAVE = "leave"  # a leave, or a socket this server closed for good
    TIME_OUT = "time_out"  # the reconnect grace ran out
    DENY = "deny"  # refused, or removed from the call


W, A, R = MemberState.WAITING, MemberState.ADMITTED, MemberState.RECONNECTING
L, D = MemberState.LEFT, MemberState.DENIED
E = MemberEvent

# (state, event) -> next state; None is "not in the room" (no stored member). A pair that is
# not here is not allowed: the event finds the member in another state and does nothing.
TRANSITIONS: dict[tuple[MemberState | None, MemberEvent], MemberState] = {
    # Connecting: who was in the call (or lost their socket) comes back in; others wait.
    (None, E.CONNECT): W,
    (W, E.CONNECT): W,
    (A, E.CONNECT): A,
    (R, E.CONNECT): A,
    (None, E.CONNECT_TRUSTED): A,
    (W, E.CONNECT_TRUSTED): A,
    (A, E.CONNECT_TRUSTED): A,
    (R, E.CONNECT_TRUSTED): A,
    (W, E.ADMIT): A,
    # A waiting person whose socket closes is gone; someone in the call may come back.
    (W, E.LOSE): L,
    (A, E.LOSE): R,
    (W, E.LEAVE): L,
    (A, E.LEAVE): L,
    (R, E.LEAVE): L,
    (R, E.TIME_OUT): L,
    (W, E.DENY): D,
    (A, E.DENY): D,
    (R, E.DENY): D,
}

# States in which a member is part of the call (counted in it, with media to leave).
IN_CALL = frozenset({A, R})
# States that end a stay: the member is deleted from the store.
GONE = frozenset({L, D})


def next_state(current: MemberState | None, event: MemberEvent) -> MemberState | None:
    """The state `event` moves a member in `current` to, or None if it does not apply."""
    return TRANSITIONS.get((current, event))


def on_connect(previous: MemberState | None, may_skip_lobby: bool) -> MemberState:
    """The state of a freshly authenticated socket, given its participant's stored state."""
    event = MemberEvent.CONNECT_TRUSTED if may_skip_lobby else MemberEvent.CONNECT
    state = next_state(previous, event)
    if state is None:  # only a gone state, which is never stored, has no connect transition
        raise ValueError(f"a member cannot be {previous}")
    return state


def presence_of(state: MemberState | None) -> str:
    """The `state` other participants see in `hello`: joined, waiting, reconnecting or absent."""
    if state == MemberState.ADMITTED:
        return "joined"
    if state == MemberState.WAITING or state == MemberState.RECONNECTING:
        return str(state)
    return "absent"
