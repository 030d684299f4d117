"""structlog set-up: JSON lines with appointment and participant ids, never secrets.

Our own events and the standard-library records of aiohttp, aioice and aiortc end up on one
stream, that of the handler on the root logger, so every line is JSON and every line is
redacted: our events are rendered by structlog and written there directly, library records
reach it through the handler's formatter (structlog's `ProcessorFormatter`). Library records
are free text that may name participants' addresses (ICE candidate pairs, access logs): their
IP addresses and join links are masked, and the chatty libraries are held at WARNING unless
the level is debug.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

# Keys whose values must never reach a log line, whatever a caller passes by mistake. Not
# `code`: error codes ("rate_limited", "bad_answer") are what an operator needs to read, so an
# invite code must never be passed as `code` (under `invite...` it is caught).
REDACTED_KEYS = frozenset({"title", "text", "data", "ip", "address", "remote"})
# ... and any key containing one of these (name, display_name, access_token, invite_code, sdp).
REDACTED_PARTS = (
    "token",
    "password",
    "secret",
    "invite",
    "name",
    "email",
    "phone",
    "sdp",
    "candidate",
    "cookie",
    "authorization",
)
REDACTED = "[redacted]"

# Standard-library loggers that log participants' addresses at INFO (aioice: candidate pairs;
# aiohttp.access: client addresses): WARNING and above only, unless the level is debug.
QUIET_LIBRARIES = ("aioice", "aiortc", "aiohttp")

_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")
# Anything with two colons may be an IPv6 address; `ipaddress` decides (times like 12:30:45 and
# "Class::method" are not addresses).
_IPV6_CANDIDATE = re.compile(r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f.]{0,15}){2,8}(?:%\w+)?")
_JOIN_LINK = re.compile(r"/j/[^\s\"'?#]+")
_HANDLER_MARK = "_lippejob_handler"


@functools.lru_cache(maxsize=1024)  # a few dozen distinct keys; asked for every key of every line
def _is_secret_key(key: str) -> bool:
    lowered = key.lower()
    return lowered in REDACTED_KEYS or any(part in lowered for part in REDACTED_PARTS)


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Blank the values of secret keys (tokens, invite codes, names, SDP, addresses)."""
    for key in [k for k in event if k != "event" and _is_secret_key(k)]:
        event[key] = REDACTED
    for key in ("error", "exception"):
        value = event.get(key)
        if isinstance(value, str):
            event[key] = mask_addresses(value)
    return event


def _mask_ipv6(match: re.Match[str]) -> str:
    text = match.group(0)
    address = text.rstrip(".")  # the end of a sentence, not of the address
    try:
        ipaddress.IPv6Address(address.split("%", 1)[0])
    except ValueError:
        return text
    return "[ip]" + text[len(address) :]


def mask_addresses(text: str) -> str:
    """`text` with IP addresses replaced by `[ip]` and join-link codes by `[redacted]`."""
    text = _IPV4.sub("[ip]", text)
    if text.count(":") >= 2:
        text = _IPV6_CANDIDATE.sub(_mask_ipv6, text)
    if "/j/" in text:
        text = _JOIN_LINK.sub("/j/" + REDACTED, text)
    return text


def mask_library_text(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """For standard-library records: mask addresses in the free-text message."""
    message = event.get("event")
    if isinstance(message, str):
        event["event"] = mask_addresses(message)
    return event


class _HandlerWriter:
    """structlog's logger for our own events: the finished JSON line goes straight to the
    stream of the root handler, under the handler's lock as its library records are. Through
    the standard library instead, each line cost two `LogRecord`s, a caller lookup and the
    formatter: about 3x the CPU, on every admission's three lines."""

    def __init__(self, handler: logging.StreamHandler[Any], name: str = "") -> None:
        self._handler = handler
        self.name = name  # for add_logger_name

    def _write(self, line: str) -> None:
        with self._handler.lock or contextlib.nullcontext():
            stream = self._handler.stream
            stream.write(line + "\n")
            stream.flush()

    debug = info = warning = warn = error = critical = fatal = exception = msg = _write


def _level(name: str) -> int:
    level = logging.getLevelName(name.upper())
    return level if isinstance(level, int) else logging.INFO


def configure_logging(level: str = "info", stream: Any = None) -> None:
    """JSON logs to stderr (or `stream`), one event per line, ours and the libraries' alike.
    Calling it again replaces the handler it installed before."""
    numeric = _level(level)
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    library_chain: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        timestamper,
        mask_library_text,
        structlog.processors.format_exc_info,
        redact,
    ]
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(),
            ],
            foreign_pre_chain=library_chain,
        )
    )
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    quiet = logging.NOTSET if numeric <= logging.DEBUG else max(numeric, logging.WARNING)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(quiet)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            timestamper,
            structlog.processors.format_exc_info,
            redact,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=lambda *args: _HandlerWriter(handler, str(args[0]) if args else ""),
        cache_logger_on_first_use=False,  # a second call must reach every logger
    )
