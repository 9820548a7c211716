"""Dudley (Dudley Safeguarding Children Board escalation process): no fixed timescales, so
each stage's is agreed. A school's case whose 24 hours run out, refused a halt for sickness,
extended and resolved (command line); and a case withdrawn once the managers are named on the
web."""

from __future__ import annotations

import asyncio

from playwright.async_api import expect

from tests.journeys import web
from tests.journeys.harness import Did, Expected, Journey, journey
from tests.journeys.records import check_records


@journey
async def test_dudley_school_case_agreed_halted_extended_resolved(j: Journey) -> None:
    """A school raises with its Head teacher named for stages 2-3b (Dudley's school route);
    the practitioners agree 24 hours and let them pass, so the case moves to Stage 2 on its
    own; the managers agree five working days, are refused a pause for sickness (Dudley has
    no halting), extend with reasons, resolve with a policy gap for the DSCB Chair, and
    confirm both written duties."""
    cid = "dudley-2026-7201"
    raised = await j.run(
        "raise", "--protocol", "dudley", "--reference", "2026-7201",
        "--raising-name", "Dee Practitioner", "--raising-role", "Learning mentor",
        "--raising-agency", "Castle High School", "--raising-email", "dee@castle.example",
        "--receiving-name", "Ned Worker", "--receiving-role", "Family support worker",
        "--receiving-agency", "Dudley Early Help", "--receiving-email", "ned@earlyhelp.example",
        # Dudley s4 Stage 2 NOTE: "If one of the agencies is a school, the Head
        # teacher/Principal will deal with this stage": the school is the raising side.
        "--raising-kind", "school",
        "--holder", "2.raising=Hattie Head <hattie@castle.example>",
        "--holder", "2.receiving=Max Manager <max@earlyhelp.example>",
        "--issue", "Early help closed without a plan", "--child-name", "Test Child Dudleyone")
    assert f"Raised case {cid}" in raised.out and "to be agreed" in raised.out, raised.out
    state = await j.status(cid)
    assert state["deadlines"][0]["status"] == "awaiting_agreement", state["deadlines"]

    await j.refused("bypass", cid, "--to-stage", "3a", "--reason", "Quicker", "--urgent",
                    "--by", "Dee Practitioner", says="does not allow stages to be bypassed")
    await j.run("agree-timescale", cid, "--stage", "1", "--hours", "24",
                "--by", "Ned Worker", "--agreed-by", "Dee Practitioner", "--agreed-by",
                "Ned Worker")
    # The 24 hours pass with no outcome: the case goes to the managers by itself.
    state = await j.at_stage(cid, "2", told="hattie@castle.example", timeout=40)
    assert [d["status"] for d in state["deadlines"] if d["key"] == "1/resolve"] == ["breached"]
    assert state["deadlines"][-1]["status"] == "awaiting_agreement"
    # Only the school's side has its Head teacher; Early Help keeps its line manager.
    assert ("Record the outcome of stage 2: Head teacher / Principal (Hattie Head) with "
            "Line/team manager or named lead for safeguarding (receiving agency) (Max Manager)"
            ) in state["expected_next"], state["expected_next"]
    entered = await j.mail(cid, "stage_entered", "max@earlyhelp.example")
    shown = (await j.run("mail", entered["file_name"])).out
    assert "Head teacher / Principal (raising agency): Hattie Head" in shown, shown
    assert "Head teacher / Principal (receiving agency)" not in shown, shown

    await j.run("agree-timescale", cid, "--stage", "2", "--working-days", "5",
                "--by", "Max Manager")
    # Dudley's document makes no provision for halting: the Head teacher's sickness is a
    # reason to extend the agreed timescale, not to stop the clock.
    await j.refused("pause", cid, "--reason", "Head teacher off sick", "--by", "Hattie Head",
                    says="does not provide for halting a case, so its timescales keep running")
    await j.refused("agree-timescale", cid, "--stage", "2", "--working-days", "8",
                    "--by", "Max Manager", says="extension: say why")
    await j.run("agree-timescale", cid, "--stage", "2", "--working-days", "8",
                "--reason", "Waiting for the school nurse's report", "--agreed-by",
                "Hattie Head", "--agreed-by", "Max Manager", "--by", "Max Manager")
    two = await j.run("outcome", cid, "--stage", "2", "--resolved",
                      "--summary", "Early help plan reinstated for twelve weeks",
                      "--learning", "School referrals need a named early help lead",
                      "--contact-method", "meeting", "--by", "Max Manager")
    assert "Still due" in two.out, two.out
    # The written duties are confirmed at once: left alone, an undated duty is nudged a few
    # times on this compressed calendar and then lapses, closing the case.
    await asyncio.gather(
        j.refused("confirm", cid, "--duty", "debrief", "--by", "Max Manager",
                  says="'debrief' is not awaited"),
        j.run("confirm", cid, "--duty", "written_outcome", "--summary",
              "Letter to Castle High School", "--by", "Max Manager"))
    done = await j.run("confirm", cid, "--duty", "written_confirmation", "--summary",
                       "Both agencies signed the plan", "--by", "Hattie Head")
    assert "the case is closed" in done.out, done.out
    # The policy gap goes to the DSCB Chair, copied to the raiser.
    await j.mail(cid, "learning_referral", "chair@dscb.example")
    await j.refused("form", cid, "--kind", "swindon_appendix_1", says="has no form")

    await check_records(j, Expected(
        case_id=cid, protocol="dudley", raising_agency="Castle High School",
        receiving_agency="Dudley Early Help", child="Test Child Dudleyone",
        stages=["1", "2"], status="closed", result="resolved",
        outcomes=[Did("2", True, "Max Manager", "Early help plan reinstated for twelve weeks",
                      two.t0, two.t1, "meeting")],
        breached={"1/resolve"}, met={"2/resolve"}, timer_moves=["2"], pauses=0,
        agreed=["1/resolve", "2/resolve", "2/resolve"],
        confirmed=["written_outcome", "written_confirmation"],
        names=["Ned Worker", "Hattie Head", "Max Manager"], raised=(raised.t0, raised.t1)))


@journey
async def test_dudley_withdrawn_after_the_managers_are_named(j: Journey) -> None:
    """Raised on the web; the receiving practitioner's mailed link agrees two working days
    and records no agreement; the raiser hands the receiving manager's role over; nobody
    agrees Stage 2's timescale, so the system nudges; the manager's mailed link agrees five
    working days, and the raiser withdraws the disagreement once the referral is reopened."""
    page = await j.page()
    cid, raised = await web.raise_on_web(
        j, page, protocol="dudley", urgency="Standard",
        raiser=("Pat Nurse", "pat@health.dudley.example", "School nurse", "Dudley Health"),
        fields={"reference": "2026-7202", "issue": "Referral not accepted by the hub",
                "receiving-name": "Rhea Hub", "receiving-agency": "Dudley MASH",
                "receiving-email": "rhea@mash.dudley.example",
                "child-name": "Test Child Dudleytwo"})
    assert cid == "dudley-2026-7202"

    rhea = await j.page()
    await rhea.goto(await j.mailed_link(cid, "case_raised", "rhea@mash.dudley.example"))
    await expect(rhea.locator("#link-holder")).to_contain_text("Rhea Hub")
    await web.agree(rhea, "A number of working days", "3")
    one = await web.outcome(rhea, "Stage 1: Practitioners", False,
                            "The hub keeps its decision", contact="Telephone",
                            expect_text="moved to stage 2")

    # The receiving practitioner names their own manager (the raiser may not); nobody agrees
    # Stage 2's timescale, so the system reminds them on its own.
    await rhea.reload()
    await web.hand_over(rhea, "2.receiving", "Gil Teamlead", "gil@mash.dudley.example")
    await j.until(cid, lambda s: any(d["key"] == "2/resolve" and d["nudges"] >= 1
                                     for d in s["deadlines"]), "nudged", timeout=30,
                  mail=("nudge", "gil@mash.dudley.example"))
    gil = await j.page()
    await gil.goto(await j.mailed_link(cid, "role_assigned", "gil@mash.dudley.example"))
    await web.agree(gil, "A number of working days", "5")

    await page.reload()
    await web.simple(page, "Withdraw the disagreement", "Withdraw and close the case",
                     {"reason": "The hub reopened the referral"}, says="withdrawn")
    await expect(page.locator("#read-only")).to_contain_text("This case is closed")
    state = await j.status(cid)
    assert state["status"] == "withdrawn" and state["holders"]["2.receiving"]["name"] == (
        "Gil Teamlead")
    await j.refused("form", cid, "--kind", "leeds_appendix_3", says="has no form")

    await check_records(j, Expected(
        case_id=cid, protocol="dudley", raising_agency="Dudley Health",
        receiving_agency="Dudley MASH", child="Test Child Dudleytwo", stages=["1", "2"],
        status="withdrawn", result="withdrawn", outcomes=[one], nudged=True,
        met={"1/resolve", "2/resolve"}, agreed=["1/resolve", "2/resolve"],
        names=["Pat Nurse", "Rhea Hub", "Gil Teamlead"], raised=(raised.t0, raised.t1)))
