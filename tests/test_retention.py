"""Retention and legal hold: purge removes closed cases past retention from Temporal and the
mail store, keeps those on hold, and records what it removed."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from temporalio.service import RPCError

from infra.mailsink import SmtpSink
from protocols.messages import ActionResult, CaseRecord
from starter.cases import act, get_state, parse_action
from starter.retention import purge
from tests.conftest import case_input, make_worker, start_case, wait_for
from workflows.disagreement import DisagreementWorkflow

# The business unit places holds; withdrawing is the raising side's (protocols.permissions).
BY = {"name": "Bea Business-Unit", "email": "bu@partnership.example", "role_key": "business_unit"}
RAISER = {"name": "Rae Raiser", "email": "rae@school.example"}


async def test_purge_respects_retention_and_legal_hold(dev_env, settings, tmp_path) -> None:
    client = dev_env.client
    # The embedded SMTP sink (not the suite's mailbox): it files mail under the data dir, which
    # purge must clean.
    settings.smtp_port = _free()
    sink = SmtpSink(settings.data_dir, port=settings.smtp_port)
    sink.start()
    try:
        async with make_worker(client, settings):
            gone = await start_case(client, case_input("barnsley", "2026-8001"))
            held = await start_case(client, case_input("barnsley", "2026-8002"))
            running = await start_case(client, case_input("barnsley", "2026-8003"))
            for h in (gone, held, running):
                await wait_for(lambda h=h: _entered(h))
            result = await act(client, held.id, "set_legal_hold", parse_action(
                "set_legal_hold", {"on": True, "reason": "Court order", "by": BY}))
            assert isinstance(result, ActionResult) and "legal hold" in result.message
            assert (await get_state(client, held.id)).legal_hold
            for h in (gone, held):
                await act(client, h.id, "withdraw", parse_action(
                    "withdraw", {"reason": "Done", "by": RAISER}))
                await h.result()
        index = settings.data_dir / "mail" / "index.jsonl"
        await wait_for(lambda: _mail_for(index, gone.id))
        before = _mail_for_sync(index, gone.id)
        assert before > 0

        soon = await purge(client, settings, as_of=datetime.now(UTC))
        assert {d.workflow_id: d.action for d in soon}[gone.id] == "kept: within retention"

        later = datetime(2040, 1, 1, tzinfo=UTC)
        dry = await purge(client, settings, as_of=later, dry_run=True)
        actions = {d.workflow_id: d.action for d in dry}
        assert actions == {gone.id: "would purge", held.id: "kept: legal hold"}

        done = await purge(client, settings, as_of=later)
        assert {d.workflow_id: d.action for d in done}[gone.id] == "purged"

        async def deleted() -> bool:  # the server deletes in the background
            try:
                await client.get_workflow_handle(gone.id).describe()
            except RPCError:
                return True
            return False

        # A just-closed case is deleted once the server has acknowledged its close tasks,
        # which it does on a timer of about 30 s (years later, in real use, at once).
        await wait_for(deleted, timeout=150, interval=2)
        assert _mail_for_sync(index, gone.id) == 0
        assert _mail_for_sync(index, held.id) > 0
        record = [json.loads(x) for x in (settings.data_dir / "purge-log.jsonl")
                  .read_text().splitlines()]
        assert [r["workflow_id"] for r in record] == [gone.id]
        assert "Test Child" not in json.dumps(record)
        held_record = await client.get_workflow_handle(
            held.id, result_type=CaseRecord).result()
        assert held_record.state.legal_hold
    finally:
        sink.stop()


async def _entered(handle) -> bool:
    state = await handle.query(DisagreementWorkflow.state)
    return bool(state.stages_visited)


def _mail_for_sync(index, wid: str) -> int:
    if not index.exists():
        return 0
    return sum(1 for line in index.read_text().splitlines() if json.loads(line)["case"] == wid)


async def _mail_for(index, wid: str) -> bool:
    return _mail_for_sync(index, wid) > 0


def _free() -> int:
    from tests.conftest import free_port

    return free_port()
