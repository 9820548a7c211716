"""Which side is which, and the right people carried forward (issue 13, items 1 and 5).

Cases are raised through the real raising function and moved on by managers' messages on the
time-skipping server; what is checked is the e-mail the real activity sends (an aiosmtpd
mailbox) and the case's own state. Each test cites the document line it encodes.
"""

from __future__ import annotations

from typing import Any

import pytest

from protocols.messages import Person
from starter.cases import InvalidInput
from tests.conftest import at, case_input, make_worker, skip_to
from tests.mail_cases import (
    HEAD_A,
    HEAD_B,
    LINE_MANAGER_A,
    LINE_MANAGER_B,
    RAISING,
    RECEIVING,
    actor,
    addresses,
    emails,
    outcome,
    part,
    raise_case,
    recipients,
    send,
)
from workflows.disagreement import DisagreementWorkflow

HEAD_TEACHER = Person(name="Mrs Jo Price", role="Head teacher", agency=RAISING.agency,
                      email="jo.price@school.example")
DIRECTOR_A = Person(name="Sam Ford", role="Director", agency=RAISING.agency,
                    email="sam.ford@nhs.example")
DIRECTOR_B = Person(name="Alex Hill", role="Assistant Director", agency=RECEIVING.agency,
                    email="alex.hill@council.example")


def side(person: Person, kind: str) -> dict[str, Any]:
    """One side of a case, saying which kind of agency it is (``raising.kind``)."""
    return {**person.model_dump(), "kind": kind}


def mail_at(box, event: str, words: str = "") -> list:
    return [m for m in box.for_event(event) if words in m["Subject"]]


def one(box, event: str, words: str = ""):
    found = mail_at(box, event, words)
    assert len(found) == 1, [m["Subject"] for m in box.for_event(event)]
    return found[0]


# -- Dudley: the Head teacher / Principal is the school's side only ---------------------------
async def test_dudley_school_side_only_at_stages_2_and_3(skipping_env, settings, mailbox) -> None:
    # Dudley s4 Stage 2 NOTE: "If one of the agencies is a school, the Head teacher/Principal
    # will deal with this stage (as well as stage 3)": one agency, so its side only.
    env, (box, _) = skipping_env, mailbox
    async with make_worker(env.client, settings):
        case = await raise_case(env, "dudley", "2030-04-08 09:00",
                                raising=side(RAISING, "school"),
                                holders={"2.raising": HEAD_TEACHER, "2.receiving": LINE_MANAGER_B,
                                         "3a.receiving": HEAD_B, "3b.receiving": DIRECTOR_B})
        await outcome(env, case, "2030-04-09 09:00", "1", RAISING, "Not agreed.")
        await skip_to(env, at("2030-04-09 09:05"))
        at_2 = await case.query(DisagreementWorkflow.state)
        await outcome(env, case, "2030-04-10 09:00", "2", HEAD_TEACHER, "Not agreed.")
        await outcome(env, case, "2030-04-11 09:00", "3a", HEAD_TEACHER, "Not agreed.")
        await skip_to(env, at("2030-04-11 09:05"))
        at_3b = await case.query(DisagreementWorkflow.state)
    stage_2 = one(box, "stage_entered", "stage 2 ")
    assert addresses(stage_2, "To") == emails(HEAD_TEACHER, LINE_MANAGER_B)
    text = part(stage_2, "text/plain")
    assert f"Head teacher / Principal (raising agency): {HEAD_TEACHER.name}" in text
    assert ("Line/team manager or named lead for safeguarding (receiving agency): "
            f"{LINE_MANAGER_B.name}") in text
    assert "Head teacher / Principal (receiving agency)" not in text
    assert any("Head teacher / Principal (" in line and "with Line/team manager" in line
               for line in at_2.expected_next), at_2.expected_next
    # The Head teacher named for stage 2 holds the same role at 3a and 3b (a head, the school's
    # side): still named, still e-mailed, never reported missing.
    stage_3a = one(box, "stage_entered", "stage 3a")
    assert addresses(stage_3a, "To") == emails(HEAD_TEACHER, HEAD_B)
    text = part(stage_3a, "text/plain")
    assert f"Head teacher / Principal (raising agency): {HEAD_TEACHER.name}" in text
    assert f"Service/senior manager (receiving agency): {HEAD_B.name}" in text
    stage_3b = one(box, "stage_entered", "stage 3b")
    assert addresses(stage_3b, "To") == emails(HEAD_TEACHER, DIRECTOR_B)
    assert f"Director / Assistant Director (receiving agency): {DIRECTOR_B.name}" in part(
        stage_3b, "text/plain")
    assert not [n for n in at_3b.not_notified if "Head teacher" in n], at_3b.not_notified


# -- Barnsley: the VCF committee member liaises with the other side's Service Manager ---------
async def test_barnsley_vcf_liaises_with_the_other_sides_service_manager(
        skipping_env, settings, mailbox) -> None:
    # Barnsley 3.6: "the role of a senior manager, as specified in the flow chart, may be
    # undertaken by a member of the management committee"; 3.7(e): the complainant agency's
    # line manager "will liaise with the relevant service Manager".
    env, (box, _) = skipping_env, mailbox
    committee = Person(name="Pat Lowe", role="Trustee", agency="Hope Youth Project",
                       email="pat.lowe@hope.example")
    service_manager = Person(name="Chris Dale", role="Service Manager",
                             agency=RECEIVING.agency, email="chris.dale@council.example")
    async with make_worker(env.client, settings):
        case = await raise_case(env, "barnsley", "2030-04-08 09:00",
                                raising=side(RAISING, "vcf"),
                                holders={"2.raising": LINE_MANAGER_A,
                                         "2.receiving": LINE_MANAGER_B,
                                         "3.raising": committee, "3.receiving": service_manager})
        await outcome(env, case, "2030-04-09 09:00", "1", RAISING, "Not agreed.")
        await outcome(env, case, "2030-04-10 09:00", "2", LINE_MANAGER_A, "Not agreed.")
        await skip_to(env, at("2030-04-10 09:05"))
        state = await case.query(DisagreementWorkflow.state)
    stage_3 = one(box, "stage_entered", "stage 3 ")
    assert addresses(stage_3, "To") == emails(committee, service_manager)
    text = part(stage_3, "text/plain")
    assert f"Member of the management committee (raising agency): {committee.name}" in text
    assert f"Relevant Service Manager: {service_manager.name}" in text
    assert "Member of the management committee (receiving agency)" not in text
    assert any("Member of the management committee" in line and "Relevant Service Manager"
               in line for line in state.expected_next), state.expected_next


def test_a_kind_the_document_gives_one_side_is_refused_on_the_other() -> None:
    # Barnsley 3.7(e): the designated lead or committee route is the complainant agency's.
    with pytest.raises(InvalidInput) as refused:
        case_input("barnsley", receiving=side(RECEIVING, "vcf"))
    assert "raising agency only" in refused.value.fields["receiving.kind"]
    with pytest.raises(InvalidInput) as unknown:
        case_input("dudley", receiving=side(RECEIVING, "charity"))
    assert "known: school, self_employed" in unknown.value.fields["receiving.kind"]
    # A variant named by id only cannot say whose side it is: the person is asked.
    with pytest.raises(InvalidInput) as legacy:
        case_input("dudley", variants=["school"])
    assert "--raising-kind school" in legacy.value.fields["variants"]


# -- Leeds: no line manager at Step 2, that side only; 3b's duty is the Heads of Service's ----
async def test_leeds_no_line_manager_side_and_heads_of_service_duty(
        skipping_env, settings, mailbox) -> None:
    env, (box, _) = skipping_env, mailbox
    trustees = Person(name="Lou Grant", role="Chair of trustees", agency=RECEIVING.agency,
                      email="lou.grant@trust.example")
    async with make_worker(env.client, settings):
        case = await raise_case(env, "leeds", "2030-03-04 09:00", arose=at("2030-03-04 09:00"),
                                receiving=side(RECEIVING, "no_line_manager"),
                                holders={"2.raising": LINE_MANAGER_A, "2.receiving": trustees,
                                         "3a.raising": HEAD_A, "3a.receiving": HEAD_B,
                                         "3b.raising": DIRECTOR_A, "3b.receiving": DIRECTOR_B})
        await outcome(env, case, "2030-03-05 10:00", "1", RAISING, "Not agreed.")
        await outcome(env, case, "2030-03-06 10:00", "2", LINE_MANAGER_A, "Not agreed.")
        await outcome(env, case, "2030-03-07 10:00", "3a", HEAD_A, "Not agreed.")
        # Past the 2 working days of Step 3b para 1, short of the Directors' 10.
        await skip_to(env, at("2030-03-13 12:00"))
        state = await case.query(DisagreementWorkflow.state)
    # Leeds s3 Step 2 footnote: "For agencies where there is no line manager (...)
    # professional bodies, funders, commissioners or trustees should be contacted": that
    # agency's side, at Step 2 (where the footnote is) only.
    text = part(one(box, "stage_entered", "stage 2 "), "text/plain")
    assert ("Professional body, funder, commissioner or trustees (receiving agency): "
            f"{trustees.name}") in text
    assert f"Line manager (raising agency): {LINE_MANAGER_A.name}" in text
    text = part(one(box, "stage_entered", "stage 3a"), "text/plain")
    assert f"Head of Service / Senior Manager (receiving agency): {HEAD_B.name}" in text
    assert "Professional body" not in text
    # Leeds s3 Step 3b para 1: "each Head of Service / senior manager will raise the
    # disagreement within a further 2 working days": the Heads of Service act, not Directors.
    stage_3b = one(box, "stage_entered", "stage 3b")
    assert sorted(addresses(stage_3b, "To")) == sorted(
        emails(DIRECTOR_A, DIRECTOR_B) + emails(HEAD_A, HEAD_B))
    duty_mail = [m for m in box.messages if "Each Head of Service raises" in m["Subject"]]
    assert duty_mail, [m["Subject"] for m in box.messages]
    for message in duty_mail:
        assert addresses(message, "To") == emails(HEAD_A, HEAD_B), message["Subject"]
    assert state.stage == "3b" and state.not_notified == []


# -- Swindon: a practitioner named for stage 1 stays named at stage 2 -------------------------
async def test_a_stage_1_practitioner_stays_named_and_mailed_at_stage_2(
        skipping_env, settings, mailbox) -> None:
    # Swindon s4 Stages 1 and 2: the professional who disagrees consults their line manager,
    # then "The professional who has a concern should speak to the other professional": the
    # same practitioner role (held_by practitioner, raising side) at both stages.
    env, (box, _) = skipping_env, mailbox
    cover = Person(name="Nia Lloyd", role="Health Visitor", agency=RAISING.agency,
                   email="nia.lloyd@nhs.example")
    async with make_worker(env.client, settings):
        case = await raise_case(env, "swindon", "2030-03-04 09:00",
                                holders={"1.receiving": LINE_MANAGER_A})
        await send(env, case, "2030-03-04 11:00", "assign", role="1.raising",
                   person=cover.model_dump(), reason="Sickness", by=actor(LINE_MANAGER_A))
        await outcome(env, case, "2030-03-05 10:00", "1", cover, "Still disagree.")
        await skip_to(env, at("2030-03-05 10:05"))
        state = await case.query(DisagreementWorkflow.state)
    stage_2 = one(box, "stage_entered", "stage 2")
    assert addresses(stage_2, "To") == emails(cover, RECEIVING)
    assert RAISING.email not in recipients(stage_2)
    assert f"Professional with the concern: {cover.name}" in part(stage_2, "text/plain")
    assert any(cover.name in line for line in state.expected_next), state.expected_next
