"""`lippejob documents keygen` and `documents rewrap` as an operator runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from core.clock import FakeClock
from core.documents.access import DocumentMeta
from core.documents.blobs import DirectoryBlobs
from core.documents.intake import Kind
from core.documents.vault import DocumentVault, load_master_keys
from core.store.sql import SqlStore

DOC = "d_" + "ab" * 16


def lippejob(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lippejob.cli", *args], capture_output=True, text=True, timeout=120
    )


async def test_rewrap_moves_every_key_to_the_new_master_key(tmp_path: Path) -> None:
    where = ["--data-dir", str(tmp_path), "--keys-dir", str(tmp_path / "keys")]
    assert lippejob("db", "upgrade", *where).returncode == 0
    assert lippejob("documents", "keygen", *where).returncode == 0
    first = load_master_keys(tmp_path / "keys", environ={})
    store = SqlStore.from_url(f"sqlite+aiosqlite:///{tmp_path / 'lippejob.db'}", FakeClock())
    blobs = DirectoryBlobs(tmp_path / "documents")
    try:
        wrapped = await DocumentVault(blobs, first).put(DOC, b"%PDF-1.7 Zeugnis")
        meta = DocumentMeta(
            DOC, "j_1", "Zeugnis", Kind.CERTIFICATE, "application/pdf", 16, 1, "becker", 0.0, 0.0
        )
        await store.put_document(meta, wrapped)
        assert lippejob("documents", "keygen", *where).returncode == 0
        done = lippejob("documents", "rewrap", *where)
        assert done.returncode == 0, done.stderr
        assert "1 document key(s)" in done.stdout
        keys = load_master_keys(tmp_path / "keys", environ={})
        assert keys.current.kid != first.current.kid and not keys.older
        state = json.loads((tmp_path / "keys" / "documents.json").read_text())
        assert list(state["keys"]) == [keys.current.kid]  # the old key is gone from the file
        found = await store.get_document(DOC)
        assert found is not None and found[1].kid == keys.current.kid
        assert await DocumentVault(blobs, keys).read(DOC, found[1]) == b"%PDF-1.7 Zeugnis"
        again = lippejob("documents", "rewrap", *where)
        assert again.returncode == 0 and "0 document key(s)" in again.stdout
    finally:
        await store.close()
