"""Fixtures for the media tests: an in-process media worker on the memory bus and store."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from core.bus.memory import MemoryBus
from core.clock import SystemClock
from core.store.memory import MemoryStore
from mediaserver.config import MediaConfig
from mediaserver.worker import MediaWorker

LOOPBACK_CONFIG = MediaConfig(announce_ips=("127.0.0.1",), heartbeat=0.2, ttl=2.0)


@dataclass
class Sfu:
    worker: MediaWorker
    bus: MemoryBus
    store: MemoryStore


@contextlib.asynccontextmanager
async def running_sfu(config: MediaConfig = LOOPBACK_CONFIG) -> AsyncIterator[Sfu]:
    """A started worker ("w1") with `config`, closed (with its rooms) at the end."""
    clock = SystemClock()
    bus, store = MemoryBus(), MemoryStore(clock)
    worker = MediaWorker("w1", store, bus, clock, config)
    await worker.start()
    try:
        yield Sfu(worker, bus, store)
    finally:
        await worker.close()
        await bus.close()


@pytest.fixture
async def sfu() -> AsyncIterator[Sfu]:
    """A started worker ("w1") on loopback, closed (with its rooms) after the test."""
    async with running_sfu() as running:
        yield running
