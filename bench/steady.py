"""The benchmark of how people work: N open cases on real-calendar deadlines, a steady stream of
actions, and the floor workflow with as many open runs on the same server, in the same run.

    ./dev bench --open 2000 --rate 5 --seconds 120

One dev server (SQLite), one SMTP sink, our worker (with its web forms) and the floor's worker
(same workflow cache size), each its own process. N cases across the five protocols are
raised and left sleeping on their first deadlines (working days away); N floor workflows do
as many activities as a raise does and sleep as long. Then, at --rate a second for --seconds,
an open-loop stream picks a case and an action — status queries, recorded discussions
(through the client and as web form posts through the raiser's personal link), agreed
timescales, pause and resume where allowed, "not resolved" outcomes — and gives the floor the
same kind of call at the same moment (an update for every update or post, a query for every
query). Six cases (one per protocol and a floor run) are taken to 10, 20 and 40 actions for
history growth; --close cases and floor runs are walked to their close, then replayed in
process, by `resolutions audit replay --all` and by `resolutions report` (York).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from bench.floor import QUEUE as FLOOR_QUEUE
from bench.floor import FloorInput, FloorWorkflow, Poke
from bench.run import (
    BENCH_PERMISSIONS,
    BY,
    PROTOCOLS,
    QUEUE,
    _free_port,
    machine,
    start_process,
    stop_process,
    wait_ready,
)
from infra.codec import EncryptionCodec, KeyRing, data_converter
from infra.devserver import DevServer
from infra.links import Links
from infra.mailsink import SmtpSink
from infra.settings import Settings
from protocols.loader import load_protocol
from protocols.messages import ActionResult, Actor, CaseState, Person
from starter.audit.replay import replay_histories
from starter.cases import build_case_input, get_state, parse_action, raise_case

ROOT = Path(__file__).resolve().parents[1]
RAISER = Person(name="Rae", agency="School", email="r@s.example")
MONTH = 30 * 86400.0
MIX = [("query", 35), ("discussion", 15), ("web", 15), ("timescale", 10), ("pause", 10),
       ("outcome", 15)]
PAUSABLE = {"york", "leeds"}
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def rss_mb(pid: int, field_name: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


async def wait_for_text(log: Path, proc: subprocess.Popen, text: str,
                        timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{log.name}: did not start:\n{log.read_text()[-2000:]}")
        await asyncio.sleep(0.2)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def cpu_idle(pid: int, window: float = 3.0, busy: float = 0.05,
                   timeout: float = 3600) -> None:
    """Until the process has used under ``busy`` of a core over ``window`` seconds (a worker
    that has caught up with what it was given)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        await asyncio.sleep(window)
        if cpu_seconds(pid) - before < busy * window:
            return


def db_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("temporal.db*"))


def pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


def history_size(history) -> tuple[int, int]:
    return sum(e.ByteSize() for e in history.events), len(history.events)


@dataclass
class Case:
    wid: str
    protocol: str
    stages: list[str]
    stage: str
    token: str = ""
    web: httpx.AsyncClient | None = None
    csrf: str = ""
    busy: bool = False


@dataclass
class Stream:
    ours: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    floor: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    refused: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)


class Bench:
    def __init__(self, args, folder: Path, env_base: dict[str, str]) -> None:
        self.args, self.folder, self.env_base = args, folder, env_base
        self.key = os.urandom(32)
        self.converter = data_converter(EncryptionCodec(KeyRing({"kbench": self.key}, "kbench")))
        self.web_port = _free_port()
        self.cache = Settings().worker_max_cached_workflows
        self.stream = Stream()
        self.out: dict[str, tuple[str, str, str]] = {}
        self.cases: list[Case] = []

    # -- set-up ------------------------------------------------------------------------------
    def env(self, server: DevServer, sink: SmtpSink) -> dict[str, str]:
        return {**self.env_base,
                "RESOLUTIONS_TEMPORAL_ADDRESS": server.address,
                "RESOLUTIONS_TASK_QUEUE": QUEUE,
                "RESOLUTIONS_CODEC_KEYS": json.dumps(
                    {"kbench": base64.b64encode(self.key).decode()}),
                "RESOLUTIONS_SMTP_PORT": str(sink.port),
                "RESOLUTIONS_PERMISSIONS": BENCH_PERMISSIONS,
                "RESOLUTIONS_WEB_PORT": str(self.web_port),
                "RESOLUTIONS_PUBLIC_URL": f"http://127.0.0.1:{self.web_port}",
                "RESOLUTIONS_LINK_SECRET": "bench-link-secret-" + "x" * 32,
                "RESOLUTIONS_DATA_DIR": str(self.folder / "worker-data")}

    def row(self, name: str, ours: float | str, floor: float | str = "", fmt: str = "{:.1f}",
            lower_is_better: bool = True) -> None:
        def show(v):
            return fmt.format(v) if isinstance(v, (int, float)) else v

        ratio = ""
        if isinstance(ours, (int, float)) and isinstance(floor, (int, float)) and floor:
            ratio = f"×{ours / floor:.2f}" if lower_is_better else f"×{floor / ours:.2f}"
        self.out[name] = (show(ours), show(floor), ratio)

    async def run(self) -> int:
        args = self.args
        server = DevServer(self.folder, port=_free_port(), ui_port=_free_port())
        await server.start()
        sink = SmtpSink(self.folder, port=_free_port())
        sink.start()
        env = self.env(server, sink)
        self.cli_env = env
        ours_proc = start_process([sys.executable, "worker.py"], env, self.folder / "ours.log")
        floor_proc = start_process([sys.executable, "-m", "bench.floor"],
                                   {**self.env_base, "BENCH_ADDRESS": server.address,
                                    "BENCH_MAX_CACHED_WORKFLOWS": str(self.cache)},
                                   self.folder / "floor.log")
        web_proc = start_process([sys.executable, "-m", "starter.cli", "web"], env,
                                 self.folder / "web.log")
        try:
            await wait_ready(self.folder / "ours.log", ours_proc)
            await wait_ready(self.folder / "floor.log", floor_proc)
            await wait_for_text(self.folder / "web.log", web_proc, "Web forms on")
            self.client = await Client.connect(server.address, data_converter=self.converter)
            self.floor_client = await Client.connect(server.address,
                                                     data_converter=pydantic_data_converter)
            self.settings = Settings(task_queue=QUEUE, permissions=BENCH_PERMISSIONS,
                                     link_secret=env["RESOLUTIONS_LINK_SECRET"],
                                     public_url=env["RESOLUTIONS_PUBLIC_URL"],
                                     data_dir=self.folder / "driver-data")
            self.links = Links(self.settings)
            await self.phase_raise(server, sink, ours_proc.pid, floor_proc.pid)
            await self.phase_growth()
            await self.phase_stream()
            self.row("worker RSS after the stream MB", rss_mb(ours_proc.pid),
                     rss_mb(floor_proc.pid))
            self.row("worker peak RSS MB", rss_mb(ours_proc.pid, "VmHWM"),
                     rss_mb(floor_proc.pid, "VmHWM"))
            self.row("server RSS MB (one server for both)", rss_mb(server._process.pid), "")
            self.row("web forms process RSS MB", rss_mb(web_proc.pid), "")
            self.row("e-mails per case (end; floor: activities per raise)",
                     len(list((self.folder / "mail").glob("*"))) / args.open, "", "{:.2f}")
            await self.phase_close()
        finally:
            for case in self.cases:
                if case.web is not None:
                    await case.web.aclose()
            stop_process(web_proc)
            stop_process(ours_proc)
            stop_process(floor_proc)
            sink.stop()
            await server.stop()
        self.print_report()
        return 0

    # -- raising -----------------------------------------------------------------------------
    async def phase_raise(self, server, sink, ours_pid: int, floor_pid: int) -> None:
        n = self.args.open
        base_db, base_ours, base_floor = db_bytes(self.folder), rss_mb(ours_pid), rss_mb(floor_pid)
        gate = asyncio.Semaphore(50)
        self.cases: list[Case] = []
        inputs = []
        for i in range(n + len(PROTOCOLS)):  # the last five are the growth cases
            protocol = PROTOCOLS[i % len(PROTOCOLS)]
            details = {"reference": f"2027-{i:05d}",
                       "raising": {"name": "Rae", "agency": "School", "email": "r@s.example"},
                       "receiving": {"name": "Rob", "agency": "CSC", "email": "o@c.example"},
                       "issue": "i", "risk_to_child": "r", "nature": "n", "aim": "a"}
            inputs.append(build_case_input(protocol, details, "standard", Actor(name="Rae"),
                                           settings=self.settings))

        async def start(inp):
            async with gate:
                return await raise_case(self.client, self.settings, inp)

        print(f"Raising {n} cases…", flush=True)
        began = time.perf_counter()
        handles = await asyncio.gather(*(start(inp) for inp in inputs))
        ours_seconds = time.perf_counter() - began
        for handle, inp in zip(handles, inputs, strict=True):
            stages = [s.id for s in load_protocol(inp.protocol.id).stages]
            self.cases.append(Case(handle.id, inp.protocol.id, stages, stages[0]))
        self.growth = self.cases[n:]
        self.cases = self.cases[:n]
        sample = await self.settled([c.wid for c in random.sample(self.cases, min(20, n))])
        await cpu_idle(ours_pid)
        ours_db = db_bytes(self.folder)
        ours_rss = rss_mb(ours_pid)
        activities = sum(1 for h in sample for e in h.events
                         if e.HasField("activity_task_scheduled_event_attributes")
                         or e.HasField("marker_recorded_event_attributes")) / len(sample)
        mails = len(list((self.folder / "mail").glob("*")))
        print(f"  {n} raised in {ours_seconds:.0f} s; {activities:.1f} activities each. "
              f"Starting {n} floor runs…", flush=True)
        self.floor_input = FloorInput(activities=round(activities), timers=0, timer_seconds=0,
                                      updates=0, wait_seconds=MONTH)

        async def start_floor(i):
            async with gate:
                return await self.floor_client.start_workflow(
                    FloorWorkflow.run, self.floor_input, id=f"floor-{i}", task_queue=FLOOR_QUEUE)

        began = time.perf_counter()
        self.floor = list(await asyncio.gather(*(start_floor(i) for i in range(n + 1))))
        floor_seconds = time.perf_counter() - began
        self.floor_growth = self.floor.pop()
        await cpu_idle(floor_pid)
        await cpu_idle(ours_pid)
        floor_db = db_bytes(self.folder)
        floor_sample = [await h.fetch_history() for h in random.sample(self.floor, min(20, n))]
        cached = min(n, self.cache)
        self.row("raise rate (starts/s)", (n + 5) / ours_seconds, (n + 1) / floor_seconds,
                 lower_is_better=False)
        self.row("e-mails per case after raising (floor: activities)", mails / (n + 5),
                 float(self.floor_input.activities), "{:.2f}")
        self.row("DB bytes per open case", (ours_db - base_db) / (n + 5),
                 (floor_db - ours_db) / (n + 1), "{:.0f}")
        self.row(f"worker RSS with {cached} cached cases MB", ours_rss,
                 rss_mb(floor_pid), "{:.0f}")
        self.row("worker memory per cached case MB", (ours_rss - base_ours) / cached,
                 (rss_mb(floor_pid) - base_floor) / cached, "{:.3f}")
        self.row("worker cache size (max_cached_workflows)", str(self.cache), str(self.cache))
        ours_h = [history_size(h) for h in sample]
        floor_h = [history_size(h) for h in floor_sample]
        self.row("history of an untouched open case KB",
                 sum(b for b, _ in ours_h) / len(ours_h) / 1024,
                 sum(b for b, _ in floor_h) / len(floor_h) / 1024)
        frozen = sum(len(i.protocol.model_dump_json()) for i in inputs[:5]) / 5 / 1024
        self.row("  of which the frozen protocol (clear JSON) KB", frozen, "")
        self.row("events of an untouched open case", sum(e for _, e in ours_h) / len(ours_h),
                 sum(e for _, e in floor_h) / len(floor_h), "{:.0f}")

    async def settled(self, sample: list[str]) -> list:
        """Until the worker has caught up: the sampled cases have sent their raise e-mails
        (no activity outstanding, a stage entered) and no e-mail has arrived for 5 s."""
        def done(history) -> bool:
            kinds = Counter(e.WhichOneof("attributes") for e in history.events)
            return (kinds["activity_task_scheduled_event_attributes"]
                    == kinds["activity_task_completed_event_attributes"]
                    and history.events[-1].HasField("workflow_task_completed_event_attributes"))

        histories = []
        for wid in sample:
            for _ in range(1200):
                history = await self.client.get_workflow_handle(wid).fetch_history()
                if done(history):
                    break
                await asyncio.sleep(0.5)
            histories.append(history)
        last, still = -1, 0
        while still < 5:
            now = len(list((self.folder / "mail").glob("*")))
            still = still + 1 if now == last else 0
            last = now
            await asyncio.sleep(1)
        return histories

    # -- one action each ---------------------------------------------------------------------
    async def update(self, case: Case, name: str, data: dict) -> ActionResult | None:
        message = parse_action(name, {**data, "by": BY})
        began = time.perf_counter()
        try:
            result = await self.client.get_workflow_handle(case.wid).execute_update(
                name, message, result_type=ActionResult)
        except WorkflowUpdateFailedError:
            self.stream.refused[name] += 1
            return None
        self.stream.ours["update"].append(time.perf_counter() - began)
        self.stream.ours[f"update:{name}"].append(time.perf_counter() - began)
        case.stage = result.position.stage
        return result

    async def discussion(self, case: Case) -> ActionResult | None:
        return await self.update(case, "record_discussion", {
            "with_name": "Rob", "method": "phone", "said": "Talked it through"})

    async def timescale(self, case: Case) -> ActionResult | None:
        return await self.update(case, "agree_timescale", {
            "stage": case.stage, "timescale": {"kind": "working_days", "amount": 3},
            "reason": "Risk assessed", "agreed_by": ["A", "B"]})

    async def pause(self, case: Case) -> int:
        if case.protocol not in PAUSABLE:
            return 1 if await self.discussion(case) else 0
        done = 0
        if await self.update(case, "pause", {"reason": "Sickness"}):
            done += 1
            done += 1 if await self.update(case, "resume", {}) else 0
        return done

    async def outcome(self, case: Case) -> ActionResult | None:
        if case.stages.index(case.stage) + 2 >= len(case.stages):
            return await self.discussion(case)
        return await self.update(case, "record_outcome", {
            "stage": case.stage, "resolved": False, "summary": "No agreement"})

    async def web_post(self, case: Case) -> None:
        if case.web is None:
            grant = self.links.for_case(case.wid, RAISER, "raising", held_by="practitioner")
            case.token = self.links.token(grant)
            case.web = httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.web_port}",
                                         timeout=60)
            await case.web.get(f"/t/{case.token}", follow_redirects=True)
        page = await case.web.get(f"/t/{case.token}/cases/{case.wid}/record-discussion")
        found = _CSRF.search(page.text)
        if not found:
            self.stream.errors[f"web form {page.status_code}"] += 1
            return
        began = time.perf_counter()
        response = await case.web.post(
            f"/t/{case.token}/cases/{case.wid}/record-discussion",
            data={"csrf_token": found.group(1), "with_name": "Rob", "method": "phone",
                  "said": "Talked it through"})
        if response.status_code == 303:
            self.stream.ours["web POST"].append(time.perf_counter() - began)
        else:
            self.stream.errors[f"web POST {response.status_code}"] += 1

    async def ours_action(self, kind: str, case: Case) -> None:
        try:
            if kind == "query":
                began = time.perf_counter()
                state: CaseState = await get_state(self.client, case.wid)
                self.stream.ours["query"].append(time.perf_counter() - began)
                case.stage = state.stage
            elif kind == "discussion":
                await self.discussion(case)
            elif kind == "web":
                await self.web_post(case)
            elif kind == "timescale":
                await self.timescale(case)
            elif kind == "pause":
                await self.pause(case)
            else:
                await self.outcome(case)
        except Exception as exc:  # noqa: BLE001 - counted and reported
            self.stream.errors[f"{kind}: {type(exc).__name__}"] += 1
        finally:
            case.busy = False

    async def floor_action(self, kind: str, handle: WorkflowHandle) -> None:
        try:
            began = time.perf_counter()
            if kind == "query":
                await handle.query(FloorWorkflow.count)
                self.stream.floor["query"].append(time.perf_counter() - began)
                return
            for _ in range(2 if kind == "pause" else 1):
                began = time.perf_counter()
                await handle.execute_update(FloorWorkflow.poke, Poke(n=1))
                self.stream.floor["update"].append(time.perf_counter() - began)
        except Exception as exc:  # noqa: BLE001 - counted and reported
            self.stream.errors[f"floor {kind}: {type(exc).__name__}"] += 1

    # -- history growth ----------------------------------------------------------------------
    async def phase_growth(self) -> None:
        print("History growth: 40 actions on one case per protocol and one floor run…",
              flush=True)
        marks = (0, 10, 20, 40)
        sizes: dict[str, dict[int, tuple[int, int]]] = {}

        async def grow(case: Case) -> None:
            sizes[case.protocol] = {0: history_size(
                await self.client.get_workflow_handle(case.wid).fetch_history())}
            done, turn = 0, 0
            while done < 40:
                step = turn % 4
                turn += 1
                if step == 1 and await self.timescale(case):
                    done += 1
                elif step == 3 and case.protocol in PAUSABLE and done <= 38:
                    done += await self.pause(case)
                elif await self.discussion(case):
                    done += 1
                if done in marks and done not in sizes[case.protocol]:
                    sizes[case.protocol][done] = history_size(
                        await self.client.get_workflow_handle(case.wid).fetch_history())
            sizes[case.protocol].setdefault(40, history_size(
                await self.client.get_workflow_handle(case.wid).fetch_history()))

        await asyncio.gather(*(grow(c) for c in self.growth))
        floor_sizes = {0: history_size(await self.floor_growth.fetch_history())}
        for k in range(1, 41):
            await self.floor_growth.execute_update(FloorWorkflow.poke, Poke(n=k))
            if k in marks:
                floor_sizes[k] = history_size(await self.floor_growth.fetch_history())
        self.stream = Stream()  # growth actions are not part of the stream's figures
        for k in marks:
            got = [s[k] for s in sizes.values() if k in s]
            mean = sum(b for b, _ in got) / len(got) / 1024
            events = sum(e for _, e in got) / len(got)
            leeds = sizes.get("leeds", {}).get(k)
            self.row(f"history after {k} actions KB (mean of 5; Leeds)",
                     f"{mean:.1f} ({leeds[0] / 1024:.1f})" if leeds else f"{mean:.1f}",
                     f"{floor_sizes[k][0] / 1024:.1f}")
            self.row(f"events after {k} actions (mean of 5)", events, floor_sizes[k][1], "{:.0f}")
        per_action = [(s[40][0] - s[0][0]) / 40 / 1024 for s in sizes.values()]
        self.row("history KB per action (0→40, worst protocol)", max(per_action),
                 (floor_sizes[40][0] - floor_sizes[0][0]) / 40 / 1024, "{:.2f}")
        self.growth_sizes = sizes

    # -- the stream --------------------------------------------------------------------------
    async def phase_stream(self) -> None:
        args = self.args
        total = int(args.rate * args.seconds)
        print(f"Stream: {total} actions at {args.rate}/s for {args.seconds} s…", flush=True)
        kinds = [k for k, w in MIX for _ in range(w)]
        rng = random.Random(18)
        tasks = []
        began = time.perf_counter()
        for i in range(total):
            wait = began + i / args.rate - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            kind = rng.choice(kinds)
            j = rng.randrange(len(self.cases))
            while self.cases[j].busy:
                j = rng.randrange(len(self.cases))
            case = self.cases[j]
            case.busy = True
            tasks.append(asyncio.ensure_future(self.ours_action(kind, case)))
            tasks.append(asyncio.ensure_future(self.floor_action(kind, self.floor[j])))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - began
        s = self.stream
        for name, ours, floor in (("update", s.ours["update"], s.floor["update"]),
                                  ("query", s.ours["query"], s.floor["query"])):
            for p in (50, 95, 99):
                self.row(f"{name} p{p} ms", pct(ours, p), pct(floor, p))
        client_update = s.ours["update:record_discussion"]
        for p in (50, 95, 99):
            self.row(f"web POST p{p} ms (floor column: the same update via the client)",
                     pct(s.ours["web POST"], p), pct(client_update, p))
        for name in sorted(k for k in s.ours if k.startswith("update:")):
            self.row(f"  {name[7:]} p50 / p99 ms (n={len(s.ours[name])})",
                     f"{pct(s.ours[name], 50):.0f} / {pct(s.ours[name], 99):.0f}",
                     f"{pct(s.floor['update'], 50):.0f} / {pct(s.floor['update'], 99):.0f}")
        self.stream_note = (f"{total} actions in {elapsed:.0f} s; refused by the workflow "
                            f"(counted apart): {dict(s.refused) or 'none'}; errors: "
                            f"{dict(s.errors) or 'none'}")

    # -- closed cases: replay and report -----------------------------------------------------
    async def phase_close(self) -> None:
        m = min(self.args.close, len(self.cases))
        print(f"Walking {m} cases and floor runs to their close…", flush=True)
        chosen = list(range(m))
        gate = asyncio.Semaphore(10)

        async def close(j: int) -> None:
            case = self.cases[j]
            async with gate:
                for _ in range(10):
                    state = await get_state(self.client, case.wid)
                    if state.status == "closed":
                        break
                    if state.status == "resolved":
                        await self.update(case, "confirm_in_writing", {"summary": "Letter sent"})
                    elif state.status == "paused":
                        await self.update(case, "resume", {})
                    else:
                        await self.update(case, "record_outcome", {
                            "stage": state.stage, "resolved": True, "summary": "Agreed",
                            "learning_points": ["Share"]})
                await self.floor[j].execute_update(FloorWorkflow.finish)
                await self.floor[j].result()

        await asyncio.gather(*(close(j) for j in chosen))
        ours_closed = [await self.client.get_workflow_handle(self.cases[j].wid).fetch_history()
                       for j in chosen]
        closed = [h for h in ours_closed
                  if h.events[-1].HasField("workflow_execution_completed_event_attributes")]
        floor_h = [await self.floor[j].fetch_history() for j in chosen]

        async def feed(hs):
            for h in hs:
                yield h

        began = time.perf_counter()
        outcomes = await replay_histories(feed(closed), self.converter)
        ours_rate = len(closed) / (time.perf_counter() - began)
        replayer = Replayer(workflows=[FloorWorkflow], data_converter=pydantic_data_converter)
        began = time.perf_counter()
        await replayer.replay_workflows(feed(floor_h), raise_on_replay_failure=False)
        floor_rate = len(floor_h) / (time.perf_counter() - began)
        failed = sum(1 for o in outcomes if not o.ok)
        self.row(f"replay in process histories/s ({len(closed)} closed, {failed} failed)",
                 ours_rate, floor_rate, lower_is_better=False)
        sizes = [history_size(h)[0] for h in closed]
        self.row("history of a closed case KB (mean)", sum(sizes) / max(1, len(sizes)) / 1024,
                 sum(history_size(h)[0] for h in floor_h) / max(1, len(floor_h)) / 1024)
        replayed, seconds = self.cli("audit", "replay", "--all")
        line = re.search(r"(\d+) replayed OK, (\d+) failed", replayed)
        count = int(line.group(1)) + int(line.group(2)) if line else 0
        self.row(f"`resolutions audit replay --all` histories/s ({count}, whole command)",
                 count / seconds if seconds else 0.0, "")
        york = sum(1 for c in self.cases if c.protocol == "york")
        _, seconds = self.cli("report", "--protocol", "york", "--json")
        self.row(f"`resolutions report --protocol york` cases/s ({york} open+closed)",
                 york / seconds if seconds else 0.0, "")

    def cli(self, *words: str) -> tuple[str, float]:
        env = {**self.cli_env, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        began = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "starter.cli", *words], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=3600)
        seconds = time.perf_counter() - began
        if done.returncode not in (0, 1):
            print(f"  resolutions {' '.join(words)}: {done.stderr[-500:]}", file=sys.stderr)
        return done.stdout, seconds

    # -- report ------------------------------------------------------------------------------
    def print_report(self) -> None:
        args = self.args
        lines = [f"Machine: {machine()}",
                 f"Steady run: {args.open} open cases across {', '.join(PROTOCOLS)} on the real "
                 f"calendar (+5 growth cases), {args.open} floor runs on the same server; "
                 f"{args.rate} actions/s for {args.seconds} s; {args.close} walked to close.",
                 getattr(self, "stream_note", ""), "",
                 "| figure | ours | floor / reference | ratio |", "| --- | --- | --- | --- |"]
        lines += [f"| {k} | {a} | {b} | {c} |" for k, (a, b, c) in self.out.items()]
        text = "\n".join(lines)
        print(text)
        if args.out:
            Path(args.out).write_text(text + "\n", encoding="utf-8")


async def main(args, env_base: dict[str, str]) -> int:
    with tempfile.TemporaryDirectory(prefix="resolutions-steady-") as tmp:
        return await Bench(args, Path(tmp), env_base).run()
