"""Process metrics in the Prometheus text format: counters and gauges, no labels with ids."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from aiohttp import web


class Metrics:
    """Counters by (name, label value) and gauges read when scraped."""

    def __init__(self) -> None:
        self._counters: Counter[tuple[str, str]] = Counter()
        self._gauges: dict[str, Callable[[], float]] = {}
        self._help: dict[str, str] = {}

    def count(self, name: str, label: str = "", amount: int = 1) -> None:
        self._counters[(name, label)] += amount

    def gauge(self, name: str, read: Callable[[], float], help_text: str) -> None:
        self._gauges[name] = read
        self._help[name] = help_text

    def describe(self, name: str, help_text: str) -> None:
        self._help[name] = help_text

    def render(self) -> str:
        lines: list[str] = []
        names = sorted({n for n, _ in self._counters})
        for name in names:
            lines.append(f"# HELP lippejob_{name} {self._help.get(name, name)}")
            lines.append(f"# TYPE lippejob_{name} counter")
            for (n, label), value in sorted(self._counters.items()):
                if n == name:
                    tag = f'{{kind="{label}"}}' if label else ""
                    lines.append(f"lippejob_{name}{tag} {value}")
        for name, read in sorted(self._gauges.items()):
            lines.append(f"# HELP lippejob_{name} {self._help[name]}")
            lines.append(f"# TYPE lippejob_{name} gauge")
            lines.append(f"lippejob_{name} {read()}")
        return "\n".join(lines) + "\n"


METRICS = web.AppKey("metrics", Metrics)


async def metrics_endpoint(request: web.Request) -> web.Response:
    return web.Response(text=request.app[METRICS].render(), content_type="text/plain")
