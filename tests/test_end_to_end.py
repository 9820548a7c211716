"""The whole thing as a user runs it: `python worker.py` (embedded dev server, SMTP sink) and
the `resolutions` command line in other processes."""

from __future__ import annotations

import json
import signal
import time

from tests.conftest import as_operator
from tests.conftest import cli as _cli


def test_raise_act_and_read_through_the_cli(running_worker) -> None:
    env, proc, tmp_path = running_worker
    raised = _cli(env, "raise", "--protocol", "york", "--reference", "2026-0042",
                  "--raising-name", "Rae Raiser", "--raising-agency", "Example Primary",
                  "--raising-email", "rae@school.example",
                  "--receiving-name", "Rob Receiver", "--receiving-agency", "CSC",
                  "--receiving-email", "rob@csc.example",
                  "--issue", "Closure of the case", "--risk", "Neglect continues",
                  "--nature", "Threshold", "--aim", "Reopen the assessment",
                  "--child-name", "Test Child Beta")
    assert "york-2026-0042" in raised.stdout
    assert "stage 1" in raised.stdout

    missing = _cli(env, "raise", "--protocol", "york", "--reference", "2026-0043",
                   "--raising-name", "A", "--raising-agency", "B", "--receiving-agency", "C",
                   ok=False)
    assert missing.returncode != 0
    assert "the risk to the child" in missing.stderr and missing.stderr.count("\n") == 1

    # An action needs the acting person's operator token; a typed name is not enough.
    untold = _cli(env, "outcome", "york-2026-0042", "--stage", "1", "--not-resolved",
                  "--summary", "No agreement", "--by", "Rae Raiser", ok=False)
    assert untold.returncode == 1 and "needs your operator token" in untold.stderr
    rae = as_operator(env, "Rae Raiser", "rae@school.example", "raising")
    moved = _cli(rae, "outcome", "york-2026-0042", "--stage", "1", "--not-resolved",
                 "--summary", "No agreement", "--by", "Rae Raiser")
    assert "moved to stage 2" in moved.stdout

    refused = _cli(rae, "outcome", "york-2026-0042", "--stage", "1", "--resolved",
                   "--summary", "x", ok=False)
    assert refused.returncode == 1
    assert "Stage 1 is not the current stage" in refused.stderr

    status = json.loads(_cli(env, "status", "york-2026-0042", "--json").stdout)
    assert status["stage"] == "2" and status["status"] == "open"
    assert any(d["source"].startswith("York s5 Stage 2") for d in status["deadlines"])

    deadline = time.monotonic() + 30
    while True:
        listed = json.loads(_cli(env, "list", "--protocol", "york", "--json").stdout)
        if listed and listed[0]["stage"] == "2":
            break
        assert time.monotonic() < deadline, listed
        time.sleep(0.5)
    assert listed[0]["workflow_id"] == "york-2026-0042"
    assert "Test Child Beta" not in json.dumps(listed)

    timeline = _cli(env, "timeline", "york-2026-0042").stdout
    assert "outcome recorded" in timeline and "escalated" in timeline

    bad = _cli(env, "status", "york-1999-0000", ok=False)
    assert bad.returncode == 1 and "no such case" in bad.stderr

    # Mail went to the embedded sink.
    index = tmp_path / "data" / "mail" / "index.jsonl"
    deadline = time.monotonic() + 30
    while not index.exists() or len(index.read_text().splitlines()) < 2:
        assert time.monotonic() < deadline, "no mail filed"
        time.sleep(0.5)

    listing = _cli(env, "mail", "--case", "york-2026-0042").stdout
    assert "[CYSCP] Case 2026-0042" in listing
    first = next(word for word in listing.split() if word.endswith(".eml"))
    shown = _cli(env, "mail", first).stdout
    assert "Subject: [CYSCP] Case 2026-0042" in shown
    york = ("Professional Resolutions Practice Guidance, City of York Safeguarding Children "
            "Partnership, version 1.0, 17 July 2024")
    assert f"({york})" in shown  # the rule's document by title and version, never a file

    form_path = tmp_path / "account.html"
    _cli(env, "form", "york-2026-0042", "--kind", "york_written_account", "--out",
         str(form_path))
    form = form_path.read_text()
    assert "Test Child Beta" in form and "No agreement" in form and "@media print" in form
    assert f"on the basis of {york} (stage 2: York s5 Stage 2)" in form
    assert ".txt" not in form and ".txt" not in shown

    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0
