"""E-mail through the workflow, on the time-skipping server with a real aiosmtpd server."""

from __future__ import annotations

from collections import Counter

from tests.conftest import RAE, at, case_input, make_worker, skip_to, start_case
from workflows.disagreement import DisagreementWorkflow

SSP = "safeguardingpartnership@swindon.gov.uk"


def _cc(message) -> str:
    return (message["Cc"] or "").lower()


async def test_swindon_path_recipients_copies_and_forms(skipping_env, settings, mailbox) -> None:
    env = skipping_env
    box, _ = mailbox
    await skip_to(env, at("2030-03-04 09:00"))
    async with make_worker(env.client, settings):
        handle = await start_case(env.client, case_input("swindon", arose=at("2030-03-04 09:00")))
        await skip_to(env, at("2030-03-28 09:00"))
        await handle.query(DisagreementWorkflow.state)
    by_event = Counter(box.events())
    assert by_event["case_raised"] == 1
    assert by_event["stage_entered"] == 4  # stages 2, 3, 4 and 5
    assert by_event["reminder"] == 4 and by_event["deadline_passed"] == 0  # 1-4 escalate
    for m in box.messages:
        assert "Test Child Alpha" not in m["Subject"]
        assert m["Subject"].startswith("[SSP] Case 2030-0001")
    raised = box.for_event("case_raised")[0]
    # Swindon s4 Stage 1 is the raiser's internal discussion: the other agency is not told.
    assert "rae@school.example" in raised["To"] and "rob@csc.example" not in raised["To"]
    assert SSP not in _cc(raised)  # the Partnership is copied from stage 2 only
    entered = {m["X-Resolutions-Event-Key"]: m for m in box.for_event("stage_entered")}
    for message in entered.values():
        assert SSP in _cc(message)
    stage5 = next(m for m in box.for_event("stage_entered") if "stage 5" in m["Subject"])
    names = [part.get_filename() for part in stage5.iter_attachments()]
    form = next(p for p in stage5.iter_attachments() if "appendix" in (p.get_filename() or ""))
    html = form.get_content()
    if isinstance(html, bytes):
        html = html.decode()
    assert "Test Child Alpha" in html and "1 Example Road" in html
    assert any(n and n.endswith(".ics") for n in names)
    ics = next(p for p in stage5.iter_attachments() if (p.get_filename() or "").endswith(".ics"))
    text = ics.get_content()
    text = text.decode() if isinstance(text, bytes) else text
    assert "DTSTART:20300403T160000Z" in text  # Wed 3 Apr 2030 17:00 BST
    message_ids = [m["Message-ID"] for m in box.messages]
    assert len(message_ids) == len(set(message_ids))


async def test_leeds_lscp_notified_with_appendix_3(skipping_env, settings, mailbox) -> None:
    env = skipping_env
    box, _ = mailbox
    await skip_to(env, at("2030-03-04 09:00"))
    async with make_worker(env.client, settings):
        handle = await start_case(env.client, case_input("leeds", urgency="urgent"))
        await skip_to(env, at("2030-03-04 09:05"))
        await handle.query(DisagreementWorkflow.state)
    raised = box.for_event("case_raised")[0]
    assert "lscp.info@leeds.gov.uk" in _cc(raised)  # entered at 3a
    assert any("appendix" in (p.get_filename() or "").lower()
               for p in raised.iter_attachments())


async def test_smtp_refusing_twice_delivers_once(skipping_env, settings, mailbox) -> None:
    env = skipping_env
    box, _ = mailbox
    box.refuse_next = 2
    await skip_to(env, at("2030-03-04 09:00"))
    async with make_worker(env.client, settings):
        handle = await start_case(env.client, case_input("barnsley"))
        await skip_to(env, at("2030-03-04 09:10"))
        await handle.signal("withdraw_signal", {"reason": "test", "by": RAE})
        result = await handle.result()
    assert box.refuse_next == 0
    assert Counter(box.events())["case_raised"] == 1
    ids = [m["Message-ID"] for m in box.messages]
    assert len(ids) == len(set(ids))
    sent = [e for e in result.timeline if e.kind == "notification_sent"]
    assert any(e.details.get("event_key", "").endswith("case_raised") for e in sent)
    assert result.state.stage == "1"


async def test_case_keeps_its_own_protocol_when_the_file_changes(skipping_env, settings,
                                                                 mailbox) -> None:
    """The activity loads a protocol by id and hash; when the file no longer matches (it was
    edited after the case began) it reads the protocol frozen into the case instead."""
    env = skipping_env
    box, _ = mailbox
    inp = case_input("barnsley", "2030-0099")
    frozen = inp.protocol.model_copy(update={"short_name": "BSCB-2011"})
    inp = inp.model_copy(update={"protocol": frozen, "protocol_hash": frozen.content_hash()})
    await skip_to(env, at("2030-03-04 09:00"))
    async with make_worker(env.client, settings):
        handle = await start_case(env.client, inp)
        await skip_to(env, at("2030-03-04 09:05"))
        await handle.query(DisagreementWorkflow.state)
    raised = box.for_event("case_raised")
    assert raised and raised[0]["Subject"].startswith("[BSCB-2011] Case 2030-0099")
