"""The partnership dashboard's rows, filters, flags, CSV and charts (no personal data).

A row joins a case's search attributes (:class:`starter.cases.CaseListing`) with what its
state knows (stage entered, who holds the stage's roles, deadlines, flags). Flags are read
from the state defensively: ``drifting`` and ``over_guideline`` appear on the state as the
workflow learns them; a state without them simply shows none. The child and family are never
read here: only the references, protocols, agencies, stages, statuses and dates held in clear.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from temporalio.client import Client

from protocols.calendar import LONDON
from protocols.loader import load_protocol
from protocols.messages import CaseState
from protocols.schema import Protocol
from starter import cases, endings

OPEN_STATUSES = ("open", "paused", "resolved")
# A run ended outside the protocol (terminated, timed out…) was never closed: it stays listed.
ENDED_OUTSIDE = tuple(endings.ABNORMAL.values())
STATUS_CHOICES = [("open", "Open"), ("overdue", "Overdue"), ("closed", "Closed"),
                  ("all", "All")]
BREACHED = ("expired", "breached")
FLAG_LABELS = {"overdue": "Overdue", "drifting": "Drifting", "not_notified": "Not notified",
               "over_guideline": "Over guideline", "immediate_risk": "Immediate risk",
               "paused": "Paused"}


@dataclass
class Filters:
    """What the business unit narrows the list to: all of it held in clear."""

    q: str = ""  # a reference or case id, or part of one
    protocol: str = ""
    agency: str = ""
    stage: str = ""
    status: str = "open"
    started_from: date | None = None
    started_to: date | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, params: dict[str, str]) -> Filters:
        f = cls(q=params.get("q", "").strip()[:60], agency=params.get("agency", "").strip()[:80],
                stage=params.get("stage", "").strip()[:10],
                protocol=params.get("protocol", "").strip())
        status = params.get("status", "open")
        f.status = status if status in dict(STATUS_CHOICES) else "open"
        for name, label in (("started_from", "the earliest start date"),
                            ("started_to", "the latest start date")):
            text = params.get(name, "").strip()
            if not text:
                continue
            try:
                setattr(f, name, date.fromisoformat(text))
            except ValueError:
                f.errors[name] = f"Enter {label} as a date, like 2026-03-02"
        if f.started_from and f.started_to and f.started_from > f.started_to:
            f.errors["started_to"] = "The latest start date must be on or after the earliest"
        return f

    def query_string(self) -> str:
        """The filters as a query string (for the CSV link): no personal data is in them."""
        from urllib.parse import urlencode

        pairs = {"q": self.q, "protocol": self.protocol, "agency": self.agency,
                 "stage": self.stage, "status": self.status,
                 "started_from": self.started_from.isoformat() if self.started_from else "",
                 "started_to": self.started_to.isoformat() if self.started_to else ""}
        return urlencode({k: v for k, v in pairs.items() if v})


@dataclass
class Row:
    """One case on the dashboard."""

    listing: cases.CaseListing
    state: CaseState | None
    now: datetime
    protocol: Protocol | None = None

    @property
    def workflow_id(self) -> str:
        return self.listing.workflow_id

    @property
    def reference(self) -> str:
        return self.state.reference if self.state else self.listing.workflow_id

    @property
    def open(self) -> bool:
        status = self.status
        return status in OPEN_STATUSES + ENDED_OUTSIDE or (
            self.listing.running and status not in ("closed", "withdrawn"))

    @property
    def status(self) -> str:
        if self.listing.status in ENDED_OUTSIDE:  # its own record stopped: say how
            return self.listing.status
        return (self.state.status if self.state else "") or self.listing.status or "open"

    @property
    def stage(self) -> str:
        return (self.state.stage if self.state else "") or self.listing.stage

    @property
    def stage_name(self) -> str:
        return self.state.stage_name if self.state else ""

    @property
    def ended(self) -> datetime:
        closed = self.state.closed_at if self.state else None
        return closed or self.now

    @property
    def days_open(self) -> int | None:
        start = self.listing.started
        return (self.ended - start).days if start else None

    @property
    def days_at_stage(self) -> int | None:
        if not self.state or not self.state.stages_visited or not self.open:
            return None
        return (self.now - self.state.stage_entered_at).days

    @property
    def overdue(self) -> bool:
        if not self.listing.running:
            return False
        if self.listing.overdue:
            return True
        return bool(self.state and self.open and any(
            d.live and d.due is not None and d.due < self.now for d in self.state.deadlines))

    @property
    def next_deadline(self) -> datetime | None:
        if self.state:
            due = [d.due for d in self.state.deadlines if d.live and d.due is not None]
            return min(due) if due else None
        return self.listing.next_deadline

    def acts_next(self) -> list[str]:
        """Who acts next, by name where someone is named for the stage's roles (else the
        role's title and "not named yet")."""
        if not self.state or not self.open or self.protocol is None:
            return []
        if self.state.status == "paused":
            return ["Whoever paused it: resume when possible"]
        try:
            stage = self.protocol.stage(self.state.stage)
        except (KeyError, ValueError):
            return []
        people = []
        for side in ("raising", "receiving"):
            person = self._holder(stage.id, side)
            title = stage.role(side).title
            people.append(f"{person} ({title})" if person else f"{title}: not named yet")
        return people

    def _holder(self, stage_id: str, side: str) -> str:
        assert self.state is not None and self.protocol is not None
        holders = self.state.holders
        if f"{stage_id}.{side}" in holders:
            return holders[f"{stage_id}.{side}"].name
        stage = self.protocol.stage(stage_id)
        kind = stage.role(side).holder_kind
        if self.protocol.holders_carried_forward:  # the same role named at an earlier stage
            for earlier in reversed(self.protocol.earlier_stages(stage_id)):
                if earlier.role(side).holder_kind == kind and f"{earlier.id}.{side}" in holders:
                    return holders[f"{earlier.id}.{side}"].name
        if kind == "practitioner" and side in holders:
            return holders[side].name
        return ""

    def flags(self) -> list[str]:
        """The flags the case shows: what the state already knows, read defensively."""
        found: list[str] = []
        if self.overdue and self.open:
            found.append("overdue")
        state = self.state
        if state is None:
            return found
        if _truthy(getattr(state, "drifting", None)) or any(
                _truthy(getattr(d, "drifting", None)) for d in state.deadlines if d.live):
            found.append("drifting")
        if state.not_notified:
            found.append("not_notified")
        if _truthy(getattr(state, "over_guideline", None)) or any(
                _truthy(getattr(d, "over_guideline", None)) for d in state.deadlines):
            found.append("over_guideline")
        if state.immediate_risk:
            found.append("immediate_risk")
        if state.status == "paused":
            found.append("paused")
        return found

    def breaches(self) -> list[datetime]:
        """When each of the case's deadlines passed unmet."""
        if not self.state:
            return []
        return [d.due for d in self.state.deadlines if d.status in BREACHED and d.due]

    def matches(self, f: Filters) -> bool:
        if f.q and f.q.lower() not in self.workflow_id.lower():
            return False
        if f.protocol and self.listing.protocol != f.protocol:
            return False
        agencies = f"{self.listing.raising_agency}\n{self.listing.receiving_agency}".lower()
        if f.agency and f.agency.lower() not in agencies:
            return False
        if f.stage and self.stage != f.stage:
            return False
        if f.status == "open" and not self.open:
            return False
        if f.status == "overdue" and not (self.open and self.overdue):
            return False
        if f.status == "closed" and self.open:
            return False
        started = self.listing.started.astimezone(LONDON).date() if self.listing.started \
            else None
        if f.started_from and (started is None or started < f.started_from):
            return False
        return not (f.started_to and (started is None or started > f.started_to))


def _truthy(value: Any) -> bool:
    return bool(value) and value is not False


def sort_key(row: Row) -> tuple[Any, ...]:
    """Open before closed; overdue first; then the soonest deadline; then the oldest."""
    deadline = row.next_deadline
    started = row.listing.started or row.now
    return (not row.open, not row.overdue, deadline is None,
            deadline.timestamp() if deadline else 0.0, started.timestamp())


async def load_rows(client: Client, protocol: str | None, now: datetime | None = None,
                    concurrency: int = 8) -> list[Row]:
    """Every case of the partnership (open and closed) with its state where it answers."""
    now = now or datetime.now(UTC)
    listings = await cases.list_cases(client, cases.list_query(protocol, include_closed=True))
    gate = asyncio.Semaphore(concurrency)
    protocols: dict[str, Protocol | None] = {}

    def protocol_of(name: str) -> Protocol | None:
        if name not in protocols:
            try:
                protocols[name] = load_protocol(name)
            except Exception:  # noqa: BLE001 - a protocol since removed: rows without it
                protocols[name] = None
        return protocols[name]

    async def one(listing: cases.CaseListing) -> Row:
        async with gate:
            try:
                state: CaseState | None = await cases.get_state(client, listing.workflow_id)
            except Exception:  # noqa: BLE001 - a case that cannot answer still lists
                state = None
        return Row(listing, state, now, protocol_of(listing.protocol))

    rows = await asyncio.gather(*(one(item) for item in listings))
    return sorted(rows, key=sort_key)


CSV_COLUMNS = ["case", "reference", "protocol", "stage", "stage_name", "status", "urgency",
               "flags", "days_open", "days_at_stage", "next_deadline_utc", "started_utc",
               "closed_utc", "raising_agency", "receiving_agency", "acts_next"]


def to_csv(rows: list[Row]) -> str:
    """The rows as CSV (UTC ISO times), one line a case; formulas neutralised for
    spreadsheets (a leading = + - @ is quoted with an apostrophe)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        closed = r.state.closed_at if r.state else None
        values = [r.workflow_id, r.reference, r.listing.protocol, r.stage, r.stage_name,
                  r.status, r.listing.urgency, " ".join(r.flags()), r.days_open,
                  r.days_at_stage, _iso(r.next_deadline if r.open else None),
                  _iso(r.listing.started), _iso(closed), r.listing.raising_agency,
                  r.listing.receiving_agency, "; ".join(r.acts_next())]
        writer.writerow([_cell(v) for v in values])
    return out.getvalue()


def _iso(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat(timespec="minutes") if moment else ""


_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def _cell(value: object) -> str:
    """A cell a spreadsheet cannot run: text starting = + - @ (or a tab or carriage return)
    gets a leading apostrophe, even when a digit follows (``=1+HYPERLINK(…)`` is a formula);
    only a plain number is left as it is."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def by_stage(rows: list[Row]) -> list[tuple[str, int]]:
    """Open cases per stage, in the protocols' stage order where known."""
    counts = Counter(r.stage or "—" for r in rows if r.open)
    order: list[str] = []
    for r in rows:
        for s in (r.protocol.stages if r.protocol else []):
            if s.id not in order:
                order.append(s.id)
    ordered = [(s, counts[s]) for s in order if s in counts]
    ordered += [(s, n) for s, n in counts.items() if s not in order]
    return ordered


def breaches_by_week(rows: list[Row], now: datetime, weeks: int = 12) -> list[tuple[date, int]]:
    """Deadlines passed unmet, counted by the London week (Monday) they passed in."""
    today = now.astimezone(LONDON).date()
    monday = today - timedelta(days=today.weekday())
    starts = [monday - timedelta(weeks=i) for i in range(weeks - 1, -1, -1)]
    counts: Counter[date] = Counter()
    for r in rows:
        for moment in r.breaches():
            day = moment.astimezone(LONDON).date()
            counts[day - timedelta(days=day.weekday())] += 1
    return [(s, counts[s]) for s in starts]
