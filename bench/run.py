"""Benchmark: our disagreement workflow against a bare floor workflow, on the embedded server.

    ./dev bench --open 2000 --rate 5 --seconds 120   # how people work (bench/steady.py)
    ./dev bench --mode saturate                      # 1,000 cases driven as fast as possible
    ./dev bench --mode saturate --cases 50 --out /tmp/bench.md

The saturation mode, below:

Each run starts its own Temporal dev server (SQLite file) and SMTP sink in a temporary folder,
and the worker as a separate process with a compressed calendar (a working day lasts
--day-seconds), so deadlines fire in seconds. Every case is driven through realistic messages
(outcomes, bypasses, pauses, agreed timescales, written confirmation) and timers to its close.
Then the floor workflow does the same average count of activities, timers and updates per case
with no logic. Prints starts/s, messages/s, update→query latency percentiles, worker peak RSS,
server database size, replay throughput, and the ratio of ours to the floor.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.client import Client, WorkflowHistory, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.worker import Replayer

from bench.floor import QUEUE as FLOOR_QUEUE
from bench.floor import FloorInput, FloorWorkflow, Poke
from infra.codec import EncryptionCodec, KeyRing, data_converter
from infra.devserver import DevServer
from infra.mailsink import SmtpSink
from infra.settings import Settings
from protocols.messages import Actor, CaseState
from protocols.permissions import ACTION_IDS
from starter.cases import (
    act,
    build_case_input,
    get_state,
    get_timeline,
    parse_action,
    raise_case,
)
from starter.errors import explain
from workflows.disagreement import DisagreementWorkflow

ROOT = Path(__file__).resolve().parents[1]

PROTOCOLS = ["york", "dudley", "swindon", "leeds", "barnsley"]
# One driver plays every person, so the bench's deployment lets anyone named on a case take
# any action (RESOLUTIONS_PERMISSIONS' layer, protocols.permissions), and the driver acts as
# the raising practitioner every case names.
BY = {"name": "Rae", "email": "r@s.example"}
BENCH_PERMISSIONS = json.dumps({"*": [{"action": a, "who": ["named"]} for a in ACTION_IDS]})
QUEUE = "bench-resolutions"


@dataclass
class Figures:
    label: str
    cases: int = 0
    start_seconds: float = 0.0
    drive_seconds: float = 0.0
    messages: int = 0
    latencies: list[float] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    db_mb: float = 0.0
    replay_per_second: float = 0.0
    failures: int = 0
    query_retries: int = 0  # queries the driver asked again after a server timeout
    refused: Counter = field(default_factory=Counter)

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000

    @property
    def starts_per_second(self) -> float:
        return self.cases / self.start_seconds if self.start_seconds else 0.0

    @property
    def messages_per_second(self) -> float:
        return self.messages / self.drive_seconds if self.drive_seconds else 0.0


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def db_size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.glob("temporal.db*")) / 1e6


def start_process(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    handle = open(log, "w")
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)


async def wait_ready(log: Path, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while "Ready." not in log.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"worker did not start:\n{log.read_text()[-2000:]}")
        await asyncio.sleep(0.2)


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


# -- driving our workflow ------------------------------------------------------------------------
class Refused(Exception):
    """The workflow refused an update (its validator said why)."""


TRANSIENT_QUERY_ERRORS = ("Timeout expired", "http2 error", "query timed out")


class Driver:
    def __init__(self, client: Client, figures: Figures, poll: float,
                 day_seconds: float) -> None:
        self.client = client
        self.figures = figures
        self.poll = poll
        self.day_seconds = day_seconds

    async def state(self, wid: str) -> CaseState:
        """The case's state, asking again (as a person reloading a page would) when a saturated
        server lets a query time out; anything else, or a fifth timeout, is a failure."""
        for attempt in range(5):
            try:
                return await get_state(self.client, wid)
            except RPCError as exc:
                if attempt == 4 or not any(
                        sign in exc.message for sign in TRANSIENT_QUERY_ERRORS):
                    raise RuntimeError(f"query: {exc!r}") from exc
                self.figures.query_retries += 1
                await asyncio.sleep(self.poll * (attempt + 1))
        raise AssertionError("unreachable")

    async def until(self, wid: str, check, timeout: float = 600) -> CaseState:
        deadline = time.monotonic() + timeout
        while True:
            state = await self.state(wid)
            if check(state):
                return state
            if time.monotonic() > deadline:
                raise TimeoutError(f"{wid}: stuck at stage {state.stage} ({state.status}); "
                                   f"last events: {await self._last_events(wid)}")
            await asyncio.sleep(self.poll)

    async def _last_events(self, wid: str) -> str:
        """The case's own last moves, so a stuck case can be understood afterwards."""
        try:
            timeline = await get_timeline(self.client, wid)
        except Exception as exc:  # the report must still be written
            return f"(timeline not available: {exc!r})"
        own = [e for e in timeline if e.via != "activity"][-8:]
        return "; ".join(f"{e.at:%H:%M:%S.%f} {e.kind} {e.stage} via {e.via}" for e in own)

    async def send(self, wid: str, name: str, data: dict, expect) -> None:
        """Send an update, then query until its effect is visible (usually the first query)."""
        message = parse_action(name, {**data, "by": BY})
        began = time.perf_counter()
        try:
            await act(self.client, wid, name, message)
        except RPCError as exc:
            if "already completed" not in exc.message:
                raise RuntimeError(f"update {name}: {explain(exc)}") from exc
            raise Refused(explain(exc)) from exc  # the case closed meanwhile
        except WorkflowUpdateFailedError as exc:
            # A deadline moved the case on between reading its stage and sending: refused
            # with a clear reason, as a person would be. Counted, then the driver reads again.
            self.figures.refused[explain(exc).split(":")[0]] += 1
            raise Refused(explain(exc)) from exc
        except Exception as exc:
            raise RuntimeError(f"update {name}: {explain(exc)}") from exc
        try:
            await self.until(wid, expect)
        except TimeoutError as exc:
            raise TimeoutError(f"after update {name} {data} was answered: {exc}") from None
        self.figures.latencies.append(time.perf_counter() - began)
        self.figures.messages += 1

    async def drive(self, wid: str, protocol: str) -> None:
        """Realistic messages for the protocol, sent at whatever stage the case has reached:
        deadlines keep firing in the background, as they would while people are busy."""
        await self.until(wid, lambda st: bool(st.stages_visited))
        s = self.send

        async def current() -> CaseState:
            return await self.state(wid)

        async def not_resolved() -> None:
            st = await current()
            await s(wid, "record_outcome", {"stage": st.stage, "resolved": False,
                                            "summary": "No agreement"},
                    lambda new, was=st.stage: new.stage != was or new.status != "open")

        async def resolve() -> None:
            st = await current()
            await s(wid, "record_outcome", {"stage": st.stage, "resolved": True,
                                            "summary": "Agreed", "learning_points": ["Share"]},
                    lambda new: new.status in ("resolved", "closed"))

        async def confirm_all() -> None:
            while (await current()).status == "resolved":
                await s(wid, "confirm_in_writing", {"summary": "Letter sent"},
                        lambda new: True)

        async def agree() -> None:
            st = await current()
            rules = [d for d in st.deadlines if d.stage == st.stage and d.live
                     and d.timescale.startswith("agreed")]
            if rules:
                await s(wid, "agree_timescale", {"stage": st.stage, "timescale": {
                    "kind": "working_days", "amount": 1}, "reason": "Risk assessed",
                    "agreed_by": ["A", "B"]}, lambda new: True)

        async def pause_resume() -> None:
            await s(wid, "pause", {"reason": "Sickness"}, lambda new: new.status == "paused")
            await s(wid, "resume", {}, lambda new: new.status == "open")

        async def bypass(agreement: dict) -> None:
            st = await current()
            stages = [x.id for x in self._protocol(protocol).stages]
            here = stages.index(st.stage)
            if here + 2 < len(stages):
                await s(wid, "bypass", {"to_stage": stages[here + 2], "reason": "Agreed",
                                        **agreement},
                        lambda new, to=stages[here + 2]: new.stage == to)

        async def retry(step) -> None:
            for _ in range(5):
                try:
                    return await step()
                except Refused:
                    if (await current()).status in ("closed", "withdrawn"):
                        return None
                    await asyncio.sleep(self.poll)
            raise RuntimeError("refused five times")

        async def steps() -> None:
            for step in plan:
                if (await current()).status in ("closed", "withdrawn"):
                    return  # e.g. not resolved at the last stage: the case ended there
                await retry(step)

        plan: list = []
        if protocol == "york":
            plan = [not_resolved]  # York has no halting (3.3): only Leeds pauses
        elif protocol == "dudley":
            plan = [agree, lambda: asyncio.sleep(self.day_seconds * 2), agree]
        elif protocol == "swindon":
            plan = [lambda: asyncio.sleep(self.day_seconds * 2),
                    lambda: bypass({"urgent": True})]
        elif protocol == "leeds":
            plan = [agree, pause_resume, not_resolved]
        else:
            plan = [not_resolved, lambda: bypass({
                "agreed_by": ["A", "B"], "agreement_of": ["professionals", "managers"]})]
        plan += [resolve, confirm_all]
        await steps()

    @staticmethod
    def _protocol(name: str):
        from protocols.loader import load_protocol

        return load_protocol(name)


async def bench_ours(n: int, day_seconds: float, concurrency: int, folder: Path,
                     env_base: dict[str, str]) -> tuple[Figures, dict[str, float]]:
    figures = Figures("ours", cases=n)
    server = DevServer(folder / "ours", port=_free_port(), ui_port=_free_port())
    (folder / "ours").mkdir(parents=True)
    await server.start()
    sink = SmtpSink(folder / "ours", port=_free_port())
    sink.start()
    key = os.urandom(32)
    env = {**env_base,
           "RESOLUTIONS_TEMPORAL_ADDRESS": server.address,
           "RESOLUTIONS_TASK_QUEUE": QUEUE,
           "RESOLUTIONS_CODEC_KEYS": json.dumps({"kbench": base64.b64encode(key).decode()}),
           "RESOLUTIONS_SMTP_PORT": str(sink.port),
           "RESOLUTIONS_TEST_DAY_SECONDS": str(day_seconds),
           "RESOLUTIONS_REMINDER_WORKING_DAYS_BEFORE": "0",
           "RESOLUTIONS_DATA_DIR": str(folder / "ours-worker")}
    log = folder / "ours-worker.log"
    proc = start_process([sys.executable, "worker.py", "--no-web"], env, log)
    converter = data_converter(EncryptionCodec(KeyRing({"kbench": key}, "kbench")))
    counts: dict[str, float] = {}
    try:
        await wait_ready(log, proc)
        client = await Client.connect(server.address, data_converter=converter)
        settings = Settings(task_queue=QUEUE, permissions=BENCH_PERMISSIONS)
        inputs = []
        for i in range(n):
            protocol = PROTOCOLS[i % len(PROTOCOLS)]
            details = {"reference": f"2027-{i:05d}",
                       "raising": {"name": "Rae", "agency": "School", "email": "r@s.example"},
                       "receiving": {"name": "Rob", "agency": "CSC", "email": "o@c.example"},
                       "issue": "i", "risk_to_child": "r", "nature": "n", "aim": "a"}
            inputs.append(build_case_input(protocol, details, "standard", Actor(name="Rae"),
                                           settings=settings))
        gate = asyncio.Semaphore(concurrency)

        async def start(inp):
            async with gate:
                return await raise_case(client, settings, inp)

        began = time.perf_counter()
        handles = await asyncio.gather(*(start(inp) for inp in inputs))
        figures.start_seconds = time.perf_counter() - began

        driver = Driver(client, figures, poll=max(0.5, day_seconds / 2),
                        day_seconds=day_seconds)

        async def drive(handle, inp):
            async with gate:
                try:
                    await driver.drive(handle.id, inp.protocol.id)
                    await handle.result()
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    figures.failures += 1
                    print(f"  {handle.id}: {exc}", file=sys.stderr)

        began = time.perf_counter()
        await asyncio.gather(*(drive(h, inp) for h, inp in zip(handles, inputs, strict=True)))
        figures.drive_seconds = time.perf_counter() - began
        figures.peak_rss_mb = peak_rss_mb(proc.pid)
        histories = await fetch_histories(client, handles)
        counts = average_counts(histories)
        figures.replay_per_second = await replay_rate(histories, [DisagreementWorkflow],
                                                      converter)
    finally:
        stop_process(proc)
        sink.stop()
        await server.stop()
    figures.db_mb = db_size_mb(folder / "ours")
    return figures, counts


async def bench_floor(n: int, counts: dict[str, float], timer_seconds: float, concurrency: int,
                      folder: Path, env_base: dict[str, str]) -> Figures:
    figures = Figures("floor", cases=n)
    server = DevServer(folder / "floor", port=_free_port(), ui_port=_free_port())
    (folder / "floor").mkdir(parents=True)
    await server.start()
    log = folder / "floor-worker.log"
    proc = start_process([sys.executable, "-m", "bench.floor"],
                         {**env_base, "BENCH_ADDRESS": server.address}, log)
    inp = FloorInput(activities=round(counts["activities"]), timers=round(counts["timers"]),
                     timer_seconds=timer_seconds, updates=round(counts["updates"]))
    try:
        await wait_ready(log, proc)
        client = await Client.connect(server.address, data_converter=pydantic_data_converter)
        gate = asyncio.Semaphore(concurrency)

        async def start(i):
            async with gate:
                return await client.start_workflow(FloorWorkflow.run, inp, id=f"floor-{i}",
                                                   task_queue=FLOOR_QUEUE)

        began = time.perf_counter()
        handles = await asyncio.gather(*(start(i) for i in range(n)))
        figures.start_seconds = time.perf_counter() - began

        async def drive(handle):
            async with gate:
                try:
                    for k in range(inp.updates):
                        t0 = time.perf_counter()
                        await handle.execute_update(FloorWorkflow.poke, Poke(n=k))
                        await handle.query(FloorWorkflow.count)
                        figures.latencies.append(time.perf_counter() - t0)
                        figures.messages += 1
                    await handle.result()
                except Exception as exc:  # counted like ours: the driver gave up, not the case
                    figures.failures += 1
                    print(f"  {handle.id}: {exc}", file=sys.stderr)

        began = time.perf_counter()
        await asyncio.gather(*(drive(h) for h in handles))
        figures.drive_seconds = time.perf_counter() - began
        figures.peak_rss_mb = peak_rss_mb(proc.pid)
        histories = await fetch_histories(client, handles)
        figures.replay_per_second = await replay_rate(histories, [FloorWorkflow],
                                                      pydantic_data_converter)
    finally:
        stop_process(proc)
        await server.stop()
    figures.db_mb = db_size_mb(folder / "floor")
    return figures


async def fetch_histories(client: Client, handles) -> list[WorkflowHistory]:
    gate = asyncio.Semaphore(20)

    async def one(handle):
        async with gate:
            return await client.get_workflow_handle(handle.id).fetch_history()

    return list(await asyncio.gather(*(one(h) for h in handles)))


def average_counts(histories: list[WorkflowHistory]) -> dict[str, float]:
    """Per-case counts from the histories, plus how activities ran: attempts beyond the first
    (timeouts and retries) and how long each e-mail activity took (start to completion)."""
    totals = {"activities": 0, "timers": 0, "updates": 0, "events": 0, "retried": 0}
    mail_seconds: list[float] = []
    calendar_waits: list[float] = []
    for history in histories:
        names: dict[int, str] = {}
        scheduled: dict[int, float] = {}
        started: dict[int, float] = {}
        for event in history.events:
            kind = event.WhichOneof("attributes") or ""
            totals["events"] += 1
            if kind == "activity_task_scheduled_event_attributes":
                totals["activities"] += 1
                names[event.event_id] = event.activity_task_scheduled_event_attributes \
                    .activity_type.name
                scheduled[event.event_id] = event.event_time.ToDatetime().timestamp()
            elif kind == "activity_task_started_event_attributes":
                attrs = event.activity_task_started_event_attributes
                totals["retried"] += attrs.attempt - 1
                at = event.event_time.ToDatetime().timestamp()
                if names.get(attrs.scheduled_event_id) in ("send_notification", "send_case_email"):
                    started[event.event_id] = at
                elif attrs.scheduled_event_id in scheduled:
                    calendar_waits.append(at - scheduled[attrs.scheduled_event_id])
            elif kind == "activity_task_completed_event_attributes":
                begun = started.get(event.activity_task_completed_event_attributes
                                    .started_event_id)
                if begun is not None:
                    mail_seconds.append(event.event_time.ToDatetime().timestamp() - begun)
            elif kind == "timer_started_event_attributes":
                totals["timers"] += 1
            elif kind == "workflow_execution_update_accepted_event_attributes":
                totals["updates"] += 1
    counts = {k: v / max(1, len(histories)) for k, v in totals.items()}
    counts["retried_total"] = totals["retried"]
    for name, values in (("mail", mail_seconds), ("calendar_wait", calendar_waits)):
        values.sort()
        for q in (50, 95, 99, 100):
            counts[f"{name}_p{q}_s"] = (values[min(len(values) - 1, int(len(values) * q / 100))]
                                        if values else 0.0)
    return counts


async def replay_rate(histories, workflows, converter) -> float:
    replayer = Replayer(workflows=workflows, data_converter=converter)

    async def each():
        for history in histories:
            yield history

    began = time.perf_counter()
    results = await replayer.replay_workflows(each(), raise_on_replay_failure=False)
    elapsed = time.perf_counter() - began
    failed = [r for r in results.replay_failures.values() if r]
    if failed:
        print(f"  replay failures: {len(failed)}", file=sys.stderr)
    return len(histories) / elapsed if elapsed else 0.0


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return (f"{os.cpu_count()} cores ({cpu}){mem}, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")


def report(ours: Figures, floor: Figures, counts: dict[str, float], args) -> str:
    rows = [
        ("cases", f"{ours.cases}", f"{floor.cases}", ""),
        ("workflow starts/s", f"{ours.starts_per_second:.1f}", f"{floor.starts_per_second:.1f}",
         _ratio(floor.starts_per_second, ours.starts_per_second)),
        ("messages (updates)/s", f"{ours.messages_per_second:.1f}",
         f"{floor.messages_per_second:.1f}",
         _ratio(floor.messages_per_second, ours.messages_per_second)),
        ("update→query p50 ms", f"{ours.percentile(50):.1f}", f"{floor.percentile(50):.1f}",
         _ratio(ours.percentile(50), floor.percentile(50))),
        ("update→query p95 ms", f"{ours.percentile(95):.1f}", f"{floor.percentile(95):.1f}",
         _ratio(ours.percentile(95), floor.percentile(95))),
        ("update→query p99 ms", f"{ours.percentile(99):.1f}", f"{floor.percentile(99):.1f}",
         _ratio(ours.percentile(99), floor.percentile(99))),
        ("worker peak RSS MB", f"{ours.peak_rss_mb:.0f}", f"{floor.peak_rss_mb:.0f}",
         _ratio(ours.peak_rss_mb, floor.peak_rss_mb)),
        ("server DB size MB", f"{ours.db_mb:.1f}", f"{floor.db_mb:.1f}",
         _ratio(ours.db_mb, floor.db_mb)),
        ("replay histories/s", f"{ours.replay_per_second:.1f}",
         f"{floor.replay_per_second:.1f}",
         _ratio(floor.replay_per_second, ours.replay_per_second)),
        ("drive phase s", f"{ours.drive_seconds:.1f}", f"{floor.drive_seconds:.1f}", ""),
        ("failed cases", f"{ours.failures}", f"{floor.failures}", ""),
        ("queries asked again after a timeout", f"{ours.query_retries}", "0", ""),
        ("updates refused (case moved on first)", f"{sum(ours.refused.values())}", "0", ""),
    ]
    lines = [
        f"Machine: {machine()}",
        f"Cases: {args.cases} across {', '.join(PROTOCOLS)}; compressed calendar "
        f"{args.day_seconds}s per working day; {args.concurrency} driven at once.",
        f"Per case (ours, from history): {counts['activities']:.1f} activities, "
        f"{counts['timers']:.1f} timers, {counts['updates']:.1f} updates, "
        f"{counts['events']:.0f} history events; the floor does the same counts.",
        f"Activity attempts beyond the first (timeouts, retries): {counts['retried_total']:.0f} "
        f"in all. E-mail activity, start to completion: p50 {counts['mail_p50_s']:.2f} s, "
        f"p95 {counts['mail_p95_s']:.2f} s, p99 {counts['mail_p99_s']:.2f} s. Deadline "
        f"(calendar) activities waiting for a worker: p50 {counts['calendar_wait_p50_s']:.2f} s, "
        f"p95 {counts['calendar_wait_p95_s']:.2f} s, max {counts['calendar_wait_p100_s']:.2f} s.",
        "",
        "| figure | ours | floor | cost (ours vs floor) |",
        "| --- | --- | --- | --- |",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows],
    ]
    return "\n".join(lines)


def _ratio(worse: float, better: float) -> str:
    return f"×{worse / better:.2f}" if better else "—"


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--day-seconds", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--out", help="also write the table to this Markdown file")
    parser.add_argument("--mode", choices=["steady", "saturate"], default="steady",
                        help="steady (default): open cases and a steady stream; saturate: "
                             "--cases driven to their close as fast as possible")
    parser.add_argument("--open", type=int, default=2000, help="steady: open cases")
    parser.add_argument("--rate", type=float, default=5.0, help="steady: actions per second")
    parser.add_argument("--seconds", type=float, default=120.0, help="steady: stream length")
    parser.add_argument("--close", type=int, default=200,
                        help="steady: cases walked to their close, then replayed")
    args = parser.parse_args()
    env_base = {k: v for k, v in os.environ.items()
                if not k.startswith(("RESOLUTIONS_", "TEMPORAL_"))}
    if args.mode == "steady":
        from bench import steady

        return await steady.main(args, env_base)
    with tempfile.TemporaryDirectory(prefix="resolutions-bench-") as tmp:
        folder = Path(tmp)
        print(f"Running {args.cases} cases of ours…", flush=True)
        ours, counts = await bench_ours(args.cases, args.day_seconds, args.concurrency, folder,
                                        env_base)
        print("Running the floor workflow with the same counts…", flush=True)
        floor = await bench_floor(args.cases, counts, args.day_seconds / 2, args.concurrency,
                                  folder, env_base)
    text = report(ours, floor, counts, args)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    return 1 if ours.failures else 0


if __name__ == "__main__":
    code = asyncio.run(main())
    sys.stdout.flush()
    os._exit(code)
