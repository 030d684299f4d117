"""The garbage collector, set for a long-running server process.

CPython's cyclic collector walks its young generation every 700 net allocations of container
objects, the middle one every 10 of those and the whole heap every 10 middle passes (once
it has grown by a quarter): with thousands of sockets and calls held
open, a middle-generation pass took 5-16 ms and a full pass 178 ms on the admission load test
(`loadtests/admission.py`), about a tenth of the node's CPU and its longest pauses. A server
builds most of its long-lived objects at start-up (modules, wiring, pools), and most of what
it makes per request dies young, freed by reference counting. So, once started:

- `gc.freeze()` moves everything start-up built into a permanent generation the collector
  never walks again (it is still freed normally if it becomes garbage without cycles);
- the young generation is collected every `young` allocations instead of 700, and the older
  ones after 20 young (and 20 middle) passes instead of 10: short-lived cycles still die,
  far fewer survivors are walked again.
"""

from __future__ import annotations

import gc

OLDER = 20  # young passes per middle pass, and middle passes per full one (Python: 10)


def settle(young: int) -> int:
    """Collect what start-up left as garbage, freeze the rest and collect young objects every
    `young` allocations (0: leave the collector as Python sets it). Returns the number of
    objects frozen."""
    if young <= 0:
        return 0
    gc.collect()
    gc.freeze()
    gc.set_threshold(young, OLDER, OLDER)
    return gc.get_freeze_count()
