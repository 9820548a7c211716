"""Text from the workflow made plain for people: instants written as ISO 8601 (UTC) become
London time ('Wed 18 Mar 2026 17:00 (London time)'); event ids dropped from timeline text."""

from __future__ import annotations

import re
from datetime import datetime

from protocols.caserecord import london

ISO_INSTANT = re.compile(
    r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})")


def londonise(text: str) -> str:
    """Every ISO instant with an offset in ``text`` rewritten in London time."""

    def one(match: re.Match[str]) -> str:
        try:
            moment = datetime.fromisoformat(match[0].replace("Z", "+00:00"))
        except ValueError:
            return match[0]
        return f"{london(moment)} (London time)"

    return ISO_INSTANT.sub(one, text)


_EVENT_ID = re.compile(r"^[a-z]+(?:_[a-z]+)+: ")


def event_text(summary: str) -> str:
    """A timeline entry's summary without the event id some carry ('stage_entered: …'), in
    London time."""
    return londonise(_EVENT_ID.sub("", summary))


def event_kind(kind: str) -> str:
    """A timeline event's kind in words: 'outcome_recorded' → 'outcome recorded'."""
    return kind.replace("_", " ")
