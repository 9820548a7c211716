"""Case books for unit tests: raised through the real raising function, as the CLI does."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from protocols.calendar import LONDON
from protocols.messages import Actor, DeadlineState, Person
from starter.cases import build_case_input
from workflows.book import CaseBook

RAISING = Person(name="Rae Raiser", role="Teacher", agency="Example Primary School",
                 email="rae@school.example")
RECEIVING = Person(name="Rob Receiver", role="Social worker", agency="Children's Social Care",
                   email="rob@csc.example")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LONDON)


def book_for(protocol: str, *, urgency: str = "standard", now: str = "2030-03-04 09:00",
             **fields: Any) -> CaseBook:
    details = dict(reference="2030-0001", raising=RAISING, receiving=RECEIVING,
                   issue="Threshold decision", risk_to_child="Neglect may continue",
                   nature="Disagree with closure", aim="Reopen assessment")
    details.update(fields)
    inp = build_case_input(protocol, details, urgency,  # type: ignore[arg-type]
                           Actor(name="Rae Raiser"))
    return CaseBook(inp, f"{protocol}-2030-0001", at(now))


def enter(book: CaseBook, stage_id: str, when: str = "2030-03-04 09:00") -> CaseBook:
    """Put the book at a stage, as the workflow's stage entry does (no deadlines)."""
    book.stage_id = stage_id
    book.stage_entered_at = at(when)
    book.stages_visited.append(stage_id)
    return book


def deadline(key: str, *, kind: str = "stage", stage: str | None = "1", due: str | None = None,
             status: str = "pending", **more: Any) -> DeadlineState:
    return DeadlineState(key=key, kind=kind, stage=stage, rule=key.split("/")[-1],  # type: ignore[arg-type]
                         what=f"do {key}", who="Both", timescale="5 working days",
                         on_expiry="escalate", source="s1", clock_start=at("2030-03-04 09:00"),
                         due=at(due) if due else None, status=status, **more)  # type: ignore[arg-type]
