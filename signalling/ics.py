"""Calendar files (RFC 5545) for appointments: one VEVENT per file, times in UTC.

Pure functions: the caller passes the time stamp and what the event says. Text values are
escaped (backslash, semicolon, comma, line breaks) and lines folded at 75 octets without
splitting a UTF-8 character; lines end in CRLF.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

PRODID = "-//LippeJob//Appointments//EN"
FOLD = 75  # octets per line, CRLF not counted (RFC 5545, 3.1)


@dataclass(frozen=True)
class CalendarEvent:
    uid: str
    starts_at: float
    ends_at: float
    summary: str
    description: str = ""
    location: str = ""  # where an in-person appointment takes place (its address)
    url: str = ""
    cancelled: bool = False


def escape_text(value: str) -> str:
    """A TEXT value (RFC 5545, 3.3.11): backslash, semicolon and comma escaped, line breaks as
    \\n, other control characters dropped."""
    out = value.replace("\r\n", "\n").replace("\r", "\n")
    out = out.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")
    return "".join(c for c in out if c == "\t" or (ord(c) >= 0x20 and ord(c) != 0x7F))


def utc_stamp(epoch: float) -> str:
    """A DATE-TIME in UTC form (`20261201T090000Z`)."""
    return datetime.fromtimestamp(int(epoch), tz=UTC).strftime("%Y%m%dT%H%M%SZ")


def fold(line: str) -> str:
    """Split a content line into pieces of at most 75 octets, continued by CRLF and a space,
    never inside a UTF-8 sequence."""
    pieces: list[str] = []
    current = ""
    size = 0
    limit = FOLD
    for char in line:
        width = len(char.encode())
        if size + width > limit:
            pieces.append(current)
            current, size = "", 0
            limit = FOLD - 1  # the continuation's leading space counts
        current += char
        size += width
    pieces.append(current)
    return "\r\n ".join(pieces)


def calendar(event: CalendarEvent, now: float) -> str:
    """The whole VCALENDAR with one VEVENT, CRLF line ends."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:{escape_text(event.uid)}",
        f"DTSTAMP:{utc_stamp(now)}",
        f"DTSTART:{utc_stamp(event.starts_at)}",
        f"DTEND:{utc_stamp(event.ends_at)}",
        f"SUMMARY:{escape_text(event.summary)}",
    ]
    if event.description:
        lines.append(f"DESCRIPTION:{escape_text(event.description)}")
    if event.location:
        lines.append(f"LOCATION:{escape_text(event.location)}")
    if event.url:
        lines.append(f"URL:{event.url}")
    lines.append("STATUS:CANCELLED" if event.cancelled else "STATUS:CONFIRMED")
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "".join(fold(line) + "\r\n" for line in lines)
