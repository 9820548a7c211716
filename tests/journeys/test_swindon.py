"""Swindon (Swindon Safeguarding Partnership resolution process, revised January 2024): every
stage has a working-day deadline that escalates. A case whose internal discussion lapses and
that is bypassed urgently to the Partnership (command line); and an immediate-risk case raised
on the web, bypassed to the Heads of Service, who resolve it."""

from __future__ import annotations

from playwright.async_api import expect

from tests.journeys import web
from tests.journeys.harness import Did, Expected, Journey, journey
from tests.journeys.records import check_records


@journey
async def test_swindon_lapsed_stage_one_then_bypass_to_the_partnership(j: Journey) -> None:
    """Stage 1's two working days pass with no discussion recorded, so the case moves to
    Stage 2 by itself; the Partnership is copied from Stage 2; no agreement; at Stage 3 the
    managers bypass urgently to Stage 5 with Appendix 1; the Partnership manager resolves it
    and the learning is disseminated."""
    cid = "swindon-2026-7301"
    raised = await j.run(
        "raise", "--protocol", "swindon", "--reference", "2026-7301",
        "--raising-name", "Sian Health", "--raising-role", "Health visitor",
        "--raising-agency", "Swindon Health Visiting", "--raising-email", "sian@hv.example",
        "--receiving-name", "Carl Social", "--receiving-role", "Social worker",
        "--receiving-agency", "Swindon Children's Social Care",
        "--receiving-email", "carl@csc.swindon.example",
        "--holder", "1.receiving=Lina Line <lina@hv.example>",
        "--holder", "3.raising=Tess Team <tess@hv.example>",
        "--holder", "3.receiving=Tom Service <tom@csc.swindon.example>",
        "--holder", "5.raising=Hugo Head <hugo@hv.example>",
        "--holder", "5.receiving=Sara Strategic <sara@ssp.example>",
        "--issue", "Child protection plan ended early", "--child-name", "Test Child Swindonone",
        "--child-address", "1 Test Street, Swindon")
    assert f"Raised case {cid}" in raised.out, raised.out
    await j.mail(cid, "case_raised", "lina@hv.example")

    # Stage 1's deadline passes (two working days from when the concern arose).
    state = await j.at_stage(cid, "2", told="sian@hv.example", timeout=30)
    assert [d["status"] for d in state["deadlines"] if d["key"] == "1/discussion"] == [
        "breached"]
    two = await j.run("outcome", cid, "--stage", "2", "--not-resolved", "--summary",
                      "Social care will not reinstate the plan", "--contact-method", "email",
                      "--by", "Sian Health")
    assert "moved to stage 3" in two.out, two.out
    # From Stage 2 the Partnership is copied into every communication.
    await j.mail(cid, "outcome_recorded", "ssp@swindon.example")

    await j.refused("bypass", cid, "--to-stage", "5", "--reason", "Faster",
                    "--by", "Tess Team", says="only when the matter is urgent")
    moved = await j.run("bypass", cid, "--to-stage", "5", "--urgent", "--reason",
                        "Risk rising: a second injury was seen", "--agreed-by", "Tess Team",
                        "--agreed-by", "Tom Service", "--by", "Tess Team")
    assert "moved to stage 5" in moved.out, moved.out
    referral = await j.mail(cid, "stage_entered", "sara@ssp.example")
    shown = (await j.run("mail", referral["file_name"])).out
    assert "swindon-appendix-1-2026-7301.html" in shown, shown

    five = await j.run("outcome", cid, "--stage", "5", "--resolved", "--summary",
                       "Plan reinstated after the partnership meeting",
                       "--learning", "End plans only after a core group review",
                       "--contact-method", "meeting", "--by", "Sara Strategic")
    assert "Still due" in five.out, five.out
    done = await j.run("confirm", cid, "--duty", "learning_dissemination", "--summary",
                       "Learning briefing sent to all agencies", "--by", "Sara Strategic")
    assert "the case is closed" in done.out, done.out

    await check_records(j, Expected(
        case_id=cid, protocol="swindon", raising_agency="Swindon Health Visiting",
        receiving_agency="Swindon Children's Social Care", child="Test Child Swindonone",
        stages=["1", "2", "3", "5"], status="closed", result="resolved",
        outcomes=[Did("2", False, "Sian Health", "Social care will not reinstate the plan",
                      two.t0, two.t1, "email"),
                  Did("5", True, "Sara Strategic",
                      "Plan reinstated after the partnership meeting", five.t0, five.t1,
                      "meeting")],
        breached={"1/discussion"}, met={"2/discussion"}, timer_moves=["2"],
        bypasses=[("3", "5")], confirmed=["learning_dissemination"],
        names=["Sian Health", "Tess Team", "Sara Strategic"], forms=["swindon_appendix_1"],
        raised=(raised.t0, raised.t1)))


@journey
async def test_swindon_immediate_risk_raised_on_the_web(j: Journey) -> None:
    """Raised on the web as an immediate risk: the alarm goes at once, the Partnership told;
    the raiser names their line manager; Stage 1 lapses; the receiving social worker's mailed
    link records no agreement at Stage 2; the raiser bypasses urgently to the Heads of
    Service, the social worker hands that role over, and the Head's mailed link resolves the
    case."""
    page = await j.page()
    cid, raised = await web.raise_on_web(
        j, page, protocol="swindon", urgency="Immediate risk of significant harm to the child",
        raiser=("Ivy Teacher", "ivy@school.swindon.example", "Class teacher",
                "Swindon Academy"),
        fields={"reference": "2026-7302", "issue": "Disclosure not acted on",
                "risk_to_child": "The child said they are afraid to go home",
                "receiving-name": "Ken Social", "receiving-agency": "Swindon MASH",
                "receiving-email": "ken@mash.swindon.example",
                "child-name": "Test Child Swindontwo"})
    assert cid == "swindon-2026-7302"
    await expect(page.locator(web.BANNER)).to_contain_text("immediate risk alarm has been sent")
    await j.mail(cid, "immediate_risk", "ssp@swindon.example")
    await web.hand_over(page, "1.receiving", "Lou Linemanager", "lou@school.swindon.example")

    await j.at_stage(cid, "2", told="ken@mash.swindon.example", timeout=30)
    ken = await j.page()
    await ken.goto(await j.mailed_link(cid, "stage_entered", "ken@mash.swindon.example"))
    two = await web.outcome(ken, "Stage 2: Inter-agency discussion", False,
                            "MASH stands by its threshold decision", contact="Telephone",
                            expect_text="moved to stage 3")

    # Stage 3's raising role carries Lou (Ivy's line manager) forward: she moves the case on.
    lou = await j.page()
    await lou.goto(await j.mailed_link(cid, "role_assigned", "lou@school.swindon.example"))
    await lou.get_by_role("link", name="Move the case on to a later stage (bypass)").click()
    await lou.get_by_label("Stage 4: Heads / Leads / Directors of Service").check()
    await lou.fill("#reason", "The child is frightened to go home tonight")
    await lou.get_by_label("The matter is urgent").check()
    await lou.fill("#agreed_by", "Ivy Teacher\nKen Social")
    await lou.get_by_role("button", name="Move the case on").click()
    await expect(lou.locator(web.BANNER)).to_contain_text("moved to stage 4")
    # The receiving side names its own Head of Service (the raiser may not).
    await ken.reload()
    await web.hand_over(ken, "4.receiving", "Dana Director", "dana@mash.swindon.example")

    dana = await j.page()
    await dana.goto(await j.mailed_link(cid, "role_assigned", "dana@mash.swindon.example"))
    four = await web.outcome(dana, "Stage 4: Heads / Leads / Directors of Service", True,
                             "Strategy discussion held the same day", contact="Video call",
                             learning="Escalate disclosures to MASH managers at once",
                             expect_text="Resolved at stage 4")
    await expect(dana.locator("#read-only")).to_contain_text("This case is closed")
    # The learning goes to the Partnership, copied to the raiser.
    await j.mail(cid, "learning_referral", "ssp@swindon.example")

    await check_records(j, Expected(
        case_id=cid, protocol="swindon", raising_agency="Swindon Academy",
        receiving_agency="Swindon MASH", child="Test Child Swindontwo",
        urgency="immediate-risk", immediate_risk=True, stages=["1", "2", "3", "4"],
        status="closed", result="resolved", outcomes=[two, four], breached={"1/discussion"},
        timer_moves=["2"], bypasses=[("3", "4")],
        names=["Ivy Teacher", "Ken Social", "Dana Director"], forms=["swindon_appendix_1"],
        raised=(raised.t0, raised.t1)))
