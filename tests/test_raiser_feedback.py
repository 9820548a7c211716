"""Who hears of each step: the raiser at every stage (Leeds, Dudley), and Leeds' LSCP at the
outcome (Appendix 3, its outcome half filled).

Cases run on the time-skipping server with the real worker and a real aiosmtpd server, moved on
by the messages managers send; the e-mails are read back off the wire. Dates are 2030 (BST).
"""

from __future__ import annotations

from email.message import EmailMessage

from protocols.messages import Person
from tests.conftest import at, case_input, make_worker, skip_to, start_case
from tests.mail_cases import (
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
    text_of,
)

LSCP = "lscp.info@leeds.gov.uk"
DIRECTOR_A = Person(name="Dee Director", role="Director of Nursing", agency=RAISING.agency,
                    email="dee.director@nhs.example")
DIRECTOR_B = Person(name="Vic Director", role="Director of Children's Services",
                    agency=RECEIVING.agency, email="vic.director@council.example")
LEEDS_HOLDERS = {"2.raising": LINE_MANAGER_A, "2.receiving": LINE_MANAGER_B,
                 "3a.raising": HEAD_A, "3a.receiving": HEAD_B,
                 "3b.raising": DIRECTOR_A, "3b.receiving": DIRECTOR_B}


def _stage_mail(box, event: str, stage_id: str) -> EmailMessage:
    found = [m for m in box.for_event(event) if f"stage {stage_id} " in m["Subject"] + " "]
    assert len(found) == 1, (event, stage_id, [m["Subject"] for m in box.for_event(event)])
    return found[0]


def _told_raiser(msg: EmailMessage, rule: str) -> None:
    assert RAISING.email in recipients(msg), (msg["Subject"], recipients(msg))
    assert f"Also sent to the practitioner who raised the concern ({rule}" in part(
        msg, "text/plain"), msg["Subject"]


# -- Leeds s4 bullet 3: "Feedback should be given at every stage to the practitioner who raised
# the original concern" -----------------------------------------------------------------------
async def test_leeds_raiser_hears_of_every_stage(skipping_env, settings, mailbox) -> None:
    env, (box, _) = skipping_env, mailbox
    async with make_worker(env.client, settings):
        case = await raise_case(env, "leeds", "2030-06-03 09:00", holders=LEEDS_HOLDERS)
        await outcome(env, case, "2030-06-04 09:00", "1", RAISING, "Practitioners disagree.")
        await outcome(env, case, "2030-06-05 09:00", "2", LINE_MANAGER_A, "Managers disagree.")
        await outcome(env, case, "2030-06-06 09:00", "3a", HEAD_A, "Heads disagree.")
        # Step 3b: "within a further 2 working days" to raise it with the Directors; nobody
        # records it, so it passes on Mon 10 Jun and the stage's holders are told.
        await skip_to(env, at("2030-06-11 09:00"))
        await outcome(env, case, "2030-06-11 10:00", "3b", DIRECTOR_B,
                      "Directors agree a joint plan.", resolved=True)
        await skip_to(env, at("2030-06-11 10:05"))
    rule = "Leeds s4 bullet 3"
    for stage_id, holders in (("2", (LINE_MANAGER_A, LINE_MANAGER_B)), ("3a", (HEAD_A, HEAD_B)),
                              ("3b", (DIRECTOR_A, DIRECTOR_B, HEAD_A, HEAD_B))):
        entered = _stage_mail(box, "stage_entered", stage_id)
        # Someone else holds the stage; the raiser is copied in, not made its holder.
        assert addresses(entered, "To") == emails(*holders), stage_id
        assert RAISING.email in addresses(entered, "Cc"), stage_id
        _told_raiser(entered, rule)
    [passed] = box.for_event("deadline_passed")
    assert "raises the disagreement at Director" in passed["Subject"]
    # Leeds Step 3b: each Head of Service must raise it with their Director, so it is theirs.
    assert addresses(passed, "To") == emails(HEAD_A, HEAD_B)
    _told_raiser(passed, rule)
    for stage_id in ("1", "2", "3a"):
        _told_raiser(_stage_mail(box, "outcome_recorded", stage_id), rule)
    # Step 3b's outcome resolved the case: one "resolved" e-mail tells it (one per event).
    assert not [m for m in box.for_event("outcome_recorded") if "stage 3b" in m["Subject"]]
    _told_raiser(box.for_event("resolved")[0], rule)


# -- Dudley Key principle 8: actions and decisions at all stages "shared with relevant personnel
# (including the worker who raised the initial concern)" -------------------------------------
async def test_dudley_raiser_hears_of_every_stage(skipping_env, settings, mailbox) -> None:
    env, (box, _) = skipping_env, mailbox
    async with make_worker(env.client, settings):
        case = await raise_case(env, "dudley", "2030-04-08 09:00", holders={
            "2.raising": LINE_MANAGER_A, "2.receiving": LINE_MANAGER_B,
            "3a.raising": HEAD_A, "3a.receiving": HEAD_B})
        await outcome(env, case, "2030-04-09 09:00", "1", RAISING, "Not agreed.")
        await send(env, case, "2030-04-09 10:00", "agree_timescale", stage="2",
                   timescale={"kind": "working_days", "amount": 1}, by=actor(LINE_MANAGER_A),
                   agreed_by=[LINE_MANAGER_A.name, LINE_MANAGER_B.name])
        # The agreed working day passes without an outcome: the case escalates to 3a.
        await skip_to(env, at("2030-04-11 09:00"))
        await outcome(env, case, "2030-04-11 10:00", "3a", HEAD_B, "Plan kept open.",
                      resolved=True)
        await skip_to(env, at("2030-04-11 10:05"))
    rule = "Dudley Key principle 8"
    for stage_id, holders in (("2", (LINE_MANAGER_A, LINE_MANAGER_B)), ("3a", (HEAD_A, HEAD_B))):
        entered = _stage_mail(box, "stage_entered", stage_id)
        assert addresses(entered, "To") == emails(*holders), stage_id
        _told_raiser(entered, rule)
    assert "deadline passed" in part(_stage_mail(box, "stage_entered", "3a"), "text/plain")
    # Stage 3a's outcome resolved the case: told by the one "resolved" e-mail.
    assert box.for_event("outcome_recorded") and not [
        m for m in box.for_event("outcome_recorded") if "stage 3a" in m["Subject"]]
    _told_raiser(box.for_event("resolved")[0], rule)


# -- a protocol that does not set the rule adds nobody -----------------------------------------
async def test_without_the_rule_the_raiser_is_not_added(skipping_env, settings, mailbox) -> None:
    """York does not set it (it asks only for written confirmation to the agency raising
    concerns, s5 Stage 2 para 3); nor does a Leeds protocol frozen without it."""
    env, (box, _) = skipping_env, mailbox
    leeds = case_input("leeds", "2030-0300", raising=RAISING, receiving=RECEIVING,
                       holders={"2.raising": LINE_MANAGER_A, "2.receiving": LINE_MANAGER_B})
    frozen = leeds.protocol.model_copy(update={"feedback_to_raiser_every_stage": None})
    leeds = leeds.model_copy(update={"protocol": frozen, "protocol_hash": frozen.content_hash()})
    async with make_worker(env.client, settings):
        york = await raise_case(env, "york", "2030-07-01 09:00", reference="2030-0301",
                                holders={"2.raising": LINE_MANAGER_A,
                                         "2.receiving": LINE_MANAGER_B})
        old = await start_case(env.client, leeds)
        await outcome(env, york, "2030-07-01 10:00", "1", RAISING, "No agreement.")
        await outcome(env, old, "2030-07-01 10:00", "1", RAISING, "No agreement.")
        # York stage 2: line managers "within the same working day"; it passes at 17:00.
        await skip_to(env, at("2030-07-02 09:00"))
    managers = emails(LINE_MANAGER_A, LINE_MANAGER_B)
    for reference in ("2030-0300", "2030-0301"):
        [entered] = [m for m in box.for_event("stage_entered") if reference in m["Subject"]]
        assert recipients(entered) == managers, reference
        assert "Also sent to the practitioner" not in part(entered, "text/plain")
    [passed] = box.for_event("deadline_passed")
    assert "2030-0301" in passed["Subject"] and recipients(passed) == managers


# -- Leeds: the LSCP gets Appendix 3 with its outcome half at a resolution at 3a, 3b or 4 -------
# Steps 3a/3b and Stage 4 notify the LSCP "using the template in Appendix 3"; the template is a
# "Notifications and Outcomes Form" whose outcome half asks "when all parties were informed of
# outcome" and is "To be returned to lscp.info@leeds.gov.uk FAO LSCP Business Manager".
async def test_leeds_lscp_gets_the_outcome_form(skipping_env, settings, mailbox) -> None:
    env, (box, _) = skipping_env, mailbox
    # Holders named without an agency (as `--holder "3a.raising=Name <email>"` names them).
    bare = {key: Person(name=p.name, email=p.email) for key, p in LEEDS_HOLDERS.items()}
    bare["4.raising"] = bare["3b.raising"]
    resolved_at = {"2030-0402": "2", "2030-0403": "3a", "2030-0404": "3b", "2030-0405": "4"}
    ladder = ["1", "2", "3a", "3b", "4"]
    days = ["2030-06-04", "2030-06-05", "2030-06-06", "2030-06-07", "2030-06-10"]
    async with make_worker(env.client, settings):
        cases = {ref: await raise_case(env, "leeds", "2030-06-03 09:00", reference=ref,
                                       holders=bare) for ref in resolved_at}
        for stage_id, day in zip(ladder, days, strict=True):
            for ref, handle in cases.items():
                holder = bare.get(f"{stage_id}.raising", RAISING)
                # The one resolving is named without agency or role: the form fills them in.
                who = Person(name=holder.name, email=holder.email)
                if resolved_at[ref] == stage_id:
                    await outcome(env, handle, f"{day} 09:00", stage_id, who,
                                  f"Agreed at stage {stage_id}.", resolved=True,
                                  agreed_actions="Joint visit on Friday.")
                elif ladder.index(stage_id) < ladder.index(resolved_at[ref]):
                    await outcome(env, handle, f"{day} 09:00", stage_id, who, "Not agreed.")
        await skip_to(env, at("2030-06-10 09:05"))
    resolved = {ref: m for m in box.for_event("resolved") for ref in resolved_at
                if ref in m["Subject"]}
    assert set(resolved) == set(resolved_at)
    at_2 = resolved["2030-0402"]
    assert LSCP not in recipients(at_2) and at_2["Cc"] is None
    assert not [n for n in attachments(at_2) if "appendix" in n]
    # The holders were named without role or agency: the form gives the stage's role title
    # and the agency of the side they hold.
    title = {"3a": "Head of Service / Senior Manager (raising agency)",
             "3b": "Director / Assistant Director (complainant agency)",
             "4": "Director / Assistant Director (complainant agency)"}
    for ref, stage_id in list(resolved_at.items())[1:]:
        msg = resolved[ref]
        day = days[ladder.index(stage_id)]
        on = f"{day[8:10]}/{day[5:7]}/{day[:4]}"
        notifier = bare["4.raising" if stage_id == "4" else f"{stage_id}.raising"]
        assert addresses(msg, "Cc") == [LSCP], ref
        assert "The LSCP is sent the Appendix 3 form with its outcome half filled in" in part(
            msg, "text/plain")
        form = text_of(attachments(msg)[f"leeds-appendix-3-{ref}.html"].decode())
        assert f"Current stage Stage {stage_id}:" in form
        # Notification half: the notifier's agency is the raising agency they hold it for.
        assert (f"Details of person providing notification Name {notifier.name} Agency "
                f"{RAISING.agency} Role {title[stage_id]} Email and telephone "
                f"{notifier.email} Date of notification") in form, form
        # Outcome half, field by field.
        assert f"Date of outcome {on}" in form
        assert (f"Notification of outcome from {notifier.name}, {title[stage_id]}, "
                f"{RAISING.agency} ({notifier.email})") in form, form
        assert (f"Outcome and any next steps Agreed at stage {stage_id}. Agreed actions: "
                "Joint visit on Friday.") in form
        told = [RAISING.name, RECEIVING.name, notifier.name]
        if stage_id != "4":  # stage 4's other side is the LSCP Executive itself
            told.append(bare[f"{stage_id}.receiving"].name)
        assert (f"When all parties were informed of the outcome {on}, by the resolution e-mail "
                f"from Professional Resolutions to {', '.join(told)}") in form, form
        assert "To be returned to lscp.info@leeds.gov.uk FAO LSCP Business Manager" in form
