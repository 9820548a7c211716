"""What needs attention reaches the monitoring report (issue 15), in every format it has.

`resolutions report` (text, `--json`, `--html`) lists each case's flags and counts them by
kind, as `status` and the case page show them; a case closed without written confirmation is
reported so, with the decision. The one-machine stack (`python -m starter.devstack`, as
`./dev start` runs it) is driven by the `resolutions` command only, in real time: the flags
that need no waiting are made here (a backdated Leeds case's month, a timescale agreed beyond
Leeds' maximum, a pause, a role holder nobody can e-mail); the overdue written confirmation
is in tests/test_close_unconfirmed.py.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import pytest

from protocols.calendar import LONDON
from tests.conftest import as_operator, cli, devstack

pytestmark = pytest.mark.slow
RAE = ("Rae Raiser", "rae@school.example")
ROB = ("Rob Receiver", "rob@csc.example")


def _raise(env: dict[str, str], protocol: str, reference: str, *more: str) -> str:
    cli(env, "raise", "--protocol", protocol, "--reference", reference,
        "--raising-name", RAE[0], "--raising-agency", "Example Primary",
        "--raising-email", RAE[1], "--receiving-name", ROB[0], "--receiving-agency", "CSC",
        "--issue", "Case closed after one visit", "--risk", "Neglect is continuing",
        "--nature", "Threshold", "--aim", "Reopen the assessment", *more)
    return f"{protocol}-{reference}"


def _flags(env: dict[str, str], wid: str, wanted: str, timeout: float = 60) -> list[str]:
    """The case's flags once one contains ``wanted`` (a timer fires a moment after it is due)."""
    deadline = time.monotonic() + timeout
    while True:
        flags = json.loads(cli(env, "status", wid, "--json").stdout)["flags"]
        if any(wanted in f for f in flags) or time.monotonic() > deadline:
            return flags
        time.sleep(0.5)


def test_report_lists_and_counts_what_needs_attention(tmp_path: Path) -> None:
    from datetime import datetime

    with devstack(tmp_path) as env:
        rae = as_operator(env, *RAE, role_key="raising")
        rob = as_operator(env, *ROB, role_key="receiving")
        # Leeds s3 Step 2 para 2: "one month for the overall process", "where possible": a
        # concern that arose two months ago has passed it, recorded as a breach.
        arose = (datetime.now(LONDON) - timedelta(days=70)).strftime("%Y-%m-%dT10:00")
        leeds = _raise(env, "leeds", "2026-7001", "--receiving-email", ROB[1],
                       "--arose", arose, "--confirm-backdated")
        breach = _flags(env, leeds, "Overall limit passed")
        # Leeds s4 bullet 1: "ideally within 10 working days"; changes "agreed and recorded".
        cli(rae, "agree-timescale", leeds, "--stage", "1", "--working-days", "15",
            "--reason", "Strategy meeting", "--agreed-by", RAE[0], "--agreed-by", ROB[0])
        cli(rae, "pause", leeds, "--reason", "Practitioner off sick")  # Leeds s3 Stage 4 para 2
        # York s5 Stage 2: the line managers; nobody is named for them, so nobody is told.
        york = _raise(env, "york", "2026-7002", "--receiving-email", ROB[1])
        cli(rae, "record-outcome", york, "--stage", "1", "--not-resolved", "--summary",
            "No agreement", "--contact-method", "phone")
        # Dudley s4 Stage 1: "Advise the complainant agency of the outcome in writing"; the
        # agency closed, and the case is closed without it by a recorded decision.
        dudley = _raise(env, "dudley", "2026-7003", "--receiving-email", ROB[1])
        cli(rob, "record-outcome", dudley, "--stage", "1", "--resolved", "--summary", "Agreed")
        refused = cli(rob, "close-unconfirmed", dudley, ok=False)
        cli(rob, "close-unconfirmed", dudley, "--reason", "The receiving agency closed",
            "--decided-by", ROB[0])
        status = cli(env, "status", dudley).stdout
        listed = json.loads(cli(env, "list", "--all", "--json").stdout)
        report = json.loads(cli(env, "report", "--json").stdout)
        text = cli(env, "report").stdout
        page = tmp_path / "report.html"
        cli(env, "report", "--html", str(page))
    assert any("recorded as a breach" in f for f in breach), breach
    assert refused.returncode == 1
    assert "Say why the case closes without written confirmation" in refused.stderr
    assert "closed without written confirmation: The receiving agency closed" in status
    assert {c["workflow_id"] for c in listed} >= {leeds, york, dudley}
    lines = {line["workflow_id"]: line for line in report["lines"]}
    assert report["cases"] == 3 and report["needing_attention"] == 2
    assert report["attention_by_kind"] == {
        "breach recorded": 1, "longer timescale agreed": 1, "paused": 1,
        "someone who must act not told": 1}
    kinds = {(a["workflow_id"], a["kind"]) for a in report["attention"]}
    assert kinds == {(leeds, "breach recorded"), (leeds, "paused"),
                     (leeds, "longer timescale agreed"),
                     (york, "someone who must act not told")}
    assert any("for stage 2: nobody is named yet" in a for a in lines[york]["attention"])
    assert any("agreed by Rae Raiser, Rob Receiver; reason: Strategy meeting" in a
               for a in lines[leeds]["attention"])
    assert lines[dudley]["result"] == "closed without written confirmation"
    assert lines[dudley]["attention"] == []
    assert lines[dudley]["closing"] == "The receiving agency closed"
    assert lines[dudley]["closing_decided_by"] == ROB[0]
    assert report["by_result"]["closed without written confirmation"] == 1
    for shown in (text, page.read_text()):
        assert "Needs attention (2 case(s))" in shown
        assert "Cases needing attention, by flag" in shown
        assert "someone who must act not told" in shown
        assert "Closed without written confirmation" in shown
        assert "The receiving agency closed" in shown
