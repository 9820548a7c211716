"""The per-agency log Swindon requires (s3 para 8): "each agency keeps a log of each use of the
process: for each stage, the start date, who the concern was raised with, and the outcome".

One row per case and stage the case reached, for every case the agency raised or received.
Rows are read from the case's own record through the same ladder the partnership forms use
(:func:`protocols.caserecord.stage_rows`), so the log and Swindon's Appendix 1 form agree.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime

from pydantic import BaseModel

from protocols.calendar import LONDON
from protocols.caserecord import stage_rows, uk_date
from starter.audit.audited_case import AuditedCase
from starter.cli.output import table

CSV_HEADERS = ["case", "reference", "protocol", "agency side", "stage", "stage name",
               "start date", "raised by", "concern raised with", "how", "outcome"]


class LogRow(BaseModel):
    workflow_id: str
    reference: str
    protocol: str
    side: str  # raising | receiving | both
    stage: str
    stage_name: str
    started: datetime | None
    raised_by: str
    raised_with: str
    how: str
    outcome: str

    def cells(self) -> list[str]:
        return [self.workflow_id, self.reference, self.protocol, self.side, self.stage,
                self.stage_name, uk_date(self.started), self.raised_by, self.raised_with, self.how,
                self.outcome]


def _side(case: AuditedCase, agency: str) -> str | None:
    wanted = agency.strip().casefold()
    raising = case.input.case.raising.agency.strip().casefold() == wanted
    receiving = case.input.case.receiving.agency.strip().casefold() == wanted
    if raising and receiving:
        return "both"
    return "raising" if raising else "receiving" if receiving else None


def _in_range(moment: datetime | None, start: date | None, end: date | None) -> bool:
    if start is None and end is None:
        return True
    if moment is None:
        return False
    day = moment.astimezone(LONDON).date()
    return (start is None or day >= start) and (end is None or day <= end)


def agency_log(cases: list[AuditedCase], agency: str, start: date | None = None,
               end: date | None = None) -> list[LogRow]:
    """The agency's log: stages that started between ``start`` and ``end`` (inclusive)."""
    rows: list[LogRow] = []
    for case in sorted(cases, key=lambda c: (c.raised_at, c.workflow_id)):
        side = _side(case, agency)
        if side is None:
            continue
        for r in stage_rows(case.input.protocol, case.input.case, case.state, case.timeline):
            if not r.visited or not _in_range(r.started, start, end):
                continue
            rows.append(LogRow(
                workflow_id=case.workflow_id, reference=case.state.reference,
                protocol=case.state.protocol, side=side, stage=r.stage_id, stage_name=r.name,
                started=r.started, raised_by=r.raised_by, raised_with=r.contacted, how=r.how,
                outcome=r.outcome))
    return rows


def log_csv(rows: list[LogRow]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADERS)
    writer.writerows(r.cells() for r in rows)
    return buffer.getvalue()


def log_text(rows: list[LogRow], agency: str) -> str:
    headers = ["case", "stage", "start date", "concern raised with", "outcome"]
    body = [[r.workflow_id, f"{r.stage} {r.stage_name}", r.cells()[6], r.raised_with,
             r.outcome] for r in rows]
    return (f"Professional disagreement log for {agency}: {len(rows)} stage(s) in "
            f"{len({r.workflow_id for r in rows})} case(s)\n\n" + table(headers, body, 60) + "\n")
