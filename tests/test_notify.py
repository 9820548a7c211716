"""E-mail as the running workflow sends it: recipients, copies, bodies, forms, calendar entries,
Message-IDs, personal links, and no personal data where it must not be.

Cases run on the time-skipping server with the real worker and a real aiosmtpd server; the
messages are read back off the wire. Dates are worked out by hand for 2030 (BST from 31 March).
A few activity-level tests (retries, progress across attempts) and the pure rendering
helpers take a plain request built from a case book.
"""

from __future__ import annotations

import dataclasses
import email
import logging
import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import aiosmtplib
import pytest
from aiosmtpd.controller import Controller
from temporalio.testing import ActivityEnvironment

from activities.ics import CalendarEvent, escape_text, fold, render_calendar
from activities.mail import (
    NotificationActivities,
    build_context,
    message_id,
    render_bodies,
    resolve_addressees,
    subject_for,
)
from infra.links import Links, link_builder_from_settings
from infra.settings import Settings
from protocols.loader import load_protocol
from protocols.messages import Child, NotificationRequest, Person
from tests.conftest import at, free_port, make_worker, skip_to
from tests.mail_cases import (
    CHILD_BITS,
    HEAD_A,
    HEAD_B,
    LINE_MANAGER_A,
    LINE_MANAGER_B,
    RAISING,
    RECEIVING,
    actor,
    addresses,
    attachments,
    emails,
    outcome,
    part,
    raise_case,
    recipients,
    send,
)
from tests.unit.helpers import RAISING as RAISING_PLAIN
from tests.unit.helpers import RECEIVING as RECEIVING_PLAIN
from tests.unit.helpers import book_for, enter
from worker import build_worker
from workflows.disagreement import DisagreementWorkflow

SSP = "safeguardingpartnership@swindon.gov.uk"
LSCP = "lscp.info@leeds.gov.uk"
CYSCP = "cyscp@york.gov.uk"
DUDLEY_HOS = "head.safeguarding@dudley.example"


def only(box, event: str, stage_word: str = ""):
    found = [m for m in box.for_event(event) if stage_word in m["Subject"]]
    assert len(found) == 1, [m["Subject"] for m in box.for_event(event)]
    return found[0]


# -- Swindon: the Partnership is copied in from stage 2 ------------------------------------------
async def test_swindon_mail_up_the_ladder(skipping_env, settings, mailbox) -> None:
    env, (box, _) = skipping_env, mailbox
    async with make_worker(env.client, settings):
        case = await raise_case(env, "swindon", "2030-03-04 09:00", arose=at("2030-03-04 09:00"),
                                # The raiser's own line manager, named for stage 1 only:
                                # the same role at stage 3 (a manager, raising side).
                                holders={"1.receiving": LINE_MANAGER_A,
                                         "3.receiving": LINE_MANAGER_B})
        await outcome(env, case, "2030-03-05 15:00", "1", LINE_MANAGER_A, "Line manager agrees.")
        await outcome(env, case, "2030-03-11 11:00", "2", RAISING,
                      "No agreement <script>x()</script>")
        # Stage 3: due Mon 18 Mar 17:00, reminded Fri 15th 17:00.
        await outcome(env, case, "2030-03-18 10:00", "3", LINE_MANAGER_A, "Agreed a plan.",
                      resolved=True, learning_points=["Check closure thresholds"])
        await case.result()
    raised = only(box, "case_raised")
    # Swindon 002 s4 Stage 1: "Any professional who disagrees with a decision should
    # initially consult with their line manager": the raising side only, nobody copied.
    assert addresses(raised, "To") == emails(RAISING, LINE_MANAGER_A)
    assert raised["Cc"] is None and recipients(raised) == emails(RAISING, LINE_MANAGER_A)
    stage_1_outcome = only(box, "outcome_recorded", "stage 1")
    assert recipients(stage_1_outcome) == emails(RAISING, LINE_MANAGER_A)
    assert raised["Subject"] == ("[SSP] Case 2030-0042: disagreement raised at stage 1 — "
                                 "contact your opposite number by Wed 06 Mar 17:00")
    at_2 = only(box, "stage_entered", "stage 2")
    assert addresses(at_2, "To") == emails(RAISING, RECEIVING)
    assert addresses(at_2, "Cc") == [SSP]
    assert recipients(at_2) == sorted([*emails(RAISING, RECEIVING), SSP])
    text = part(at_2, "text/plain")
    assert "reply to all on this message" in text  # Swindon's own wording
    assert "Stage 1 (Internal discussion), from 04/03/2030: Not resolved" in text
    # The bodies say who talks to whom, by when, under which rule; typed text is escaped.
    at_3 = only(box, "stage_entered", "stage 3")
    text, page = part(at_3, "text/plain"), part(at_3, "text/html")
    assert ("Line manager / second-tier manager (raising agency): Hannah Cole, Health Visiting "
            "Team Leader, Great Western Hospitals NHS FT <hannah.cole@nhs.example>") in text
    assert "Line manager / second-tier manager (receiving agency): Gary Owen" in text
    assert ("The line manager contacts their opposite number in the partner agency (Line manager "
            "(raising agency)): by Mon 18 Mar 2030 17:00 (London time). Timescale: 5 working "
            "days. Rule: Swindon s4 Stage 3 (When).") in text
    assert "Stage 2 (Inter-agency discussion), from 05/03/2030: Not resolved" in text
    assert "Open the case: http://127.0.0.1:9/cases/swindon-2030-0042" in text
    assert "<script>" not in page and "&lt;script&gt;x()&lt;/script&gt;" in page
    assert 'href="http://127.0.0.1:9/cases/swindon-2030-0042"' in page
    # Every later communication copies the Partnership too, e.g. the stage 3 reminder.
    reminder = only(box, "reminder", "opposite number")
    assert addresses(reminder, "To") == emails(LINE_MANAGER_A, LINE_MANAGER_B)
    assert addresses(reminder, "Cc") == [SSP]
    assert reminder["Subject"] == ("[SSP] Case 2030-0042: reminder — The line manager contacts "
                                   "their opposite number in the partner agency by Mon 18 Mar "
                                   "17:00")
    # Learning goes to the Partnership, the raiser copied (the Partnership's copy folded in).
    learning = only(box, "learning_referral")
    assert addresses(learning, "To") == [SSP]
    assert addresses(learning, "Cc") == [RAISING.email]
    assert learning["Subject"] == ("[SSP] Case 2030-0042: after resolution — Refer learning "
                                   "opportunities for multi-agency practice to the Safeguarding "
                                   "Partnership Strategic Support Unit")
    assert "Learning points recorded: Check closure thresholds" in part(learning, "text/plain")


async def test_partnership_address_setting_overrides_the_protocol(skipping_env, settings,
                                                                  mailbox) -> None:
    env, (box, _) = skipping_env, mailbox
    moved = settings.model_copy(update={"partnership_addresses": {"swindon": "ssp@test.example"}})
    async with make_worker(env.client, moved):
        case = await raise_case(env, "swindon", "2030-03-04 09:00")
        await outcome(env, case, "2030-03-04 10:00", "1", RAISING, "Line manager agrees.")
        await skip_to(env, at("2030-03-04 10:05"))
    assert addresses(only(box, "stage_entered", "stage 2"), "Cc") == ["ssp@test.example"]


# -- Dudley: the Head of Safeguarding is copied in from 3a ----------------------------------------
DUDLEY_HOLDERS = {"2.raising": LINE_MANAGER_A, "2.receiving": LINE_MANAGER_B,
                  "3a.raising": HEAD_A, "3a.receiving": HEAD_B}


async def test_dudley_head_of_safeguarding_from_3a(skipping_env, settings, mailbox) -> None:
    env, (box, _) = skipping_env, mailbox
    with_address = settings.model_copy(update={"partnership_addresses": {"dudley": DUDLEY_HOS}})
    async with make_worker(env.client, with_address):
        case = await raise_case(env, "dudley", "2030-04-08 09:00", holders=DUDLEY_HOLDERS)
        await outcome(env, case, "2030-04-09 09:00", "1", RAISING, "Not agreed.")
        await outcome(env, case, "2030-04-10 09:00", "2", LINE_MANAGER_A, "Not agreed.")
        await skip_to(env, at("2030-04-10 09:05"))
        state = await case.query(DisagreementWorkflow.state)
    at_2, at_3a = only(box, "stage_entered", "stage 2"), only(box, "stage_entered", "stage 3a")
    assert addresses(at_2, "To") == emails(LINE_MANAGER_A, LINE_MANAGER_B)
    # The raiser is copied in at every stage (Dudley Key principle 8).
    assert addresses(at_2, "Cc") == [RAISING.email]
    assert addresses(at_3a, "To") == emails(HEAD_A, HEAD_B)
    assert addresses(at_3a, "Cc") == sorted([DUDLEY_HOS, RAISING.email])
    assert state.not_notified == []
    # Agreed timescales: the subject asks the managers to agree one; no .ics without a time.
    assert at_3a["Subject"] == ("[DSCB] Case 2030-0042: stage 3a entered — agree a timescale "
                                "with your opposite number")
    assert attachments(at_3a) == {}


async def test_dudley_missing_addresses_are_named(skipping_env, settings, mailbox) -> None:
    env, (box, _) = skipping_env, mailbox
    async with make_worker(env.client, settings):
        plain = await raise_case(env, "dudley", "2030-04-08 09:00", holders=DUDLEY_HOLDERS)
        school = await raise_case(env, "dudley", "2030-04-08 09:00", reference="2030-0043",
                                  raising={**RAISING.model_dump(), "kind": "school"})
        await outcome(env, plain, "2030-04-09 09:00", "1", RAISING, "Not agreed.")
        await outcome(env, school, "2030-04-09 09:00", "1", RAISING, "Not agreed.")
        await outcome(env, plain, "2030-04-10 09:00", "2", LINE_MANAGER_A, "Not agreed.")
        await skip_to(env, at("2030-04-10 09:05"))
        plain_state = await plain.query(DisagreementWorkflow.state)
        school_state = await school.query(DisagreementWorkflow.state)
    at_3a = only(box, "stage_entered", "stage 3a")
    assert addresses(at_3a, "Cc") == [RAISING.email]  # the raiser (Dudley Key principle 8)
    assert "We hold no e-mail address for: Dudley MBC Head of Safeguarding." in part(
        at_3a, "text/plain")
    assert "stage_entered: Dudley MBC Head of Safeguarding not notified, address missing" \
        in plain_state.not_notified
    # Nobody named for the school's stage 2: the practitioners are told, the roles reported;
    # the Head teacher is the school's (raising) side only (Dudley s4 Stage 2 NOTE).
    school_2 = next(m for m in box.for_event("stage_entered")
                    if m["X-Resolutions-Case"] == "dudley-2030-0043")
    assert recipients(school_2) == emails(RAISING, RECEIVING)
    assert [n for n in school_state.not_notified if n.startswith("stage_entered")] == [
        "stage_entered: Head teacher / Principal (raising agency) for stage 2 not notified, "
        "address missing",
        "stage_entered: Line/team manager or named lead for safeguarding (receiving agency) "
        "for stage 2 not notified, address missing"]


# -- Leeds: the LSCP is notified with Appendix 3 at 3a, 3b and 4 -------------------------------
async def test_leeds_lscp_notified_with_appendix_3(skipping_env, settings, mailbox) -> None:
    env, (box, _) = skipping_env, mailbox
    async with make_worker(env.client, settings):
        case = await raise_case(env, "leeds", "2030-06-03 09:00", holders=DUDLEY_HOLDERS)
        await outcome(env, case, "2030-06-07 09:00", "1", RAISING, "Practitioners disagree.")
        # Each stage's outcome by its own role holder (stage 3b's is nobody's: the raiser's).
        for stage, when, by in (("2", "2030-06-14 09:00", LINE_MANAGER_A),
                                ("3a", "2030-06-21 09:00", HEAD_A),
                                ("3b", "2030-06-28 09:00", RAISING)):
            await outcome(env, case, when, stage, by, "Still not agreed.")
        await skip_to(env, at("2030-06-28 09:05"))
    at_2 = only(box, "stage_entered", "stage 2")
    # The raiser is copied in at every stage (Leeds s4 bullet 3); the LSCP from 3a.
    assert addresses(at_2, "Cc") == [RAISING.email]
    assert "appendix" not in str(attachments(at_2))
    for word in ("stage 3a", "stage 3b", "stage 4"):
        msg = only(box, "stage_entered", word)
        # At 3b and 4 nobody is named: the practitioners themselves are written to.
        assert LSCP in addresses(msg, "Cc") and RAISING.email in recipients(msg), word
        forms = [name for name in attachments(msg) if name.endswith(".html")]
        assert forms == ["leeds-appendix-3-2030-0042.html"]
    at_3a = only(box, "stage_entered", "stage 3a")
    assert addresses(at_3a, "To") == emails(HEAD_A, HEAD_B)
    form = attachments(at_3a)["leeds-appendix-3-2030-0042.html"].decode()
    assert "Dr Ruth Ellis" in form and "Practitioners disagree." in form
    assert "The LSCP is notified at this stage with the Appendix 3 form" in part(
        at_3a, "text/plain")
    # Stage 3a's default of 10 working days from Fri 14 Jun 09:00 BST: Fri 28 Jun 17:00 BST.
    assert b"DTSTART:20300628T160000Z" in attachments(at_3a)["deadline-3a-resolve.ics"]


# -- York: the Business Unit gets the written account at stage 4 --------------------------------
async def test_york_business_unit_gets_the_written_account(skipping_env, settings,
                                                           mailbox) -> None:
    env, (box, _) = skipping_env, mailbox
    async with make_worker(env.client, settings):
        # Stage 2 is the line managers' own (York s5 Stage 2 para 1): one is named to record it.
        case = await raise_case(env, "york", "2030-09-02 09:00", holders={
            "2.raising": LINE_MANAGER_A, "3.raising": HEAD_A, "3.receiving": HEAD_B,
            "4.raising": HEAD_A})
        await outcome(env, case, "2030-09-03 09:00", "1", RAISING, "No agreement.")
        await outcome(env, case, "2030-09-05 09:00", "2", LINE_MANAGER_A,
                      "Line managers disagree.")
        await outcome(env, case, "2030-09-09 09:00", "3", HEAD_A,
                      "Policy issue about thresholds.")
        await skip_to(env, at("2030-09-09 09:05"))
        state = await case.query(DisagreementWorkflow.state)
    msg_3, msg_4 = only(box, "stage_entered", "stage 3"), only(box, "stage_entered", "stage 4")
    assert msg_3["Cc"] is None and attachments(msg_3) == {}
    assert addresses(msg_4, "Cc") == [CYSCP]
    # Nobody is named as the CYSCP Chair: the receiving practitioner is told instead.
    assert addresses(msg_4, "To") == emails(HEAD_A, RECEIVING)
    # The Chair is reached through the Business Unit copied on it: no "not notified" note.
    assert [n for n in state.not_notified if "stage 4" in n] == []
    files = attachments(msg_4)
    account = files["york-written-account-2030-0042.html"].decode()
    assert "Written account of the dispute" in account
    assert "Policy issue about thresholds." in account
    # 15 working days from Mon 9 Sep 2030: Mon 30 Sep 17:00 BST.
    assert b"DTSTART:20300930T160000Z" in files["deadline-4-chair_recommendations.ics"]
    assert "written account of the dispute" in part(msg_4, "text/plain")


# -- subjects, headers and logs carry no personal data; Message-IDs -----------------------------
async def test_no_personal_data_in_subjects_headers_or_logs(
        skipping_env, settings, mailbox, caplog: pytest.LogCaptureFixture) -> None:
    """A York case through most of what can happen, the child named in everything typed."""
    env, (box, _) = skipping_env, mailbox
    # Each acts in their own role (protocols.permissions): the line manager at stage 2, the
    # receiving practitioner for their side's role and York's receiving written confirmation.
    who, manager, receiver = actor(HEAD_A), actor(LINE_MANAGER_A), actor(RECEIVING)
    with caplog.at_level(logging.INFO):
        async with make_worker(env.client, settings):
            case = await raise_case(env, "york", "2030-07-01 09:00",
                                    holders={"2.raising": LINE_MANAGER_A, "3.raising": HEAD_A})
            await outcome(env, case, "2030-07-01 10:00", "1", RAISING,
                          "Amelia Thornbury still at risk.")
            await send(env, case, "2030-07-01 11:00", "agree_timescale", stage="2",
                       timescale={"kind": "working_days", "amount": 3}, by=manager,
                       reason="Amelia Thornbury")
            await send(env, case, "2030-07-01 11:30", "assign", role="2.receiving",
                       person=LINE_MANAGER_B.model_dump(), by=receiver,
                       reason="Amelia Thornbury")
            # York has no halting (3.3): the pause is refused, its reason kept out of the logs.
            await send(env, case, "2030-07-01 12:00", "pause", by=manager,
                       reason="Amelia in hospital")
            await send(env, case, "2030-07-01 14:00", "report_immediate_risk", by=who,
                       description="Amelia Thornbury at 12 Orchard Close was hurt")
            await outcome(env, case, "2030-07-04 10:00", "3", HEAD_A, "Amelia Thornbury stays",
                          resolved=True, learning_points=["Amelia Thornbury"])
            await send(env, case, "2030-07-04 11:00", "confirm_in_writing", by=receiver,
                       summary="Amelia Thornbury")
            await case.result()
    assert {"case_raised", "outcome_recorded", "stage_entered", "timescale_agreed",
            "role_assigned", "immediate_risk", "nudge",
            "resolved", "learning_referral", "confirmed_in_writing"} <= set(box.events())
    # The confirmation that closed the case said so: no separate "case closed" e-mail.
    assert "closed" not in box.events()
    for msg in box.messages:
        headers = "\n".join(f"{k}: {v}" for k, v in msg.items())
        for bit in CHILD_BITS:
            assert bit not in headers, (msg["X-Resolutions-Event"], headers)
        assert msg["Subject"].startswith(("[CYSCP] Case 2030-0042: ",
                                          "URGENT [CYSCP] Case 2030-0042: "))
        assert msg["Message-ID"] == message_id(case.id, msg["X-Resolutions-Event-Key"])
        assert re.fullmatch(r"<[0-9a-f]{32}@professional-resolutions>", msg["Message-ID"])
        assert msg["X-Resolutions-Case"] == "york-2030-0042"
        assert part(msg, "text/plain") and part(msg, "text/html")
    ids = [m["Message-ID"] for m in box.messages]
    assert len(ids) == len(set(ids))
    assert len({m["References"] for m in box.messages}) == 1  # one thread per case
    for bit in CHILD_BITS:
        assert bit not in caplog.text
    assert "notification stage_entered sent" in caplog.text
    # The child's name is in the bodies, where professionals need it.
    assert "Child: Amelia Thornbury (born 14/05/2019)" in part(
        only(box, "stage_entered", "stage 2"), "text/plain")


# -- Leeds: practitioners, the alarm, and cover ---------------------------------------------------
async def test_leeds_practitioners_alarm_and_cover(skipping_env, settings, mailbox) -> None:
    env, (box, _) = skipping_env, mailbox
    cover = Person(name="Lee Park", role="Health Visitor", agency=RAISING.agency,
                   email="lee.park@nhs.example")
    async with make_worker(env.client, settings):
        case = await raise_case(env, "leeds", "2030-06-03 09:00")
        await send(env, case, "2030-06-03 10:00", "report_immediate_risk", by=actor(RAISING),
                   description="Bruising seen today")
        await send(env, case, "2030-06-03 11:00", "assign", role="raising",
                   person=cover.model_dump(), by=actor(RAISING), reason="Sickness")
        await send(env, case, "2030-06-03 12:00", "pause", by=actor(cover), reason="Sickness")
        await skip_to(env, at("2030-06-03 12:05"))
        state = await case.query(DisagreementWorkflow.state)
    raised = only(box, "case_raised")
    assert recipients(raised) == emails(RAISING, RECEIVING)  # stage 1 roles are their own
    text = part(raised, "text/plain")
    assert "Practitioner raising the concern: Priya Shah, Health Visitor" in text
    assert "Practitioner (other agency): Tom Reed, Social Worker" in text
    assert "Please remember:" in text and "Leeds s3 Step 1 para 2" in text
    assert "Leeds Safeguarding Children Partnership: agree a timescale" not in text
    alarm = only(box, "immediate_risk")
    route = load_protocol("leeds").immediate_risk
    assert alarm["Subject"] == ("URGENT [LSCP] Case 2030-0042: IMMEDIATE RISK to a child "
                                "reported — act now")
    assert alarm["Importance"] == "High" and alarm["X-Priority"].startswith("1")
    assert recipients(alarm) == emails(RAISING, RECEIVING)
    assert "immediate_risk: Duty and Advice not notified, address missing" in state.not_notified
    text = part(alarm, "text/plain")
    assert text.startswith("URGENT: IMMEDIATE RISK OF SIGNIFICANT HARM TO A CHILD")
    assert "What was reported: Bruising seen today" in text
    assert f"What to do now: {route.instruction}" in text
    assert "2. Duty and Advice (0113 3760336, option 3)" in text
    assert "Rule: Leeds s2 Principles bullet 1" in text
    # The practitioner who took over is the one told of the pause.
    assert addresses(only(box, "paused"), "To") == emails(cover, RECEIVING)


async def test_nobody_with_an_address_sends_nothing(skipping_env, settings, mailbox) -> None:
    env, (box, _) = skipping_env, mailbox
    nameless = Person(name="Sam Doe", agency="Village Nursery")
    async with make_worker(env.client, settings):
        case = await raise_case(env, "barnsley", "2030-05-06 09:00", raising=nameless,
                                receiving=Person(agency="Village Nursery"))
        await skip_to(env, at("2030-05-06 09:05"))
        timeline = await case.query(DisagreementWorkflow.timeline)
        state = await case.query(DisagreementWorkflow.state)
    assert box.messages == []
    sent = next(e for e in timeline if e.kind == "notification_sent")
    assert sent.summary.endswith("sent to nobody")
    assert state.not_notified == [
        "case_raised: Practitioner (raising agency): Sam Doe not notified, address missing",
        "case_raised: Practitioner (receiving agency) not notified, address missing"]


# -- calendar entries -----------------------------------------------------------------------------
async def test_ics_for_each_dated_deadline(skipping_env, settings, mailbox) -> None:
    """York stage 2 entered Mon 1 Jul 2030 10:00 BST: talk to line managers the same working
    day (17:00 BST = 16:00Z) and resolve within 5 working days (Mon 8 Jul 17:00 BST)."""
    env, (box, _) = skipping_env, mailbox
    async with make_worker(env.client, settings):
        case = await raise_case(env, "york", "2030-07-01 09:00", holders={
            "2.raising": LINE_MANAGER_A, "2.receiving": LINE_MANAGER_B})
        await outcome(env, case, "2030-07-01 10:00", "1", RAISING, "No agreement.")
        # Reminded Fri 5 Jul 17:00.
        await skip_to(env, at("2030-07-06 10:05"))
    msg = only(box, "stage_entered", "stage 2")
    files = attachments(msg)
    same_day = files["deadline-2-discuss_with_line_managers.ics"].decode()
    resolve = files["deadline-2-resolve.ics"].decode()
    assert "DTSTART:20300701T160000Z\r\n" in same_day
    assert "DTSTART:20300708T160000Z\r\n" in resolve
    for ics in (same_day, resolve):
        assert ics.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n")
        assert "METHOD:PUBLISH\r\n" in ics and ics.endswith("END:VCALENDAR\r\n")
        assert "\n" not in ics.replace("\r\n", "")
        assert all(len(line.encode()) <= 75 for line in ics.split("\r\n"))
        unfolded = ics.replace("\r\n ", "")
        assert re.search(r"^SUMMARY:\[CYSCP\] Case 2030-0042: stage 2: ", unfolded, re.M)
        assert not any(bit in unfolded for bit in CHILD_BITS)
    assert "UID:york-2030-0042.2-resolve@professional-resolutions\r\n" in resolve
    calendar_part = next(a for a in msg.iter_attachments()
                         if a.get_filename() == "deadline-2-resolve.ics")
    assert calendar_part.get_content_type() == "text/calendar"
    assert calendar_part.get_param("method") == "PUBLISH"
    # A reminder carries its own deadline's entry only.
    assert list(attachments(only(box, "reminder"))) == ["deadline-2-resolve.ics"]


def test_ics_folding_and_escaping() -> None:
    line = "DESCRIPTION:" + "é" * 60
    folded = fold(line)
    assert all(len(p.encode()) <= 75 for p in folded.split("\r\n"))
    assert folded.replace("\r\n ", "") == line
    assert escape_text("a;b,c\\d\ne") == "a\\;b\\,c\\\\d\\ne"
    ics = render_calendar([CalendarEvent(uid="u@x", start=at("2026-01-05 17:00"), summary="S")],
                          stamp=at("2026-01-01 00:00"))
    assert "DTSTART:20260105T170000Z\r\nSEQUENCE:0\r\n" in ics


# -- personal links -------------------------------------------------------------------------------
async def test_personal_links_go_only_to_their_owner(skipping_env, settings, mailbox) -> None:
    """With the worker's own link builder (as worker.py runs it), each recipient gets a
    message of their own whose one link opens for them."""
    env, (box, _) = skipping_env, mailbox
    worker = build_worker(env.client, settings, link_builder=link_builder_from_settings(settings))
    async with worker:
        case = await raise_case(env, "swindon", "2030-03-04 09:00")
        await outcome(env, case, "2030-03-04 10:00", "1", RAISING, "Line manager agrees.")
        await skip_to(env, at("2030-03-04 10:05"))
    links = Links(settings)
    entered = box.for_event("stage_entered")
    assert sorted(r for m in entered for r in recipients(m)) == sorted(
        [*emails(RAISING, RECEIVING), SSP])
    for msg in entered:
        [owner] = recipients(msg)
        text = part(msg, "text/plain")
        tokens = re.findall(r"http://127\.0\.0\.1:9/t/([A-Za-z0-9_\-=.]+)", text)
        assert len(tokens) == 1, text
        grant = links.read(tokens[0])
        assert grant.email.lower() == owner and grant.workflow_id == case.id
        assert "priya" not in tokens[0].lower() and "shah" not in tokens[0].lower()
        # Everyone sees the same To and Cc; each copy is the one message.
        assert addresses(msg, "To") == emails(RAISING, RECEIVING)
        assert addresses(msg, "Cc") == [SSP]
    assert len({m["Message-ID"] for m in entered}) == 1


# -- the activity on its own: retries, progress across attempts, every template ----------
def plain_request(protocol: str, event: str, to: list[str], *, child: Child | None = None,
                  **extra: str) -> NotificationRequest:
    """A request built from a fresh case book (no workflow), for the activity's own rules."""
    book = book_for(protocol, child=child or Child())
    enter(book, book.protocol.stages[0].id)
    return NotificationRequest(
        workflow_id=book.workflow_id, event=event, event_key=f"0001-{event}",
        stage=book.stage_id, to=to, extra=extra, protocol=book.protocol,
        protocol_id=book.protocol.id, protocol_hash=book.inp.protocol_hash, case=book.inp.case,
        state=book.snapshot(datetime(2030, 3, 4, tzinfo=UTC)), timeline=[])


def acts(port: int, tmp_path) -> NotificationActivities:
    return NotificationActivities(Settings(smtp_port=port, data_dir=tmp_path,
                                           public_url="https://pr.example"))


async def test_same_event_key_same_message_id(mailbox, tmp_path) -> None:
    box, port = mailbox
    mail, env = acts(port, tmp_path), ActivityEnvironment()
    req = plain_request("leeds", "paused", ["raising", "receiving"], reason="Sickness")
    other = req.model_copy(update={"event": "resumed", "event_key": "0002-resumed"})
    first, again, different = [await env.run(mail.send_notification, r)
                               for r in (req, req, other)]
    assert first.message_id == again.message_id != different.message_id
    # Run afresh (no earlier attempt's progress), the same event goes out again under the same
    # Message-ID, so a mail client shows one message.
    assert [m["Message-ID"] for m in box.messages] == [first.message_id, first.message_id,
                                                       different.message_id]


class DropsBeforeReply:
    """A relay that files the Nth message and then loses the connection before its 250 reaches
    the sender: the one window SMTP cannot close (the sender cannot know it was accepted)."""

    def __init__(self, drop_at: int) -> None:
        self.drop_at = drop_at
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: object, envelope: Any) -> str:  # noqa: N802
        self.envelopes.append(envelope)
        if len(self.envelopes) == self.drop_at:
            server.transport.abort()
        return "250 Message accepted for delivery"


async def test_message_resent_after_a_lost_reply_has_the_same_message_id(tmp_path) -> None:
    box = DropsBeforeReply(drop_at=2)
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        req = plain_request("leeds", "reminder", ["raising", "receiving"])
        mail = NotificationActivities(
            Settings(smtp_port=controller.port, data_dir=tmp_path,
                     public_url="https://pr.example"),
            link_builder=lambda wid, person, role, held_by: f"https://pr.example/c/{wid}?for={person.email}")
        first = ActivityEnvironment()
        beats: list[tuple[Any, ...]] = []
        first.on_heartbeat = lambda *details: beats.append(details)
        with pytest.raises(aiosmtplib.SMTPServerDisconnected):
            await first.run(mail.send_notification, req)
        # Temporal hands the next attempt the last heartbeat details the server recorded.
        retry = ActivityEnvironment()
        retry.info = dataclasses.replace(retry.info, attempt=2,
                                         heartbeat_details=list(beats[-1]))
        result = await retry.run(mail.send_notification, req)
    finally:
        controller.stop()
    copies = Counter(rcpt for e in box.envelopes for rcpt in e.rcpt_tos)
    lost_reply = box.envelopes[1].rcpt_tos
    assert sorted(copies) == sorted(emails(RAISING_PLAIN, RECEIVING_PLAIN))
    # The first recipient was recorded and is not sent again; the one whose 250 was lost is.
    assert {r: n for r, n in copies.items() if n > 1} == {lost_reply[0]: 2}
    twice = [e for e in box.envelopes if e.rcpt_tos == lost_reply]
    ids = [email.message_from_bytes(e.content)["Message-ID"] for e in twice]
    assert ids == [result.message_id] * 2


async def test_retry_after_temporary_refusals_delivers_once(mailbox, tmp_path) -> None:
    box, port = mailbox
    box.refuse_next = 2
    mail, env = acts(port, tmp_path), ActivityEnvironment()
    req = plain_request("leeds", "reminder", ["raising", "receiving"])
    for _ in range(2):  # Temporal calls the activity again after each failure
        with pytest.raises(aiosmtplib.SMTPResponseException) as failure:
            await env.run(mail.send_notification, req)
        assert failure.value.code == 451
    result = await env.run(mail.send_notification, req)
    [msg] = box.messages
    assert msg["Message-ID"] == result.message_id == message_id(req.workflow_id, req.event_key)
    assert recipients(msg) == emails(RAISING_PLAIN, RECEIVING_PLAIN)


async def test_unreachable_server_raises(tmp_path) -> None:
    req = plain_request("leeds", "paused", ["raising"], reason="Sickness")
    with pytest.raises(aiosmtplib.SMTPException):
        await ActivityEnvironment().run(acts(free_port(), tmp_path).send_notification, req)


EVENTS = ["case_raised", "stage_entered", "reminder", "deadline_passed", "duty_overdue", "nudge",
          "outcome_recorded", "resolved", "learning_referral", "learning_dissemination",
          "debrief", "feedback", "record", "written_confirmation", "confirmed_in_writing",
          "paused", "resumed", "timescale_agreed", "timescale_extended", "role_assigned",
          "immediate_risk", "closed", "notification_of_something_new"]


@pytest.mark.parametrize("protocol", ["barnsley", "dudley", "leeds", "swindon", "york"])
def test_every_event_renders_with_bare_details(protocol: str) -> None:
    """No extra details, no deadline, nobody named: every template still renders."""
    for event in EVENTS:
        req = plain_request(protocol, event, ["raising"])
        context = build_context(req, resolve_addressees(req, Settings()).missing)
        text, page = render_bodies(req, {**context, "link": "https://pr.example/x"})
        assert "Case 2030-0001" in subject_for(req) and "https://pr.example/x" in text
        assert page.lstrip().startswith("<!DOCTYPE html>") and "</html>" in page

