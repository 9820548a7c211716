"""Audit (issue #6): timelines rebuilt from histories, the replay guard, the monitoring report,
Swindon's per-agency log, and the `resolutions audit` / `report` commands end to end."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
from datetime import date, timedelta

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHandle

from protocols.messages import (
    Actor,
    CaseInput,
    CaseRecord,
    CaseState,
    DeadlineAnswer,
    Outcome,
    TimelineEvent,
)
from starter.audit.agency_log import agency_log, log_csv
from starter.audit.audited_case import AuditedCase
from starter.audit.history import iterate, read_history_file
from starter.audit.rebuild import Rebuilder, rebuild
from starter.audit.replay import describe_failure, replay_and_report
from starter.audit.report import build_report
from starter.audit.report_render import render_html, render_text
from starter.audit.story import build_story
from starter.audit.story_render import render_html as story_html
from starter.cases import act, parse_action
from starter.cli import main
from tests.conftest import (
    HISTORY_DIR,
    RAE,
    ROB,
    TEST_KEY,
    TEST_KEY_ID,
    at,
    case_input,
    make_worker,
    skip_to,
    start_case,
    test_converter,
    wait_for,
)
from workflows.disagreement import DisagreementWorkflow

# The raising practitioner: every stage role nobody is named for is theirs.
BY = RAE
HISTORIES = sorted(HISTORY_DIR.glob("*.json"))
SECRETS = ("Test Child Alpha", "1 Example Road")


@pytest.fixture
def cli_env(monkeypatch, tmp_path) -> None:
    """The CLI's data converter is the suite's: the same test key, from the environment."""
    keys = json.dumps({TEST_KEY_ID: base64.b64encode(TEST_KEY).decode()})
    monkeypatch.setenv("RESOLUTIONS_CODEC_KEYS", keys)
    monkeypatch.setenv("RESOLUTIONS_DATA_DIR", str(tmp_path / "cli-data"))
    monkeypatch.setenv("RESOLUTIONS_SETTINGS_FILE", str(tmp_path / "none.toml"))
    for name in ("RESOLUTIONS_CODEC_ACTIVE_KEY", "RESOLUTIONS_CODEC_KEY_FILE",
                 "RESOLUTIONS_TEMPORAL_ADDRESS", "TEMPORAL_ADDRESS", "TEMPORAL_PROFILE"):
        monkeypatch.delenv(name, raising=False)


async def _settled(handle: WorkflowHandle) -> list[TimelineEvent]:
    """The timeline once e-mail receipts stop landing (two reads 0.3 s apart agree)."""
    last: list[TimelineEvent] | None = None
    for _ in range(60):
        now = await handle.query(DisagreementWorkflow.timeline)
        if now == last:
            return now
        last = now
        await asyncio.sleep(0.3)
    raise AssertionError("the case never settled")


async def _assert_rebuilt_equals_query(handle: WorkflowHandle) -> AuditedCase:
    queried = await _settled(handle)
    state = await handle.query(DisagreementWorkflow.state)
    history = await handle.fetch_history()
    assert await handle.query(DisagreementWorkflow.timeline) == queried  # nothing moved since
    case = await rebuild(history, test_converter())
    assert case.timeline == queried, handle.id
    assert case.state == state, handle.id
    assert all(c.ok for c in case.checks), [c for c in case.checks if not c.ok]
    return case


# -- 1. a timeline rebuilt from history is the workflow's own --------------------------------------
async def test_timeline_rebuilt_from_history_equals_the_timeline_query(skipping_env, settings,
                                                                       mailbox) -> None:
    env = skipping_env
    await skip_to(env, at("2030-03-04 09:00"))
    async with make_worker(env.client, settings):
        escalating = await start_case(env.client, case_input(
            "swindon", "2030-0101", arose=at("2030-03-04 09:00")))
        # Only Leeds provides for halting a case (s3 Stage 4 para 2).
        paused = await start_case(env.client, case_input("leeds", "2030-0102"))
        agreed = await start_case(env.client, case_input("leeds", "2030-0103"))
        closed = await start_case(env.client, case_input("barnsley", "2030-0104"))
        await paused.signal("pause_signal", {"reason": "Practitioner off sick", "by": BY})
        await agreed.signal("agree_timescale_signal", {
            "stage": "1", "timescale": {"kind": "working_days", "amount": 3}, "by": BY})
        await agreed.signal("record_outcome_signal", {"nonsense": True})  # recorded as refused
        await closed.signal("record_outcome_signal", {
            "stage": "1", "resolved": False, "by": BY, "summary": "Workers disagree"})
        for by in (BY, ROB):  # Barnsley 3.3: each professional and manager involved agrees
            await closed.signal("bypass_signal", {
                "to_stage": "4", "reason": "Needs the Head of Safeguarding", "by": by})
        await closed.signal("record_outcome_signal", {
            "stage": "4", "resolved": True, "by": BY, "summary": "Assessment reopened"})
        await skip_to(env, at("2030-03-06 10:00"))
        await paused.signal("resume_signal", {"by": BY})
        await agreed.signal("agree_timescale_signal", {
            "stage": "1", "timescale": {"kind": "working_days", "amount": 5}, "by": BY,
            "reason": "Meeting moved"})
        await closed.signal("confirm_in_writing_signal", {"by": BY, "summary": "Letter sent"})
        await closed.result()
        await skip_to(env, at("2030-03-14 12:00"))

        running = await _assert_rebuilt_equals_query(escalating)
        assert running.running and running.source == "replay"
        assert [e.stage for e in running.timeline if e.kind == "escalated"] == ["2", "3"]
        for handle in (paused, agreed):
            case = await _assert_rebuilt_equals_query(handle)
            assert case.running
        finished = await _assert_rebuilt_equals_query(closed)
        assert not finished.running and finished.source == "recorded result"
        assert any(c.name.startswith("today's code tells the same story") and c.ok
                   for c in finished.checks)

    story = build_story(running)
    assert [s.stage for s in story.stages] == ["1", "2", "3"]
    assert {b.stage for b in story.breaches} == {"1", "2"}  # both passed before any outcome
    assert story.stages[0].deadlines[0].source == "Swindon s4 Stage 1 (When)"
    page = story_html(story)
    assert page.count("<svg") == 1 and "Internal discussion" in page
    assert build_story(finished).bypasses[0].agreed_by == "Rae Raiser, Rob Receiver"


# -- 2. an incompatible change of the workflow fails replay, clearly ------------------------------
@workflow.defn(name="DisagreementWorkflow", sandboxed=False)
class ComputesDeadlinesElsewhere(DisagreementWorkflow):
    """Today's code, 'improved': deadlines from a new activity. Running cases would break."""

    @workflow.init
    def __init__(self, inp: CaseInput) -> None:
        super().__init__(inp)

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseRecord:
        return await super().run(inp)

    async def _compute(self, queries):  # type: ignore[no-untyped-def]
        return await workflow.execute_activity(
            "compute_deadlines_v2", queries, result_type=list[DeadlineAnswer],
            start_to_close_timeout=timedelta(seconds=30))


@workflow.defn(name="DisagreementWorkflow", sandboxed=False)
class WaitsBeforeOpening(DisagreementWorkflow):
    """A new timer before the case opens: the history has no such timer."""

    @workflow.init
    def __init__(self, inp: CaseInput) -> None:
        super().__init__(inp)

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseRecord:
        await workflow.sleep(timedelta(minutes=5))
        return await super().run(inp)


@pytest.mark.parametrize("variant", [ComputesDeadlinesElsewhere, WaitsBeforeOpening])
async def test_incompatible_change_fails_replay_with_a_clear_message(variant) -> None:
    saved = read_history_file(HISTORY_DIR / "swindon-full-escalation.json")
    out, err = io.StringIO(), io.StringIO()
    status = await replay_and_report(iterate([saved]), test_converter(), workflows=[variant],
                                     out=out, err=err)
    text = out.getvalue()
    assert status == 1, text
    assert "swindon-full-escalation: FAILED" in text
    assert "Nondeterminism" in text and "0 replayed OK, 1 failed." in text
    assert "workflow.patched" in text
    if variant is WaitsBeforeOpening:
        assert "at history event 5 (ActivityTaskScheduled)" in text
    else:
        assert "compute_deadlines_v2" in text
    # and today's code replays the same history
    ok = await replay_and_report(iterate([saved]), test_converter(), out=io.StringIO())
    assert ok == 0


@workflow.defn(name="DisagreementWorkflow", sandboxed=False)
class PatchedDeadlines(DisagreementWorkflow):
    """The same change behind workflow.patched: old cases keep their path, new ones take the
    new one (the README's example)."""

    @workflow.init
    def __init__(self, inp: CaseInput) -> None:
        super().__init__(inp)

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseRecord:
        return await super().run(inp)

    async def _compute(self, queries):  # type: ignore[no-untyped-def]
        if workflow.patched("deadlines-v2"):
            return await workflow.execute_activity(
                "compute_deadlines_v2", queries, result_type=list[DeadlineAnswer],
                start_to_close_timeout=timedelta(seconds=30))
        return await super()._compute(queries)


async def test_a_patched_change_keeps_every_saved_history_replaying() -> None:
    saved = [read_history_file(p) for p in HISTORIES]
    out = io.StringIO()
    status = await replay_and_report(iterate(saved), test_converter(),
                                     workflows=[PatchedDeadlines], out=out, err=io.StringIO())
    assert status == 0, out.getvalue()


async def test_rebuild_under_incompatible_code_says_so() -> None:
    running = read_history_file(HISTORY_DIR / "swindon-full-escalation.json")
    closed = read_history_file(HISTORY_DIR / "barnsley-bypass-resolution.json")
    rebuilder = Rebuilder(test_converter(), workflows=[ComputesDeadlinesElsewhere])
    partial = await rebuilder.rebuild(running)
    assert partial.source == "partial replay"
    assert not partial.checks[0].ok and "compute_deadlines_v2" in partial.checks[0].detail
    assert len(partial.timeline) < 43  # only as far as replay got, and marked as such
    recorded = await rebuilder.rebuild(closed)
    assert recorded.source == "recorded result" and len(recorded.timeline) == 31
    assert not recorded.checks[0].ok


def test_failure_place_is_read_from_the_core_message() -> None:
    place = describe_failure(RuntimeError(
        'Failure { failure: Some(Failure { message: "[TMPRL1100] Nondeterminism error: Timer '
        'machine does not handle this event: HistoryEvent(id: 6, ActivityTaskScheduled)", '
        'source: "" }) }'))
    assert place.event_id == 6 and place.event_type == "ActivityTaskScheduled"
    assert place.message.startswith("[TMPRL1100] Nondeterminism error")
    assert place.text().startswith("at history event 6 (ActivityTaskScheduled): [TMPRL1100]")


# -- 3. the saved histories replay through the command --------------------------------------------
def test_saved_histories_replay_via_the_command(cli_env, capsys) -> None:
    status = main(["audit", "replay", *map(str, HISTORIES)])
    captured = capsys.readouterr()
    assert status == 0, captured.out + captured.err
    assert captured.out.count("replayed OK") == len(HISTORIES) + 1  # + the summary line
    assert f"{len(HISTORIES)} replayed OK, 0 failed." in captured.out
    assert f"] {len(HISTORIES)}/{len(HISTORIES)}" in captured.err  # the progress bar


def test_timeline_of_a_saved_history_file(cli_env, capsys, tmp_path) -> None:
    path = str(HISTORY_DIR / "leeds-updates-agree-extend-pause.json")
    assert main(["audit", "timeline", path]) == 0
    text = capsys.readouterr().out
    assert "Case leeds-2026-9003" in text and "Timescales agreed and extended" in text
    assert main(["audit", "timeline", path, "--html", str(tmp_path / "t.html")]) == 0
    assert "<svg" in (tmp_path / "t.html").read_text()
    assert main(["audit", "timeline", str(tmp_path / "missing.json")]) == 1
    assert "cannot read history file" in capsys.readouterr().err


# -- 4. the monitoring report's figures on cases whose answers are known ---------------------------
def _case(protocol: str, ref: str, raising: str, receiving: str, category: str, urgency: str,
          events: list[tuple[str, str, str, dict]], *, status: str = "open",
          outcomes: tuple[tuple[str, bool, str], ...] = ()) -> AuditedCase:
    """A hand-built case: events are (London time, kind, stage, details incl. summary)."""
    inp = case_input(protocol, ref, urgency=urgency,
                     raising={"name": "R", "agency": raising},
                     receiving={"name": "S", "agency": receiving})
    # A recorded case may carry a category no protocol offers now (raised before the check).
    inp = inp.model_copy(update={"case": inp.case.model_copy(update={"category": category})})
    timeline = []
    for seq, (when, kind, stage, extra) in enumerate(events, start=1):
        details = {k: v for k, v in extra.items() if k not in ("summary", "actor")}
        timeline.append(TimelineEvent(seq=seq, at=at(when), kind=kind, stage=stage,
                                      summary=extra.get("summary", kind),
                                      actor=extra.get("actor", "system"), details=details))
    visited = [e.stage for e in timeline if e.kind in ("stage_entered", "escalated")]
    state = CaseState(
        workflow_id=f"{protocol}-{ref}", reference=ref, protocol=protocol,
        protocol_hash=inp.protocol_hash, partnership=inp.protocol.partnership,
        status=status, urgency=urgency, stage=visited[-1],  # type: ignore[arg-type]
        stage_name="", stage_entered_at=timeline[0].at, stages_visited=visited, deadlines=[],
        expected_next=[], holders={},
        outcomes=[Outcome(stage=s, resolved=r, at=at(w), by=Actor(name="Mo Manager"),
                          summary="x") for s, r, w in outcomes])
    return AuditedCase(workflow_id=state.workflow_id, input=inp, state=state, timeline=timeline,
                    running=status in ("open", "paused"))


def _known_cases() -> list[AuditedCase]:
    moved = {"summary": "moved"}
    return [
        # A: a stage-1 deadline passed, resolved at stage 2 (Mon 09:00 → Fri 10:00: 4 WD, 4 days)
        _case("swindon", "2030-0001", "School A", "CSC", "threshold", "standard", [
            ("2030-03-04 09:00", "raised", "", {}),
            ("2030-03-04 09:00", "stage_entered", "1", moved),
            ("2030-03-06 17:00", "deadline_passed", "1", {"deadline": "1/discussion"}),
            ("2030-03-06 17:00", "escalated", "2", moved),
            ("2030-03-08 10:00", "outcome_recorded", "2", {}),
            ("2030-03-08 10:00", "resolved", "2", {}),
            ("2030-03-08 10:00", "closed", "2", {})],
            status="closed", outcomes=(("2", True, "2030-03-08 10:00"),)),
        # B: urgent bypass 1 → 3, paused Wed 10:00 → Fri 10:00 (2 working days), still open
        _case("swindon", "2030-0002", "School A", "Police", "threshold", "urgent", [
            ("2030-03-05 09:00", "raised", "", {}),
            ("2030-03-05 09:00", "stage_entered", "1", moved),
            ("2030-03-05 09:30", "bypass", "1", {
                "summary": "Bypass to stage 3 agreed by Ann Able, Bob Brown: Urgent: child at "
                           "risk", "actor": "Ann Able", "agreement_of": "managers"}),
            ("2030-03-05 09:30", "escalated", "3", moved),
            ("2030-03-06 10:00", "paused", "3", {"summary": "Paused: Practitioner off sick"}),
            ("2030-03-08 10:00", "resumed", "3", {})]),
        # C: three deadlines passed (stages 1-3), withdrawn at stage 4
        _case("swindon", "2030-0003", "Health", "CSC", "cp_plan", "standard", [
            ("2030-03-11 09:00", "raised", "", {}),
            ("2030-03-11 09:00", "stage_entered", "1", moved),
            ("2030-03-13 17:00", "deadline_passed", "1", {"deadline": "1/discussion"}),
            ("2030-03-13 17:00", "escalated", "2", moved),
            ("2030-03-20 17:00", "deadline_passed", "2", {"deadline": "2/discussion"}),
            ("2030-03-20 17:00", "escalated", "3", moved),
            ("2030-03-27 17:00", "deadline_passed", "3",
             {"deadline": "3/contact_opposite_number"}),
            ("2030-03-27 17:00", "escalated", "4", moved),
            ("2030-03-28 09:00", "withdrawn", "4", {}),
            ("2030-03-28 09:00", "closed", "4", {})], status="withdrawn"),
        # D: resolved at stage 1 over Easter: Thu 18 Apr 10:00 → Wed 24 Apr 12:00 (Good Friday
        #    and Easter Monday are bank holidays): 2 working days, 6 calendar days
        _case("swindon", "2030-0004", "Health", "CSC", "threshold", "immediate-risk", [
            ("2030-04-18 10:00", "raised", "", {}),
            ("2030-04-18 10:00", "stage_entered", "1", moved),
            ("2030-04-24 12:00", "resolved", "1", {}),
            ("2030-04-24 12:00", "closed", "1", {})],
            status="closed", outcomes=(("1", True, "2030-04-24 12:00"),)),
        # E: another protocol; F: raised after the period
        _case("leeds", "2030-0005", "School A", "CSC", "threshold", "standard", [
            ("2030-03-04 09:00", "raised", "", {}),
            ("2030-03-04 09:00", "stage_entered", "1", moved)]),
        _case("swindon", "2030-0006", "School A", "CSC", "threshold", "standard", [
            ("2030-05-10 09:00", "raised", "", {}),
            ("2030-05-10 09:00", "stage_entered", "1", moved)]),
    ]


def test_report_figures_on_known_cases() -> None:
    report = build_report(_known_cases(), protocol="swindon", start=date(2030, 3, 1),
                          end=date(2030, 4, 30))
    assert report.cases == 4
    assert [line.workflow_id for line in report.lines] == [
        "swindon-2030-0001", "swindon-2030-0002", "swindon-2030-0003", "swindon-2030-0004"]
    assert report.by_raising_agency == {"Health": 2, "School A": 2}
    assert report.by_receiving_agency == {"CSC": 3, "Police": 1}
    assert report.highest_stage == {"1 Internal discussion": 1, "2 Inter-agency discussion": 1,
                                    "3 Team / Inspectors / Service Manager": 1,
                                    "4 Heads / Leads / Directors of Service": 1}
    assert report.by_category == {"threshold": 3, "cp_plan": 1}
    assert list(report.by_urgency.items()) == [("standard", 2), ("immediate-risk", 1),
                                               ("urgent", 1)]
    assert report.by_result == {"resolved": 2, "open": 1, "withdrawn": 1}
    assert [(c.working_days, c.calendar_days) for c in report.lines] == [
        (4, 4), (None, None), (None, None), (2, 6)]
    wd, cd = report.resolution_working_days, report.resolution_calendar_days
    assert (wd.count, wd.mean, wd.median, wd.minimum, wd.maximum) == (2, 3.0, 3.0, 2, 4)
    assert (cd.mean, cd.minimum, cd.maximum) == (5.0, 4, 6)
    assert report.breaches_by_stage == {"1 Internal discussion": 2,
                                        "2 Inter-agency discussion": 1,
                                        "3 Team / Inspectors / Service Manager": 1}
    [bypass] = report.bypasses
    assert (bypass.workflow_id, bypass.from_stage, bypass.to_stage, bypass.agreed_by,
            bypass.reason) == ("swindon-2030-0002", "1", "3", "Ann Able, Bob Brown",
                               "Urgent: child at risk")
    [pause] = report.pauses
    assert (pause.workflow_id, pause.working_days, pause.reason) == (
        "swindon-2030-0002", 2, "Practitioner off sick")
    everything = build_report(_known_cases())
    assert everything.cases == 6 and "leeds 1" in everything.highest_stage
    text = render_text(report)
    assert "Deadline breaches by stage" in text and "Ann Able, Bob Brown" in text
    html = render_html(report)
    assert html.count("<svg") >= 7 and "Highest stage reached" in html


# -- 5. Swindon's per-agency log ------------------------------------------------------------------
async def test_swindon_agency_log_csv(skipping_env, settings, mailbox) -> None:
    env = skipping_env
    await skip_to(env, at("2030-03-04 09:00"))
    async with make_worker(env.client, settings):
        handle = await start_case(env.client, case_input(
            "swindon", "2030-0042", arose=at("2030-03-04 09:00")))
        await handle.signal("record_outcome_signal", {
            "stage": "1", "resolved": False, "by": BY, "summary": "Escalate to the school"})
        await skip_to(env, at("2030-03-05 10:00"))
        await handle.signal("record_outcome_signal", {
            "stage": "2", "resolved": True, "by": BY, "summary": "Assessment reopened",
            "agreed_actions": "Visit this week"})
        await handle.result()
        history = await handle.fetch_history()
    case = await rebuild(history, test_converter())
    rows = agency_log([case], "children's social care")
    assert log_csv(rows) == (
        "case,reference,protocol,agency side,stage,stage name,start date,raised by,"
        "concern raised with,how,outcome\n"
        "swindon-2030-0042,2030-0042,swindon,receiving,1,Internal discussion,04/03/2030,"
        "\"Rae Raiser, Teacher, Example Primary School — Professional who disagrees\","
        "Their own line manager (raising agency),not recorded,"
        "\"Not resolved (04/03/2030, Rae Raiser): Escalate to the school\"\n"
        "swindon-2030-0042,2030-0042,swindon,receiving,2,Inter-agency discussion,04/03/2030,"
        "\"Rae Raiser, Teacher, Example Primary School — Professional with the concern\","
        "\"Rob Receiver, Social worker, Children's Social Care — Other professional\","
        "not recorded,"
        "\"Resolved (05/03/2030, Rae Raiser): Assessment reopened Agreed actions: Visit this "
        "week\"\n")
    assert [r.side for r in agency_log([case], "Example Primary School")] == ["raising"] * 2
    assert agency_log([case], "Example Primary School", start=date(2030, 3, 5)) == []
    assert agency_log([case], "Another Agency") == []


# -- 6. the commands against a real dev server ----------------------------------------------------
async def _cli(*args: str) -> int:
    return await asyncio.to_thread(main, list(args))


async def test_audit_commands_on_the_dev_server(dev_env, settings, mailbox, cli_env, capsys,
                                                monkeypatch, tmp_path) -> None:
    client = dev_env.client
    monkeypatch.setenv("RESOLUTIONS_TEMPORAL_ADDRESS",
                       dev_env.client.service_client.config.target_host)
    async with make_worker(client, settings):
        running = await start_case(client, case_input("york", "2026-9101"))
        closing = await start_case(client, case_input("barnsley", "2026-9102"))
        await wait_for(lambda: _entered(running))
        await wait_for(lambda: _entered(closing))
        await act(client, running.id, "record_outcome", parse_action("record_outcome", {
            "stage": "1", "resolved": False, "summary": "No agreement", "by": BY}))
        await act(client, closing.id, "withdraw", parse_action("withdraw", {
            "reason": "Raised in error", "by": BY}))
        await closing.result()
        timeline = await _settled(running)

        out = tmp_path / "export.json"
        assert await _cli("audit", "export", running.id, "--out", str(out)) == 0
        exported = out.read_text()
        assert json.loads(exported)["events"][0]["eventType"] == (
            "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED")
        for secret in (*SECRETS, "Rae Raiser", "Neglect may"):
            assert secret not in exported, f"{secret!r} in clear in the export"

        capsys.readouterr()
        assert await _cli("audit", "timeline", running.id, "--json") == 0
        data = json.loads(capsys.readouterr().out)
        assert [TimelineEvent.model_validate(e) for e in data["timeline"]] == timeline
        assert data["source"] == "replay" and data["stages"][1]["stage"] == "2"
        assert any(f["kind"] == "update" and f["name"] == "record_outcome"
                   for f in data["facts"])
        assert await _cli("audit", "timeline", str(out)) == 0  # the exported file, offline
        assert "Case york-2026-9101" in capsys.readouterr().out

        await wait_for(lambda: _closed_listed(client))
        assert await _cli("audit", "replay", "--all") == 0
        text = capsys.readouterr().out
        assert "barnsley-2026-9102: replayed OK" in text and "1 replayed OK, 0 failed." in text
        assert await _cli("audit", "replay", running.id) == 0
        assert await _cli("audit", "replay", "--all", "--query",
                          "WorkflowId = 'nothing-here'") == 0
        assert "No histories to replay." in capsys.readouterr().out

        assert await _cli("report", "--json") == 0
        report = json.loads(capsys.readouterr().out)
        assert report["cases"] == 2
        assert report["by_result"] == {"open": 1, "withdrawn": 1}
        assert report["highest_stage"] == {"barnsley 1": 1, "york 2": 1}
        assert await _cli("report", "--from", "2000-01-01", "--to", "2100-12-31") == 0
        assert "2 case(s)." in capsys.readouterr().out
        assert await _cli("report", "--from", "2099-01-01") == 0
        assert "0 case(s)." in capsys.readouterr().out
        assert await _cli("report", "--protocol", "york", "--html",
                          str(tmp_path / "r.html")) == 0
        assert "<svg" in (tmp_path / "r.html").read_text()

        capsys.readouterr()
        assert await _cli("audit", "log", "--agency", "Example Primary School", "--csv") == 0
        rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
        assert sorted((r["case"], r["stage"], r["agency side"]) for r in rows) == [
            ("barnsley-2026-9102", "1", "raising"), ("york-2026-9101", "1", "raising"),
            ("york-2026-9101", "2", "raising")]
        assert await _cli("audit", "log", "--agency", "example primary school",
                          "--from", "2099-01-01") == 0
        assert "0 stage(s) in 0 case(s)" in capsys.readouterr().out
        assert await _cli("audit", "export", "no-such-case") == 1
        assert "no such case" in capsys.readouterr().err


async def _entered(handle: WorkflowHandle) -> bool:
    state = await handle.query(DisagreementWorkflow.state)
    return bool(state.stages_visited)


async def _closed_listed(client) -> bool:
    query = "WorkflowType = 'DisagreementWorkflow' AND ExecutionStatus != 'Running'"
    return (await client.count_workflows(query)).count >= 1
