"""The journeys harness: one real one-machine stack (`python -m starter.devstack`: worker.py
with its embedded dev server and SMTP sink, and the web forms, on a compressed calendar) per
test session, and each module's journeys run at once.

A journey touches only what people touch: the `resolutions` command as a subprocess, the web
forms in headless Chromium, and the e-mails the embedded SMTP sink filed (personal links come
from there). Each journey is an ``async def`` decorated with :func:`journey`; when a module's
first journey test runs, every journey of that module selected for this run starts on one
background event loop, and each test then waits for its own journey's verdict.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from tests.conftest import CHROMIUM, CHROMIUM_ARGS, ROOT, free_port, stop_worker_process

# A working day lasts this long: a protocol's "5 working days" is 20 s of real time. Long
# enough that a person's next command lands inside the step it is meant for even on a busy
# two-core machine (at 2 s an undated duty's three one-day nudges could run out between two
# commands). The waits below are written for a 2 s day and scale with it.
DAY_SECONDS = 4.0
WAIT_SCALE = DAY_SECONDS / 2.0
# Assertions on pages wait as long as page actions do (see Journey.page).
expect.set_options(timeout=20_000)
# How often a journey asks `resolutions status --json` while it waits for the clock.
POLL_SECONDS = 1.0
JOURNEY_TIMEOUT = 480.0
# Commands running at once across a module's journeys (more only thrash two cores), and how
# many of those may be the checks after a case closed: the others stay free for people acting
# on an open case, whose clock is running.
COMMANDS_AT_ONCE = 3
CHECKS_AT_ONCE = 2
RESOLUTIONS = str(Path(sys.executable).parent / "resolutions")
PARTNERSHIPS = {"swindon": "ssp@swindon.example", "leeds": "lscp@leeds.example",
                "dudley.head_of_safeguarding": "hos@dudley.example",
                "dudley.dscb_chair": "chair@dscb.example",
                "barnsley.head_of_csc": "head.csc@barnsley.example",
                "barnsley.head_of_safeguarding": "head.sg@barnsley.example",
                "barnsley.qapm": "qapm@barnsley.example",
                "leeds.duty_and_advice": "duty@leeds.example",
                "swindon.mash": "mash@swindon.example"}


def now() -> datetime:
    return datetime.now(UTC)


# -- the worker, as a user runs it -------------------------------------------------------------
@dataclass(frozen=True)
class Site:
    env: dict[str, str]
    data_dir: Path
    public_url: str
    log: Path


def start_web_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """The worker with its web forms (`python -m starter.devstack`, what `./dev start` runs);
    returns once ready."""
    log = open(log_path, "w")  # noqa: SIM115 - the child process writes to it
    proc = subprocess.Popen([sys.executable, "-m", "starter.devstack"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while "Ready." not in log_path.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_worker_process(proc)
            raise AssertionError(f"worker did not start:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.2)
    return proc


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    assert shutil.which(CHROMIUM), "Debian's chromium is missing: run ./dev test (it installs it)"
    base = tmp_path_factory.mktemp("journeys-worker")
    web_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESOLUTIONS_",
                                                                     "TEMPORAL_"))}
    env.update({
        "RESOLUTIONS_DATA_DIR": str(base / "data"),
        "RESOLUTIONS_DEV_SERVER_PORT": str(free_port()),
        "RESOLUTIONS_DEV_SERVER_UI_PORT": str(free_port()),
        "RESOLUTIONS_SMTP_PORT": str(free_port()),
        "RESOLUTIONS_WEB_PORT": str(web_port),
        "RESOLUTIONS_PUBLIC_URL": f"http://127.0.0.1:{web_port}",
        "RESOLUTIONS_SETTINGS_FILE": str(base / "none.toml"),
        "RESOLUTIONS_TEST_DAY_SECONDS": str(DAY_SECONDS),
        "RESOLUTIONS_PARTNERSHIP_ADDRESSES": json.dumps(PARTNERSHIPS),
        # Each command is a new Python process: let it reuse compiled modules (kept out of
        # the source tree) rather than compile the project again every time.
        "PYTHONPYCACHEPREFIX": str(base / "pycache"),
    })
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    log = base / "worker.log"
    proc = start_web_worker(env, log)
    try:
        yield Site(env, base / "data", env["RESOLUTIONS_PUBLIC_URL"], log)
    finally:
        if os.environ.get("JOURNEY_TRACE"):
            print(subprocess.run(["ps", "-o", "pid,time,args", "--ppid", str(proc.pid), "-p",
                                  str(proc.pid), "-p", str(os.getpid())],
                                 capture_output=True, text=True).stdout, file=sys.stderr)
        stop_worker_process(proc)


# -- one journey's hands ----------------------------------------------------------------------
@dataclass
class Ran:
    """One `resolutions` command: what it printed and when it ran."""

    args: tuple[str, ...]
    code: int
    out: str
    err: str
    t0: datetime
    t1: datetime

    def json(self) -> Any:
        return json.loads(self.out)


class Journey:
    """What one person at a keyboard (or several) can do: run commands, read mail, browse."""

    def __init__(self, name: str, site: Site, tmp: Path,
                 browser: Callable[[], Awaitable[Browser]],
                 slots: tuple[asyncio.Semaphore, asyncio.Semaphore]) -> None:
        self.name, self.site, self.tmp = name, site, tmp
        self._browser, (self._slots, self._check_slots) = browser, slots
        self._contexts: list[BrowserContext] = []
        self.started = now()
        # Who is who (name → e-mail, role key), learnt from the commands that name people, and
        # each person's operator token: a command with `--by NAME` runs with NAME's token.
        self.people: dict[str, tuple[str, str]] = {}
        self.tokens: dict[str, asyncio.Task[str]] = {}

    async def check(self, *args: str) -> Ran:
        """A command reading a closed case's record: it waits behind people's actions."""
        async with self._check_slots:
            return await self.run(*args)

    def _learn(self, args: tuple[str, ...]) -> list[str]:
        """Note the people a `raise` or `assign` command names, with their role keys; their
        names."""
        before = set(self.people)
        given = dict(zip(args, args[1:], strict=False))
        if args[:1] == ("raise",):
            for side in ("raising", "receiving"):
                if f"--{side}-name" in given:
                    self.people[given[f"--{side}-name"]] = (given.get(f"--{side}-email", ""),
                                                            side)
            for i, arg in enumerate(args[:-1]):
                if arg == "--holder":
                    key, _, rest = args[i + 1].partition("=")
                    name, _, email = rest.partition("<")
                    self.people[name.strip()] = (email.strip().rstrip(">"), key.strip())
        elif args[:1] in (("assign",), ("hand-over",)) and "--name" in given:
            self.people[given["--name"]] = (given.get("--email", ""), given.get("--role", ""))
        return [name for name in self.people if name not in before]

    def operator(self, name: str) -> asyncio.Task[str]:
        """An operator token for ``name``, made as an administrator does
        (`resolutions operators add`), once per person, in the background."""
        if name not in self.tokens:
            email, role_key = self.people.get(name, ("", ""))
            args = ("operators", "add", "--name", name, *(["--email", email] if email else []),
                    "--role-key", role_key or "raising")

            async def make() -> str:
                ran = await self._exec(args, self.site.env)
                assert ran.code == 0, ran.err
                return ran.out.splitlines()[0].strip()

            self.tokens[name] = asyncio.ensure_future(make())
        return self.tokens[name]

    async def run(self, *args: str, ok: bool = True, timeout: float = 90) -> Ran:
        """`resolutions ARGS` in its own process; with ``ok``, it must exit 0. A command acting
        ``--by NAME`` runs with NAME's operator token (RESOLUTIONS_OPERATOR_TOKEN). The people
        a case is raised with get theirs before it starts (its clock is compressed); a person a
        role is handed to, at once in the background."""
        named = [self.operator(name) for name in self._learn(args)]
        if args[:1] == ("raise",):
            await asyncio.gather(*named)
        env = self.site.env
        if "--by" in args:
            by = args[args.index("--by") + 1]
            env = {**env, "RESOLUTIONS_OPERATOR_TOKEN": await self.operator(by)}
        ran = await self._exec(args, env, timeout)
        if ok:
            assert ran.code == 0, f"`resolutions {' '.join(args)}` exit {ran.code}: {ran.err}"
        return ran

    async def _exec(self, args: tuple[str, ...], env: dict[str, str],
                    timeout: float = 90) -> Ran:
        async with self._slots:
            t0 = now()
            proc = await asyncio.create_subprocess_exec(
                RESOLUTIONS, *args, cwd=self.tmp, env=env,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            try:
                out, err = await asyncio.wait_for(proc.communicate(), timeout)
            except TimeoutError:
                proc.kill()
                raise AssertionError(f"`resolutions {' '.join(args)}` did not finish") from None
            except asyncio.CancelledError:
                proc.kill()
                await proc.wait()
                raise
            ran = Ran(args, proc.returncode or 0, out.decode(), err.decode(), t0, now())
        if os.environ.get("JOURNEY_TRACE"):  # JOURNEY_TRACE=1 pytest -s: where time goes
            began, took = (t0 - self.started).total_seconds(), (ran.t1 - t0).total_seconds()
            print(f"{began:6.1f} +{took:4.1f} {self.name[5:30]} {' '.join(args)[:70]}",
                  file=sys.stderr)
        return ran

    async def refused(self, *args: str, says: str) -> Ran:
        """A command the protocol refuses: exit 1, one clear line naming why."""
        ran = await self.run(*args, ok=False)
        assert ran.code == 1, (ran.code, ran.out, ran.err)
        assert ran.err.startswith("error: ") and ran.err.count("\n") == 1, ran.err
        assert says in ran.err, ran.err
        return ran

    async def status(self, case_id: str) -> dict[str, Any]:
        return (await self.run("status", case_id, "--json")).json()

    async def until(self, case_id: str, ready: Callable[[dict[str, Any]], bool], what: str,
                    timeout: float = 60, *, mail: tuple[str, str] | None = None
                    ) -> dict[str, Any]:
        """Poll `resolutions status --json` until ``ready(state)``: waiting on the case. With
        ``mail`` (event, address), first wait for that e-mail, which the case sends once the
        change is recorded: reading the sink's index costs nothing, a status command does."""
        if mail is not None:
            await self.mail(case_id, *mail, timeout=timeout)
        deadline = time.monotonic() + timeout * WAIT_SCALE
        while True:
            state = await self.status(case_id)
            if ready(state):
                return state
            assert time.monotonic() < deadline, f"{case_id}: never {what}; last: {state}"
            await asyncio.sleep(POLL_SECONDS)

    async def until_listed(self, case_id: str, status: str,
                           timeout: float = 30) -> dict[str, Any]:
        """Poll `resolutions list --all --json` until the case is listed with ``status`` (the
        list reads search attributes, which the server indexes a moment after a change)."""
        protocol = case_id.split("-", 1)[0]
        deadline = time.monotonic() + timeout * WAIT_SCALE
        while True:
            rows = (await self.run("list", "--all", "--protocol", protocol, "--json")).json()
            row = next((r for r in rows if r["workflow_id"] == case_id), None)
            if row is not None and row["status"] == status:
                return row
            assert time.monotonic() < deadline, f"{case_id} never listed as {status}: {row}"
            await asyncio.sleep(POLL_SECONDS)

    async def at_stage(self, case_id: str, stage: str, told: str,
                       timeout: float = 60) -> dict[str, Any]:
        """Wait for the case to enter ``stage``, whose holder ``told`` gets an e-mail."""
        return await self.until(case_id, lambda s: s["stage"] == stage
                                and s["stages_visited"][-1:] == [stage],
                                f"at stage {stage}", timeout, mail=("stage_entered", told))

    async def mail(self, case_id: str, event: str, address: str,
                   timeout: float = 60, subject: str = "") -> dict[str, Any]:
        """The sink's record of the e-mail for ``event`` sent to ``address`` (waits for it);
        ``subject``: only one whose subject holds it."""
        index = self.site.data_dir / "mail" / "index.jsonl"
        deadline = time.monotonic() + timeout * WAIT_SCALE
        while True:
            if index.exists():
                for line in index.read_text(encoding="utf-8").splitlines():
                    record = json.loads(line)
                    if (record["case"] == case_id and record["event"] == event
                            and subject in record["subject"]
                            and address.lower() in [a.lower() for a in record["to"]]):
                        return record
            assert time.monotonic() < deadline, f"no '{event}' e-mail to {address} ({case_id})"
            await asyncio.sleep(0.3)

    async def mailed_link(self, case_id: str, event: str, address: str) -> str:
        """The personal link in that e-mail, read with `resolutions mail FILE`."""
        record = await self.mail(case_id, event, address)
        shown = (await self.run("mail", record["file_name"])).out
        found = re.search(re.escape(self.site.public_url) + r"/t/[A-Za-z0-9_.-]+", shown)
        assert found, f"no personal link in {record['file_name']}:\n{shown}"
        return found[0]

    async def page(self) -> Page:
        """A fresh browser window (its own cookies), in the module's headless Chromium."""
        context = await (await self._browser()).new_context()
        # A page waits on the real worker behind it; on a busy two-core machine an answer can
        # take longer than playwright's 5 s default.
        context.set_default_timeout(20_000)
        self._contexts.append(context)
        return await context.new_page()

    async def close(self) -> None:
        for context in self._contexts:
            await context.close()


# -- running a module's journeys together -------------------------------------------------------
Body = Callable[[Journey], Awaitable[None]]


def journey(body: Body) -> Callable[..., None]:
    """Make ``async def test_x(j: Journey)`` a test whose journey runs alongside the other
    journeys; the test passes when its own journey did."""
    key = f"{body.__module__}::{body.__name__}"

    def test(journeys: Runner) -> None:
        journeys.result(key)

    test.__name__ = test.__qualname__ = body.__name__
    test.__doc__ = body.__doc__
    test.__module__ = body.__module__
    test.journey = (key, body)  # type: ignore[attr-defined]
    return test


class Runner:
    """A background event loop running journeys; one Chromium shared by their windows."""

    def __init__(self, site: Site, tmp_factory: pytest.TempPathFactory) -> None:
        self.site, self.tmp_factory = site, tmp_factory
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.futures: dict[str, Future[float]] = {}
        self._pw: Any = None
        self._browser: Browser | None = None
        self._lock: asyncio.Lock | None = None
        self._slots: tuple[asyncio.Semaphore, asyncio.Semaphore] | None = None
        self._tasks: list[asyncio.Task[Any]] = []

    async def browser(self) -> Browser:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._browser is None:
                self._pw = await async_playwright().start()
                self._browser = await self._pw.chromium.launch(executable_path=CHROMIUM,
                                                               args=CHROMIUM_ARGS)
        return self._browser

    def start(self, key: str, body: Body) -> None:
        if key in self.futures:
            return
        name = body.__name__
        tmp = self.tmp_factory.mktemp(name)

        async def go() -> float:
            if self._slots is None:  # made on the loop that uses it
                self._slots = (asyncio.Semaphore(COMMANDS_AT_ONCE),
                               asyncio.Semaphore(CHECKS_AT_ONCE))
            self._tasks.append(asyncio.current_task())  # type: ignore[arg-type]
            j = Journey(name, self.site, tmp, self.browser, self._slots)
            try:
                await asyncio.wait_for(body(j), JOURNEY_TIMEOUT)
            finally:
                await j.close()
            return (now() - j.started).total_seconds()

        self.futures[key] = asyncio.run_coroutine_threadsafe(go(), self.loop)

    def result(self, key: str) -> float:
        return self.futures[key].result(timeout=JOURNEY_TIMEOUT + 30)

    def close(self) -> None:
        async def shut() -> None:
            for task in self._tasks:  # journeys left running (a run stopped early): stop them
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            if self._browser is not None:
                await self._browser.close()
            if self._pw is not None:
                await self._pw.stop()

        asyncio.run_coroutine_threadsafe(shut(), self.loop).result(timeout=60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="session")
def runner(site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    runner = Runner(site, tmp_path_factory)
    try:
        yield runner
    finally:
        runner.close()


@pytest.fixture(scope="module")
def journeys(request: pytest.FixtureRequest, runner: Runner) -> Runner:
    """Start this module's selected journeys together. (Starting every module's at once
    starves them on two cores: a case's clock then runs out while its people wait their turn.)
    """
    for item in request.session.items:
        found = getattr(getattr(item, "function", None), "journey", None)
        if found is not None and item.module is request.module:
            runner.start(*found)
    return runner


@dataclass
class Did:
    """An outcome a journey recorded, and the window in which it was recorded."""

    stage: str
    resolved: bool
    by: str
    summary: str
    t0: datetime
    t1: datetime
    contact_method: str = ""


@dataclass
class Expected:
    """What the journey did, for the audit checks (tests/journeys/records.py)."""

    case_id: str
    protocol: str
    raising_agency: str
    receiving_agency: str
    child: str
    stages: list[str]
    outcomes: list[Did]
    status: str  # closed | withdrawn
    result: str  # resolved | withdrawn | closed unresolved
    urgency: str = "standard"
    breached: set[str] = field(default_factory=set)  # deadline keys that passed on their own
    met: set[str] = field(default_factory=set)  # deadline keys that must not have passed
    timer_moves: list[str] = field(default_factory=list)  # stages entered because time ran out
    bypasses: list[tuple[str, str]] = field(default_factory=list)
    pauses: int = 0
    agreed: list[str] = field(default_factory=list)  # deadline keys with an agreed timescale
    names: list[str] = field(default_factory=list)  # people who must appear in the record
    nudged: bool = False  # a reminder went out on its own, with nobody acting
    immediate_risk: bool = False
    confirmed: list[str] = field(default_factory=list)  # duties confirmed in writing
    forms: list[str] = field(default_factory=list)
    raised: tuple[datetime, datetime] | None = None
