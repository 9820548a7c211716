"""Swindon 002 s4: "Any action agreed should be fed back immediately to the relevant
professionals" (Stages 3 and 4, What), and after Stage 5 "to the Heads of Service and Second
tier management staff involved with details of the agreements reached". An outcome resolved at
those stages sends, at once, the action agreed to those people (protocol data: each stage's
`feedback_agreed_action` duty, with its source).

The cases run on the time-skipping server with the real worker and a real SMTP server; the
resolving outcome is recorded through the `resolutions` command. London times, March 2030.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import at, make_worker, skip_to
from tests.mail_cases import (
    HEAD_A,
    HEAD_B,
    LINE_MANAGER_A,
    LINE_MANAGER_B,
    RAISING,
    RECEIVING,
    addresses,
    outcome,
    part,
    raise_case,
    run_cli,
)
from workflows.disagreement import DisagreementWorkflow

HOLDERS = {"1.receiving": LINE_MANAGER_A, "3.raising": LINE_MANAGER_A,
           "3.receiving": LINE_MANAGER_B, "4.raising": HEAD_A, "4.receiving": HEAD_B}
AGREED = "Joint visit on Friday; the plan stays open"


def emails(*people) -> list[str]:
    return sorted(p.email for p in people)


async def test_action_agreed_is_fed_back_at_once_to_whom_swindon_names(
        skipping_env, settings, mailbox, tmp_path: Path) -> None:
    env, (box, _) = skipping_env, mailbox
    async with make_worker(env.client, settings):
        at_3 = await raise_case(env, "swindon", "2030-03-04 09:00", reference="2030-0601",
                                holders=HOLDERS)
        at_5 = await raise_case(env, "swindon", "2030-03-04 09:00", reference="2030-0602",
                                holders=HOLDERS)
        for case in (at_3, at_5):
            await outcome(env, case, "2030-03-04 10:00", "1", LINE_MANAGER_A, "Still apart.")
            await outcome(env, case, "2030-03-04 10:10", "2", RAISING, "Still apart.")
        await skip_to(env, at("2030-03-04 10:20"))
        resolved_3 = await run_cli(env, "record-outcome", at_3.id, "--stage", "3", "--resolved",
                                   "--summary", "Agreed", "--agreed-actions", AGREED,
                                   "--by", LINE_MANAGER_A.name, tmp_path=tmp_path)
        await outcome(env, at_5, "2030-03-04 10:20", "3", LINE_MANAGER_A, "Still apart.")
        await outcome(env, at_5, "2030-03-04 10:30", "4", HEAD_A, "Still apart.")
        await skip_to(env, at("2030-03-04 10:40"))
        resolved_5 = await run_cli(env, "record-outcome", at_5.id, "--stage", "5", "--resolved",
                                   "--summary", "Agreed", "--agreed-actions", AGREED,
                                   "--by", HEAD_A.name, tmp_path=tmp_path)
        await skip_to(env, at("2030-03-04 10:45"))
        timeline_5 = await at_5.query(DisagreementWorkflow.timeline)
    assert resolved_3[0] == 0, resolved_3[2]
    assert resolved_5[0] == 0, resolved_5[2]
    fed_back = {m["Subject"].split(":")[0]: m for m in box.for_event("feedback")}
    # Stage 3 (What): "the relevant professionals", the two practitioners.
    three = fed_back["[SSP] Case 2030-0601"]
    assert addresses(three, "To") == emails(RAISING, RECEIVING)
    assert f"Action agreed: {AGREED}" in part(three, "text/plain")
    assert "Swindon s4 Stage 3 (What)" in part(three, "text/plain")
    # After Stage 5: "the Heads of Service and Second tier management staff involved".
    five = fed_back["[SSP] Case 2030-0602"]
    assert addresses(five, "To") == emails(HEAD_A, HEAD_B, LINE_MANAGER_A, LINE_MANAGER_B)
    assert f"Action agreed: {AGREED}" in part(five, "text/plain")
    [event] = [e for e in timeline_5 if e.kind == "feedback"]
    assert event.details["source"] == "Swindon s4 Stage 5 (What, the row after it)"
    assert event.summary.endswith(f": {AGREED}")
