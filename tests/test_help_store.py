"""`HelpStore` (help requests and the caseworkers' replies) on SQLite and a real PostgreSQL."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest

from core.clock import FakeClock
from core.help import HelpKind, HelpReply, HelpRequest, HelpStatus, ReplyKind
from core.store.sql import SqlStore

T0 = 1_800_000_000.0


@pytest.fixture
async def store(url: str) -> AsyncIterator[SqlStore]:
    s = SqlStore.from_url(url, FakeClock(T0))
    yield s
    await s.close()


def request(rid: str, profile: str = "j_1", at: float = T0, **changes: object) -> HelpRequest:
    base = HelpRequest(
        id=rid,
        profile=profile,
        kind=HelpKind.CHILDCARE,
        text="Mein Sohn braucht eine Betreuung mit Rampe.",
        created_at=at,
        updated_at=at,
        appointment="a_1",
        child_ages=(3, 7),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def reply(rid: str, text: str, at: float, kind: ReplyKind = ReplyKind.ANSWER) -> HelpReply:
    return HelpReply(rid, kind, "becker", text, at)


async def test_round_trip_with_replies_in_order(store: SqlStore) -> None:
    assert await store.get_help_request("h_x") is None
    assert await store.add_help_request(request("h_1"), max_open=5)
    assert await store.get_help_request("h_1") == request("h_1")
    assert await store.add_help_reply(reply("h_1", "Wir kümmern uns.", T0 + 10), 5)
    note = reply("h_1", "Kita Sonnenschein, 8:30", T0 + 20, ReplyKind.NOTE)
    assert await store.add_help_reply(note, 5)
    assert await store.set_help_status("h_1", HelpStatus.ARRANGED, T0 + 30)
    got = await store.get_help_request("h_1")
    assert got is not None
    assert [r.text for r in got.replies] == ["Wir kümmern uns.", "Kita Sonnenschein, 8:30"]
    assert got.replies[1] == note
    assert (got.status, got.updated_at, got.closed, got.new) == (
        HelpStatus.ARRANGED,
        T0 + 30,
        True,
        False,
    )
    other = request("h_2", kind=HelpKind.TRANSPORT, appointment=None, child_ages=())
    assert await store.add_help_request(other, max_open=5)
    assert await store.get_help_request("h_2") == other


async def test_list_newest_first_per_profile_and_all(store: SqlStore) -> None:
    for n, profile in enumerate(["j_1", "j_2", "j_1"]):
        assert await store.add_help_request(request(f"h_{n}", profile, T0 + n), max_open=5)
    await store.add_help_reply(reply("h_0", "ok", T0 + 9), 5)
    assert [r.id for r in await store.list_help_requests()] == ["h_2", "h_1", "h_0"]
    mine = await store.list_help_requests("j_1")
    assert [r.id for r in mine] == ["h_2", "h_0"]
    assert [r.text for r in mine[1].replies] == ["ok"]
    assert [r.id for r in await store.list_help_requests(limit=1)] == ["h_2"]


async def test_open_requests_are_bounded_per_profile(store: SqlStore) -> None:
    assert await store.add_help_request(request("h_1"), max_open=2)
    assert await store.add_help_request(request("h_2"), max_open=2)
    assert not await store.add_help_request(request("h_3"), max_open=2)
    assert await store.add_help_request(request("h_4", "j_2"), max_open=2)  # another profile
    # A closed request no longer counts.
    await store.set_help_status("h_1", HelpStatus.DECLINED, T0 + 1)
    assert await store.add_help_request(request("h_3"), max_open=2)
    assert await store.get_help_request("h_3") is not None


async def test_replies_are_bounded_and_need_the_request(store: SqlStore) -> None:
    assert not await store.add_help_reply(reply("h_gone", "x", T0), 2)
    assert not await store.set_help_status("h_gone", HelpStatus.ARRANGED, T0)
    await store.add_help_request(request("h_1"), max_open=5)
    assert await store.add_help_reply(reply("h_1", "a", T0 + 1), 2)
    assert await store.add_help_reply(reply("h_1", "b", T0 + 2), 2)
    assert not await store.add_help_reply(reply("h_1", "c", T0 + 3), 2)
    got = await store.get_help_request("h_1")
    assert got is not None
    assert [r.text for r in got.replies] == ["a", "b"]
    assert got.updated_at == T0 + 2  # the refused reply left no trace


async def test_purge_takes_closed_requests_past_the_cutoff_only(store: SqlStore) -> None:
    for rid in ("h_old_closed", "h_old_open", "h_new_closed"):
        await store.add_help_request(request(rid), max_open=5)
    await store.add_help_reply(reply("h_old_closed", "Kita", T0 + 1), 5)
    await store.set_help_status("h_old_closed", HelpStatus.ARRANGED, T0 + 10)
    await store.set_help_status("h_old_open", HelpStatus.IN_PROGRESS, T0 + 10)
    await store.set_help_status("h_new_closed", HelpStatus.DECLINED, T0 + 100)
    gone = await store.purge_help_requests(closed_before=T0 + 50)
    assert [r.id for r in gone] == ["h_old_closed"]
    assert await store.get_help_request("h_old_closed") is None
    remaining = {r.id for r in await store.list_help_requests()}
    assert remaining == {"h_old_open", "h_new_closed"}
    assert await store.purge_help_requests(closed_before=T0 + 50) == []
