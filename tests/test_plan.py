"""`resolutions plan`: each protocol's full-time timetable against timetables worked out by hand.

Every expected instant below was counted on paper from the protocol documents and a calendar
(England & Wales bank holidays; BST from Sun 29 Mar 2026 to Sun 25 Oct 2026; cut-off 17:00):

- Easter 2026: Good Friday 3 Apr, Easter Monday 6 Apr.  Early May: Mon 4 May.  Spring: Mon 25 May.
- Christmas 2026: Fri 25 Dec, Mon 28 Dec (Boxing Day observed); New Year: Fri 1 Jan 2027.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from starter.cli import main

RESOLVED = "If resolved at this stage: "


@pytest.fixture(autouse=True)
def default_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Default calendar settings: no resolutions.toml in the working directory, no env vars."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("RESOLUTIONS_"):
            monkeypatch.delenv(name)


def plan_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    code = main(["plan", *args, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert err == ""
    return json.loads(out)


def by_stage(timetable: dict) -> dict[str, dict]:
    return {s["stage"]: s for s in timetable["stages"]}


def dues(stage: dict) -> list[str | None]:
    """The due instants of the stage's own deadlines, in file order."""
    return [d["due"] for d in stage["deadlines"] if not d["what"].startswith(RESOLVED)]


def resolution_dues(stage: dict) -> list[str | None]:
    """The due instants of the duties that fall due if the stage resolves at its end."""
    return [d["due"] for d in stage["deadlines"] if d["what"].startswith(RESOLVED)]


def check(timetable: dict, expected: dict[str, dict]) -> None:
    stages = by_stage(timetable)
    assert list(stages) == list(expected)
    for stage_id, want in expected.items():
        got = stages[stage_id]
        if "starts" in want:
            assert got["starts"] == want["starts"], f"stage {stage_id} starts"
        assert dues(got) == want["dues"], f"stage {stage_id} deadlines"
        if "resolved" in want:
            assert resolution_dues(got) == want["resolved"], f"stage {stage_id} on resolution"


# -- Swindon across Easter 2026 -------------------------------------------------------------------
def test_swindon_across_easter_2026(capsys: pytest.CaptureFixture[str]) -> None:
    # Concern arises Tue 24 Mar 2026 14:00 (GMT).
    #  Stage 1: 2 WD of arising: Wed 25 (1), Thu 26 (2).
    #  Stage 2: 5 WD of Thu 26: Fri 27, Mon 30 (BST now), Tue 31, Wed 1 Apr, Thu 2 Apr.
    #  Stage 3: 5 WD of Thu 2 Apr: (Good Fri, Easter Mon) Tue 7, Wed 8, Thu 9, Fri 10, Mon 13.
    #  Stage 4: 5 WD of Mon 13: Tue 14 ... Mon 20 Apr = "Day 17" counted from the concern.
    #  Stages 1-4 also carry their contact deadline ("When", met by a recorded contact) on
    #  the same date, and stage 4 Day 17 (Appendix 1 note): both dates are shown.
    #  Stage 5: referral within 5 WD of Mon 20: Tue 21, Wed 22, Thu 23, Fri 24, Mon 27 Apr.
    t = plan_json(capsys, "--protocol", "swindon", "--arose", "2026-03-24T14:00")
    assert t["protocol"] == "swindon"
    assert t["arose"] == "2026-03-24T14:00:00+00:00"
    check(t, {
        "1": {"starts": "2026-03-24T14:00:00+00:00", "dues": [
            "2026-03-26T17:00:00+00:00",
            "2026-03-26T17:00:00+00:00"]},
        "2": {"starts": "2026-03-26T17:00:00+00:00", "dues": [
            "2026-04-02T17:00:00+01:00",
            "2026-04-02T17:00:00+01:00"]},
        "3": {"starts": "2026-04-02T17:00:00+01:00", "dues": [
            "2026-04-13T17:00:00+01:00",
            "2026-04-13T17:00:00+01:00"]},
        "4": {"starts": "2026-04-13T17:00:00+01:00", "dues": [
            "2026-04-20T17:00:00+01:00",
            "2026-04-20T17:00:00+01:00",
            "2026-04-20T17:00:00+01:00"]},
        "5": {"starts": "2026-04-20T17:00:00+01:00", "dues": ["2026-04-27T17:00:00+01:00"]},
        "panel": {"dues": [None]},
    })
    assert t["overall"] == []
    stages = by_stage(t)
    assert stages["1"]["deadlines"][0]["on_expiry"] == "escalate"
    assert stages["1"]["deadlines"][0]["timescale"] == "2 working days"
    assert stages["5"]["deadlines"][0]["source"].startswith("Swindon")


def test_swindon_stage_5_uses_its_full_time_before_the_panel(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The timetable is "if every stage used its full time". Stage 5 allows 5 working days for
    the referral after Day 17 (Mon 20 Apr 2026 here), so its full time runs to Mon 27 Apr; the
    Resolution Panel ("if there is still no resolution") cannot start before that, and learning
    from a stage-5 resolution at its end is due one month later, Wed 27 May 2026."""
    t = plan_json(capsys, "--protocol", "swindon", "--arose", "2026-03-24T14:00")
    stages = by_stage(t)
    assert stages["5"]["ends"] == "2026-04-27T17:00:00+01:00"
    assert stages["panel"]["starts"] == "2026-04-27T17:00:00+01:00"
    # Learning one month later; the agreed action is fed back at once, with no due instant
    # (Swindon s4 Stage 5: "fed back immediately").
    assert resolution_dues(stages["5"]) == ["2026-05-27T17:00:00+01:00", None]


def test_york_stage_4_full_time_is_the_chairs_15_working_days(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Same defect as above, on the last stage: stage 4 has a fixed time (the Chair's 15 working
    days of Tue 29 Dec 2026 = Wed 20 Jan 2027), so with full time used it ends then, not when it
    starts."""
    t = plan_json(capsys, "--protocol", "york", "--arose", "2026-12-18T15:00")
    assert by_stage(t)["4"]["ends"] == "2027-01-20T17:00:00+00:00"


# -- York across Christmas 2026 -------------------------------------------------------------------
YORK_CHRISTMAS_2026 = {
    # Concern arises Fri 18 Dec 2026 15:00. Stage 1 "as soon as possible": no fixed time.
    "1": {"starts": "2026-12-18T15:00:00+00:00", "dues": [None], "resolved": []},
    # Stage 2: line managers the same working day (Fri 18 Dec 17:00); resolution within 5 WD:
    # Mon 21, Tue 22, Wed 23, Thu 24, (Fri 25, Mon 28 holidays) Tue 29 Dec. Written confirmation
    # within 2 WD of resolving at Tue 29: Wed 30, Thu 31 Dec.
    "2": {
        "starts": "2026-12-18T15:00:00+00:00",
        "dues": ["2026-12-18T17:00:00+00:00", "2026-12-29T17:00:00+00:00"],
        "resolved": ["2026-12-31T17:00:00+00:00"],
    },
    # Stage 3 "as soon as possible" from Tue 29 Dec; confirmation within 2 WD; learning referral
    # has no timescale.
    "3": {
        "starts": "2026-12-29T17:00:00+00:00",
        "dues": [None],
        "resolved": ["2026-12-31T17:00:00+00:00", None],
    },
    # Stage 4: the Chair within 15 WD of Tue 29 Dec: Wed 30 (1), Thu 31 (2), (Fri 1 Jan holiday)
    # Mon 4 (3) ... Fri 8 (7), Mon 11 (8) ... Fri 15 (12), Mon 18 (13), Tue 19 (14), Wed 20 (15).
    "4": {"starts": "2026-12-29T17:00:00+00:00", "dues": ["2027-01-20T17:00:00+00:00"]},
}


def test_york_across_christmas_2026(capsys: pytest.CaptureFixture[str]) -> None:
    t = plan_json(capsys, "--protocol", "york", "--arose", "2026-12-18T15:00")
    assert t["arose"] == "2026-12-18T15:00:00+00:00"
    check(t, YORK_CHRISTMAS_2026)
    stage2 = by_stage(t)["2"]
    assert stage2["ends"] == "2026-12-29T17:00:00+00:00"
    escalating = [d for d in stage2["deadlines"] if d["on_expiry"] == "escalate"]
    assert [d["due"] for d in escalating] == ["2026-12-29T17:00:00+00:00"]
    assert t["overall"] == []


def test_york_after_cutoff_across_clocks_going_back(capsys: pytest.CaptureFixture[str]) -> None:
    # Fri 23 Oct 2026 17:30 BST: after the cut-off, so it counts from Mon 26 Oct (GMT again).
    #  Stage 2: same working day = Mon 26 Oct; + 5 WD = Mon 2 Nov; confirmation Wed 4 Nov.
    #  Stage 4: 15 WD of Mon 2 Nov = Mon 23 Nov.
    t = plan_json(capsys, "--protocol", "york", "--arose", "2026-10-23T17:30")
    assert t["arose"] == "2026-10-23T17:30:00+01:00"
    check(t, {
        "1": {"dues": [None]},
        "2": {"dues": ["2026-10-26T17:00:00+00:00", "2026-11-02T17:00:00+00:00"],
              "resolved": ["2026-11-04T17:00:00+00:00"]},
        "3": {"starts": "2026-11-02T17:00:00+00:00", "dues": [None],
              "resolved": ["2026-11-04T17:00:00+00:00", None]},
        "4": {"starts": "2026-11-02T17:00:00+00:00", "dues": ["2026-11-23T17:00:00+00:00"]},
    })


def test_york_urgent_case_starts_at_stage_3(capsys: pytest.CaptureFixture[str]) -> None:
    # Urgent: begin at Stage three. Arose Tue 14 Jul 2026 10:30 UTC = 11:30 BST.
    #  Stage 3: confirmation within 2 WD: Wed 15, Thu 16 Jul.
    #  Stage 4: 15 WD of Tue 14 Jul: Wed 15 ... Fri 31 Jul (13), Mon 3 Aug (14), Tue 4 Aug (15).
    t = plan_json(capsys, "--protocol", "york", "--arose", "2026-07-14T10:30:00Z",
                  "--start-stage", "3")
    check(t, {
        "3": {"starts": "2026-07-14T10:30:00+00:00", "dues": [None],
              "resolved": ["2026-07-16T17:00:00+01:00", None]},
        "4": {"dues": ["2026-08-04T17:00:00+01:00"]},
    })


# -- Leeds: bank holidays in May, and the one-month overall limit ----------------------------------
def test_leeds_ten_working_days_per_stage_and_one_month_overall(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Arose Mon 27 Apr 2026 10:00 BST; until agreed, each stage has its 10 working-day maximum.
    #  1:  Tue 28, Wed 29, Thu 30, Fri 1 May, (Mon 4 May hol) Tue 5 ... Fri 8, Mon 11, Tue 12 May.
    #  2:  Wed 13 ... Fri 15, Mon 18 ... Fri 22, (Mon 25 May hol) Tue 26, Wed 27 May.
    #  3a: Thu 28, Fri 29, Mon 1 Jun ... Fri 5, Mon 8, Tue 9, Wed 10 Jun.
    #  3b: raise at Director level within a further 2 WD: Thu 11, Fri 12 Jun; resolve 10 WD:
    #      Thu 11 ... Wed 24 Jun.
    #  Overall: one month from 27 Apr = Wed 27 May 2026 17:00, then stage 4.
    t = plan_json(capsys, "--protocol", "leeds", "--arose", "2026-04-27T10:00")
    check(t, {
        "1": {"starts": "2026-04-27T10:00:00+01:00", "dues": ["2026-05-12T17:00:00+01:00"]},
        "2": {"starts": "2026-05-12T17:00:00+01:00", "dues": ["2026-05-27T17:00:00+01:00"]},
        "3a": {"starts": "2026-05-27T17:00:00+01:00", "dues": ["2026-06-10T17:00:00+01:00"]},
        "3b": {"starts": "2026-06-10T17:00:00+01:00",
               "dues": ["2026-06-12T17:00:00+01:00", "2026-06-24T17:00:00+01:00"]},
        "4": {"starts": "2026-06-24T17:00:00+01:00", "dues": [None]},
    })
    (overall,) = t["overall"]
    assert overall["due"] == "2026-05-27T17:00:00+01:00"
    # "Where possible" (Leeds s3 Step 2 para 2): a breach on the record, not a move to stage 4.
    assert overall["on_expiry"] == \
        "recorded as a breach; the parties are told; the case carries on"
    assert overall["source"].startswith("Leeds")


# -- Dudley and Barnsley: nothing fixed ---------------------------------------------------------
def test_dudley_has_only_agreed_timescales(capsys: pytest.CaptureFixture[str]) -> None:
    # Timescales agreed per case (immediately / 24 hours / a date): no fixed instant anywhere,
    # so every stage starts when the concern arose (Wed 16 Sep 2026 10:15 BST).
    t = plan_json(capsys, "--protocol", "dudley", "--arose", "2026-09-16T10:15")
    start = "2026-09-16T10:15:00+01:00"
    check(t, {
        "1": {"starts": start, "dues": [None], "resolved": [None]},
        "2": {"starts": start, "dues": [None], "resolved": [None]},
        "3a": {"starts": start, "dues": [None]},
        "3b": {"starts": start, "dues": [None]},
        "chair": {"starts": start, "dues": [None]},
    })
    assert all("agreed per case" in d["timescale"] for d in t["stages"][0]["deadlines"][:1])
    assert t["overall"] == []


def test_barnsley_has_no_timescales(capsys: pytest.CaptureFixture[str]) -> None:
    # "Timely action is paramount": no timescales. Arose Sat 7 Nov 2026 09:00 (GMT).
    t = plan_json(capsys, "--protocol", "barnsley", "--arose", "2026-11-07T09:00")
    start = "2026-11-07T09:00:00+00:00"
    check(t, {sid: {"starts": start, "dues": [None]} for sid in ("1", "2", "3", "4")})
    assert all(d["timescale"] == "no timescale" for s in t["stages"] for d in s["deadlines"])
    assert t["overall"] == []


# -- the console script, for real ---------------------------------------------------------------
def _console_script() -> str:
    candidate = Path(sys.executable).with_name("resolutions")
    if candidate.is_file():
        return str(candidate)
    found = shutil.which("resolutions")
    assert found, "the resolutions console script must be installed (pip install -e .)"
    return found


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESOLUTIONS_")}
    return subprocess.run(
        [_console_script(), *args], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=120,
    )


def test_console_script_swindon_across_christmas_2026(tmp_path: Path) -> None:
    # Arose Mon 14 Dec 2026 09:00 UTC (= London).
    #  1: Tue 15, Wed 16.  2: Thu 17, Fri 18, Mon 21, Tue 22, Wed 23 Dec.
    #  3: Thu 24, (25, 28 holidays) Tue 29, Wed 30, Thu 31, (1 Jan holiday) Mon 4 Jan 2027.
    #  4: Tue 5 ... Fri 8, Mon 11 Jan (Day 17).  5: Tue 12 ... Fri 15, Mon 18 Jan.
    proc = _run(tmp_path, "plan", "--protocol", "swindon", "--arose", "2026-12-14T09:00:00Z",
                "--json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    t = json.loads(proc.stdout)
    assert t["arose"] == "2026-12-14T09:00:00+00:00"
    check(t, {
        "1": {"dues": ["2026-12-16T17:00:00+00:00", "2026-12-16T17:00:00+00:00"]},
        "2": {"dues": ["2026-12-23T17:00:00+00:00", "2026-12-23T17:00:00+00:00"]},
        "3": {"dues": ["2027-01-04T17:00:00+00:00", "2027-01-04T17:00:00+00:00"]},
        "4": {"dues": [
            "2027-01-11T17:00:00+00:00",
            "2027-01-11T17:00:00+00:00",
            "2027-01-11T17:00:00+00:00"]},
        "5": {"dues": ["2027-01-18T17:00:00+00:00"]},
        "panel": {"dues": [None]},
    })


def test_console_script_unknown_protocol(tmp_path: Path) -> None:
    proc = _run(tmp_path, "plan", "--protocol", "glasgow", "--arose", "2026-12-14T09:00")
    assert proc.returncode != 0
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert "unknown protocol 'glasgow'" in lines[0]
    assert "barnsley, dudley, leeds, swindon, york" in lines[0]


def test_a_reader_that_goes_away_is_not_an_error(tmp_path: Path) -> None:
    """`resolutions plan … | head -1`: the pipe closes before the command writes; it exits 0
    and says nothing (it used to print "cannot connect: Broken pipe")."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESOLUTIONS_")}
    proc = subprocess.Popen([_console_script(), "plan", "--protocol", "leeds"], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader has gone before anything was written
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 0
    assert err == b""


# -- readable output ----------------------------------------------------------------------------
def test_readable_output_shows_london_times(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--protocol", "york", "--arose", "2026-12-18T15:00"]) == 0
    out = capsys.readouterr().out
    assert "City of York Safeguarding Children Partnership" in out
    assert "Concern arose: Fri 18 Dec 2026 15:00 (London time)" in out
    stage_3 = (
        "Stage 3: Senior manager to senior manager conversation  (starts Tue 29 Dec 2026 17:00)"
    )
    assert stage_3 in out
    assert "due: Fri 18 Dec 2026 17:00" in out
    assert "due: Tue 29 Dec 2026 17:00" in out
    assert "due: Thu 31 Dec 2026 17:00" in out
    assert "due: Wed 20 Jan 2027 17:00" in out
    assert "no fixed time (as soon as possible)" in out
    assert "source: York s5 Stage 4 para 2" in out


def test_readable_output_converts_utc_input_to_london_summer_time(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["plan", "--protocol", "york", "--arose", "2026-07-14T10:30:00Z",
                 "--start-stage", "3"])
    assert code == 0
    out = capsys.readouterr().out
    assert "Concern arose: Tue 14 Jul 2026 11:30 (London time)" in out
    assert "due: Thu 16 Jul 2026 17:00" in out  # 16:00 UTC
    assert "due: Tue 04 Aug 2026 17:00" in out
    assert "Stage 1:" not in out and "Stage 2:" not in out


def test_readable_output_shows_overall_limit(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--protocol", "leeds", "--arose", "2026-04-27T10:00"]) == 0
    out = capsys.readouterr().out
    assert "Overall:" in out
    assert ("by Wed 27 May 2026 17:00 (1 month); on expiry: recorded as a breach; the parties "
            "are told; the case carries on") in out


# -- errors: non-zero exit and one clear line on stderr ------------------------------------------
@pytest.mark.parametrize(
    "args, expected",
    [
        (["--protocol", "glasgow", "--arose", "2026-09-16T10:15"],
         "unknown protocol 'glasgow'; choose one of: barnsley, dudley, leeds, swindon, york"),
        (["--protocol", "york", "--arose", "next tuesday"],
         "--arose 'next tuesday' is not an ISO date-time"),
        (["--protocol", "york", "--arose", "2026-02-30T10:00"],
         "--arose '2026-02-30T10:00' is not an ISO date-time"),
        (["--protocol", "york", "--arose", "2026-09-16T10:15", "--start-stage", "5"],
         "--start-stage '5' is not a stage of york: 1, 2, 3, 4"),
        (["--protocol", "leeds", "--arose", "2026-09-16T10:15", "--start-stage", "3"],
         "--start-stage '3' is not a stage of leeds: 1, 2, 3a, 3b, 4"),
    ],
    ids=["unknown-protocol", "bad-arose", "impossible-date", "unknown-stage", "leeds-stage-3"],
)
def test_plan_errors(capsys: pytest.CaptureFixture[str], args: list[str], expected: str) -> None:
    code = main(["plan", *args, "--json"])
    out, err = capsys.readouterr()
    assert code != 0
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert expected in lines[0]
    assert "Traceback" not in err


# -- resolutions protocols ------------------------------------------------------------------------
def test_protocols_command_lists_the_five(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["protocols"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert set(lines) == {"barnsley", "dudley", "leeds", "swindon", "york"}
    assert lines["york"].endswith("stages 1 → 2 → 3 → 4")
    assert lines["dudley"].endswith("stages 1 → 2 → 3a → 3b → chair")
    assert lines["swindon"].endswith("stages 1 → 2 → 3 → 4 → 5 → panel")
    assert lines["leeds"].endswith("stages 1 → 2 → 3a → 3b → 4")
    assert lines["barnsley"].endswith("stages 1 → 2 → 3 → 4")


def test_protocols_show(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["protocols", "show", "swindon"]) == 0
    out = capsys.readouterr().out
    assert "Swindon Safeguarding Partnership (SSP)" in out
    assert "Precondition (child_protection_conference_decision)" in out
    assert "5 working days from previous stage completion; on expiry escalate" in out
    assert "2 working days from concern arose; on expiry escalate" in out
