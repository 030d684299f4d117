"""The log pipeline: JSON lines, secrets redacted, error codes kept, library records masked."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from core.logs import QUIET_LIBRARIES, configure_logging, mask_addresses


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """`configure_logging` into a buffer; the process's logging set-up is restored after."""
    saved_config = structlog.get_config()
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    saved_quiet = {name: logging.getLogger(name).level for name in QUIET_LIBRARIES}
    stream = io.StringIO()
    configure_logging("info", stream)
    try:
        yield stream
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, level in saved_quiet.items():
            logging.getLogger(name).setLevel(level)
        structlog.configure(**saved_config)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_error_codes_survive_and_secrets_do_not(log_stream: io.StringIO) -> None:
    structlog.get_logger("signalling.room.ws").info(
        "ws_bad_message",
        appointment="appt-1",
        participant="p-1",
        code="rate_limited",
        reason="expired",
        token="eyJ.secret.token",
        invite_code="inv-secret",
        name="Ayşe Yilmaz",
        display_name="Frau Becker",
        sdp="v=0 c=IN IP4 192.0.2.7",
        candidate="candidate:1 1 udp 1 192.0.2.7 5000 typ host",
        password="correct horse",
    )
    [line] = lines(log_stream)
    assert line["event"] == "ws_bad_message"
    assert line["code"] == "rate_limited" and line["reason"] == "expired"
    assert line["appointment"] == "appt-1" and line["participant"] == "p-1"
    assert line["level"] == "info" and line["logger"] == "signalling.room.ws"
    for key in ("token", "invite_code", "name", "display_name", "sdp", "candidate", "password"):
        assert line[key] == "[redacted]", key
    text = log_stream.getvalue()
    for secret in (
        "eyJ.secret.token",
        "inv-secret",
        "Ayşe",
        "Becker",
        "192.0.2.7",
        "correct horse",
    ):
        assert secret not in text


def test_library_records_are_json_with_addresses_masked(log_stream: io.StringIO) -> None:
    logging.getLogger("aioice.ice").warning(
        "Connection(3) Check CandidatePair(('192.0.2.7', 50123) -> ('2001:db8::7', 3478)) failed"
    )
    logging.getLogger("aiohttp.access").error('198.51.100.4 "GET /j/inv-secret HTTP/1.1" 200')
    first, second = lines(log_stream)
    assert first["logger"] == "aioice.ice" and first["level"] == "warning"
    assert first["event"] == (
        "Connection(3) Check CandidatePair(('[ip]', 50123) -> ('[ip]', 3478)) failed"
    )
    assert second["event"] == '[ip] "GET /j/[redacted] HTTP/1.1" 200'
    assert "timestamp" in first


def test_library_info_is_held_back_unless_debug(log_stream: io.StringIO) -> None:
    logging.getLogger("aioice.ice").info("Connection(0) remote candidate 192.0.2.7")
    logging.getLogger("aiortc.rtcdtlstransport").info("DTLS handshake done")
    logging.getLogger("lippejob.other").info("kept")
    assert [line["event"] for line in lines(log_stream)] == ["kept"]
    configure_logging("debug", log_stream)
    logging.getLogger("aioice.ice").debug("Connection(0) remote candidate 192.0.2.7")
    assert lines(log_stream)[-1]["event"] == "Connection(0) remote candidate [ip]"


def test_library_exceptions_are_masked(log_stream: io.StringIO) -> None:
    try:
        raise ConnectionError("no route to 192.0.2.9")
    except ConnectionError:
        logging.getLogger("aiortc").exception("send failed")
    [line] = lines(log_stream)
    assert "192.0.2.9" not in line["exception"] and "[ip]" in line["exception"]


def test_configuring_again_replaces_the_handler(log_stream: io.StringIO) -> None:
    configure_logging("info", log_stream)
    structlog.get_logger("x").info("once")
    assert [line["event"] for line in lines(log_stream)] == ["once"]


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("from 10.0.0.1:5000", "from [ip]:5000"),
        ("[fe80::1%eth0]:443 and ::1.", "[[ip]]:443 and [ip]."),
        ("at 12:30:45 in Class::method", "at 12:30:45 in Class::method"),
        ("version 1.2.3 of 4 parts", "version 1.2.3 of 4 parts"),
    ],
)
def test_mask_addresses(text: str, masked: str) -> None:
    assert mask_addresses(text) == masked
