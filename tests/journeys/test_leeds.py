"""Leeds (Leeds Safeguarding Children Partnership escalation policy, v4): timescales of at most
10 working days are agreed for each stage, and the process can be halted. A case halted for
sickness whose Stage 2 runs out of time (command line); and an immediate-risk case raised on
the web that starts at Head of Service level and is resolved by the Directors."""

from __future__ import annotations

import asyncio
import html
import re
from datetime import datetime

from playwright.async_api import expect

from infra.mailsink import read_mail
from protocols.calendar import LONDON
from tests.journeys import web
from tests.journeys.harness import DAY_SECONDS, Did, Expected, Journey, journey
from tests.journeys.records import check_records


def _attached_form(j: Journey, file_name: str, name: str) -> str:
    """The visible text of a form attached to a filed e-mail, as a mail client opens it."""
    message = read_mail(j.site.data_dir, file_name)
    [form] = [a for a in message.iter_attachments() if a.get_filename() == name]
    page = form.get_content()
    page = re.sub(r"<style.*?</style>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page))).strip()


def _due(state: dict, key: str) -> datetime:
    """A deadline's instant (compared as a moment: ISO text with and without fractions of a
    second does not sort by time)."""
    return datetime.fromisoformat(next(d["due"] for d in state["deadlines"] if d["key"] == key))


@journey
async def test_leeds_halted_then_stage_two_runs_out(j: Journey) -> None:
    """The practitioners agree four working days (not eleven: Leeds allows at most ten); the
    process is halted for sickness and resumed, moving the deadline on; no agreement at
    Stage 1; the line managers agree one day and let it pass, so the case goes to Heads of
    Service with the LSCP told (Appendix 3); they resolve it and confirm in writing."""
    cid = "leeds-2026-7401"
    raised = await j.run(
        "raise", "--protocol", "leeds", "--reference", "2026-7401",
        "--raising-name", "Ola Practitioner", "--raising-role", "Youth worker",
        "--raising-agency", "Leeds Youth Service", "--raising-email", "ola@youth.example",
        "--receiving-name", "Ben Worker", "--receiving-role", "Social worker",
        "--receiving-agency", "Leeds Children's Social Work Service",
        "--receiving-email", "ben@csws.leeds.example",
        "--holder", "2.raising=Lynn Manager <lynn@youth.example>",
        "--holder", "2.receiving=Owen Manager <owen@csws.leeds.example>",
        "--holder", "3a.raising=Harriet Service <harriet@youth.example>",
        "--holder", "3a.receiving=Ian Service <ian@csws.leeds.example>",
        "--issue", "Missing episodes not shared", "--child-name", "Test Child Leedsone")
    assert f"Raised case {cid}" in raised.out, raised.out

    await j.refused("agree-timescale", cid, "--stage", "1", "--working-days", "11",
                    "--by", "Ola Practitioner", says="at most 10 working days")
    await j.run("agree-timescale", cid, "--stage", "1", "--working-days", "4",
                "--by", "Ola Practitioner", "--agreed-by", "Ola Practitioner",
                "--agreed-by", "Ben Worker")
    before = _due(await j.status(cid), "1/resolve")
    halted = await j.run("pause", cid, "--reason", "Raising practitioner off sick",
                         "--by", "Ola Practitioner")
    assert "clocks stop" in halted.out, halted.out
    await j.until(cid, lambda s: s["status"] == "paused", "paused")
    await asyncio.sleep(DAY_SECONDS)  # the practitioner is off for a (compressed) working day
    await j.run("resume", cid, "--note", "Back at work", "--by", "Ola Practitioner")
    after = await j.status(cid)
    assert after["status"] == "open" and _due(after, "1/resolve") > before, (before, after)
    one = await j.run("outcome", cid, "--stage", "1", "--not-resolved", "--summary",
                      "Social work will not add the episodes to the plan",
                      "--contact-method", "phone", "--by", "Ben Worker")
    assert "moved to stage 2" in one.out, one.out

    await j.run("agree-timescale", cid, "--stage", "2", "--working-days", "1",
                "--by", "Owen Manager", "--reason", "Next episode likely this week")
    state = await j.at_stage(cid, "3a", told="harriet@youth.example", timeout=30)
    assert [d["status"] for d in state["deadlines"] if d["key"] == "2/resolve"] == ["breached"]
    notice = await j.mail(cid, "stage_entered", "lscp@leeds.example")
    shown = (await j.run("mail", notice["file_name"])).out
    assert "leeds-appendix-3-2026-7401.html" in shown, shown

    three = await j.run("outcome", cid, "--stage", "3a", "--resolved", "--summary",
                        "Missing episodes added to the plan", "--agreed-actions",
                        "Return interviews shared within 72 hours", "--by", "Ian Service")
    assert "Still due" in three.out, three.out
    # Leeds s4 bullet 3: "Feedback should be given at every stage to the practitioner who
    # raised the original concern": Ola hears of Stage 3a and its outcome though the Heads of
    # Service hold it; the outcome that resolved the case is one e-mail ("resolved").
    for event, stage in (("stage_entered", "stage 3a"), ("resolved", "stage 3a")):
        await j.mail(cid, event, "ola@youth.example", subject=stage)
    # Appendix 3, the "Notifications and Outcomes Form": at the resolution the LSCP gets it
    # again with the outcome half filled, "To be returned to" the LSCP Business Manager.
    told = await j.mail(cid, "resolved", "lscp@leeds.example")
    shown = (await j.run("mail", told["file_name"])).out
    assert "leeds-appendix-3-2026-7401.html" in shown and "outcome half filled in" in shown, shown
    form = _attached_form(j, told["file_name"], "leeds-appendix-3-2026-7401.html")
    # Resolved between three.t0 and three.t1 (the same London day unless run at midnight).
    dated = [d for d in {t.astimezone(LONDON).strftime("%d/%m/%Y") for t in (three.t0, three.t1)}
             if f"Date of outcome {d}" in form]
    assert dated, form
    today = dated[0]
    # The holders were named on the command line (name and address only): the form gives
    # the agency and role of the side each holds.
    assert ("Details of person providing notification Name Harriet Service Agency Leeds Youth "
            "Service Role Head of Service / Senior Manager (raising agency)") in form, form
    assert ("Notification of outcome from Ian Service, Head of Service / Senior Manager "
            "(receiving agency), Leeds Children's Social Work Service "
            "(ian@csws.leeds.example)") in form, form
    assert ("Outcome and any next steps Missing episodes added to the plan Agreed actions: "
            "Return interviews shared within 72 hours") in form, form
    assert (f"When all parties were informed of the outcome {today}, by the resolution e-mail "
            "from Professional Resolutions to Ola Practitioner, Ben Worker, Harriet Service, "
            "Ian Service") in form, form
    assert "To be returned to lscp@leeds.example FAO LSCP Business Manager" in form, form
    done = await j.run("confirm", cid, "--summary", "Both agencies wrote to each other",
                       "--by", "Ian Service")
    assert "the case is closed" in done.out, done.out
    listed = await j.until_listed(cid, "closed")
    assert listed["stage"] == "3a" and listed["raising_agency"] == "Leeds Youth Service"

    await check_records(j, Expected(
        case_id=cid, protocol="leeds", raising_agency="Leeds Youth Service",
        receiving_agency="Leeds Children's Social Work Service", child="Test Child Leedsone",
        stages=["1", "2", "3a"], status="closed", result="resolved",
        outcomes=[Did("1", False, "Ben Worker",
                      "Social work will not add the episodes to the plan", one.t0, one.t1,
                      "phone"),
                  Did("3a", True, "Ian Service", "Missing episodes added to the plan",
                      three.t0, three.t1)],
        breached={"2/resolve"}, met={"1/resolve", "overall"}, timer_moves=["3a"], pauses=1,
        agreed=["1/resolve", "2/resolve"], confirmed=["written_confirmation"],
        names=["Ola Practitioner", "Ben Worker", "Owen Manager", "Ian Service"],
        forms=["leeds_appendix_3"], raised=(raised.t0, raised.t1)))


@journey
async def test_leeds_immediate_risk_starts_at_head_of_service(j: Journey) -> None:
    """Raised on the web as an immediate risk: Duty and Advice alarmed, the case starts at
    Step 3a and the LSCP is told; the receiving practitioner names their Head of Service and
    Director (the raiser may not name the other agency's);
    no agreement at 3a; at 3b the two working days to raise it with the Director pass on their
    own (the Head of Service told); the Director's mailed link resolves it and confirms in
    writing."""
    page = await j.page()
    cid, raised = await web.raise_on_web(
        j, page, protocol="leeds", urgency="Immediate risk of significant harm to the child",
        raiser=("Gwen Gp", "gwen@surgery.leeds.example", "GP", "Leeds Primary Care"),
        fields={"reference": "2026-7402", "issue": "Injury not referred for a medical",
                "risk_to_child": "Unexplained bruising on a baby",
                "receiving-name": "Sam Duty", "receiving-agency": "Leeds Duty and Advice",
                "receiving-email": "sam@duty.leeds.example",
                "child-name": "Test Child Leedstwo"})
    assert cid == "leeds-2026-7402"
    await expect(page.locator(web.BANNER)).to_contain_text("immediate risk alarm has been sent")
    await expect(page.locator("#current-stage")).to_contain_text("Stage 3a")
    await j.mail(cid, "immediate_risk", "duty@leeds.example")
    await j.mail(cid, "case_raised", "lscp@leeds.example")
    sam = await j.page()
    await sam.goto(await j.mailed_link(cid, "case_raised", "sam@duty.leeds.example"))
    await web.hand_over(sam, "3a.receiving", "Hana Service", "hana@duty.leeds.example")
    await web.hand_over(sam, "3b.receiving", "Dora Director", "dora@duty.leeds.example")

    hana = await j.page()
    await hana.goto(await j.mailed_link(cid, "role_assigned", "hana@duty.leeds.example"))
    three_a = await web.outcome(hana, "Stage 3a: Head of Service / Senior Manager", False,
                                "No agreement on a medical", contact="Meeting in person",
                                expect_text="moved to stage 3b")

    # Nobody records raising it with the Director: that deadline passes on its own, and the
    # Head of Service who must raise it is told (Leeds s3 Step 3b para 1: "each Head of
    # Service / senior manager will raise the disagreement within a further 2 working days").
    await j.until(cid, lambda s: any(d["key"] == "3b/raise_with_director"
                                     and d["status"] == "expired" for d in s["deadlines"]),
                  "past 3b's first deadline", timeout=30,
                  mail=("deadline_passed", "hana@duty.leeds.example"))
    dora = await j.page()
    await dora.goto(await j.mailed_link(cid, "role_assigned", "dora@duty.leeds.example"))
    three_b = await web.outcome(dora, "Stage 3b: Director / Assistant Director", True,
                                "Child protection medical arranged today",
                                expect_text="Resolved at stage 3b")
    await web.simple(dora, "Confirm the outcome in writing", "Record the written confirmation",
                     {"summary": "Director's letter to the GP practice"}, says="closed")

    await check_records(j, Expected(
        case_id=cid, protocol="leeds", raising_agency="Leeds Primary Care",
        receiving_agency="Leeds Duty and Advice", child="Test Child Leedstwo",
        urgency="immediate-risk", immediate_risk=True, stages=["3a", "3b"], status="closed",
        result="resolved", outcomes=[three_a, three_b], breached={"3b/raise_with_director"},
        met={"3b/resolve", "overall"}, confirmed=["written_confirmation"],
        names=["Gwen Gp", "Hana Service", "Dora Director"], forms=["leeds_appendix_3"],
        raised=(raised.t0, raised.t1)))
