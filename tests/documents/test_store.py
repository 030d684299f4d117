"""Document records, wrapped keys and consents in the database (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest

from core.clock import FakeClock
from core.documents.access import Consent, DocumentMeta
from core.documents.intake import Kind
from core.documents.sealing import WrappedKey
from core.store.sql import SqlStore

T0 = 1_800_000_000.0


@pytest.fixture
async def store(url: str) -> AsyncIterator[SqlStore]:
    s = SqlStore.from_url(url, FakeClock(T0))
    yield s
    await s.close()


def meta(n: int, profile: str = "j_1", **changes: object) -> DocumentMeta:
    base = DocumentMeta(
        id=f"d_{n:032x}",
        profile=profile,
        title=f"Zeugnis {n}",
        kind=Kind.CERTIFICATE,
        media_type="application/pdf",
        size=1000 + n,
        pages=2,
        uploaded_by="becker",
        uploaded_at=T0 + n,
        last_used_at=T0 + n,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


KEY = WrappedKey("m1", bytes(range(60)))


async def test_documents_round_trip_and_list_newest_first(store: SqlStore) -> None:
    for n in range(3):
        await store.put_document(meta(n), KEY)
    await store.put_document(meta(9, profile="j_2"), KEY)
    assert await store.get_document(meta(1).id) == (meta(1), KEY)
    assert [d.id for d in await store.list_documents("j_1")] == [meta(n).id for n in (2, 1, 0)]
    assert await store.get_document("d_" + "f" * 32) is None


async def test_touch_moves_last_use_forward_only(store: SqlStore) -> None:
    await store.put_document(meta(1), KEY)
    await store.touch_document(meta(1).id, T0 + 100)
    await store.touch_document(meta(1).id, T0 + 50)
    found = await store.get_document(meta(1).id)
    assert found is not None and found[0].last_used_at == T0 + 100
    assert [d.id for d in await store.documents_unused_since(T0 + 101)] == [meta(1).id]
    assert await store.documents_unused_since(T0 + 100) == []


async def test_delete_takes_the_wrapped_key_and_consents_with_it(store: SqlStore) -> None:
    await store.put_document(meta(1), KEY)
    await store.set_consent(Consent(meta(1).id, "a_1", T0))
    assert await store.delete_document(meta(1).id)
    assert not await store.delete_document(meta(1).id)
    assert await store.get_document(meta(1).id) is None
    assert await store.consents("a_1") == []


async def test_rewrap_swaps_only_an_unchanged_key(store: SqlStore) -> None:
    await store.put_document(meta(1), KEY)
    new = WrappedKey("m2", bytes(60))
    assert await store.wrapped_keys(not_kid="m2") == [(meta(1).id, KEY)]
    assert await store.replace_wrapped_key(meta(1).id, KEY, new)
    assert not await store.replace_wrapped_key(meta(1).id, KEY, new)  # no longer KEY
    assert await store.wrapped_keys(not_kid="m2") == []


async def test_consent_given_withdrawn_and_given_again(store: SqlStore) -> None:
    await store.put_document(meta(1), KEY)
    await store.set_consent(Consent(meta(1).id, "a_1", T0))
    await store.set_consent(Consent(meta(1).id, "a_1", T0, withdrawn_at=T0 + 5))
    assert await store.consents("a_1") == [Consent(meta(1).id, "a_1", T0, T0 + 5)]
    await store.set_consent(Consent(meta(1).id, "a_1", T0 + 9))
    assert await store.consents("a_1") == [Consent(meta(1).id, "a_1", T0 + 9)]
    assert await store.consents("a_2") == []
