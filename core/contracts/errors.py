"""Every error code the server sends: in a room socket's `error` message, in a media worker's
reply, or in an HTTP API error body. Clients switch on these strings; they are a contract."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    # A client message that could not be read (core.contracts.client).
    BAD_JSON = "bad_json"
    BAD_MESSAGE = "bad_message"
    UNKNOWN_TYPE = "unknown_type"
    BAD_FIELD = "bad_field"
    TOO_LONG = "too_long"
    # A readable client message the room socket refuses (signalling.room.ws).
    AUTH_REQUIRED = "auth_required"
    BINARY = "binary"
    RATE_LIMITED = "rate_limited"
    NOT_ADMITTED = "not_admitted"
    FORBIDDEN = "forbidden"
    UNKNOWN_PARTICIPANT = "unknown_participant"
    WINDOW_CLOSED = "window_closed"
    # Why the room closes a socket or its media (signalling.room.hub).
    REVOKED = "revoked"
    TOKEN_EXPIRED = "token_expired"  # noqa: S105 (a code, not a secret)
    MEDIA_UNAVAILABLE = "media_unavailable"
    NODE_LAPSED = "node_lapsed"  # this node was taken for dead meanwhile: reconnect (1013)
    # From a media worker (core.contracts.media).
    ROOM_FULL = "room_full"
    PUBLISH_NOT_ALLOWED = "publish_not_allowed"
    TOO_MANY_TRACKS = "too_many_tracks"
    BAD_ANSWER = "bad_answer"
    BAD_REQUEST = "bad_request"
    REQUEST_FAILED = "request_failed"
    MEDIA_MOVED = "media_moved"
    # HTTP API and pages (signalling.http).
    BAD_ORIGIN = "bad_origin"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    TOO_LARGE = "too_large"
    UNAUTHENTICATED = "unauthenticated"
    LOGIN_REQUIRED = "login_required"
    CSRF = "csrf"
    BAD_CREDENTIALS = "bad_credentials"
    INVALID = "invalid"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    NOT_WAITING = "not_waiting"
    NOT_A_CALL = "not_a_call"  # an in-person or phone appointment: no links, room or tokens
    UNKNOWN_INVITE = "unknown_invite"
    TOO_EARLY = "too_early"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    BAD_URL = "bad_url"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    HTTP_ERROR = "http_error"  # any other HTTP error aiohttp raised under /api
    INTERNAL = "internal_error"  # a bug: the log says which (by event name, never content)
    # The jobseeker's space (signalling.http.space).
    SPACE_SIGNED_OUT = "space_signed_out"  # no live space session on this device
    # The application folder (core.documents): refusals of an upload by its content...
    UNSUPPORTED_TYPE = "unsupported_type"
    BROKEN_FILE = "broken_file"
    ENCRYPTED_PDF = "encrypted_pdf"
    FILE_TOO_LARGE = "file_too_large"
    IMAGE_TOO_LARGE = "image_too_large"
    TOO_MANY_PAGES = "too_many_pages"
    TOO_MANY_PHOTOS = "too_many_photos"
    EMPTY_FILE = "empty_file"
    # ... and of what the folder holds or who may see it
    FOLDER_FULL = "folder_full"
    FOLDER_TOO_LARGE = "folder_too_large"
    CONSENT_REQUIRED = "consent_required"
    DOCUMENT_DAMAGED = "document_damaged"  # a sealed blob that fails to open: never served
    DRAINING = "draining"
    # Redis (presence, the bus) cannot be reached for now: try again shortly (HTTP 503 with
    # Retry-After, or an `error` on the room socket, which stays open).
    STORE_UNAVAILABLE = "store_unavailable"
    NOT_READY = "not_ready"


def error_message(code: ErrorCode, message: str) -> dict[str, str]:
    """The `error` message a client receives on its room socket."""
    return {"type": "error", "code": str(code), "message": message}
