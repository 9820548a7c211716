"""After a journey: every record a partnership reads, checked against what the journey did.

Each command runs as a user runs it (`resolutions audit …`, `resolutions report`,
`resolutions form`), must exit 0, and what it says is compared with the journey's own facts:
stages visited, when things happened, who acted, outcomes, deadlines that passed on their own.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import datetime
from html import unescape
from zoneinfo import ZoneInfo

from tests.journeys.harness import Did, Expected, Journey

LONDON = ZoneInfo("Europe/London")
# Swindon's Appendix 1 is the referral to the Partnership: its table covers Stages 1-4.
FORM_STAGES = {"swindon_appendix_1": {"1", "2", "3", "4"}}


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _within(moment: str | None, t0: datetime, t1: datetime, what: str) -> None:
    assert moment is not None, f"{what}: no time recorded"
    when = _at(moment)
    assert t0 <= when <= t1, f"{what} at {when}, outside the journey's window {t0}..{t1}"


def _days(t0: datetime, t1: datetime, fmt: str) -> set[str]:
    """The London dates (in ``fmt``) a window touches: a run across midnight stays right."""
    return {t0.astimezone(LONDON).strftime(fmt), t1.astimezone(LONDON).strftime(fmt)}


async def check_records(j: Journey, exp: Expected) -> None:
    """Export, replay, timeline, log, report and forms of one finished journey's case."""
    ended = datetime.now(tz=LONDON)
    window = (j.started, ended)
    cid = exp.case_id
    export = j.tmp / f"{cid}.json"
    html_timeline, html_report = j.tmp / "timeline.html", j.tmp / "report.html"

    # Every e-mail of the case went through the sink: subjects carry the reference, never a
    # name; each message is filed for one recipient with their own link.
    mail = [json.loads(line) for line in (j.site.data_dir / "mail" / "index.jsonl").read_text(
        encoding="utf-8").splitlines()]
    mine = [m for m in mail if m["case"] == cid]
    assert mine and all(cid.split("-", 1)[1] in m["subject"] for m in mine)
    assert not [m for m in mine if exp.child in m["subject"] or any(
        n in m["subject"] for n in exp.names)], "a name in an e-mail subject"

    ran = await j.check("audit", "export", cid, "--out", str(export))
    assert f"of {cid}" in ran.out and "encrypted" in ran.out, ran.out
    exported = export.read_text(encoding="utf-8")
    assert json.loads(exported)["events"], "an export holds the history's events"
    assert exp.child not in exported, "the export holds the child's name in clear text"
    for name in exp.names:
        assert name not in exported, f"the export holds {name!r} in clear text"

    # The rest reads the same history in several ways; they may run side by side.
    replay, text, story_ran, _, log_csv, log_text, report_json, report_text, *forms = (
        await asyncio.gather(
            j.check("audit", "replay", cid, str(export)),
            j.check("audit", "timeline", str(export)),
            j.check("audit", "timeline", cid, "--json"),
            j.check("audit", "timeline", cid, "--html", str(html_timeline)),
            j.check("audit", "log", "--agency", exp.raising_agency, "--protocol", exp.protocol,
                  "--csv"),
            j.check("audit", "log", "--agency", exp.receiving_agency, "--protocol", exp.protocol),
            j.check("report", "--protocol", exp.protocol, "--json", "--html", str(html_report)),
            j.check("report", "--protocol", exp.protocol),
            *(j.check("form", cid, "--kind", kind, "--out", str(j.tmp / f"{kind}.html"))
              for kind in exp.forms)))

    # Replay: today's code walks both the live history and the exported file.
    assert replay.out.count(": replayed OK") == 2, replay.out
    assert "2 replayed OK, 0 failed." in replay.out, replay.out

    story = story_ran.json()
    _check_story(story, exp, window)
    _check_text(text.out, story, exp)
    page = unescape(html_timeline.read_text(encoding="utf-8"))
    assert "<svg" in page and cid in page, "the timeline page has its time chart"
    for name in exp.names:
        assert name in page, f"{name} missing from the timeline page"
    for stage in story["stages"]:
        assert stage["name"] in page, stage["name"]

    _check_log(log_csv.out, story, exp)
    assert f"Professional disagreement log for {exp.receiving_agency}" in log_text.out
    assert cid in log_text.out, log_text.out

    _check_report(report_json.json(), report_text.out, story, exp)
    report_page = unescape(html_report.read_text(encoding="utf-8"))
    assert "<svg" in report_page and cid in report_page

    for kind in exp.forms:
        form = unescape((j.tmp / f"{kind}.html").read_text(encoding="utf-8"))
        assert exp.child in form, f"{kind}: the child is named on the partnership's form"
        assert exp.raising_agency in form and exp.receiving_agency in form, kind
        for did in exp.outcomes:
            if did.stage in FORM_STAGES.get(kind, {did.stage}):
                assert did.summary in form, f"{kind}: outcome '{did.summary}' missing"
        assert any(d in form for d in _days(exp.raised[0] if exp.raised else window[0],
                                             window[1], "%d/%m/%Y")
                   | _days(window[0], window[1], "%d %b %Y")), f"{kind}: no date of the case"
    assert not [f for f in forms if f.code]


def _check_story(story: dict, exp: Expected, window: tuple[datetime, datetime]) -> None:
    cid = exp.case_id
    assert story["workflow_id"] == cid and story["protocol"] == exp.protocol
    assert story["execution_status"] == "completed", story["execution_status"]
    assert story["status"] == exp.status, story["status"]
    assert story["urgency"] == exp.urgency
    assert story["raising_agency"] == exp.raising_agency
    assert story["receiving_agency"] == exp.receiving_agency
    failed = [c for c in story["checks"] if not c["ok"]]
    assert not failed, f"the record's cross-checks failed: {failed}"
    if exp.raised:
        _within(story["raised_at"], *exp.raised, "raised")

    # Stages visited, in order, each opened while the journey ran, one after another.
    assert [s["stage"] for s in story["stages"]] == exp.stages, story["stages"]
    opened = [_at(s["opened"]) for s in story["stages"]]
    assert opened == sorted(opened)
    for s in story["stages"]:
        _within(s["opened"], *window, f"stage {s['stage']} opened")
    for stage in exp.timer_moves:
        entry = next(s for s in story["stages"] if s["stage"] == stage)
        assert "deadline passed" in entry["entered"], entry["entered"]

    # Outcomes: stage, verdict, who, what, and when (inside the window the journey acted in).
    outcomes = [o for s in story["stages"] for o in s["outcomes"]]
    assert len(outcomes) == len(exp.outcomes), outcomes
    for got, did in zip(outcomes, exp.outcomes, strict=True):
        assert (got["stage"], got["resolved"], got["by"]["name"], got["summary"]) == (
            did.stage, did.resolved, did.by, did.summary), got
        _within(got["at"], did.t0, did.t1, f"outcome at stage {did.stage}")
        if did.contact_method:
            assert got["contact_method"] == did.contact_method, got

    # Breaches: each deadline the journey let pass is recorded as passed, with its moment.
    breaches = {b["key"]: b for b in story["breaches"]}
    for key in exp.breached:
        assert key in breaches, f"{key} should have passed; breaches: {sorted(breaches)}"
        _within(breaches[key]["passed_at"], *window, f"{key} passed")
        assert _at(breaches[key]["passed_at"]) >= _at(breaches[key]["due"]), breaches[key]
    for key in exp.met:
        assert key not in breaches, f"{key} was met, yet recorded as breached"
    assert [(b["from_stage"], b["to_stage"]) for b in story["bypasses"]] == exp.bypasses
    assert len(story["pauses"]) == exp.pauses
    assert all(p["resumed_at"] for p in story["pauses"])
    agreed = [e["details"]["deadline"] for e in story["timeline"]
              if e["kind"] in ("timescale_agreed", "timescale_extended")]
    assert agreed == exp.agreed, agreed
    assert len(story["extensions"]) == len(exp.agreed)
    kinds = [e["kind"] for e in story["timeline"]]
    assert "rejected" not in kinds, "a refused action left a mark on the case"
    if exp.nudged:
        assert "nudge" in kinds or "reminder" in kinds, kinds
    if exp.immediate_risk:
        assert "immediate_risk" in kinds, kinds
    confirmed = [e["details"].get("duty") for e in story["timeline"]
                 if e["kind"] == "confirmed_in_writing"]
    assert confirmed == exp.confirmed, confirmed
    assert "closed" in kinds and (exp.status != "withdrawn" or "withdrawn" in kinds), kinds
    actors = {e["actor"] for e in story["timeline"]}
    for name in exp.names:
        assert name in actors or name in json.dumps(story), f"{name} missing from the story"


def _check_text(text: str, story: dict, exp: Expected) -> None:
    assert text.startswith(f"Case {exp.case_id}: "), text[:200]
    assert f"Status: {exp.status} (completed)" in text, text[:400]
    raised = _at(story["raised_at"]).astimezone(LONDON).strftime("%a %d %b %Y")
    assert f"Raised {raised}" in text
    for stage in story["stages"]:
        assert stage["name"] in text, stage["name"]
    for did in exp.outcomes:
        assert did.by in text, did.by
    if exp.breached:
        assert "BREACHED" in text and "Breaches (a deadline passed before the outcome)" in text


def _check_log(log: str, story: dict, exp: Expected) -> None:
    """Swindon s3 para 8: per stage, the start date, who it was raised with, the outcome."""
    rows = [r for r in csv.DictReader(io.StringIO(log)) if r["case"] == exp.case_id]
    assert [r["stage"] for r in rows] == exp.stages, rows
    assert {r["agency side"] for r in rows} == {"raising"}
    for r, stage in zip(rows, story["stages"], strict=True):
        assert r["start date"] == _at(stage["opened"]).astimezone(LONDON).strftime("%d/%m/%Y")
    for did in exp.outcomes:
        row = next(r for r in rows if r["stage"] == did.stage)
        verdict = "Resolved" if did.resolved else "Not resolved"
        assert row["outcome"].startswith(f"{verdict} ("), row
        assert did.by in row["outcome"] and did.summary in row["outcome"], row


def _check_report(report: dict, text: str, story: dict, exp: Expected) -> None:
    line = next(x for x in report["lines"] if x["workflow_id"] == exp.case_id)
    assert line["result"] == exp.result, line
    assert line["highest_stage"] == exp.stages[-1], line
    assert line["urgency"] == exp.urgency
    assert line["raising_agency"] == exp.raising_agency
    assert line["breaches"] == len(story["breaches"]) >= len(exp.breached), line
    assert line["bypasses"] == len(exp.bypasses) and line["pauses"] == exp.pauses, line
    if exp.result == "resolved":
        resolved = next(e["at"] for e in story["timeline"] if e["kind"] == "resolved")
        assert line["resolved_at"] == resolved.replace("+00:00", "Z") or _at(
            line["resolved_at"]) == _at(resolved)
        raised, done = (_at(x).astimezone(LONDON).date() for x in (line["raised_at"], resolved))
        assert line["calendar_days"] == (done - raised).days
    else:
        assert line["resolved_at"] is None and line["working_days"] is None
    assert report["by_result"].get(exp.result, 0) >= 1
    assert sum(report["by_result"].values()) == report["cases"]
    for key in exp.breached:
        stage = key.split("/", 1)[0]
        assert any(label.split(" ", 1)[0] == stage for label in report["breaches_by_stage"]), (
            key, report["breaches_by_stage"])
    mine = [b for b in report["bypasses"] if b["workflow_id"] == exp.case_id]
    assert [(b["from_stage"], b["to_stage"]) for b in mine] == exp.bypasses
    assert exp.case_id in text and exp.result in text
    assert f"({exp.protocol} protocol)" in text


__all__ = ["Did", "Expected", "check_records"]
