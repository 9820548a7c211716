"""The dashboard's order: open before closed, overdue first, then the soonest deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from starter.cases import CaseListing
from starter.web.dashboard import Filters, Row, sort_key, to_csv

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


def _row(wid: str, *, overdue: bool = False, due_days: int | None = None,
         running: bool = True, status: str = "open") -> Row:
    listing = CaseListing(
        workflow_id=wid, protocol="york", stage="2", status=status, urgency="standard",
        overdue=overdue, next_deadline=NOW + timedelta(days=due_days) if due_days else None,
        started=NOW - timedelta(days=3), raising_agency="=HYPERLINK(1)",
        receiving_agency="Children's Social Care", running=running)
    return Row(listing, None, NOW)


def test_overdue_first_then_soonest_then_closed() -> None:
    rows = [_row("york-c", running=False, status="closed"), _row("york-later", due_days=9),
            _row("york-late", overdue=True, due_days=20), _row("york-none"),
            _row("york-soon", due_days=1)]
    assert [r.workflow_id for r in sorted(rows, key=sort_key)] == [
        "york-late", "york-soon", "york-later", "york-none", "york-c"]
    assert [r.days_open for r in rows] == [3] * 5
    assert _row("york-late", overdue=True).flags() == ["overdue"]


def test_filters_and_a_spreadsheet_safe_csv() -> None:
    f = Filters.parse({"q": "LATE", "status": "bogus", "started_from": "2026-02-30"})
    assert f.status == "open" and "started_from" in f.errors
    assert _row("york-late").matches(f) and not _row("york-soon").matches(f)
    f = Filters.parse({"status": "closed", "started_to": "2026-02-01"})
    assert not _row("york-c", running=False, status="closed").matches(f)
    text = to_csv([_row("york-late")])
    assert "'=HYPERLINK(1)" in text and ",=HYPERLINK" not in text
