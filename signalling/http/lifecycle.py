"""Graceful drain: on SIGTERM the process stops taking new work and lets calls finish."""

from __future__ import annotations

from aiohttp import web


class Draining:
    """Set on SIGTERM: /readyz turns 503 so the balancer sends nobody new; calls finish."""

    def __init__(self) -> None:
        self.active = False


DRAINING = web.AppKey("draining", Draining)
