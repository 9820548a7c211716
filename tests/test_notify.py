"""The send_notification activity against a real SMTP server (aiosmtpd), run as Temporal runs it.

Requests are built from the real protocol files and cases driven through the real CaseBook
(see :class:`tests.test_forms.Case`); messages are read back off the wire and parsed.
"""

from __future__ import annotations

import dataclasses
import email
import logging
import re
from collections import Counter
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from temporalio.testing import ActivityEnvironment

from activities.ics import CalendarEvent, escape_text, fold, render_calendar
from activities.notify import (
    NotificationActivities,
    build_context,
    message_id,
    render_bodies,
    resolve_addressees,
    subject_for,
)
from protocols.messages import Actor, Child, NotificationRequest, NotificationResult, Person
from protocols.settings import Settings
from tests.conftest import free_port
from tests.test_forms import (
    HEAD_A,
    HEAD_B,
    LINE_MANAGER_A,
    LINE_MANAGER_B,
    RAISING,
    RECEIVING,
    Case,
    ldn,
)

CHILD_BITS = ("Amelia", "Thornbury", "Orchard", "SN1 4AB", "14/05/2019", "2019-05-14")
SSP = "Safeguardingpartnership@swindon.gov.uk"
LSCP = "lscp.info@leeds.gov.uk"
CYSCP = "CYSCP@york.gov.uk"
DUDLEY_HOS = "head.safeguarding@dudley.example"


# -- a real SMTP server ---------------------------------------------------------------------------
class Inbox:
    """An aiosmtpd handler that keeps what it accepts; it can refuse the first N messages."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.refuse = 0
        self.attempts = 0

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
        self.attempts += 1
        if self.refuse > 0:
            self.refuse -= 1
            return "451 try again"
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    @property
    def messages(self) -> list[EmailMessage]:
        return [email.message_from_bytes(e.original_content or b"",  # type: ignore[arg-type]
                                         policy=email.policy.default)
                for e in self.envelopes]

    def only(self) -> tuple[EmailMessage, list[str]]:
        assert len(self.envelopes) == 1, f"{len(self.envelopes)} messages"
        return self.messages[0], sorted(self.envelopes[0].rcpt_tos)



@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


def settings_for(port: int, **more: object) -> Settings:
    import tempfile

    more.setdefault("data_dir", Path(tempfile.mkdtemp(prefix="notify-")))
    return Settings(smtp_host="127.0.0.1", smtp_port=port, public_url="https://pr.example",
                    mail_from="Professional Resolutions <resolutions@pr.example>", **more)


async def send(port: int, req: NotificationRequest, **more: object) -> NotificationResult:
    acts = NotificationActivities(settings_for(port, **more))
    return await ActivityEnvironment().run(acts.send_notification, req)


def addresses(msg: EmailMessage, header: str) -> list[str]:
    return sorted(a for _, a in getaddresses(msg.get_all(header, [])))


def part(msg: EmailMessage, mime: str) -> str:
    body = msg.get_body(preferencelist=(mime.split("/")[1],))
    assert body is not None
    return body.get_content()


def attachments(msg: EmailMessage) -> dict[str, bytes]:
    return {a.get_filename() or "": a.get_payload(decode=True) for a in msg.iter_attachments()}


# -- Swindon: the Partnership is copied in from stage 2 ------------------------------------------
def swindon() -> Case:
    return Case("swindon", at=ldn(2026, 3, 2), holders={"1.receiving": LINE_MANAGER_A,
                                                        "3.raising": LINE_MANAGER_A,
                                                        "3.receiving": LINE_MANAGER_B})


async def test_swindon_stage_1_is_internal_and_not_copied(inbox: tuple[Inbox, int]) -> None:
    box, port = inbox
    case = swindon().enter("1", ldn(2026, 3, 2))
    result = await send(port, case.stage_request(announce=True))
    msg, rcpts = box.only()
    assert addresses(msg, "To") == sorted([RAISING.email, RECEIVING.email, LINE_MANAGER_A.email])
    assert msg["Cc"] is None
    assert rcpts == sorted([RAISING.email, RECEIVING.email, LINE_MANAGER_A.email])
    assert result.missing == []
    assert result.subject == ("[SSP] Case 2026-0042: disagreement raised at stage 1 — contact "
                              "your opposite number by Wed 04 Mar 17:00")
    assert msg["Subject"] == result.subject


async def test_swindon_partnership_copied_from_stage_2(inbox: tuple[Inbox, int]) -> None:
    box, port = inbox
    case = swindon().enter("1", ldn(2026, 3, 2))
    case.outcome(False, "Line manager agrees.", LINE_MANAGER_A, ldn(2026, 3, 3, 15),
                 next_stage="2")
    await send(port, case.stage_request(why="not resolved at stage 1"))
    msg, rcpts = box.only()
    assert addresses(msg, "To") == sorted([RAISING.email, RECEIVING.email])
    assert addresses(msg, "Cc") == [SSP]
    assert rcpts == sorted([RAISING.email, RECEIVING.email, SSP])
    text = part(msg, "text/plain")
    assert "reply to all on this message" in text  # Swindon's own wording
    assert "Stage 1 (Internal discussion), from 02/03/2026: Not resolved" in text

    # Every later communication copies the Partnership too, e.g. a stage 3 reminder.
    case.outcome(False, "No agreement.", RAISING, ldn(2026, 3, 9, 11), next_stage="3")
    reminder = case.request("reminder", ["3.raising", "3.receiving"],
                            deadline_key="3/contact_opposite_number",
                            what="The line manager contacts their opposite number")
    result = await send(port, reminder)
    msg = box.messages[-1]
    assert addresses(msg, "To") == sorted([LINE_MANAGER_A.email, LINE_MANAGER_B.email])
    assert addresses(msg, "Cc") == [SSP]
    assert result.sent_to == [LINE_MANAGER_A.email, LINE_MANAGER_B.email, SSP]
    assert result.subject == ("[SSP] Case 2026-0042: reminder — The line manager contacts their "
                              "opposite number in the partner agency by Mon 16 Mar 17:00")


async def test_partnership_address_setting_overrides_the_protocol(
        inbox: tuple[Inbox, int]) -> None:
    box, port = inbox
    case = swindon().enter("1", ldn(2026, 3, 2))
    case.outcome(False, "Line manager agrees.", LINE_MANAGER_A, ldn(2026, 3, 3), next_stage="2")
    await send(port, case.stage_request(), partnership_addresses={"swindon": "ssp@test.example"})
    msg, _ = box.only()
    assert addresses(msg, "Cc") == ["ssp@test.example"]


# -- Dudley: the Head of Safeguarding is copied in from 3a ----------------------------------------
def dudley_at(stage: str) -> Case:
    case = Case("dudley", at=ldn(2026, 4, 13), holders={
        "2.raising": LINE_MANAGER_A, "2.receiving": LINE_MANAGER_B,
        "3a.raising": HEAD_A, "3a.receiving": HEAD_B})
    case.enter("1", ldn(2026, 4, 13))
    for nxt, day in (("2", 14), ("3a", 15)):
        case.outcome(False, "Not agreed.", RAISING, ldn(2026, 4, day), next_stage=nxt)
        if nxt == stage:
            break
    return case


async def test_dudley_head_of_safeguarding_from_3a(inbox: tuple[Inbox, int]) -> None:
    box, port = inbox
    addresses_setting = {"dudley": DUDLEY_HOS}
    at_2 = await send(port, dudley_at("2").stage_request(),
                      partnership_addresses=addresses_setting)
    at_3a = await send(port, dudley_at("3a").stage_request(),
                       partnership_addresses=addresses_setting)
    first, second = box.messages
    assert addresses(first, "To") == sorted([LINE_MANAGER_A.email, LINE_MANAGER_B.email])
    assert first["Cc"] is None and at_2.missing == []
    assert addresses(second, "To") == sorted([HEAD_A.email, HEAD_B.email])
    assert addresses(second, "Cc") == [DUDLEY_HOS]
    assert at_3a.missing == []
    # Agreed timescales: the subject asks the managers to agree one; no .ics without a time.
    assert at_3a.subject == ("[DSCB] Case 2026-0042: stage 3a entered — agree a timescale with "
                             "your opposite number")
    assert attachments(second) == {}


async def test_dudley_head_of_safeguarding_without_an_address_is_missing(
        inbox: tuple[Inbox, int]) -> None:
    box, port = inbox
    result = await send(port, dudley_at("3a").stage_request())
    msg, _ = box.only()
    assert msg["Cc"] is None
    assert result.missing == ["Dudley MBC Head of Safeguarding"]
    assert "We hold no e-mail address for: Dudley MBC Head of Safeguarding." in part(
        msg, "text/plain")


async def test_routing_variant_names_the_missing_role(inbox: tuple[Inbox, int]) -> None:
    box, port = inbox
    case = Case("dudley", at=ldn(2026, 4, 13), variants=["school"]).enter("1", ldn(2026, 4, 13))
    case.outcome(False, "Not agreed.", RAISING, ldn(2026, 4, 14), next_stage="2")
    result = await send(port, case.stage_request())
    msg, rcpts = box.only()
    # Nobody named for stage 2: the practitioners are told, and the roles reported missing.
    assert rcpts == sorted([RAISING.email, RECEIVING.email])
    assert result.missing == ["Head teacher / Principal (raising agency) for stage 2",
                              "Head teacher / Principal (receiving agency) for stage 2"]


# -- Leeds: the LSCP is notified with Appendix 3 at 3a, 3b and 4 -------------------------------
def leeds() -> Case:
    case = Case("leeds", at=ldn(2026, 6, 1), holders={
        "2.raising": LINE_MANAGER_A, "2.receiving": LINE_MANAGER_B,
        "3a.raising": HEAD_A, "3a.receiving": HEAD_B})
    return case.enter("1", ldn(2026, 6, 1))


async def test_leeds_lscp_notified_with_appendix_3(inbox: tuple[Inbox, int]) -> None:
    box, port = inbox
    case = leeds()
    case.outcome(False, "Practitioners disagree.", RAISING, ldn(2026, 6, 5), next_stage="2")
    await send(port, case.stage_request())
    for stage, day in (("3a", 12), ("3b", 19), ("4", 26)):
        case.outcome(False, "Still not agreed.", RAISING, ldn(2026, 6, day), next_stage=stage)
        await send(port, case.stage_request())
    at_2, at_3a, at_3b, at_4 = box.messages
    assert at_2["Cc"] is None and "appendix" not in str(attachments(at_2))
    for msg in (at_3a, at_3b, at_4):
        assert addresses(msg, "Cc") == [LSCP]
        forms = [name for name in attachments(msg) if name.endswith(".html")]
        assert forms == ["leeds-appendix-3-2026-0042.html"]
    assert addresses(at_3a, "To") == sorted([HEAD_A.email, HEAD_B.email])
    form = attachments(at_3a)["leeds-appendix-3-2026-0042.html"].decode()
    assert "Dr Ruth Ellis" in form and "Practitioners disagree." in form
    assert "The LSCP is notified at this stage with the Appendix 3 form" in part(
        at_3a, "text/plain")
    # Stage 3a's default of 10 working days from Fri 12 Jun 09:00 BST: Fri 26 Jun 17:00 BST.
    assert b"DTSTART:20260626T160000Z" in attachments(at_3a)["deadline-3a-resolve.ics"]


# -- York: the Business Unit gets the written account at stage 4 --------------------------------
async def test_york_business_unit_gets_the_written_account(inbox: tuple[Inbox, int]) -> None:
    box, port = inbox
    case = Case("york", at=ldn(2026, 9, 7), holders={"3.raising": HEAD_A, "3.receiving": HEAD_B,
                                                     "4.raising": HEAD_A})
    case.enter("1", ldn(2026, 9, 7))
    case.outcome(False, "No agreement.", RAISING, ldn(2026, 9, 8), next_stage="2")
    case.outcome(False, "Line managers disagree.", RAISING, ldn(2026, 9, 10), next_stage="3")
    at_3 = await send(port, case.stage_request())
    case.outcome(False, "Policy issue about thresholds.", HEAD_A, ldn(2026, 9, 14),
                 next_stage="4")
    at_4 = await send(port, case.stage_request())
    msg_3, msg_4 = box.messages
    assert msg_3["Cc"] is None and attachments(msg_3) == {} and at_3.missing == []
    assert addresses(msg_4, "Cc") == [CYSCP]
    # Nobody is named as the CYSCP Chair: the receiving practitioner is told instead.
    assert addresses(msg_4, "To") == sorted([HEAD_A.email, RECEIVING.email])
    assert at_4.missing == ["CYSCP Chair (via the Business Unit) for stage 4"]
    files = attachments(msg_4)
    account = files["york-written-account-2026-0042.html"].decode()
    assert "Written account of the dispute" in account
    assert "Policy issue about thresholds." in account
    # 15 working days from Mon 14 Sep 2026: Mon 5 Oct 17:00 BST.
    assert b"DTSTART:20261005T160000Z" in files["deadline-4-chair_recommendations.ics"]
    assert "written account of the dispute" in part(msg_4, "text/plain")


# -- subjects, headers and logs carry no personal data -------------------------------------------
def every_event(case: Case) -> list[NotificationRequest]:
    who = Actor(name=HEAD_A.name, email=HEAD_A.email)
    return [
        case.stage_request(announce=True),
        case.stage_request(),
        case.request("reminder", ["2.raising", "2.receiving"], deadline_key="2/resolve",
                     what="Line managers reach a resolution"),
        case.request("deadline_passed", ["2.raising"], deadline_key="2/discuss_with_line_managers"),
        case.request("duty_overdue", ["raising", "receiving"], deadline_key="2/resolve"),
        case.request("nudge", ["2.raising"], deadline_key="2/resolve", nudge="2",
                     what="Amelia Thornbury's plan"),
        case.request("outcome_recorded", ["raising", "2.raising"], actor=who, resolved="false",
                     summary="Amelia Thornbury of 12 Orchard Close"),
        case.request("resolved", ["raising", "receiving"], summary="Amelia Thornbury stays"),
        case.request("learning_referral", ["contact:business_unit"], cc=["raising"],
                     duty="learning_referral", what="Refer the learning points",
                     learning_points="Amelia Thornbury"),
        case.request("debrief", ["raising", "receiving"], duty="debrief", what="Debrief"),
        case.request("confirmed_in_writing", ["raising", "receiving"], actor=who,
                     what="Confirm the outcome in writing", summary="Amelia Thornbury"),
        case.request("paused", ["raising", "receiving"], actor=who, reason="Amelia in hospital"),
        case.request("resumed", ["raising", "receiving"], actor=who, reason="Amelia home"),
        case.request("timescale_agreed", ["2.raising"], deadline_key="2/resolve", actor=who,
                     reason="Amelia Thornbury", agreed_by="Both"),
        case.request("timescale_extended", ["2.raising"], deadline_key="2/resolve", actor=who,
                     reason="Amelia Thornbury"),
        case.request("role_assigned", ["2.raising"], actor=who, role="2.raising",
                     reason="Amelia Thornbury"),
        case.request("immediate_risk", ["raising", "2.raising", "receiving"],
                     description="Amelia Thornbury at 12 Orchard Close was hurt",
                     route="Line manager → Police", instruction="Act now"),
        case.request("closed", ["raising", "receiving"], summary="Amelia Thornbury closed"),
        case.request("something_new", ["raising"], why="Amelia Thornbury"),
    ]


async def test_no_personal_data_in_subjects_headers_or_logs(
        inbox: tuple[Inbox, int], caplog: pytest.LogCaptureFixture) -> None:
    box, port = inbox
    case = Case("york", at=ldn(2026, 7, 1), holders={"2.raising": LINE_MANAGER_A})
    case.enter("1", ldn(2026, 7, 1))
    case.outcome(False, "Amelia Thornbury still at risk.", RAISING, ldn(2026, 7, 1, 10),
                 next_stage="2")
    requests = every_event(case)
    with caplog.at_level(logging.INFO):
        results = [await send(port, req) for req in requests]
    assert len(box.envelopes) == len(requests)
    for req, result, msg in zip(requests, results, box.messages, strict=True):
        headers = "\n".join(f"{k}: {v}" for k, v in msg.items())
        for bit in CHILD_BITS:
            assert bit not in result.subject, (req.event, result.subject)
            assert bit not in headers, (req.event, headers)
        assert result.subject.startswith("[CYSCP] Case 2026-0042: ") or \
            result.subject.startswith("URGENT [CYSCP] Case 2026-0042: ")
        assert msg["Message-ID"] == message_id(req.workflow_id, req.event_key)
        assert msg["X-Resolutions-Event"] == req.event
        assert msg["X-Resolutions-Case"] == "york-2026-0042"
        assert part(msg, "text/plain") and part(msg, "text/html")
    for bit in CHILD_BITS:
        assert bit not in caplog.text
    assert "notification stage_entered sent" in caplog.text
    # The child's name is in the bodies, where professionals need it.
    assert "Child: Amelia Thornbury (born 14/05/2019)" in part(box.messages[1], "text/plain")


EVENTS = ["case_raised", "stage_entered", "reminder", "deadline_passed", "duty_overdue", "nudge",
          "outcome_recorded", "resolved", "learning_referral", "learning_dissemination",
          "debrief", "feedback", "record", "written_confirmation", "confirmed_in_writing",
          "paused", "resumed", "timescale_agreed", "timescale_extended", "role_assigned",
          "immediate_risk", "closed", "notification_of_something_new"]


@pytest.mark.parametrize("protocol", ["barnsley", "dudley", "leeds", "swindon", "york"])
def test_every_event_renders_with_bare_details(protocol: str) -> None:
    """No extra details, no deadline, nobody named: every template still renders."""
    case = Case(protocol, at=ldn(2026, 12, 24, 16), child=Child()).enter(
        case_protocol_first_stage(protocol), ldn(2026, 12, 24, 16))
    for event in EVENTS:
        req = case.request(event, ["raising"])
        context = build_context(req, resolve_addressees(req, Settings()).missing)
        text, page = render_bodies(req, {**context, "link": "https://pr.example/x"})
        assert "Case 2026-0042" in subject_for(req) and "https://pr.example/x" in text
        assert page.lstrip().startswith("<!DOCTYPE html>") and "</html>" in page


def case_protocol_first_stage(protocol: str) -> str:
    return Case(protocol, at=ldn(2026, 1, 5)).protocol.stages[0].id


async def test_bodies_say_who_talks_to_whom_by_when(inbox: tuple[Inbox, int]) -> None:
    box, port = inbox
    case = swindon().enter("1", ldn(2026, 3, 2))
    case.outcome(False, "Line manager agrees.", LINE_MANAGER_A, ldn(2026, 3, 3), next_stage="2")
    case.outcome(False, "No agreement <script>x()</script>", RAISING, ldn(2026, 3, 9, 11),
                 next_stage="3")
    await send(port, case.stage_request(why="not resolved at stage 2"))
    msg, _ = box.only()
    text, page = part(msg, "text/plain"), part(msg, "text/html")
    assert ("Line manager / second-tier manager (raising agency): Hannah Cole, Health Visiting "
            "Team Leader, Great Western Hospitals NHS FT <hannah.cole@nhs.example>") in text
    assert "Line manager / second-tier manager (receiving agency): Gary Owen" in text
    assert ("The line manager contacts their opposite number in the partner agency (Line manager "
            "(raising agency)): by Mon 16 Mar 2026 17:00 (London time). Timescale: 5 working "
            "days. Rule: Swindon s4 Stage 3 (When).") in text
    assert "Stage 2 (Inter-agency discussion), from 03/03/2026: Not resolved" in text
    assert "Open the case: https://pr.example/cases/swindon-2026-0042" in text
    assert "<script>" not in page and "&lt;script&gt;x()&lt;/script&gt;" in page
    assert 'href="https://pr.example/cases/swindon-2026-0042"' in page


async def test_immediate_risk_alarm_is_urgent(inbox: tuple[Inbox, int]) -> None:
    box, port = inbox
    case = Case("leeds", at=ldn(2026, 6, 1)).enter("1", ldn(2026, 6, 1))
    route = case.protocol.immediate_risk
    req = case.request("immediate_risk", ["raising", "1.raising", "receiving"],
                       cc=["contact:duty_and_advice"], description="Bruising seen today",
                       route=" → ".join(route.route), instruction=route.instruction)
    result = await send(port, req)
    msg, rcpts = box.only()
    assert result.subject == ("URGENT [LSCP] Case 2026-0042: IMMEDIATE RISK to a child reported — "
                              "act now")
    assert msg["Importance"] == "High" and msg["X-Priority"].startswith("1")
    assert rcpts == sorted([RAISING.email, RECEIVING.email])
    assert result.missing == ["Duty and Advice"]  # a phone line, no e-mail address
    text = part(msg, "text/plain")
    assert text.startswith("URGENT: IMMEDIATE RISK OF SIGNIFICANT HARM TO A CHILD")
    assert "What was reported: Bruising seen today" in text
    assert f"What to do now: {route.instruction}" in text
    assert "2. Duty and Advice (0113 3760336, option 3)" in text
    assert "Rule: Leeds s2 Principles bullet 1" in text


async def test_duty_goes_to_the_contact_with_the_raiser_copied(inbox: tuple[Inbox, int]) -> None:
    box, port = inbox
    case = swindon().enter("1", ldn(2026, 3, 2))
    case.outcome(False, "Line manager agrees.", LINE_MANAGER_A, ldn(2026, 3, 3), next_stage="2")
    case.outcome(True, "Agreed a plan.", RAISING, ldn(2026, 3, 5))
    req = case.request("learning_referral", ["contact:partnership"], cc=["raising"],
                       duty="learning_referral", what="Refer learning opportunities",
                       learning_points="Check closure thresholds")
    result = await send(port, req)
    msg, _ = box.only()
    assert addresses(msg, "To") == [SSP]
    assert addresses(msg, "Cc") == [RAISING.email]  # the Partnership's own copy is folded in
    assert result.subject == ("[SSP] Case 2026-0042: after resolution — Refer learning "
                              "opportunities for multi-agency practice to the Safeguarding "
                              "Partnership Strategic Support Unit")
    assert "Learning points recorded: Check closure thresholds" in part(msg, "text/plain")


async def test_practitioners_hold_the_practitioner_stages(inbox: tuple[Inbox, int]) -> None:
    box, port = inbox
    case = Case("leeds", at=ldn(2026, 6, 1)).enter("1", ldn(2026, 6, 1))
    result = await send(port, case.stage_request(announce=True))
    msg, rcpts = box.only()
    assert rcpts == sorted([RAISING.email, RECEIVING.email])
    assert result.missing == []  # stage 1's roles are the practitioners' own
    text = part(msg, "text/plain")
    assert "Practitioner raising the concern: Priya Shah, Health Visitor" in text
    assert "Practitioner (other agency): Tom Reed, Social Worker" in text
    assert "Leeds Safeguarding Children Partnership: agree a timescale" not in text  # case_raised
    assert "Please remember:" in text and "Leeds s3 Step 1 para 2" in text


# -- nobody to send to ----------------------------------------------------------------------------
async def test_nobody_with_an_address_sends_nothing(inbox: tuple[Inbox, int]) -> None:
    box, port = inbox
    nameless = Person(name="Sam Doe", agency="Village Nursery")
    case = Case("barnsley", at=ldn(2026, 5, 5)).enter("1", ldn(2026, 5, 5))
    case.book.holders["raising"] = nameless
    case.book.holders["receiving"] = nameless.model_copy(update={"name": ""})
    req = case.request("learning_referral", ["contact:qapm"], cc=["raising", "receiving"],
                       duty="general_principles")
    result = await send(port, req)
    assert box.envelopes == [] and box.attempts == 0
    assert result.sent_to == []
    assert result.missing == ["BSCB Quality Assurance and Performance Management Sub-Group",
                              "Practitioner (raising agency): Sam Doe",
                              "Practitioner (receiving agency)"]
    assert result.message_id == message_id(req.workflow_id, req.event_key)


async def test_a_reassigned_practitioner_is_used(inbox: tuple[Inbox, int]) -> None:
    box, port = inbox
    cover = Person(name="Lee Park", role="Health Visitor", agency=RAISING.agency,
                   email="lee.park@nhs.example")
    case = Case("leeds", at=ldn(2026, 6, 1)).enter("1", ldn(2026, 6, 1)).assign("raising", cover)
    await send(port, case.request("paused", ["raising", "receiving"], reason="Sickness",
                                  actor=Actor(name=cover.name)))
    msg, _ = box.only()
    assert addresses(msg, "To") == sorted([cover.email, RECEIVING.email])


# -- calendar entries -----------------------------------------------------------------------------
async def test_ics_for_every_dated_deadline_of_a_new_stage(inbox: tuple[Inbox, int]) -> None:
    box, port = inbox
    # York stage 2 entered Wed 1 Jul 2026 10:00 BST: talk to line managers the same working day
    # (17:00 BST = 16:00Z) and resolve within 5 working days (Wed 8 Jul 17:00 BST).
    case = Case("york", at=ldn(2026, 7, 1, 9), holders={"2.raising": LINE_MANAGER_A,
                                                       "2.receiving": LINE_MANAGER_B})
    case.enter("1", ldn(2026, 7, 1, 9))
    case.outcome(False, "No agreement.", RAISING, ldn(2026, 7, 1, 10), next_stage="2")
    await send(port, case.stage_request())
    msg, _ = box.only()
    files = attachments(msg)
    same_day = files["deadline-2-discuss_with_line_managers.ics"].decode()
    resolve = files["deadline-2-resolve.ics"].decode()
    assert "DTSTART:20260701T160000Z\r\n" in same_day
    assert "DTSTART:20260708T160000Z\r\n" in resolve
    for ics in (same_day, resolve):
        assert ics.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n")
        assert "METHOD:PUBLISH\r\n" in ics and ics.endswith("END:VCALENDAR\r\n")
        assert "\n" not in ics.replace("\r\n", "")
        assert all(len(line.encode()) <= 75 for line in ics.split("\r\n"))
        unfolded = ics.replace("\r\n ", "")
        assert re.search(r"^SUMMARY:\[CYSCP\] Case 2026-0042: stage 2: ", unfolded, re.M)
        assert not any(bit in unfolded for bit in CHILD_BITS)
    assert "UID:york-2026-0042.2-resolve@professional-resolutions\r\n" in resolve
    calendar_part = next(a for a in msg.iter_attachments()
                         if a.get_filename() == "deadline-2-resolve.ics")
    assert calendar_part.get_content_type() == "text/calendar"
    assert calendar_part.get_param("method") == "PUBLISH"


async def test_ics_for_the_named_deadline_only(inbox: tuple[Inbox, int]) -> None:
    box, port = inbox
    case = Case("york", at=ldn(2026, 7, 1, 9)).enter("1", ldn(2026, 7, 1, 9))
    case.outcome(False, "No agreement.", RAISING, ldn(2026, 7, 1, 10), next_stage="2")
    await send(port, case.request("reminder", ["2.raising"], deadline_key="2/resolve"))
    await send(port, case.request("paused", ["raising"], reason="Leave"))
    reminder, paused = box.messages
    assert list(attachments(reminder)) == ["deadline-2-resolve.ics"]
    assert attachments(paused) == {}


def test_ics_folding_and_escaping() -> None:
    line = "DESCRIPTION:" + "é" * 60
    folded = fold(line)
    assert all(len(p.encode()) <= 75 for p in folded.split("\r\n"))
    assert folded.replace("\r\n ", "") == line
    assert escape_text("a;b,c\\d\ne") == "a\\;b\\,c\\\\d\\ne"
    ics = render_calendar([CalendarEvent(uid="u@x", start=ldn(2026, 1, 5, 17), summary="S")],
                          stamp=ldn(2026, 1, 1))
    assert "DTSTART:20260105T170000Z\r\nSEQUENCE:0\r\n" in ics


# -- Message-ID and retries -----------------------------------------------------------------------
async def test_same_event_key_same_message_id(inbox: tuple[Inbox, int]) -> None:
    box, port = inbox
    case = leeds()
    req = case.request("paused", ["raising", "receiving"], reason="Sickness")
    other = case.request("resumed", ["raising", "receiving"])
    acts = NotificationActivities(settings_for(port))
    env = ActivityEnvironment()
    first, again, different = [await env.run(acts.send_notification, r)
                               for r in (req, req, other)]
    assert first.message_id == again.message_id != different.message_id
    assert re.fullmatch(r"<[0-9a-f]{32}@professional-resolutions>", first.message_id)
    # Run afresh (no earlier attempt's progress), the same event goes out again under the same
    # Message-ID, so a mail client shows one message.
    ids = [m["Message-ID"] for m in box.messages]
    assert ids == [first.message_id, first.message_id, different.message_id]
    refs = {m["References"] for m in box.messages}
    assert len(refs) == 1  # one thread per case


class DropsBeforeReply(Inbox):
    """A relay that files the Nth message and then loses the connection before its 250 reaches
    the sender: the one window SMTP cannot close (the sender cannot know it was accepted)."""

    def __init__(self, drop_at: int) -> None:
        super().__init__()
        self.drop_at = drop_at

    async def handle_DATA(self, server: Any, session: object, envelope: Envelope) -> str:
        self.attempts += 1
        self.envelopes.append(envelope)
        if self.attempts == self.drop_at:
            server.transport.abort()
        return "250 Message accepted for delivery"


async def test_message_resent_after_a_lost_reply_has_the_same_message_id() -> None:
    box = DropsBeforeReply(drop_at=2)
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        case = swindon().enter("1", ldn(2026, 3, 2))
        case.outcome(False, "Line manager agrees.", LINE_MANAGER_A, ldn(2026, 3, 3),
                     next_stage="2")
        req = case.stage_request()

        def link(workflow_id: str, person: Person, role: str) -> str:
            return f"https://pr.example/c/{workflow_id}?for={person.email}"

        acts = NotificationActivities(settings_for(controller.port), link_builder=link)
        first = ActivityEnvironment()
        beats: list[tuple[Any, ...]] = []
        first.on_heartbeat = lambda *details: beats.append(details)
        with pytest.raises(aiosmtplib.SMTPServerDisconnected):
            await first.run(acts.send_notification, req)
        # Temporal hands the next attempt the last heartbeat details the server recorded.
        retry = ActivityEnvironment()
        retry.info = dataclasses.replace(retry.info, attempt=2,
                                         heartbeat_details=list(beats[-1]))
        result = await retry.run(acts.send_notification, req)
    finally:
        controller.stop()
    copies = Counter(rcpt for e in box.envelopes for rcpt in e.rcpt_tos)
    lost_reply = box.envelopes[1].rcpt_tos
    assert sorted(copies) == sorted([RAISING.email, RECEIVING.email, SSP])
    # The first recipient was recorded and is not sent again; the one whose 250 was lost is.
    assert {r: n for r, n in copies.items() if n > 1} == {lost_reply[0]: 2}
    twice = [m for m, e in zip(box.messages, box.envelopes, strict=True)
             if e.rcpt_tos == lost_reply]
    assert [m["Message-ID"] for m in twice] == [result.message_id] * 2
    assert twice[0]["References"] == twice[1]["References"]


async def test_retry_after_temporary_refusals_delivers_once(inbox: tuple[Inbox, int]) -> None:
    box, port = inbox
    box.refuse = 2
    case = leeds()
    req = case.request("reminder", ["1.raising", "1.receiving"], deadline_key="1/resolve")
    acts = NotificationActivities(settings_for(port))
    env = ActivityEnvironment()
    for _ in range(2):  # Temporal calls the activity again after each failure
        with pytest.raises(aiosmtplib.SMTPResponseException) as failure:
            await env.run(acts.send_notification, req)
        assert failure.value.code == 451
    result = await env.run(acts.send_notification, req)
    assert box.attempts == 3
    msg, rcpts = box.only()
    assert msg["Message-ID"] == result.message_id == message_id(req.workflow_id, req.event_key)
    assert rcpts == sorted([RAISING.email, RECEIVING.email])


async def test_unreachable_server_raises(inbox: tuple[Inbox, int]) -> None:
    _, port = inbox
    req = leeds().request("paused", ["raising"], reason="Sickness")
    with pytest.raises(aiosmtplib.SMTPException):
        await send(free_port(), req)


# -- personal links -------------------------------------------------------------------------------
async def test_personal_links_go_only_to_their_owner(inbox: tuple[Inbox, int]) -> None:
    box, port = inbox
    case = swindon().enter("1", ldn(2026, 3, 2))
    case.outcome(False, "Line manager agrees.", LINE_MANAGER_A, ldn(2026, 3, 3), next_stage="2")
    calls: list[tuple[str, str, str]] = []

    def link(workflow_id: str, person: Person, role: str) -> str:
        calls.append((workflow_id, person.email, role))
        return f"https://pr.example/c/{workflow_id}?for={person.email}"

    acts = NotificationActivities(settings_for(port), link_builder=link)
    result = await ActivityEnvironment().run(acts.send_notification, case.stage_request())
    # Swindon's stage 2 is held by the practitioners themselves: their own role keys are used.
    assert sorted(c[1:] for c in calls) == [(SSP, "contact:partnership"),
                                            (RAISING.email, "raising"),
                                            (RECEIVING.email, "receiving")]
    assert len(box.envelopes) == 3
    for envelope, msg in zip(box.envelopes, box.messages, strict=True):
        [owner] = envelope.rcpt_tos
        text = part(msg, "text/plain")
        assert f"?for={owner}" in text
        assert text.count("?for=") == 1
        assert addresses(msg, "To") == sorted([RAISING.email, RECEIVING.email])
        assert addresses(msg, "Cc") == [SSP]
        assert msg["Message-ID"] == result.message_id
