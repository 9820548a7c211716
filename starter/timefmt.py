"""Reading and showing times for people: London time out, ISO 8601 in."""

from __future__ import annotations

from datetime import UTC, datetime

from protocols.calendar import LONDON
from protocols.caserecord import MOMENT
from protocols.caserecord import london as _london


def parse_moment(text: str, what: str = "time") -> datetime:
    """ISO 8601 date-time; without an offset it is taken as London time."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{what} '{text}' is not an ISO date-time, e.g. 2026-03-02T09:30 or "
            f"2026-03-02T09:30:00+00:00"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LONDON)
    return moment


def london(moment: datetime | None, fmt: str = MOMENT) -> str:
    """'Tue 29 Dec 2026 17:00' in London time, or '—' (:func:`protocols.caserecord.london`)."""
    return _london(moment, fmt, missing="—")


def utc_now() -> datetime:
    return datetime.now(UTC)
