"""Faults on the real dev server, with worker processes and a compressed calendar (a working
day lasts one second, so a Swindon case reaches "Day 17" in about seventeen seconds).

- kill -9 a worker mid-stage and start it again: no timer, message or e-mail lost or doubled;
- stop and restart the dev server on its SQLite file: cases continue;
- the SMTP server down for a while: mail delivered after it returns, deadlines unaffected;
- two workers on one task queue, one killed: the other carries on.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from temporalio.client import Client

from infra.devserver import DevServer
from infra.settings import Settings
from starter.cases import raise_case
from tests.conftest import (
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

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
        if self.stall:
            self.stalled += 1
            while self.stall:
                await asyncio.sleep(0.05)
            return "421 4.3.0 sender went away"
        return await super().handle_DATA(server, session, envelope)


class Harness:
    """A dev server, an SMTP server and worker processes that a test can break."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.server = DevServer(tmp / "server", port=free_port(), ui_port=free_port())
        self.box = StallingBox()
        self.smtp_port = free_port()
        self.smtp: Controller | None = None
        self.workers: list[subprocess.Popen] = []
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
            "RESOLUTIONS_DATA_DIR": str(self.tmp / "worker-data"),
            "RESOLUTIONS_SETTINGS_FILE": str(self.tmp / "none.toml"),
        })
        log = open(self.tmp / f"{name}.log", "w")
        proc = subprocess.Popen([sys.executable, "worker.py", "--no-web"], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT)
        self.workers.append(proc)
        return proc

    async def wait_ready(self, name: str) -> None:
        async def ready() -> bool:
            return "Ready." in (self.tmp / f"{name}.log").read_text()

        await wait_for(ready, timeout=60)

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


def _no_duplicates(box: MailBox) -> None:
    """Each recipient gets each event's e-mail once (personal links: one copy per person)."""
    counts = Counter((m["Message-ID"], m["X-Envelope-To"]) for m in box.messages)
    doubled = [key for key, n in counts.items() if n > 1]
    assert not doubled, f"e-mails sent twice: {doubled}"


async def test_kill_worker_mid_stage_loses_nothing(harness: Harness) -> None:
    harness.start_worker("w1")
    await harness.wait_ready("w1")
    handle = await harness.start_case("2026-7001")
    await _reached(handle, "2", timeout=20)
    harness.workers[0].send_signal(signal.SIGKILL)
    harness.workers[0].wait(timeout=10)
    await handle.signal("assign_signal", {"role": "3.raising", "reason": "cover",
                                          "person": {"name": "Cara Cover",
                                                     "email": "cara@x.example"},
                                          "by": {"name": "A"}})
    await asyncio.sleep(3 * DAY_SECONDS)  # stage 2's timer falls due while no worker runs
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
    await asyncio.sleep(2)
    _no_duplicates(harness.box)
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
    harness.workers[0].send_signal(signal.SIGKILL)
    harness.workers[0].wait(timeout=10)
    harness.box.stall = False
    assert harness.box.messages == []
    harness.start_worker("w2")
    await harness.wait_ready("w2")

    async def raised_mail_arrived() -> bool:
        return bool(harness.box.for_event("case_raised"))

    await wait_for(raised_mail_arrived, timeout=35, interval=0.3)
    await asyncio.sleep(2)
    _no_duplicates(harness.box)
    timeline = await handle.query(DisagreementWorkflow.timeline)
    sent = [e for e in timeline if e.kind == "notification_sent"
            and e.details.get("event_key", "").endswith("case_raised")]
    assert len(sent) == 1


async def test_dev_server_restart_cases_continue(harness: Harness) -> None:
    harness.start_worker("w1")
    await harness.wait_ready("w1")
    handle = await harness.start_case("2026-7002")
    await _reached(handle, "2", timeout=20)
    await harness.server.stop()
    await asyncio.sleep(2)
    await harness.server.start()
    await _reached(handle, "4", timeout=60)
    state = await handle.query(DisagreementWorkflow.state)
    assert state.status == "open"


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
    _no_duplicates(harness.box)


async def test_two_workers_one_killed(harness: Harness) -> None:
    first = harness.start_worker("w1")
    harness.start_worker("w2")
    await harness.wait_ready("w1")
    await harness.wait_ready("w2")
    handles = [await harness.start_case(f"2026-71{i:02d}") for i in range(4)]
    for h in handles:
        await _reached(h, "2", timeout=20)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    # Work the killed worker held comes back after its timeout (workflow task 10 s, calendar
    # activity 10 s, e-mail heartbeat 10 s); then stage 3's five working days still run.
    for h in handles:
        try:
            await _reached(h, "4", timeout=90)
        except AssertionError:
            reached = {x.id: await _stages(x) for x in handles}
            log = (harness.tmp / "w2.log").read_text()[-3000:]
            raise AssertionError(f"not all at stage 4: {reached}\nw2 log tail:\n{log}") from None
    _no_duplicates(harness.box)
