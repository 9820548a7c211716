"""How many bytes of Temporal history each action adds to a case.

    python -m bench.history_size                  # Leeds, 0/10/20/40 actions, 500-character texts
    python -m bench.history_size --text 5000      # the attack's 5,000-character reasons
    python -m bench.history_size --protocol york --counts 0,20,80

Starts a Temporal dev server of its own (``temporal`` from the venv), an SMTP sink and the
real worker in this process (``worker.build_worker``), raises one case, then cycles through
pause, resume, record-discussion and agree-timescale as updates, the way the CLI sends them.
After each count it prints the history's size (the sum of its events' protobuf sizes, as the
server stores them, encrypted) and the bytes per action since the previous count. Every action
waits for the case's e-mails to be sent, so the figures include the e-mail activities.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import tempfile
import uuid
from pathlib import Path

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from infra.codec import EncryptionCodec, KeyRing, data_converter
from infra.mailsink import SmtpSink
from infra.settings import Settings
from protocols.messages import Actor
from protocols.permissions import ACTION_IDS
from protocols.search_attributes import SEARCH_ATTRIBUTES
from starter.cases import act, build_case_input, get_timeline, parse_action, raise_case
from worker import build_worker

ROOT = Path(__file__).resolve().parents[1]
QUEUE = "bench-history"
BY = {"name": "Rae", "email": "r@s.example", "role_key": "raising"}
# One driver plays everyone (as bench.run does): anyone named on the case may take any action.
PERMISSIONS = json.dumps({"*": [{"action": a, "who": ["named"]} for a in ACTION_IDS]})


def _messages(text: str) -> list[tuple[str, dict]]:
    """One round of four actions that never move the case on, so it can go on for ever."""
    return [
        ("pause", {"reason": text}),
        ("resume", {"note": text[:200]}),
        ("record_discussion", {"with_name": "Rob", "method": "phone", "said": text}),
        ("agree_timescale", {"stage": "1", "timescale": {"kind": "working_days", "amount": 5},
                             "reason": text[:200], "agreed_by": ["Rae", "Rob"]}),
    ]


async def history_bytes(client: Client, workflow_id: str) -> tuple[int, int, int]:
    """(bytes, events, runs) of the case's history, across all its runs."""
    total = events = runs = 0
    run_id: str | None = None
    # Walk back from the latest run through the runs it continued (continue-as-new).
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        total += sum(e.ByteSize() for e in history.events)
        events += len(history.events)
        runs += 1
        first = history.events[0].workflow_execution_started_event_attributes
        if not first.continued_execution_run_id:
            return total, events, runs
        run_id = first.continued_execution_run_id


async def settle(client: Client, workflow_id: str) -> None:
    """Wait until the case has entered its stage and has no activity still pending."""
    handle = client.get_workflow_handle(workflow_id)
    for _ in range(600):
        if any(e.kind == "stage_entered" for e in await get_timeline(client, workflow_id)):
            break
        await asyncio.sleep(0.05)
    for _ in range(600):
        desc = await handle.describe()
        if not desc.raw_description.pending_activities:
            return
        await asyncio.sleep(0.05)


async def measure(protocol: str, counts: list[int], text_len: int,
                  continue_after: int = 10_000) -> list[tuple[int, int, int, int]]:
    folder = Path(tempfile.mkdtemp(prefix="history-size-"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sink = SmtpSink(folder, port=port)
    sink.start()
    key = b"k" * 32
    converter = data_converter(EncryptionCodec(KeyRing({"k1": key}, "k1")))
    extra: list[str] = []
    for name, kind in SEARCH_ATTRIBUTES.items():
        extra += ["--search-attribute", f"{name}={kind}"]
    env = await WorkflowEnvironment.start_local(
        data_converter=converter, dev_server_existing_path=str(ROOT / ".venv/bin/temporal"),
        dev_server_extra_args=extra)
    rows: list[tuple[int, int, int, int]] = []
    try:
        settings = Settings(data_dir=folder, smtp_port=sink.port, task_queue=QUEUE,
                            permissions=PERMISSIONS, case_actions_per_minute=1000,
                            case_continue_after_events=continue_after,
                            link_secret="bench-secret-of-at-least-thirty-two-bytes!")
        async with build_worker(env.client, settings):
            details = {"reference": f"2030-{uuid.uuid4().int % 10000:04d}",
                       "raising": {"name": "Rae", "agency": "School", "email": "r@s.example"},
                       "receiving": {"name": "Rob", "agency": "CSC", "email": "o@c.example"},
                       "issue": "i", "risk_to_child": "r", "nature": "n", "aim": "a"}
            inp = build_case_input(protocol, details, "standard", Actor(name="Rae"),
                                   settings=settings)
            handle = await raise_case(env.client, settings, inp)
            wid = handle.id
            round_ = _messages("x" * text_len)
            done = 0
            for target in counts:
                while done < target:
                    name, data = round_[done % len(round_)]
                    msg = parse_action(name, {**data, "by": BY})
                    await act(env.client, wid, name, msg)
                    done += 1
                    await settle(env.client, wid)
                await settle(env.client, wid)
                size, events, runs = await history_bytes(env.client, wid)
                rows.append((target, size, events, runs))
    finally:
        await env.shutdown()
        sink.stop()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--protocol", default="leeds")
    parser.add_argument("--counts", default="0,10,20,40")
    parser.add_argument("--text", type=int, default=500, help="characters in each reason")
    parser.add_argument("--continue-after", type=int, default=10_000,
                        help="events after which a run continues as new (200 to 40,000)")
    args = parser.parse_args(argv)
    counts = sorted({int(c) for c in args.counts.split(",")})
    rows = asyncio.run(measure(args.protocol, counts, args.text, args.continue_after))
    print(f"{args.protocol}, texts of {args.text} characters")
    print(f"{'actions':>8} {'history bytes':>14} {'events':>7} {'runs':>5} "
          f"{'bytes/action since last':>24}")
    last: tuple[int, int] | None = None
    for n, size, events, runs in rows:
        per = f"{(size - last[1]) / (n - last[0]):,.0f}" if last and n > last[0] else "-"
        print(f"{n:>8} {size:>14,} {events:>7} {runs:>5} {per:>24}")
        last = (n, size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
