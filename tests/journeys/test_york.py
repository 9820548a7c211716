"""York (City of York Safeguarding Children Partnership, Professional Resolutions Practice
Guidance v1.0): a case climbing by the clock from the command line, and an urgent case started
at Stage 3 on the web that the CYSCP Chair cannot resolve either."""

from __future__ import annotations

from playwright.async_api import expect

from tests.journeys import web
from tests.journeys.harness import Did, Expected, Journey, journey
from tests.journeys.records import check_records


@journey
async def test_york_stage_two_runs_out_of_time(j: Journey) -> None:
    """Raised with its managers named; Stage 1 fails; the line managers agree one working
    day (York's "whichever is less"), let it pass, and the clock moves the case to Stage 3,
    where the senior managers resolve it and confirm in writing."""
    cid = "york-2026-7101"
    raised = await j.run(
        "raise", "--protocol", "york", "--reference", "2026-7101",
        "--raising-name", "Rae Raiser", "--raising-role", "Teacher",
        "--raising-agency", "Fulford Primary School", "--raising-email", "rae@fulford.example",
        "--receiving-name", "Rob Receiver", "--receiving-role", "Social worker",
        "--receiving-agency", "York Children's Social Care",
        "--receiving-email", "rob@csc.york.example",
        "--holder", "2.raising=Lee Linemanager <lee@fulford.example>",
        "--holder", "2.receiving=Mo Manager <mo@csc.york.example>",
        "--holder", "3.raising=Hana Head <hana@fulford.example>",
        "--holder", "3.receiving=Sol Service <sol@csc.york.example>",
        "--issue", "Child in need plan closed after one visit",
        "--risk", "Neglect continuing unseen", "--nature", "Threshold for closure",
        "--aim", "Reopen the assessment", "--child-name", "Test Child Yorkone",
        "--child-dob", "2016-05-04")
    assert f"Raised case {cid}" in raised.out and "stage 1:" in raised.out, raised.out

    await j.refused("outcome", cid, "--stage", "2", "--resolved", "--summary", "x",
                    "--by", "Rae Raiser", says="Stage 2 is not the current stage")
    one = await j.run("outcome", cid, "--stage", "1", "--not-resolved",
                      "--summary", "No agreement on the telephone", "--contact-method",
                      "phone", "--by", "Rae Raiser")
    assert "moved to stage 2" in one.out, one.out
    # The line managers named at raising are told, with their own links.
    await j.mail(cid, "stage_entered", "mo@csc.york.example")
    await j.refused("agree-timescale", cid, "--stage", "2", "--working-days", "6",
                    "--by", "Mo Manager", says="at most 5 working days")
    agreed = await j.run("agree-timescale", cid, "--stage", "2", "--working-days", "1",
                         "--reason", "The child is due home on Friday",
                         "--by", "Mo Manager")
    assert "is now due" in agreed.out, agreed.out

    # Nobody records an outcome: the agreed day passes and the case moves on by itself.
    state = await j.at_stage(cid, "3", told="hana@fulford.example", timeout=30)
    resolve = next(d for d in state["deadlines"] if d["key"] == "2/resolve")
    assert resolve["status"] == "breached" and resolve["agreed"]["amount"] == 1, resolve

    # York s5 para 4: "contemporaneously record each inter-agency discussion they have,
    # approve and date the record". Recorded, the case stays where it is.
    talk = await j.run("record-discussion", cid, "--with", "Sol Service",
                       "--with-title", "Service manager",
                       "--with-agency", "York Children's Social Care", "--how", "video",
                       "--said", "Went through the closure decision together",
                       "--agreed", "A joint visit", "--approved-by", "Hana Head",
                       "--by", "Hana Head")
    assert "the case stays at stage 3" in talk.out, talk.out
    # York s5 Stage 3: the senior managers' conversation has taken place; marked done, it
    # reminds nobody. A deadline that escalates is met by an outcome instead.
    await j.refused("mark-step-done", cid, "--deadline", "2/resolve", "--by", "Hana Head",
                    says="met by recording the stage's outcome")
    step = await j.run("step-done", cid, "--deadline", "3/conversation",
                       "--done-by", "Hana Head", "--done-by", "Sol Service", "--by", "Hana Head")
    assert "Recorded as done" in step.out, step.out
    state = await j.status(cid)
    assert state["stage"] == "3" and state["discussions"][0]["with_name"] == "Sol Service"
    assert [d["status"] for d in state["deadlines"] if d["key"] == "3/conversation"] == ["met"]
    assert "Went through the closure decision" in (await j.run("timeline", cid)).out

    three = await j.run("outcome", cid, "--stage", "3", "--resolved",
                        "--summary", "Assessment reopened with a joint visit",
                        "--agreed-actions", "Joint visit within five days",
                        "--learning", "Explain closure decisions to schools",
                        "--contact-method", "meeting", "--by", "Sol Service")
    assert "Still due: Confirm the outcome in writing" in three.out, three.out
    state = await j.status(cid)
    assert state["status"] == "resolved"
    duty = next(d for d in state["deadlines"] if d["kind"] == "duty")
    assert duty["rule"] == "written_confirmation" and duty["due"], duty
    done = await j.run("confirm", cid, "--summary", "Letter sent to Fulford Primary School",
                       "--by", "Sol Service")
    assert "the case is closed" in done.out, done.out
    await j.refused("outcome", cid, "--stage", "3", "--resolved", "--summary", "again",
                    "--by", "Sol Service", says="nothing more can be recorded")
    listing = (await j.run("mail", "--case", cid)).out
    assert "[CYSCP] Case 2026-7101" in listing and "Yorkone" not in listing, listing

    await check_records(j, Expected(
        case_id=cid, protocol="york", raising_agency="Fulford Primary School",
        receiving_agency="York Children's Social Care", child="Test Child Yorkone",
        stages=["1", "2", "3"], status="closed", result="resolved",
        outcomes=[Did("1", False, "Rae Raiser", "No agreement on the telephone", one.t0,
                      one.t1, "phone"),
                  Did("3", True, "Sol Service", "Assessment reopened with a joint visit",
                      three.t0, three.t1, "meeting")],
        breached={"2/resolve"}, met={"3/conversation"}, timer_moves=["3"],
        agreed=["2/resolve"],
        confirmed=["written_confirmation"], names=["Rae Raiser", "Mo Manager", "Sol Service",
                                                       "Hana Head"],
        forms=["york_written_account"], raised=(raised.t0, raised.t1)))


@journey
async def test_york_urgent_case_unresolved_by_the_chair(j: Journey) -> None:
    """An urgent case raised on the web starts at Stage 3, so the raising form asks for both
    senior managers (York s5 para 3), who are named there; Stage 3 sits until the
    system nudges; the senior manager's mailed link records no agreement, so it goes to the
    CYSCP Chair with the written account, and the Chair's stage ends unresolved: the case
    closes unresolved at the final stage."""
    page = await j.page()
    cid, raised = await web.raise_on_web(
        j, page, protocol="york", urgency="Urgent: the situation needs a quick resolution",
        raiser=("Ria Raiser", "ria@yorkhigh.example", "Designated safeguarding lead",
                "York High School"),
        fields={"reference": "2026-7102",
                "issue": "Strategy discussion declined after a disclosure",
                "risk_to_child": "Harm at home may continue tonight",
                "nature": "Whether a strategy discussion is needed",
                "aim": "A strategy discussion this week", "receiving-name": "Ray Receiver",
                "receiving-agency": "York Duty Team", "receiving-email": "ray@duty.york.example",
                "child-name": "Test Child Yorktwo",
                # The stage the case starts at is the senior managers': both are named here.
                "holder-3-raising-name": "Hal Headteacher",
                "holder-3-raising-email": "hal@yorkhigh.example",
                "holder-3-receiving-name": "Stu Senior",
                "holder-3-receiving-email": "stu@duty.york.example"})
    assert cid == "york-2026-7102"
    await expect(page.locator("#current-stage")).to_contain_text("Stage 3")

    # Nobody acts: York's "as soon as possible" earns a reminder on its own.
    await j.until(cid, lambda s: any(d["key"] == "3/conversation" and d["nudges"] >= 1
                                     for d in s["deadlines"]), "nudged", timeout=30,
                  mail=("nudge", "stu@duty.york.example"))

    stu = await j.page()
    await stu.goto(await j.mailed_link(cid, "case_raised", "stu@duty.york.example"))
    await expect(stu.locator("#link-holder")).to_contain_text("Stu Senior")
    three = await web.outcome(stu, "Stage 3: Senior manager to senior manager conversation",
                              False, "Senior managers could not agree", contact="Video call",
                              expect_text="moved to stage 4")
    # The CYSCP Business Unit gets the written account of the dispute.
    account = await j.mail(cid, "stage_entered", "CYSCP@york.gov.uk")
    shown = (await j.run("mail", account["file_name"])).out
    assert "york-written-account-2026-7102.html" in shown, shown

    # Stage 4's roles are nobody's yet, so the senior managers named for stage 3 carry them
    # forward: Hal records the Chair's stage through his own link.
    hal = await j.page()
    await hal.goto(await j.mailed_link(cid, "case_raised", "hal@yorkhigh.example"))
    four = await web.outcome(hal, "Stage 4: Support from the CYSCP to resolve the matter",
                             False, "The Chair's recommendations were not accepted",
                             expect_text="Not resolved at the final stage")
    await expect(hal.locator("#read-only")).to_contain_text("This case is closed")
    state = await j.status(cid)
    assert state["status"] == "closed" and state["holders"]["3.receiving"]["name"] == "Stu Senior"

    await check_records(j, Expected(
        case_id=cid, protocol="york", raising_agency="York High School",
        receiving_agency="York Duty Team", child="Test Child Yorktwo", urgency="urgent",
        stages=["3", "4"], status="closed", result="closed unresolved",
        outcomes=[three, four], nudged=True, names=["Ria Raiser", "Stu Senior"],
        forms=["york_written_account"], raised=(raised.t0, raised.t1)))

