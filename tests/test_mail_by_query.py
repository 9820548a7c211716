"""E-mail by query (issue 14): the activity's input is the event, not the case.

On a real dev server with the real worker and a real aiosmtpd server: the e-mail activity is
scheduled with ids, role keys and the event only, reads the case record with one query, and an
e-mail retried after the case has moved on still says what was true at its event.
"""

from __future__ import annotations

from activities.mail.content import short
from protocols.messages import CaseInput
from starter.cases import act, parse_action
from tests.conftest import RAE, case_input, make_worker, start_case, test_converter, wait_for
from workflows.disagreement import DisagreementWorkflow


async def test_a_retried_email_says_what_was_true_at_its_event(dev_env, settings,
                                                               mailbox) -> None:
    client = dev_env.client
    box, _ = mailbox
    box.refuse_next = 3  # the relay refuses the first attempts: retried 5 s, then 10 s later
    async with make_worker(client, settings):
        case = await start_case(client, case_input("leeds", "2026-1410"))

        async def at_stage_1():
            state = await case.query(DisagreementWorkflow.state)
            return state if any(d.key == "1/resolve" for d in state.deadlines) else None

        before = await wait_for(at_stage_1)
        lead = next(d for d in before.deadlines if d.key == "1/resolve")
        assert lead.due is not None
        # The case moves on while the e-mail of its raising waits for its retry.
        moved = await act(client, case.id, "record_outcome", parse_action("record_outcome", {
            "stage": "1", "resolved": False, "summary": "No agreement", "by": RAE}))
        assert moved is not None and moved.brief is not None and moved.brief.stage == "2"

        async def raising_sent():  # its receipt is on the timeline once the e-mail is sent
            timeline = await case.query(DisagreementWorkflow.timeline)
            return timeline if any(e.kind == "notification_sent" and e.details.get(
                "event_key", "").endswith("case_raised") for e in timeline) else None

        timeline = await wait_for(raising_sent, timeout=90, interval=0.5)
        raised = box.for_event("case_raised")
        history = await case.fetch_history()

    # Sent after the case had moved to stage 2 (so the retry really saw a newer case) ...
    stage_2 = next(e.seq for e in timeline if e.kind == "escalated" and e.stage == "2")
    sent = next(e.seq for e in timeline if e.kind == "notification_sent"
                and e.details.get("event_key", "").endswith("case_raised"))
    assert sent > stage_2
    # ... it still says stage 1 and stage 1's deadline, as at the raising.
    assert raised
    for message in raised:
        assert f"disagreement raised at stage 1 — contact your opposite number by " \
               f"{short(lead.due)}" in str(message["Subject"])

    # Every e-mail activity was scheduled with the event only: no case details, no state,
    # no timeline, and a small input.
    converter = test_converter()
    scheduled = [e.activity_task_scheduled_event_attributes for e in history.events
                 if e.HasField("activity_task_scheduled_event_attributes")]
    mails = [a for a in scheduled if a.activity_type.name.startswith("send_")]
    assert mails and {a.activity_type.name for a in mails} == {"send_case_email"}
    for a in mails:
        (raw,) = await converter.decode(a.input.payloads, [dict])
        assert not {"case", "state", "timeline", "protocol"} & set(raw)
        assert sum(p.ByteSize() for p in a.input.payloads) < 2000
    (inp,) = await converter.decode(
        history.events[0].workflow_execution_started_event_attributes.input.payloads,
        [CaseInput])
    assert inp.case.child.name == "Test Child Alpha"  # the details live in the case only
