"""structlog set-up: JSON lines with appointment and participant ids, never secrets."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

# Keys that must never reach a log line, whatever a caller passes by mistake.
REDACTED_KEYS = frozenset(
    {
        "token",
        "code",
        "invite",
        "password",
        "name",
        "sdp",
        "text",
        "data",
        "candidate",
        "cookie",
        "authorization",
    }
)


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in REDACTED_KEYS & event.keys():
        event[key] = "[redacted]"
    return event


def configure_logging(level: str = "info", stream: Any = None) -> None:
    """JSON logs to stderr (or `stream`), one event per line."""
    logging.basicConfig(
        format="%(message)s",
        stream=stream or sys.stderr,
        level=getattr(logging, level.upper(), logging.INFO),
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            getattr(logging, level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stderr),
        cache_logger_on_first_use=False,
    )
