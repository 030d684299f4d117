"""The audit trail: a hash chain in the database (SQLite and a real PostgreSQL) that
`verify` checks; an edited, removed, reordered or cut entry is found."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.audit import Action, Anchor, AuditEntry, AuditRecord, Head, chain, verify
from core.db.engine import create_engine
from core.db.tables import audit_log
from core.store.sqlaudit import SqlAuditLog

T0 = 1_800_000_000.0


@pytest.fixture
async def log(url: str) -> AsyncIterator[SqlAuditLog]:
    engine = create_engine(url)
    yield SqlAuditLog(engine)
    await engine.dispose()


def record(n: int, **changes: object) -> AuditRecord:
    base = AuditRecord(
        at=T0 + n + 0.123456,
        actor="p_caseworker",
        actor_role="caseworker",
        action=Action.VIEW,
        profile="j_1",
        appointment="a_1",
        document="d_" + "ab" * 16,
        subject="p_employer",
        detail={"page": n},
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def entries(n: int) -> list[AuditEntry]:
    out: list[AuditEntry] = []
    for i in range(n):
        out.append(chain(out[-1] if out else None, record(i)))
    return out


def test_an_intact_chain_verifies() -> None:
    chained = entries(5)
    assert verify(chained).ok and verify(chained).checked == 5
    assert verify([]).ok


def test_edited_removed_reordered_and_cut_entries_are_found() -> None:
    chained = entries(5)
    edited = dataclasses.replace(chained[2], record=record(2, subject="p_someone_else"))
    cases = {
        "edited": ([*chained[:2], edited, *chained[3:]], 3),
        "removed": ([*chained[:2], *chained[3:]], 3),
        "reordered": ([chained[0], chained[2], chained[1], *chained[3:]], 2),
        "first removed": (chained[1:], 1),
    }
    for what, (tampered, seq) in cases.items():
        verdict = verify(tampered)
        assert not verdict.ok and verdict.seq == seq, (what, verdict)
    # Rewritten from entry 3 on, consistently: the chain alone cannot tell...
    rewritten = chained[:2]
    for i in range(2, 5):
        rewritten.append(chain(rewritten[-1], record(i, actor="p_forger")))
    assert verify(rewritten).ok
    # ... an anchored head can; and so it can tell a cut tail.
    head = Head(chained[3].seq, chained[3].hash)
    assert verify(chained, [head]).ok
    assert not verify(rewritten, [head]).ok
    cut = verify(chained[:3], [head])
    assert not cut.ok and cut.seq == 4


def test_details_hold_ids_and_numbers_only() -> None:
    with pytest.raises(ValueError):
        record(1, detail={"title": "Lebenslauf Frau Becker"})


async def test_appends_chain_and_read_back_exactly(log: SqlAuditLog) -> None:
    for i in range(4):
        await log.append(record(i))
    await log.append(record(9, profile="j_2", action=Action.UPLOAD, subject=None, detail={}))
    stored = await log.entries()
    assert [e.seq for e in stored] == [1, 2, 3, 4, 5]
    assert stored == [*entries(4), chain(entries(4)[-1], stored[-1].record)]
    assert verify(stored).ok
    assert [e.seq for e in await log.for_profile("j_1")] == [4, 3, 2, 1]
    assert [e.seq for e in await log.entries(after=3, limit=1)] == [4]
    head = await log.head()
    assert head is not None and head.seq == 5


async def test_concurrent_appends_take_turns(url: str) -> None:
    """Two nodes (two engines) appending at once: no seq twice, no fork in the chain."""
    engines = [create_engine(url), create_engine(url)]
    logs = [SqlAuditLog(e) for e in engines]
    try:
        await asyncio.gather(*(logs[i % 2].append(record(i)) for i in range(30)))
        stored = await logs[0].entries()
        assert [e.seq for e in stored] == list(range(1, 31))
        assert verify(stored).ok
    finally:
        for engine in engines:
            await engine.dispose()


async def test_a_burst_is_written_in_a_few_transactions_in_the_order_of_the_calls(
    url: str,
) -> None:
    """Group commit: appends that arrive while one transaction is written share the next.
    Each caller still gets its own entry, chained in the order the appends were called."""
    engine = create_engine(url)
    commits = 0

    def counted(_conn: object) -> None:
        nonlocal commits
        commits += 1

    sa.event.listen(engine.sync_engine, "commit", counted)
    log = SqlAuditLog(engine)
    try:
        got = await asyncio.gather(*(log.append(record(i)) for i in range(120)))
        assert [e.seq for e in got] == list(range(1, 121))
        assert [e.record for e in got] == [record(i) for i in range(120)]
        stored = await log.entries()
        assert stored == got and verify(stored).ok
        assert commits <= 3, commits  # one per append would be 120
        assert (await log.append(record(200))).seq == 121  # and on it goes after the burst
    finally:
        await engine.dispose()


async def test_an_edit_in_the_database_is_found(log: SqlAuditLog, url: str) -> None:
    for i in range(5):
        await log.append(record(i))
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.update(audit_log).where(audit_log.c.seq == 3).values(subject="p_nobody")
            )
    finally:
        await engine.dispose()
    verdict = verify(await log.entries())
    assert not verdict.ok and verdict.seq == 3


def test_anchor_file(tmp_path: Path) -> None:
    anchor = Anchor(tmp_path / "audit-heads.jsonl")
    assert list(anchor.heads()) == []
    anchor.write(Head(3, "ab" * 32), at=T0)
    anchor.write(Head(7, "cd" * 32), at=T0 + 60)
    assert list(anchor.heads()) == [Head(3, "ab" * 32), Head(7, "cd" * 32)]
    assert (tmp_path / "audit-heads.jsonl").stat().st_mode & 0o077 == 0
    (tmp_path / "audit-heads.jsonl").write_text("garbage\n")
    with pytest.raises(ValueError):
        list(anchor.heads())


def _lippejob(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lippejob.cli", *args], capture_output=True, text=True, timeout=120
    )


async def test_audit_verify_and_anchor_from_the_command_line(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path)]
    assert _lippejob("db", "upgrade", *data).returncode == 0
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'lippejob.db'}")
    try:
        log = SqlAuditLog(engine)
        for i in range(4):
            await log.append(record(i))
        anchored = _lippejob("audit", "anchor", *data)
        assert anchored.returncode == 0 and "anchored entry 4" in anchored.stdout
        await log.append(record(4))
        ok = _lippejob("audit", "verify", *data)
        assert ok.returncode == 0 and "5 entries, 1 anchored heads" in ok.stdout, ok
        async with engine.begin() as conn:
            await conn.execute(sa.delete(audit_log).where(audit_log.c.seq >= 4))
    finally:
        await engine.dispose()
    cut = _lippejob("audit", "verify", *data)
    assert cut.returncode == 1 and "BROKEN at entry 4" in cut.stderr, cut
    (tmp_path / "audit-heads.jsonl").write_text("not json\n")
    garbled = _lippejob("audit", "verify", *data)
    assert garbled.returncode == 2 and "not an anchored head" in garbled.stderr


def test_documents_keygen_keeps_the_older_key(tmp_path: Path) -> None:
    keys = ["--keys-dir", str(tmp_path / "keys")]
    first, second = _lippejob("documents", "keygen", *keys), _lippejob("documents", "keygen", *keys)
    assert first.returncode == 0 and second.returncode == 0, (first.stderr, second.stderr)
    assert "1 older key(s)" in second.stdout
    path = tmp_path / "keys" / "documents.json"
    state = json.loads(path.read_text())
    assert len(state["keys"]) == 2 and state["current"] in second.stdout
    assert path.stat().st_mode & 0o077 == 0
