"""A backdated case, once confirmed (issue 16): each deadline that passed before it was raised
is recorded at the instant it passed, the case starts where they lead, and each person gets one
summary e-mail, not one per escalation. The real CLI as a subprocess on `python worker.py`
with its embedded dev server and SMTP sink."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

from tests.conftest import (
    at,
    case_input,
    cli,
    filed_mail,
    keep_history,
    make_worker,
    skip_to,
    start_case,
    wait_for,
)
from workflows.disagreement import DisagreementWorkflow

SWINDON = ["raise", "--protocol", "swindon", "--reference", "2026-8201",
           "--raising-name", "Hana Visitor", "--raising-agency", "Health Visiting",
           "--raising-email", "hana@hv.example", "--receiving-name", "Carl Social",
           "--receiving-agency", "CSC", "--receiving-email", "carl@csc.example"]



def test_a_confirmed_backdated_case_records_each_passed_deadline_and_sends_one_summary(
        running_worker) -> None:
    env, _proc, tmp = running_worker
    arose = (datetime.now(UTC) - timedelta(days=30)).strftime("%Y-%m-%dT10:00")
    before = datetime.now(UTC)
    raised = cli(env, *SWINDON, "--arose", arose, "--confirm-backdated")
    assert "Raised case swindon-2026-8201" in raised.stdout, raised.stdout

    state = json.loads(cli(env, "status", "swindon-2026-8201", "--json").stdout)
    assert state["stage"] == "5", state["stage"]
    timeline = json.loads(cli(env, "timeline", "swindon-2026-8201", "--json").stdout)
    passed = [e for e in timeline if e["kind"] == "deadline_passed"]
    moves = [e for e in timeline if e["kind"] == "escalated"]
    assert len(passed) >= 4 and len(moves) == 4, [e["kind"] for e in timeline]
    # Each recorded at its own instant, before the case was raised, in the order they fell.
    instants = [datetime.fromisoformat(e["at"]) for e in passed]
    assert all(at < before for at in instants), instants
    assert instants == sorted(instants) and len(set(instants)) == len(instants)
    states = {d["key"]: d for d in state["deadlines"]}
    for e in passed:
        assert datetime.fromisoformat(e["at"]) == datetime.fromisoformat(
            states[e["details"]["deadline"]]["due"])
    [summary] = [e for e in timeline if e["kind"] == "backdated"]
    assert f"{len(passed)} deadlines had already passed" in summary["summary"]
    assert "stands at stage 5" in summary["summary"]

    # One e-mail per person: the summary (the Partnership is told of stage 5 in it). The
    # case scheduled one e-mail in all: its timeline records each e-mail sent.
    deadline = time.monotonic() + 40
    while not (sent := [e for e in json.loads(cli(env, "timeline", "swindon-2026-8201",
                                                  "--json", "--all").stdout)
                        if e["kind"] == "notification_sent"]):
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert len(sent) == 1, sent
    rows = filed_mail(tmp / "data", "swindon-2026-8201", timeout=0)
    assert any("swindon" in ",".join(r["to"]).lower() for r in rows), rows
    assert {r["event"] for r in rows} == {"case_raised"}, [r["event"] for r in rows]
    per_person = Counter(addr for r in rows for addr in r["to"])
    assert per_person["hana@hv.example"] == 1 and per_person["carl@csc.example"] == 1, \
        per_person
    assert max(per_person.values()) == 1, per_person
    assert all("backdated" in r["subject"] for r in rows)
    to_hana = next(r for r in rows if "hana@hv.example" in r["to"])
    msg = message_from_bytes((tmp / "data" / "mail" / to_hana["file_name"]).read_bytes(),
                             policy=policy.default)
    body = msg.get_body(("plain",)).get_content()
    assert "These deadlines had already passed when the case was raised" in body, body
    assert "Stage 1: Internal discussion" in body
    assert "now stands at stage 5" in body
    assert "Hana Visitor" not in msg["Subject"]


def test_a_backdated_case_with_nothing_passed_yet_is_raised_as_usual(running_worker) -> None:
    env, _proc, tmp = running_worker
    arose = (datetime.now(UTC) - timedelta(minutes=5)).isoformat(timespec="minutes")
    cli(env, *SWINDON[:4], "2026-8202", *SWINDON[5:], "--arose", arose)
    timeline = json.loads(cli(env, "timeline", "swindon-2026-8202", "--json").stdout)
    assert not [e for e in timeline if e["kind"] in ("deadline_passed", "backdated")]
    deadline = time.monotonic() + 30
    while not (rows := filed_mail(tmp / "data", "swindon-2026-8202", timeout=0)):
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert rows[0]["event"] == "case_raised" and "backdated" not in rows[0]["subject"]


async def test_backdated_case_history_replays(skipping_env, settings, mailbox) -> None:
    """The same on the time-skipping server, raised by the function `raise` and the web form
    use, kept as a saved history (RESOLUTIONS_RECORD_HISTORIES=1) for tests/test_replay.py."""
    env = skipping_env
    box, _port = mailbox
    async with make_worker(env.client, settings):
        await skip_to(env, at("2030-04-08 10:00"))
        handle = await start_case(env.client, case_input("swindon", "2030-0301",
                                                         arose=at("2030-03-04 10:00")))

        async def summary_sent() -> bool:
            timeline = await handle.query(DisagreementWorkflow.timeline)
            return any(e.kind == "notification_sent" for e in timeline)

        await wait_for(summary_sent, timeout=30)
        state = await handle.query(DisagreementWorkflow.state)
        timeline = await handle.query(DisagreementWorkflow.timeline)
        assert state.stage == "5"
        passed = [e for e in timeline if e.kind == "deadline_passed"]
        assert passed and all(e.at < at("2030-04-08 10:00") for e in passed)
        assert [e.kind for e in timeline].count("notification_sent") == 1
        assert box.messages and box.events() == ["case_raised"] * len(box.messages)
        await keep_history(handle, "swindon-backdated-summary")
