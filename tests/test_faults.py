"""Faults on the real dev server, with worker processes and a compressed calendar (a working
day lasts one second, so a Swindon case reaches "Day 17" in about seventeen seconds).

- kill -9 a worker mid-stage and start it again: no timer, message or e-mail lost or doubled;
- stop and restart the dev server on its SQLite file: cases continue;
- the SMTP server down for a while: mail delivered after it returns, deadlines unaffected;
- two workers on one task queue, one killed: the other carries on.

Each worker has its own data dir, as two hosts would. Every test ends by counting, for each
(Message-ID, recipient) the cases recorded as sent, how many copies the SMTP server received:
none may be missing or doubled. With ``FAULT_TALLY=<file>`` each run appends its counts, and how
long each accepted copy waited between the server's 250 and its durable record, as a JSON line.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from infra.devserver import DevServer
from infra.settings import Settings
from starter.cases import raise_case
from tests.conftest import (
    RAE,
    ROOT,
    TEST_KEY,
    TEST_KEY_ID,
    MailBox,
    case_input,
    free_port,
    test_converter,
    wait_for,
)
from workflows.disagreement import DisagreementWorkflow

DAY_SECONDS = 1.0
QUEUE = "faults"


@dataclass
class StallingBox(MailBox):
    """A mail server that can hold each incoming message open, so a test can kill the worker
    while an e-mail is on the wire."""

    stall: bool = False
    stalled: int = 0
    hold_second_of: str = ""  # an event: hold the second SMTP message of its e-mail on the wire
    accepted_at: list[float] = field(default_factory=list)  # beside ``messages``: when 250 went

    def _holds(self, envelope) -> bool:
        if self.stall or not self.hold_second_of:
            return self.stall
        msg = message_from_bytes(envelope.content, policy=policy.default)
        if msg["X-Resolutions-Event"] == self.hold_second_of and any(
                m["Message-ID"] == msg["Message-ID"] for m in self.messages):
            self.hold_second_of, self.stall = "", True
        return self.stall

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
        if self._holds(envelope):
            self.stalled += 1
            while self.stall:
                await asyncio.sleep(0.05)
            return "421 4.3.0 sender went away"
        reply = await super().handle_DATA(server, session, envelope)
        if reply.startswith("250"):
            self.accepted_at.append(time.time())
        return reply


class Harness:
    """A dev server, an SMTP server and worker processes that a test can break."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.server = DevServer(tmp / "server", port=free_port(), ui_port=free_port())
        self.box = StallingBox()
        self.smtp_port = free_port()
        self.smtp: Controller | None = None
        self.workers: list[subprocess.Popen] = []
        self.names: list[str] = []
        self.client: Client | None = None

    async def start(self) -> None:
        (self.tmp / "server").mkdir(parents=True, exist_ok=True)
        await self.server.start()
        self.start_smtp()
        self.client = await Client.connect(self.server.address, data_converter=test_converter())

    def start_smtp(self) -> None:
        self.smtp = Controller(self.box, hostname="127.0.0.1", port=self.smtp_port)
        self.smtp.start()

    def stop_smtp(self) -> None:
        if self.smtp is not None:
            self.smtp.stop()
            self.smtp = None

    def start_worker(self, name: str) -> subprocess.Popen:
        import base64

        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("RESOLUTIONS_", "TEMPORAL_"))}
        env.update({
            "RESOLUTIONS_TEMPORAL_ADDRESS": self.server.address,
            "RESOLUTIONS_TASK_QUEUE": QUEUE,
            "RESOLUTIONS_CODEC_KEYS": json.dumps(
                {TEST_KEY_ID: base64.b64encode(TEST_KEY).decode()}),
            "RESOLUTIONS_SMTP_PORT": str(self.smtp_port),
            "RESOLUTIONS_TEST_DAY_SECONDS": str(DAY_SECONDS),
            "RESOLUTIONS_DATA_DIR": str(self.tmp / f"{name}-data"),  # one host each
            "RESOLUTIONS_SETTINGS_FILE": str(self.tmp / "none.toml"),
        })
        log = open(self.tmp / f"{name}.log", "w")
        # -v: the debug line each durable record of an accepted recipient writes (the window).
        proc = subprocess.Popen([sys.executable, "worker.py", "--no-web", "-v"], cwd=ROOT,
                                env=env, stdout=log, stderr=subprocess.STDOUT)
        self.workers.append(proc)
        self.names.append(name)
        return proc

    async def wait_ready(self, name: str) -> None:
        async def ready() -> bool:
            return "Ready." in (self.tmp / f"{name}.log").read_text()

        await wait_for(ready, timeout=60)

    async def kill(self, proc: subprocess.Popen, handles: list[WorkflowHandle]) -> None:
        """SIGKILL a worker, never inside the window SMTP cannot close (see README, "How
        e-mail is retried"). New SMTP messages are held on the wire first, so whatever the
        worker was sending stays in flight, and the kill waits until every message the server
        has already accepted is durably recorded: a duplicate after this is a real bug."""
        self.box.stall = True

        async def nothing_unrecorded() -> bool:
            return not await _unrecorded(self, handles)

        await wait_for(nothing_unrecorded, timeout=30, interval=0.1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        self.box.stall = False

    async def stop(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        self.stop_smtp()
        await self.server.stop()

    async def start_case(self, reference: str):
        inp = case_input("swindon", reference)
        return await raise_case(self.client, Settings(task_queue=QUEUE), inp)


@pytest.fixture
async def harness(tmp_path: Path):
    h = Harness(tmp_path)
    try:  # a failed start still stops what did start (a leaked dev server outlives the run)
        await h.start()
        yield h
    finally:
        await h.stop()


async def _stages(handle) -> list[str]:
    """Stages whose entry is fully recorded (the move is written after its deadlines)."""
    timeline = await handle.query(DisagreementWorkflow.timeline)
    return [e.stage for e in timeline if e.kind in ("stage_entered", "escalated")]


async def _reached(handle, stage: str, timeout: float) -> None:
    async def there() -> bool:
        return stage in await _stages(handle)

    await wait_for(there, timeout=timeout, interval=0.3)


SERVER_GONE = re.compile(r"gRPC call poll_\w+ retried \d+ times")  # the SDK's own warning
RECORDED = re.compile(r"e-mail (<[^>]+>): \d+ recipient\(s\) recorded as sent at ([\d.]+)")


def _pairs(msg) -> list[tuple[str, str]]:
    return [(msg["Message-ID"], a.strip().lower())
            for a in (msg["X-Envelope-To"] or "").split(",") if a.strip()]


async def _recorded_sends(handles: list[WorkflowHandle]) -> set[tuple[str, str]]:
    """(Message-ID, recipient) for every e-mail the cases recorded as sent."""
    sent: set[tuple[str, str]] = set()
    for handle in handles:
        for e in await handle.query(DisagreementWorkflow.timeline):
            if e.kind == "notification_sent":
                to = e.summary.rpartition(" sent to ")[2]
                sent |= {(e.details["message_id"], a.strip().lower()) for a in to.split(",")
                         if a.strip() and a.strip() != "nobody"}
    return sent


async def _settled(harness: Harness, handles: list[WorkflowHandle]) -> None:
    """Wait until every e-mail the SMTP server holds is recorded as sent by its case: its
    activity has completed, so no attempt of it is still running to send another copy."""
    async def all_recorded() -> bool:
        received = {mid for m in harness.box.messages for mid, _ in _pairs(m)}
        recorded = {mid for mid, _ in await _recorded_sends(handles)}
        return received <= recorded

    await wait_for(all_recorded, timeout=60, interval=0.3)


async def _durable_points(harness: Harness,
                          handles: list[WorkflowHandle]) -> dict[str, list[float]]:
    """When the server durably held each e-mail's progress: the acknowledged heartbeats the
    workers logged, and the completion of the activity (recorded in each case's history)."""
    points: dict[str, list[float]] = {}
    for name in harness.names:
        for mid, at in RECORDED.findall((harness.tmp / f"{name}.log").read_text()):
            points.setdefault(mid, []).append(float(at))
    converter = harness.client.data_converter
    for handle in handles:
        async for event in handle.fetch_history_events():
            if event.event_type != EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                continue
            result = event.activity_task_completed_event_attributes.result.payloads
            [value] = await converter.decode(result)
            if isinstance(value, dict) and "message_id" in value:
                points.setdefault(value["message_id"], []).append(
                    event.event_time.ToDatetime().timestamp())
    return points


def _accepted(harness: Harness) -> list[tuple[object, float]]:
    """(message, when the server's 250 went) for each message the SMTP server accepted."""
    accepted = list(harness.box.accepted_at)  # the SMTP server's thread files the message first
    return list(zip(harness.box.messages[:len(accepted)], accepted, strict=True))


async def _unrecorded(harness: Harness, handles: list[WorkflowHandle]) -> int:
    """Accepted messages with no durable record yet: a kill now would have them sent again."""
    points = await _durable_points(harness, handles)
    return sum(1 for msg, at in _accepted(harness)
               if not any(p >= at for p in points.get(msg["Message-ID"], [])))


async def _tally(harness: Harness, test: str, handles: list[WorkflowHandle]) -> dict:
    """Count what the cases recorded as sent against what the SMTP server received, assert
    nothing is lost or doubled, and report the 250-to-durable-record window of each copy."""
    await _settled(harness, handles)
    expected = await _recorded_sends(handles)  # read first: all of it was delivered before
    received = _accepted(harness)
    copies = Counter(pair for m, _ in received for pair in _pairs(m))
    points = await _durable_points(harness, handles)
    windows, unrecorded = [], 0
    for msg, accepted in received:
        after = [p - accepted for p in points.get(msg["Message-ID"], []) if p >= accepted]
        if after:
            windows.append(min(after) * 1000)
        else:
            unrecorded += 1
    tally = {
        "test": test, "expected": len(expected), "delivered": len(copies.keys() & expected),
        "duplicated": sum(n - 1 for n in copies.values()),
        "lost": len(expected - copies.keys()), "copies": sum(copies.values()),
        "window_ms_median": round(statistics.median(windows), 1) if windows else None,
        "window_ms_max": round(max(windows), 1) if windows else None,
        "unrecorded_copies": unrecorded,
        "windows_ms": [round(w, 1) for w in windows],
    }
    print("FAULT-TALLY", json.dumps({k: v for k, v in tally.items() if k != "windows_ms"}))
    if os.environ.get("FAULT_TALLY"):
        with open(os.environ["FAULT_TALLY"], "a") as out:
            out.write(json.dumps(tally) + "\n")
    doubled = [pair for pair, n in copies.items() if n > 1]
    assert not doubled, f"e-mails sent twice: {doubled}"
    lost = expected - copies.keys()
    assert not lost, f"recorded as sent, never received: {lost}"
    assert tally["expected"] > 0
    return tally


async def _timers_fired(handle: WorkflowHandle) -> int:
    return len([e async for e in handle.fetch_history_events()
                if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED])


async def test_kill_worker_mid_stage_loses_nothing(harness: Harness) -> None:
    harness.start_worker("w1")
    await harness.wait_ready("w1")
    handle = await harness.start_case("2026-7001")
    await _reached(handle, "2", timeout=20)
    await harness.kill(harness.workers[0], [handle])
    await handle.signal("assign_signal", {"role": "3.raising", "reason": "cover",
                                          "person": {"name": "Cara Cover",
                                                     "email": "cara@x.example"},
                                          "by": RAE})
    fired = await _timers_fired(handle)

    async def timer_fell_due() -> bool:  # stage 2's timer falls due while no worker runs
        return await _timers_fired(handle) > fired

    await wait_for(timer_fell_due, timeout=20, interval=0.3)
    harness.start_worker("w2")
    await harness.wait_ready("w2")
    await _reached(handle, "5", timeout=40)
    timeline = await handle.query(DisagreementWorkflow.timeline)
    moves = [e.stage for e in timeline if e.kind in ("stage_entered", "escalated")]
    assert moves == ["1", "2", "3", "4", "5"]
    assert any(e.kind == "role_assigned" for e in timeline)  # the signal survived

    def entered() -> set[str]:
        return {m["X-Resolutions-Event-Key"] for m in harness.box.messages
                if m["X-Resolutions-Event"] == "stage_entered"}

    async def all_announced() -> bool:
        return len(entered()) >= 4

    # An e-mail that was in flight on the killed worker is retried once its heartbeat times
    # out (10 s) and the retry's backoff passes, so it may land after stage 5 is reached.
    await wait_for(all_announced, timeout=60, interval=0.5)
    await _tally(harness, "kill_mid_stage", [handle])
    assert len(entered()) == 4  # stages 2-5, each announced once (no event lost)
    assert any("cara@x.example" in (m["X-Envelope-To"] or "") for m in harness.box.messages)


async def test_worker_killed_while_sending_mail_is_retried(harness: Harness) -> None:
    """The e-mail on the wire when its worker dies is sent again by the next worker, once.
    The attempt's heartbeat stops, so the retry comes within seconds, not after the 60 s
    start-to-close timeout."""
    harness.box.stall = True
    harness.start_worker("w1")
    await harness.wait_ready("w1")
    handle = await harness.start_case("2026-7004")

    async def on_the_wire() -> bool:
        return harness.box.stalled > 0

    await wait_for(on_the_wire, timeout=20, interval=0.1)
    await harness.kill(harness.workers[0], [handle])
    assert harness.box.messages == []
    harness.start_worker("w2")
    await harness.wait_ready("w2")

    async def raised_mail_arrived() -> bool:
        return bool(harness.box.for_event("case_raised"))

    await wait_for(raised_mail_arrived, timeout=35, interval=0.3)
    await _tally(harness, "kill_mid_send", [handle])
    timeline = await handle.query(DisagreementWorkflow.timeline)
    sent = [e for e in timeline if e.kind == "notification_sent"
            and e.details.get("event_key", "").endswith("case_raised")]
    assert len(sent) == 1


async def test_worker_killed_between_batches_resumes_on_another_host(harness: Harness) -> None:
    """A Swindon stage-2 e-mail goes as one SMTP message per personal link. Kill its worker
    while a later one is on the wire: the worker on another host (its own data dir) sends only
    the messages no earlier attempt had handed over, because the server holds that progress."""
    harness.start_worker("w1")
    await harness.wait_ready("w1")
    handle = await harness.start_case("2026-7005")

    harness.box.hold_second_of = "stage_entered"

    async def second_message_on_the_wire() -> bool:
        return harness.box.stalled > 0

    await wait_for(second_message_on_the_wire, timeout=30, interval=0.1)
    await harness.kill(harness.workers[0], [handle])
    harness.start_worker("w2")
    await harness.wait_ready("w2")
    await _reached(handle, "3", timeout=60)

    async def stage_2_sent() -> bool:
        timeline = await handle.query(DisagreementWorkflow.timeline)
        return any(e.kind == "notification_sent" and e.stage == "2"
                   and e.details.get("event_key", "").endswith("stage_entered")
                   for e in timeline)

    await wait_for(stage_2_sent, timeout=40, interval=0.3)
    tally = await _tally(harness, "kill_between_batches", [handle])
    assert tally["expected"] >= 3


async def test_dev_server_restart_cases_continue(harness: Harness) -> None:
    harness.start_worker("w1")
    await harness.wait_ready("w1")
    handle = await harness.start_case("2026-7002")
    await _reached(handle, "2", timeout=20)

    def poll_failures() -> int:
        return len(SERVER_GONE.findall((harness.tmp / "w1.log").read_text()))

    before = poll_failures()
    await harness.server.stop()

    async def worker_lost_server() -> bool:  # the worker has seen its polls fail
        return poll_failures() > before

    await wait_for(worker_lost_server, timeout=30, interval=0.2)
    await harness.server.start()
    await _reached(handle, "4", timeout=60)
    state = await handle.query(DisagreementWorkflow.state)
    assert state.status == "open"
    await _tally(harness, "server_restart", [handle])


async def test_smtp_down_then_back(harness: Harness) -> None:
    harness.start_worker("w1")
    await harness.wait_ready("w1")
    harness.stop_smtp()
    handle = await harness.start_case("2026-7003")
    await _reached(handle, "3", timeout=30)  # deadlines run on while mail cannot go
    assert harness.box.messages == []
    harness.start_smtp()

    async def delivered() -> bool:
        return any(m["X-Resolutions-Event"] == "case_raised" for m in harness.box.messages)

    await wait_for(delivered, timeout=60, interval=0.5)
    timeline = await handle.query(DisagreementWorkflow.timeline)
    moves = [e.stage for e in timeline if e.kind in ("stage_entered", "escalated")]
    assert moves[:3] == ["1", "2", "3"]
    await _tally(harness, "smtp_outage", [handle])


async def test_two_workers_one_killed(harness: Harness) -> None:
    first = harness.start_worker("w1")
    harness.start_worker("w2")
    await harness.wait_ready("w1")
    await harness.wait_ready("w2")
    handles = [await harness.start_case(f"2026-71{i:02d}") for i in range(4)]
    for h in handles:
        await _reached(h, "2", timeout=20)
    await harness.kill(first, handles)
    # Work the killed worker held comes back after its timeout (workflow task 10 s, calendar
    # activity 10 s, e-mail heartbeat 10 s); then stage 3's five working days still run.
    for h in handles:
        try:
            await _reached(h, "4", timeout=90)
        except AssertionError:
            reached = {x.id: await _stages(x) for x in handles}
            log = (harness.tmp / "w2.log").read_text()[-3000:]
            raise AssertionError(f"not all at stage 4: {reached}\nw2 log tail:\n{log}") from None
    await _tally(harness, "two_workers_one_killed", handles)
