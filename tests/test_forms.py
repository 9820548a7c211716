"""Partnership forms filled from a case's own record (Swindon App. 1, Leeds App. 3, York).

Each case runs on the time-skipping server with the real worker; managers' outcomes are sent
as messages, and each form is printed with `resolutions form`, which reads the case's record
from Temporal. Dates are worked out by hand for 2030 (GMT until 31 March, BST after).
"""

from __future__ import annotations

import pytest

from protocols.messages import Child
from protocols.schema import FORM_KINDS
from tests.conftest import make_worker, skip_to
from tests.mail_cases import (
    HEAD_A,
    HEAD_B,
    LINE_MANAGER_A,
    LINE_MANAGER_B,
    RAISING,
    RECEIVING,
    at,
    attachments,
    form_via_cli,
    outcome,
    raise_case,
    row_cells,
    run_cli,
    text_of,
)

SWINDON_HOLDERS = {"1.receiving": LINE_MANAGER_A, "2.raising": RAISING, "2.receiving": RECEIVING,
                   "3.raising": LINE_MANAGER_A, "3.receiving": LINE_MANAGER_B,
                   "4.raising": HEAD_A, "4.receiving": HEAD_B, "5.raising": HEAD_A}


# -- Swindon Appendix 1 ----------------------------------------------------------------------------
async def test_swindon_appendix_1_is_filled_from_the_case(skipping_env, settings, mailbox,
                                                          tmp_path) -> None:
    """A case that climbed stages 1-4 unresolved and reached the Partnership (stage 5)."""
    env, (box, _) = skipping_env, mailbox
    async with make_worker(env.client, settings):
        case = await raise_case(env, "swindon", "2030-03-04 09:00", holders=SWINDON_HOLDERS,
                                arose=at("2030-03-04 09:00"))
        await outcome(env, case, "2030-03-05 15:00", "1", LINE_MANAGER_A,
                      "Line manager agrees the concern should go to CSC.")
        await outcome(env, case, "2030-03-11 11:00", "2", RAISING,
                      "Social worker maintains closure is right.")
        await outcome(env, case, "2030-03-15 16:00", "3", LINE_MANAGER_A,
                      "Team managers could not agree.")
        await outcome(env, case, "2030-03-22 12:00", "4", HEAD_A,
                      "Heads of service reached a stalemate.")
        await skip_to(env, at("2030-03-22 12:05"))
        page = await form_via_cli(env, case.id, "swindon_appendix_1", tmp_path)
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
        # No discussion was recorded: when and how contact was made are not guessed.
        "Stage 1 Internal discussion", "not recorded",
        "Hannah Cole, Health Visiting Team Leader, Great Western Hospitals NHS FT — "
        "Their own line manager (raising agency)",
        "not recorded",
        "Not resolved (05/03/2030, Hannah Cole): Line manager agrees the concern should go "
        "to CSC."]
    assert row_cells(page, "2")[1:3] == [
        "not recorded", "Tom Reed, Social Worker, Children's Social Care — Other professional"]
    assert row_cells(page, "3")[2].startswith("Gary Owen, Team Manager")
    assert row_cells(page, "4")[1] == "not recorded"
    assert row_cells(page, "4")[4] == ("Not resolved (22/03/2030, Dr Ruth Ellis): Heads of "
                                       "service reached a stalemate.")
    with pytest.raises(AssertionError):
        row_cells(page, "5")
    # The same form went to the Partnership with the stage 5 e-mail.
    entered_5 = next(m for m in box.for_event("stage_entered") if "stage 5" in m["Subject"])
    sent = attachments(entered_5)["swindon-appendix-1-2030-0042.html"].decode()
    assert row_cells(sent, "4") == row_cells(page, "4")


async def test_swindon_rows_not_reached_and_how_contacted(skipping_env, settings, mailbox,
                                                          tmp_path) -> None:
    env = skipping_env
    async with make_worker(env.client, settings):
        blank = await raise_case(env, "swindon", "2030-03-04 09:00", reference="2030-0043")
        spoke = await raise_case(env, "swindon", "2030-03-04 09:00", reference="2030-0044")
        await outcome(env, blank, "2030-03-05 09:00", "1", RAISING, "Still worried.")
        await outcome(env, spoke, "2030-03-05 09:00", "1", RAISING,
                      "Spoke on the phone, no agreement.", contact_method="phone")
        await outcome(env, spoke, "2030-03-07 09:00", "2", RAISING, "Video call, still apart.",
                      contact_method="video")
        await skip_to(env, at("2030-03-07 09:05"))
        blank_page = await form_via_cli(env, blank.id, "swindon_appendix_1", tmp_path)
        spoke_page = await form_via_cli(env, spoke.id, "swindon_appendix_1", tmp_path)
    assert row_cells(blank_page, "2")[4] == "In progress"
    assert row_cells(blank_page, "3") == ["Stage 3 Team / Inspectors / Service Manager",
                                          "", "", "", ""]
    # With nobody named at stage 1 the role title stands in for the name.
    assert row_cells(blank_page, "1")[2] == "Their own line manager (raising agency)"
    # How the two sides spoke, as each outcome recorded it.
    assert row_cells(spoke_page, "1")[3] == "Telephone"
    assert row_cells(spoke_page, "2")[3] == "Video call"
    assert row_cells(blank_page, "1")[3] == "not recorded"


# -- Leeds Appendix 3 ------------------------------------------------------------------------------
async def test_leeds_appendix_3_before_and_after_the_outcome(skipping_env, settings, mailbox,
                                                             tmp_path) -> None:
    env = skipping_env
    async with make_worker(env.client, settings):
        case = await raise_case(env, "leeds", "2030-06-03 09:00", reference="2030-0107",
                                holders={"2.raising": LINE_MANAGER_A,
                                         "2.receiving": LINE_MANAGER_B,
                                         "3a.raising": HEAD_A, "3a.receiving": HEAD_B})
        await outcome(env, case, "2030-06-07 09:00", "1", RAISING,
                      "Practitioners disagree about the threshold.")
        await outcome(env, case, "2030-06-14 09:00", "2", LINE_MANAGER_A,
                      "Line managers could not agree.")
        await skip_to(env, at("2030-06-14 09:05"))
        before = text_of(await form_via_cli(env, case.id, "leeds_appendix_3", tmp_path))
        await outcome(env, case, "2030-06-20 09:00", "3a", HEAD_B,
                      "Plan stays open for three months.", resolved=True,
                      agreed_actions="Multi-agency meeting on 25 June.",
                      outstanding_matters="Review at three months.")
        await skip_to(env, at("2030-06-20 09:05"))
        after = text_of(await form_via_cli(env, case.id, "leeds_appendix_3", tmp_path))
    assert "Appendix 3: Stage 3 Notifications and Outcomes Form" in before
    assert ("Details of person providing notification Name Dr Ruth Ellis Agency Great Western "
            "Hospitals NHS FT Role Head of Safeguarding Email and telephone "
            "ruth.ellis@nhs.example, 01793 000333") in before
    assert "Date of notification 14/06/2030" in before
    assert "Agencies involved Great Western Hospitals NHS FT, Children's Social Care" in before
    assert "Initial concerns Health visitor believes the case should not be closed." in before
    assert ("Stage 1 (Practitioner to practitioner), from 03/06/2030: Not resolved (07/06/2030, "
            "Priya Shah): Practitioners disagree about the threshold.") in before
    assert "Stage 2 (Line manager to line manager), from 07/06/2030: Not resolved" in before
    assert ("Outcome of process and next steps Date of outcome Notification of outcome from "
            "Outcome and any next steps Not yet resolved.") in before
    assert "When all parties were informed of the outcome To be returned" in before
    assert "Date of outcome 20/06/2030" in after
    assert ("Notification of outcome from Mark Bright, Head of Service, Children's Social Care "
            "(mark.bright@council.example)") in after
    assert ("Outcome and any next steps Plan stays open for three months. Agreed actions: "
            "Multi-agency meeting on 25 June. Outstanding matters: Review at three months.") \
        in after


# -- York written account --------------------------------------------------------------------------
async def test_york_written_account_tells_the_dispute_and_attempts(skipping_env, settings,
                                                                   mailbox, tmp_path) -> None:
    env = skipping_env
    async with make_worker(env.client, settings):
        case = await raise_case(env, "york", "2030-09-02 09:00", reference="2030-0200",
                                holders={"2.raising": LINE_MANAGER_A, "3.raising": HEAD_A,
                                         "4.raising": HEAD_A})
        await outcome(env, case, "2030-09-03 09:00", "1", RAISING,
                      "No agreement between practitioners.")
        await outcome(env, case, "2030-09-05 09:00", "2", LINE_MANAGER_A,
                      "Line managers disagree.")
        await outcome(env, case, "2030-09-09 09:00", "3", HEAD_A,
                      "Policy issue about thresholds.")
        await skip_to(env, at("2030-09-09 09:05"))
        page = await form_via_cli(env, case.id, "york_written_account", tmp_path)
    text = text_of(page)
    assert "Written account of the dispute and the attempts made to resolve it" in text
    assert "Child Amelia Thornbury (DOB 14/05/2019)" in text
    assert "Referred by Dr Ruth Ellis, Head of Safeguarding" in text
    assert "The risk to the child Missed health appointments; weight loss." in text
    assert "The nature of the disagreement CSC plans to close the child in need plan." in text
    assert "What the raising agency aims to achieve Keep the plan open" in text
    assert row_cells(page, "3")[4] == ("Not resolved (09/09/2030, Dr Ruth Ellis): Policy issue "
                                       "about thresholds.")
    assert row_cells(page, "4")[4] == "In progress"
    # Chronology in London time, every move and outcome.
    assert "Mon 02 Sep 2030 09:00 1 system Stage 1 (Direct professional" in text
    assert "Moved from stage 3 to stage 4" in text


# -- safety ---------------------------------------------------------------------------------------
async def test_forms_escape_what_people_typed_and_print(skipping_env, settings, mailbox,
                                                        tmp_path) -> None:
    env = skipping_env
    hostile = Child(name="<b>Amelia</b>", address="1 <img src=x onerror=alert(1)> Street")
    # Each form is printed for a case of its own partnership (a form of another partnership's
    # protocol is refused: see test_a_form_of_another_protocol_is_refused).
    protocol_of = {"swindon_appendix_1": "swindon", "leeds_appendix_3": "leeds",
                   "york_written_account": "york"}
    assert set(protocol_of) == set(FORM_KINDS)
    pages: dict[str, str] = {}
    async with make_worker(env.client, settings):
        for n, (kind, protocol) in enumerate(sorted(protocol_of.items()), start=1):
            case = await raise_case(env, protocol, "2030-03-04 09:00", child=hostile,
                                    reference=f"2030-000{n}",
                                    issue="<script>alert('x')</script>", aim="a & b")
            await outcome(env, case, "2030-03-05 09:00", "1", RAISING,
                          "<script>steal()</script>")
            pages[kind] = await form_via_cli(env, case.id, kind, tmp_path)
    for kind, page in pages.items():
        assert "<script>" not in page, kind
        assert "<b>Amelia</b>" not in page
        assert "<img" not in page
        assert "&lt;script&gt;steal()&lt;/script&gt;" in page
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
        assert "&lt;b&gt;Amelia&lt;/b&gt;" in page
        # Printable: a whole page with an A4 print stylesheet; screen-only bits hidden.
        assert page.startswith("<!DOCTYPE html>")
        assert "@media print" in page and "@page { size: A4" in page
        assert 'class="no-print' in page


async def test_a_form_of_another_protocol_is_refused(skipping_env, settings, mailbox,
                                                    tmp_path) -> None:
    env = skipping_env
    async with make_worker(env.client, settings):
        case = await raise_case(env, "dudley", "2030-03-04 09:00")
        code, out, err = await run_cli(env, "form", case.id, "--kind", "swindon_appendix_1",
                                       tmp_path=tmp_path)
    assert code == 1
    assert "has no form 'swindon_appendix_1'" in err and "Traceback" not in out + err


async def test_unknown_form_kind_is_refused(skipping_env, tmp_path) -> None:
    code, out, err = await run_cli(skipping_env, "form", "leeds-2030-0001", "--kind",
                                   "leeds_appendix_9", tmp_path=tmp_path)
    assert code == 1
    assert "unknown form 'leeds_appendix_9'" in err
    assert "Traceback" not in out + err
