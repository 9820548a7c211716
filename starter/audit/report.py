"""The partnership's monitoring report, worked out from a list of case records.

Pure arithmetic over :class:`AuditedCase` objects (state + timeline + input), so it can be checked
on cases whose answers are known; :mod:`.gather` collects the records from Temporal.

Definitions:
* a case is *resolved* when an outcome was recorded as resolved; *withdrawn* when withdrawn;
  *closed unresolved* when closed without a resolution (not resolved at the final stage);
  otherwise *open* (open or paused);
* *time to resolution* runs from the ``raised`` event to the ``resolved`` event, in calendar days
  (London dates) and in working days (working-day cut-offs passed, the England calendar);
* a *breach* is a deadline the workflow recorded as passed before the outcome it asked for
  (``deadline_passed``), counted once per deadline, under its stage, "overall limit" or
  "after resolution";
* *needs attention* lists each case's flags (:mod:`.attention`: drifting, overdue, a breach
  recorded, a longer timescale agreed than the document asks, paused, awaiting confirmation,
  someone who must act not told), counted by kind and by case;
* a case resolved and then closed by decision without the written confirmation it awaited is
  *closed without written confirmation* (its time to resolution still counts);
* *highest stage* is the furthest stage of the protocol's ladder the case entered.
"""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import date, datetime

from pydantic import BaseModel, Field

from protocols.calendar import LONDON, WorkingCalendar
from starter.audit.attention import KINDS, attention, kind_of, unconfirmed_decision
from starter.audit.audited_case import AuditedCase
from starter.audit.story import bypass_rows, passed_deadlines, pause_spans
from starter.endings import label_from_history

UNCONFIRMED = "closed without written confirmation"
RESULTS = ("resolved", UNCONFIRMED, "open", "withdrawn", "closed unresolved",
           "terminated", "timed out", "failed", "cancelled")  # the last four: starter.endings


class Stats(BaseModel):
    count: int = 0
    mean: float | None = None
    median: float | None = None
    minimum: float | None = None
    maximum: float | None = None

    @classmethod
    def of(cls, values: list[int]) -> Stats:
        if not values:
            return cls()
        return cls(count=len(values), mean=round(statistics.fmean(values), 1),
                   median=float(statistics.median(values)), minimum=min(values),
                   maximum=max(values))


class CaseLine(BaseModel):
    workflow_id: str
    protocol: str
    raised_at: datetime
    raising_agency: str
    receiving_agency: str
    category: str
    urgency: str
    highest_stage: str
    result: str
    resolved_at: datetime | None = None
    working_days: int | None = None
    calendar_days: int | None = None
    breaches: int = 0
    bypasses: int = 0
    pauses: int = 0
    attention: list[str] = Field(default_factory=list)
    # Closed without written confirmation: why, and who decided (empty otherwise).
    closing: str = ""
    closing_decided_by: str = ""


class AttentionLine(BaseModel):
    workflow_id: str
    kind: str
    text: str


class BypassLine(BaseModel):
    workflow_id: str
    at: datetime
    from_stage: str
    to_stage: str
    agreed_by: str
    reason: str


class PauseLine(BaseModel):
    workflow_id: str
    paused_at: datetime
    resumed_at: datetime | None
    working_days: int | None
    reason: str


class Report(BaseModel):
    protocol: str | None = None
    period_from: date | None = None
    period_to: date | None = None
    cases: int = 0
    by_raising_agency: dict[str, int] = Field(default_factory=dict)
    by_receiving_agency: dict[str, int] = Field(default_factory=dict)
    highest_stage: dict[str, int] = Field(default_factory=dict)
    by_category: dict[str, int] = Field(default_factory=dict)
    by_urgency: dict[str, int] = Field(default_factory=dict)
    by_result: dict[str, int] = Field(default_factory=dict)
    resolution_working_days: Stats = Field(default_factory=Stats)
    resolution_calendar_days: Stats = Field(default_factory=Stats)
    breaches_by_stage: dict[str, int] = Field(default_factory=dict)
    bypasses: list[BypassLine] = Field(default_factory=list)
    pauses: list[PauseLine] = Field(default_factory=list)
    needing_attention: int = 0  # cases with at least one flag
    attention_by_kind: dict[str, int] = Field(default_factory=dict)
    attention: list[AttentionLine] = Field(default_factory=list)
    lines: list[CaseLine] = Field(default_factory=list)


def result_of(case: AuditedCase) -> str:
    state = case.state
    ended = label_from_history(case.execution_status)
    if ended:  # ended outside the protocol (e.g. from the Temporal UI): say so, first
        return ended
    if any(o.resolved for o in state.outcomes):
        return UNCONFIRMED if unconfirmed_decision(case.timeline)[0] else "resolved"
    if state.status == "withdrawn":
        return "withdrawn"
    if state.status == "closed":
        return "closed unresolved"
    return "open"


def _stage_label(case: AuditedCase, stage_id: str, mixed: bool) -> str:
    try:
        name = case.input.protocol.stage(stage_id).name
    except KeyError:
        name = ""
    return f"{case.state.protocol} {stage_id}" if mixed else f"{stage_id} {name}".strip()


def _highest(case: AuditedCase) -> str:
    protocol = case.input.protocol
    visited = case.state.stages_visited or [case.state.stage]
    return max(visited, key=protocol.stage_index)


def _breach_label(case: AuditedCase, key: str, mixed: bool) -> str:
    if key == "overall":
        return "overall limit"
    if key.startswith("duty/"):
        return "after resolution"
    return _stage_label(case, key.split("/", 1)[0], mixed)


def _london_day(moment: datetime) -> date:
    return moment.astimezone(LONDON).date()


def _ordered(counter: Counter[str]) -> dict[str, int]:
    return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def build_report(cases: list[AuditedCase], *, protocol: str | None = None,
                 start: date | None = None, end: date | None = None,
                 calendar: WorkingCalendar | None = None) -> Report:
    """The monitoring report for cases raised between ``start`` and ``end`` (inclusive)."""
    calendar = calendar or WorkingCalendar()
    chosen = [c for c in cases
              if (protocol is None or c.state.protocol == protocol)
              and (start is None or _london_day(c.raised_at) >= start)
              and (end is None or _london_day(c.raised_at) <= end)]
    chosen.sort(key=lambda c: (c.raised_at, c.workflow_id))
    mixed = len({c.state.protocol for c in chosen}) > 1
    report = Report(protocol=protocol, period_from=start, period_to=end, cases=len(chosen))
    counts: dict[str, Counter[str]] = {k: Counter() for k in (
        "raising", "receiving", "highest", "category", "urgency", "result", "breach", "attention")}
    highest_order: dict[str, tuple[str, int]] = {}
    breach_order: dict[str, tuple[str, int]] = {}
    working: list[int] = []
    calendar_days: list[int] = []
    for case in chosen:
        inp, timeline = case.input, case.timeline
        highest = _highest(case)
        label = _stage_label(case, highest, mixed)
        highest_order[label] = (case.state.protocol, inp.protocol.stage_index(highest))
        result = result_of(case)
        resolved_at = next((e.at for e in timeline if e.kind == "resolved"), None)
        line = CaseLine(
            workflow_id=case.workflow_id, protocol=case.state.protocol,
            raised_at=case.raised_at, raising_agency=inp.case.raising.agency,
            receiving_agency=inp.case.receiving.agency, category=inp.case.category,
            urgency=inp.urgency, highest_stage=highest, result=result)
        if result in ("resolved", UNCONFIRMED) and resolved_at is not None:
            line.resolved_at = resolved_at
            line.working_days = calendar.working_days_between(case.raised_at, resolved_at)
            line.calendar_days = (_london_day(resolved_at) - _london_day(case.raised_at)).days
            working.append(line.working_days)
            calendar_days.append(line.calendar_days)
        for key in passed_deadlines(timeline):
            breach = _breach_label(case, key, mixed)
            stage_id = key.split("/", 1)[0]
            breach_order[breach] = (
                (case.state.protocol, inp.protocol.stage_index(stage_id))
                if "/" in key and not key.startswith("duty/")
                else ("~", 1 if key.startswith("duty/") else 0))
            counts["breach"][breach] += 1
            line.breaches += 1
        for b in bypass_rows(timeline):
            report.bypasses.append(BypassLine(
                workflow_id=case.workflow_id, at=b.at, from_stage=b.from_stage or "",
                to_stage=b.to_stage, agreed_by=b.agreed_by, reason=b.reason))
            line.bypasses += 1
        for p in pause_spans(timeline):
            lost = (calendar.working_days_between(p.paused_at, p.resumed_at)
                    if p.resumed_at else None)
            report.pauses.append(PauseLine(workflow_id=case.workflow_id, paused_at=p.paused_at,
                                           resumed_at=p.resumed_at, working_days=lost,
                                           reason=p.reason))
            line.pauses += 1
        line.closing, line.closing_decided_by = unconfirmed_decision(timeline)
        line.attention = attention(case.state)
        kinds = [kind_of(text) for text in line.attention]
        for kind, text in zip(kinds, line.attention, strict=True):
            report.attention.append(AttentionLine(workflow_id=case.workflow_id, kind=kind,
                                                  text=text))
        for kind in set(kinds):
            counts["attention"][kind] += 1
        report.needing_attention += bool(line.attention)
        counts["raising"][line.raising_agency or "(not given)"] += 1
        counts["receiving"][line.receiving_agency or "(not given)"] += 1
        counts["highest"][label] += 1
        counts["category"][line.category] += 1
        counts["urgency"][line.urgency] += 1
        counts["result"][result] += 1
        report.lines.append(line)
    report.by_raising_agency = _ordered(counts["raising"])
    report.by_receiving_agency = _ordered(counts["receiving"])
    report.highest_stage = {k: counts["highest"][k] for k in sorted(
        counts["highest"], key=lambda k: highest_order[k])}
    report.by_category = _ordered(counts["category"])
    report.by_urgency = _ordered(counts["urgency"])
    report.by_result = {r: counts["result"][r] for r in RESULTS if counts["result"][r]}
    report.attention_by_kind = {k: counts["attention"][k] for k in (*KINDS, "other")
                                if counts["attention"][k]}
    report.resolution_working_days = Stats.of(working)
    report.resolution_calendar_days = Stats.of(calendar_days)
    report.breaches_by_stage = {k: counts["breach"][k] for k in sorted(
        counts["breach"], key=lambda k: breach_order[k])}
    return report
