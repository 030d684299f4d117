"""core/heap.py: the collector settings a server process takes once started."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from core import heap


@pytest.fixture
def collector() -> Iterator[None]:
    """Put this test process's collector back as it was."""
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_settle_freezes_the_start_up_heap_and_collects_young_objects_less_often(
    collector: None,
) -> None:
    kept = [[i] for i in range(1000)]  # long-lived containers, as start-up builds them
    frozen = heap.settle(20_000)
    assert frozen == gc.get_freeze_count() >= len(kept)
    assert gc.get_threshold() == (20_000, heap.OLDER, heap.OLDER)
    # A cycle made after start-up is still collected: only what existed is frozen.
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1


def test_settle_with_0_leaves_the_collector_as_python_sets_it(collector: None) -> None:
    before = gc.get_threshold()
    assert heap.settle(0) == 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
