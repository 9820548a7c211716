"""Hand-written iCalendar (RFC 5545) files for case deadlines.

One VEVENT per deadline, published (``METHOD:PUBLISH``) so any calendar can import it. The UID
comes from the workflow id and the deadline key, so an agreed or extended timescale updates the
same calendar entry instead of adding a second one. Summaries carry no personal data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

CRLF = "\r\n"
PRODID = "-//Professional Resolutions//Case deadlines//EN"
UID_DOMAIN = "professional-resolutions"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class CalendarEvent:
    """A deadline as a calendar entry: an instant, what is due, and where to read more."""

    uid: str
    start: datetime
    summary: str
    description: str = ""
    url: str = ""
    sequence: int = 0


def deadline_uid(workflow_id: str, deadline_key: str) -> str:
    """A stable UID for a case's deadline, e.g. ``swindon-2026-0042.3-contact@…``."""
    return f"{_UNSAFE.sub('-', workflow_id)}.{_UNSAFE.sub('-', deadline_key)}@{UID_DOMAIN}"


def utc_stamp(moment: datetime) -> str:
    """``20260318T170000Z``: a date-time in UTC form (FORM #2 of RFC 5545 3.3.5)."""
    if moment.tzinfo is None:
        raise ValueError("calendar times must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def escape_text(value: str) -> str:
    """Escape a TEXT value (RFC 5545 3.3.11): backslash, semicolon, comma and newlines."""
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return value.replace("\r\n", "\\n").replace("\r", "\\n").replace("\n", "\\n")


def fold(line: str, limit: int = 75) -> str:
    """Fold a content line at 75 octets without splitting a UTF-8 character (RFC 5545 3.1)."""
    parts: list[str] = []
    current, size = "", 0
    for char in line:
        width = len(char.encode("utf-8"))
        # Continuation lines start with a space, which counts towards their 75 octets.
        if size + width > (limit if not parts else limit - 1):
            parts.append(current)
            current, size = "", 0
        current += char
        size += width
    parts.append(current)
    return (CRLF + " ").join(parts)


def render_calendar(events: list[CalendarEvent], stamp: datetime) -> str:
    """A VCALENDAR with one VEVENT per event; CRLF line endings, folded lines."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "CALSCALE:GREGORIAN",
             "METHOD:PUBLISH"]
    for event in events:
        lines += [
            "BEGIN:VEVENT",
            f"UID:{event.uid}",
            f"DTSTAMP:{utc_stamp(stamp)}",
            f"DTSTART:{utc_stamp(event.start)}",
            f"SEQUENCE:{event.sequence}",
            f"SUMMARY:{escape_text(event.summary)}",
        ]
        if event.description:
            lines.append(f"DESCRIPTION:{escape_text(event.description)}")
        if event.url:
            lines.append(f"URL:{event.url}")
        lines += ["TRANSP:TRANSPARENT", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + CRLF for line in lines)
