"""The room WebSocket's client messages now live in `core.contracts.client`, shared with the
media worker; this module keeps the names older imports use."""

from __future__ import annotations

from core.contracts.client import (
    CLIENT_TYPES,
    MAX_SDP,
    ClientMessage,
    CloseCode,
    MessageError,
    parse_client_message,
)

__all__ = [
    "CLIENT_TYPES",
    "MAX_SDP",
    "ClientMessage",
    "CloseCode",
    "MessageError",
    "parse_client_message",
]
