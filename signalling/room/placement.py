"""Which media worker takes a new room: a pure policy over the live registry."""

from __future__ import annotations

from collections.abc import Iterable

from core.model import WorkerInfo


def choose_worker(workers: Iterable[WorkerInfo]) -> WorkerInfo | None:
    """The least-loaded live worker that is not draining; ties go to the fewest rooms, then
    the lowest id."""
    open_ = (w for w in workers if not w.draining)
    return min(open_, key=lambda w: (w.load, w.rooms, w.id), default=None)
