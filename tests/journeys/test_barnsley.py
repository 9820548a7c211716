"""Barnsley (Barnsley Safeguarding Children Board resolving professional disagreements, June
2011): no timescales ("timely action is paramount"), so the system reminds; steps can be
bypassed with the agreement of the professionals and managers. A case bypassed to the Head of
Safeguarding (command line); and a case where immediate risk is reported midway on the web."""

from __future__ import annotations

from playwright.async_api import expect

from tests.journeys import web
from tests.journeys.harness import Did, Expected, Journey, journey
from tests.journeys.records import check_records


def _nudged(stage: str):
    return lambda s: any(d["stage"] == stage and d["nudges"] >= 1 for d in s["deadlines"])


@journey
async def test_barnsley_bypass_with_everyones_agreement(j: Journey) -> None:
    """No agreement between the workers; at Step 2 nothing happens, so the system reminds the
    managers; a bypass is agreed by each professional and manager involved, each with their
    own token (someone not involved is refused, and an agreement counts once), and only with
    the last agreement does the case go to the Head of Safeguarding, who resolves it with a
    general principle for the QA sub-group; written confirmation closes it."""
    cid = "barnsley-2026-7501"
    raised = await j.run(
        "raise", "--protocol", "barnsley", "--reference", "2026-7501",
        "--raising-name", "Wes Worker", "--raising-role", "Housing officer",
        "--raising-agency", "Berneslai Homes", "--raising-email", "wes@homes.example",
        "--receiving-name", "Rita Social", "--receiving-role", "Social worker",
        "--receiving-agency", "Barnsley Children's Social Care",
        "--receiving-email", "rita@csc.barnsley.example",
        "--holder", "2.raising=Liz Lead <liz@homes.example>",
        "--holder", "2.receiving=Colin Colleague <colin@csc.barnsley.example>",
        "--holder", "4.raising=Sue Service <sue@homes.example>",
        "--holder", "4.receiving=Hal Safeguarding <hal@csc.barnsley.example>",
        "--issue", "Eviction planned without a safeguarding check",
        "--child-name", "Test Child Barnsleyone")
    assert f"Raised case {cid}" in raised.out and "stage 1:" in raised.out, raised.out
    one = await j.run("outcome", cid, "--stage", "1", "--not-resolved", "--summary",
                      "Workers could not agree", "--contact-method", "phone",
                      "--by", "Wes Worker")
    assert "moved to stage 2" in one.out, one.out

    await j.until(cid, _nudged("2"), "reminded at step 2", timeout=30,
                  mail=("nudge", "colin@csc.barnsley.example"))
    bypass = ("bypass", cid, "--to-stage", "4", "--reason", "Eviction is on Monday")
    await j.refused(*bypass, "--by", "Hal Safeguarding",
                    says="Only the two practitioners or the stage 2 role holders (Wes Worker, "
                         "Rita Social, Liz Lead, Colin Colleague) may move the case past this "
                         "stage (Barnsley 3.3)")
    first = await j.run(*bypass, "--by", "Liz Lead")
    assert "moves once Wes Worker, Rita Social, Colin Colleague agree too" in first.out, first.out
    await j.refused(*bypass, "--by", "Liz Lead", says="already recorded")
    for name in ("Wes Worker", "Rita Social"):
        waiting = await j.run(*bypass, "--by", name)
        assert "is recorded" in waiting.out, waiting.out
    assert (await j.status(cid))["stage"] == "2"
    moved = await j.run(*bypass, "--by", "Colin Colleague")
    assert "moved to stage 4" in moved.out, moved.out
    await j.mail(cid, "stage_entered", "hal@csc.barnsley.example")

    four = await j.run("outcome", cid, "--stage", "4", "--resolved", "--summary",
                       "Eviction paused pending an assessment", "--learning",
                       "Housing to check with social care before evictions",
                       "--contact-method", "meeting", "--by", "Hal Safeguarding")
    assert "Still due" in four.out, four.out
    await j.mail(cid, "learning_referral", "qapm@barnsley.example")
    done = await j.run("confirm", cid, "--summary", "Reasons put in writing by both agencies",
                       "--by", "Hal Safeguarding")
    assert "the case is closed" in done.out, done.out
    await j.refused("form", cid, "--kind", "york_written_account", says="has no form")

    await check_records(j, Expected(
        case_id=cid, protocol="barnsley", raising_agency="Berneslai Homes",
        receiving_agency="Barnsley Children's Social Care", child="Test Child Barnsleyone",
        stages=["1", "2", "4"], status="closed", result="resolved",
        outcomes=[Did("1", False, "Wes Worker", "Workers could not agree", one.t0, one.t1,
                      "phone"),
                  Did("4", True, "Hal Safeguarding", "Eviction paused pending an assessment",
                      four.t0, four.t1, "meeting")],
        bypasses=[("2", "4")], nudged=True, confirmed=["written_confirmation"],
        names=["Wes Worker", "Liz Lead", "Hal Safeguarding"], raised=(raised.t0, raised.t1)))


@journey
async def test_barnsley_immediate_risk_reported_midway(j: Journey) -> None:
    """Raised on the web; the receiving worker's mailed link reports immediate risk, which
    alarms the Heads of Children's Social Care and of Safeguarding and moves the case past the
    workers to Step 2; the receiving worker hands their side's role over; a reminder goes out on
    its own; no agreement at Step 2; the Service Manager resolves it at Step 3 and confirms."""
    page = await j.page()
    cid, raised = await web.raise_on_web(
        j, page, protocol="barnsley", urgency="Standard",
        raiser=("Mia Midwife", "mia@nhs.barnsley.example", "Community midwife",
                "Barnsley Maternity"),
        fields={"reference": "2026-7502", "issue": "Pre-birth assessment declined",
                "receiving-name": "Tim Social", "receiving-agency": "Barnsley Front Door",
                "receiving-email": "tim@door.barnsley.example",
                "child-name": "Test Child Barnsleytwo"})
    assert cid == "barnsley-2026-7502"

    tim = await j.page()
    await tim.goto(await j.mailed_link(cid, "case_raised", "tim@door.barnsley.example"))
    await web.simple(tim, "Report immediate risk to the child", "Send the immediate risk alarm",
                     {"description": "Partner with a history of violence moved in"},
                     says="moved to stage 2")
    await j.mail(cid, "immediate_risk", "head.sg@barnsley.example")
    await j.mail(cid, "immediate_risk", "head.csc@barnsley.example")

    await page.reload()
    await expect(page.locator("#current-stage")).to_contain_text("Stage 2")
    await tim.reload()
    await web.hand_over(tim, "2.receiving", "Vic Colleague", "vic@door.barnsley.example")
    await j.until(cid, _nudged("2"), "reminded at step 2", timeout=30,
                  mail=("nudge", "vic@door.barnsley.example"))
    vic = await j.page()
    await vic.goto(await j.mailed_link(cid, "role_assigned", "vic@door.barnsley.example"))
    two = await web.outcome(vic, "Stage 2: Line manager / agency safeguarding lead", False,
                            "Front door keeps its decision", contact="E-mail",
                            expect_text="moved to stage 3")
    # Vic, the receiving side's manager, names the Service Manager.
    await vic.reload()
    await web.hand_over(vic, "3.receiving", "Stella Manager", "stella@door.barnsley.example")
    stella = await j.page()
    await stella.goto(await j.mailed_link(cid, "role_assigned", "stella@door.barnsley.example"))
    three = await web.outcome(stella, "Stage 3: Service manager", True,
                              "Pre-birth assessment started", contact="Meeting in person",
                              expect_text="Resolved at stage 3")
    await web.simple(stella, "Confirm the outcome in writing",
                     "Record the written confirmation",
                     {"summary": "Both agencies wrote down their reasons"}, says="closed")

    await check_records(j, Expected(
        case_id=cid, protocol="barnsley", raising_agency="Barnsley Maternity",
        receiving_agency="Barnsley Front Door", child="Test Child Barnsleytwo",
        immediate_risk=True, stages=["1", "2", "3"], status="closed", result="resolved",
        outcomes=[two, three], nudged=True, confirmed=["written_confirmation"],
        names=["Mia Midwife", "Tim Social", "Vic Colleague", "Stella Manager"],
        raised=(raised.t0, raised.t1)))
