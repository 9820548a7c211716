"""Partnership forms filled from a case's own record (Swindon App. 1, Leeds App. 3, York).

The cases are driven through the real :class:`workflows.book.CaseBook` and the real England
working-day calendar the way the workflow drives them, so states, deadlines and timelines have
the shape the activity receives in production. ``tests/test_notify.py`` reuses :class:`Case`.
"""

from __future__ import annotations

import html
import re
from datetime import date, datetime
from typing import Any

import pytest

from activities.forms import FORM_KINDS, render_case_form, render_form
from protocols.calendar import LONDON, WorkingCalendar
from protocols.deadlines import due_for
from protocols.loader import load_protocol
from protocols.messages import (
    Actor,
    CaseDetails,
    CaseInput,
    Child,
    DeadlineState,
    NotificationRequest,
    Outcome,
    Person,
)
from workflows.book import CaseBook

CAL = WorkingCalendar()
CHILD = Child(name="Amelia Thornbury", date_of_birth=date(2019, 5, 14),
              address="12 Orchard Close, Swindon SN1 4AB", family="Thornbury family")
RAISING = Person(name="Priya Shah", role="Health Visitor", agency="Great Western Hospitals NHS FT",
                 email="priya.shah@nhs.example", phone="01793 000111")
RECEIVING = Person(name="Tom Reed", role="Social Worker", agency="Children's Social Care",
                   email="tom.reed@council.example", phone="01793 000222")


def ldn(y: int, mo: int, d: int, h: int = 9, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=LONDON)


class Case:
    """A case driven the way DisagreementWorkflow drives it, minus the server."""

    def __init__(self, protocol_id: str, *, at: datetime, reference: str = "2026-0042",
                 holders: dict[str, Person] | None = None, variants: list[str] | None = None,
                 child: Child = CHILD, urgency: str = "standard", **fields: Any) -> None:
        protocol = load_protocol(protocol_id)
        details = CaseDetails(
            reference=reference, child=child, raising=RAISING, receiving=RECEIVING,
            holders=holders or {}, variants=variants or [], arose=at,
            issue=fields.get("issue", "Health visitor believes the case should not be closed."),
            risk_to_child=fields.get("risk_to_child", "Missed health appointments; weight loss."),
            nature=fields.get("nature", "CSC plans to close the child in need plan."),
            aim=fields.get("aim", "Keep the plan open and hold a multi-agency meeting."))
        inp = CaseInput(protocol=protocol, protocol_hash=protocol.content_hash(), case=details,
                        urgency=urgency, raised_by=Actor(name=RAISING.name), raised_at=at)
        self.book = CaseBook(inp, f"{protocol_id}-{reference}", at)
        self.now = at
        self.seq = 0

    @property
    def protocol(self):  # noqa: ANN201 - a Protocol
        return self.book.protocol

    def enter(self, stage_id: str, at: datetime, why: str = "the first stage") -> Case:
        """Enter a stage: cancel the old stage's clocks, compute the new ones, record the move."""
        book, self.now = self.book, at
        previous = book.stage_id if book.stages_visited else None
        if previous is not None:
            book.cancel_stage_deadlines(previous)
        book.stage_id, book.stage_entered_at = stage_id, at
        book.stages_visited.append(stage_id)
        for rule in book.stage.deadlines:
            start = book.inp.case.arose if rule.clock == "concern_arose" else at
            assert start is not None
            due = due_for(CAL, rule.timescale, start)
            book.deadlines[f"{stage_id}/{rule.id}"] = DeadlineState(
                key=f"{stage_id}/{rule.id}", kind="stage", stage=stage_id, rule=rule.id,
                what=rule.what, who=rule.who, timescale=rule.timescale.describe(),
                on_expiry=rule.on_expiry, source=rule.source, clock_start=start, due=due,
                remind_at=CAL.working_days_before(due, 1) if due else None,
                status="awaiting_agreement" if due is None and rule.timescale.kind == "agreed"
                else "pending")
        if previous is None:
            book.event(at, "stage_entered", f"Stage {stage_id} ({book.stage.name}) entered: {why}")
        else:
            book.event(at, "escalated", f"Moved from stage {previous} to stage {stage_id} "
                       f"({book.stage.name}): {why}")
        return self

    def mailed(self) -> Case:
        """Record that the stage's e-mail went out (as the workflow does after the activity)."""
        self.book.event(self.now, "notification_sent", "E-mail sent", via="activity")
        return self

    def outcome(self, resolved: bool, summary: str, by: Person, at: datetime,
                next_stage: str | None = None, **more: Any) -> Case:
        stage = self.book.stage_id
        actor = Actor(name=by.name, role=by.role, agency=by.agency, email=by.email)
        self.book.outcomes.append(Outcome(stage=stage, resolved=resolved, at=at, by=actor,
                                          summary=summary, **more))
        self.book.event(at, "outcome_recorded",
                        f"Stage {stage} {'resolved' if resolved else 'not resolved'}: {summary}",
                        actor=by.name, resolved=str(resolved).lower())
        if resolved:
            self.book.status = "resolved"
            self.book.event(at, "resolved", f"Resolved at stage {stage}: {summary}",
                            actor=by.name)
        elif next_stage:
            self.enter(next_stage, at, f"not resolved at stage {stage}")
        return self

    def assign(self, role: str, person: Person) -> Case:
        self.book.holders[role] = person
        self.book.event(self.now, "role_assigned", f"{role} is now held by {person.label()}")
        return self

    def request(self, event: str, to: list[str], *, cc: list[str] | None = None,
                attach: list[str] | None = None, deadline_key: str | None = None,
                actor: Actor | None = None, **extra: str) -> NotificationRequest:
        """The NotificationRequest DisagreementWorkflow._notify would build now."""
        book = self.book
        self.seq += 1
        copies = [f"contact:{c.contact}"
                  for c in book.protocol.copies_for(book.stage_id, "every_communication")]
        return NotificationRequest(
            workflow_id=book.workflow_id, event=event, event_key=f"{self.seq:04d}-{event}",
            stage=book.stage_id, to=list(dict.fromkeys(to)),
            cc=list(dict.fromkeys([*(cc or []), *copies])), attach_forms=attach or [],
            deadline_key=deadline_key, actor=actor, extra={k: v for k, v in extra.items() if v},
            protocol=book.protocol, case=book.inp.case, state=book.snapshot(self.now),
            timeline=list(book.timeline))

    def stage_request(self, *, announce: bool = False, why: str = "") -> NotificationRequest:
        """The e-mail the workflow sends on entering the current stage."""
        stage, protocol = self.book.stage, self.book.protocol
        to = [f"{stage.id}.raising", f"{stage.id}.receiving"]
        if announce:
            to = ["raising", "receiving", *to]
        cc = [f"contact:{c.contact}" for c in protocol.copies_for(stage.id, "on_entry")]
        attach = [f.kind for f in stage.forms]
        attach += [c.attach for c in protocol.copies_for(stage.id) if c.attach
                   and stage.id in c.at_stages]
        return self.request("case_raised" if announce else "stage_entered", to, cc=cc,
                            attach=sorted(set(attach)), why=why or "the first stage")


# -- helpers for assertions ------------------------------------------------------------------------
def text_of(page: str) -> str:
    """The visible text of an HTML page, unescaped, with whitespace collapsed."""
    page = re.sub(r"<style.*?</style>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page))).strip()


def row_cells(page: str, stage_id: str) -> list[str]:
    """The cells of the table row that starts with 'Stage <id>'."""
    for row in re.findall(r"<tr>(.*?)</tr>", page, flags=re.S):
        cells = [text_of(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)]
        if cells and cells[0].startswith(f"Stage {stage_id} "):
            return cells
    raise AssertionError(f"no row for stage {stage_id}")


LINE_MANAGER_A = Person(name="Hannah Cole", role="Health Visiting Team Leader",
                        agency=RAISING.agency, email="hannah.cole@nhs.example")
LINE_MANAGER_B = Person(name="Gary Owen", role="Team Manager", agency=RECEIVING.agency,
                        email="gary.owen@council.example")
HEAD_A = Person(name="Dr Ruth Ellis", role="Head of Safeguarding", agency=RAISING.agency,
                email="ruth.ellis@nhs.example", phone="01793 000333")
HEAD_B = Person(name="Mark Bright", role="Head of Service", agency=RECEIVING.agency,
                email="mark.bright@council.example")


def swindon_at_stage_5() -> Case:
    """A Swindon case that climbed stages 1-4 unresolved and reached the Partnership."""
    case = Case("swindon", at=ldn(2026, 3, 2), holders={
        "1.receiving": LINE_MANAGER_A, "2.raising": RAISING, "2.receiving": RECEIVING,
        "3.raising": LINE_MANAGER_A, "3.receiving": LINE_MANAGER_B,
        "4.raising": HEAD_A, "4.receiving": HEAD_B, "5.raising": HEAD_A})
    case.enter("1", ldn(2026, 3, 2)).mailed()
    case.outcome(False, "Line manager agrees the concern should go to CSC.", LINE_MANAGER_A,
                 ldn(2026, 3, 3, 15), next_stage="2")
    case.mailed()
    case.outcome(False, "Social worker maintains closure is right.", RAISING,
                 ldn(2026, 3, 9, 11), next_stage="3")
    case.mailed()
    case.outcome(False, "Team managers could not agree.", LINE_MANAGER_A, ldn(2026, 3, 13, 16),
                 next_stage="4")
    case.mailed()
    case.outcome(False, "Heads of service reached a stalemate.", HEAD_A, ldn(2026, 3, 20, 12),
                 next_stage="5")
    return case


# -- Swindon Appendix 1 ----------------------------------------------------------------------------
def test_swindon_appendix_1_is_filled_from_the_case() -> None:
    case = swindon_at_stage_5()
    page = render_form("swindon_appendix_1", case.stage_request())
    text = text_of(page)
    assert "Appendix 1 Resolution Form" in text
    assert "Child(ren)/Family name Amelia Thornbury Thornbury family" in text
    assert "DOB 14/05/2019" in text
    assert "Address 12 Orchard Close, Swindon SN1 4AB" in text
    assert "Agency seeking a solution Great Western Hospitals NHS FT" in text
    # The representative is the raising side's holder at the current stage.
    assert "Name of representative Dr Ruth Ellis" in text
    assert "Role Head of Safeguarding" in text
    assert "ruth.ellis@nhs.example" in text and "01793 000333" in text
    assert "What are you worried about? Health visitor believes the case should not be closed." \
        in text
    assert "Missed health appointments; weight loss." in text
    assert "What action do you believe is needed? Keep the plan open" in text
    # The stages 1-4 table: one row each, none for the Partnership or the Panel.
    assert row_cells(page, "1") == [
        "Stage 1 Internal discussion", "02/03/2026",
        "Hannah Cole, Health Visiting Team Leader, Great Western Hospitals NHS FT — "
        "Their own line manager",
        "E-mail via Professional Resolutions",
        "Not resolved (03/03/2026, Hannah Cole): Line manager agrees the concern should go "
        "to CSC."]
    assert row_cells(page, "2")[1:3] == [
        "03/03/2026", "Tom Reed, Social Worker, Children's Social Care — Other professional"]
    assert row_cells(page, "3")[2].startswith("Gary Owen, Team Manager")
    assert row_cells(page, "4")[1] == "13/03/2026"
    assert row_cells(page, "4")[4] == ("Not resolved (20/03/2026, Dr Ruth Ellis): Heads of "
                                       "service reached a stalemate.")
    with pytest.raises(AssertionError):
        row_cells(page, "5")


def test_swindon_rows_for_stages_not_reached_are_blank() -> None:
    case = Case("swindon", at=ldn(2026, 3, 2)).enter("1", ldn(2026, 3, 2))
    case.outcome(False, "Still worried.", RAISING, ldn(2026, 3, 3), next_stage="2")
    page = render_form("swindon_appendix_1", case.stage_request())
    assert row_cells(page, "2")[4] == "In progress"
    assert row_cells(page, "3") == ["Stage 3 Team / Inspectors / Service Manager", "", "", "", ""]
    # With nobody named at stage 1 the role title stands in for the name.
    assert row_cells(page, "1")[2] == "Their own line manager"


def test_swindon_how_contacted_is_what_the_outcome_recorded() -> None:
    case = Case("swindon", at=ldn(2026, 3, 2)).enter("1", ldn(2026, 3, 2)).mailed()
    case.outcome(False, "Spoke on the phone, no agreement.", RAISING, ldn(2026, 3, 3),
                 next_stage="2", contact_method="phone")
    case.mailed().outcome(False, "Video call, still apart.", RAISING, ldn(2026, 3, 5),
                          next_stage="3", contact_method="video")
    page = render_form("swindon_appendix_1", case.stage_request())
    assert row_cells(page, "1")[3] == "E-mail via Professional Resolutions; Telephone"
    assert row_cells(page, "2")[3] == "E-mail via Professional Resolutions; Video call"


# -- Leeds Appendix 3 ------------------------------------------------------------------------------
def leeds_at_3a() -> Case:
    case = Case("leeds", at=ldn(2026, 6, 1), reference="2026-0107", holders={
        "2.raising": LINE_MANAGER_A, "2.receiving": LINE_MANAGER_B,
        "3a.raising": HEAD_A, "3a.receiving": HEAD_B})
    case.enter("1", ldn(2026, 6, 1)).mailed()
    case.outcome(False, "Practitioners disagree about the threshold.", RAISING,
                 ldn(2026, 6, 5), next_stage="2")
    case.outcome(False, "Line managers could not agree.", LINE_MANAGER_A, ldn(2026, 6, 12),
                 next_stage="3a")
    return case


def test_leeds_appendix_3_before_an_outcome() -> None:
    case = leeds_at_3a()
    text = text_of(render_form("leeds_appendix_3", case.stage_request()))
    assert "Appendix 3: Stage 3 Notifications and Outcomes Form" in text
    assert ("Name Dr Ruth Ellis Agency Great Western Hospitals NHS FT Role Head of Safeguarding "
            "Email ruth.ellis@nhs.example Telephone 01793 000333") in text
    assert "Date of notification 12/06/2026" in text
    assert "Agencies involved Great Western Hospitals NHS FT, Children's Social Care" in text
    assert "Initial concerns Health visitor believes the case should not be closed." in text
    assert ("Stage 1 (Practitioner to practitioner), from 01/06/2026: Not resolved (05/06/2026, "
            "Priya Shah): Practitioners disagree about the threshold.") in text
    assert "Stage 2 (Line manager to line manager), from 05/06/2026: Not resolved" in text
    assert "Date of outcome Outcome notified by Outcome and next steps Not yet resolved." in text


def test_leeds_appendix_3_after_the_outcome() -> None:
    case = leeds_at_3a()
    case.outcome(True, "Plan stays open for three months.", HEAD_B, ldn(2026, 6, 18),
                 agreed_actions="Multi-agency meeting on 25 June.",
                 outstanding_matters="Review at three months.")
    text = text_of(render_form("leeds_appendix_3", case.request("resolved", ["raising"])))
    assert "Date of outcome 18/06/2026" in text
    assert "Outcome notified by Mark Bright, Head of Service, Children's Social Care" in text
    assert ("Outcome and next steps Plan stays open for three months. Agreed actions: "
            "Multi-agency meeting on 25 June. Outstanding matters: Review at three months.") in text


# -- York written account --------------------------------------------------------------------------
def test_york_written_account_tells_the_dispute_and_attempts() -> None:
    case = Case("york", at=ldn(2026, 9, 7), reference="2026-0200", holders={
        "4.raising": HEAD_A})
    case.enter("1", ldn(2026, 9, 7)).mailed()
    case.outcome(False, "No agreement between practitioners.", RAISING, ldn(2026, 9, 8),
                 next_stage="2")
    case.outcome(False, "Line managers disagree.", LINE_MANAGER_A, ldn(2026, 9, 10),
                 next_stage="3")
    case.outcome(False, "Policy issue about thresholds.", HEAD_A, ldn(2026, 9, 14),
                 next_stage="4")
    page = render_form("york_written_account", case.stage_request())
    text = text_of(page)
    assert "Written account of the dispute and the attempts made to resolve it" in text
    assert "Child Amelia Thornbury (DOB 14/05/2019)" in text
    assert "Referred by Dr Ruth Ellis, Head of Safeguarding" in text
    assert "The risk to the child Missed health appointments; weight loss." in text
    assert "The nature of the disagreement CSC plans to close the child in need plan." in text
    assert "What the raising agency aims to achieve Keep the plan open" in text
    assert row_cells(page, "3")[4] == ("Not resolved (14/09/2026, Dr Ruth Ellis): Policy issue "
                                       "about thresholds.")
    assert row_cells(page, "4")[4] == "In progress"
    # Chronology in London time, every move and outcome.
    assert "Mon 07 Sep 2026 09:00 1 system Stage 1 (Direct professional" in text
    assert "Moved from stage 3 to stage 4" in text


# -- safety ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", FORM_KINDS)
def test_forms_escape_what_people_typed(kind: str) -> None:
    hostile = Child(name="<b>Amelia</b>", address="1 <img src=x onerror=alert(1)> Street")
    case = Case("swindon", at=ldn(2026, 3, 2), child=hostile,
                issue="<script>alert('x')</script>", aim="a & b")
    case.enter("1", ldn(2026, 3, 2))
    case.outcome(False, "<script>steal()</script>", RAISING, ldn(2026, 3, 3), next_stage="2")
    page = render_form(kind, case.stage_request())
    assert "<script>" not in page
    assert "<b>Amelia</b>" not in page
    assert "<img" not in page
    assert "&lt;script&gt;steal()&lt;/script&gt;" in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert "&lt;b&gt;Amelia&lt;/b&gt;" in page


@pytest.mark.parametrize("kind", FORM_KINDS)
def test_forms_print_cleanly(kind: str) -> None:
    case = Case("leeds", at=ldn(2026, 6, 1)).enter("1", ldn(2026, 6, 1))
    page = render_form(kind, case.request("stage_entered", ["raising"]))
    assert page.startswith("<!DOCTYPE html>")
    assert "@media print" in page and "@page { size: A4" in page
    assert 'class="no-print' in page


def test_unknown_form_kind_is_refused() -> None:
    case = Case("leeds", at=ldn(2026, 6, 1)).enter("1", ldn(2026, 6, 1))
    book = case.book
    with pytest.raises(ValueError, match="unknown form 'leeds_appendix_9'"):
        render_case_form("leeds_appendix_9", protocol=book.protocol, case=book.inp.case,
                         state=book.snapshot(case.now), timeline=book.timeline)
