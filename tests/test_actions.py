"""Every action of the table (protocols/actions.py), by its id and by every old name, as people
send it: the `resolutions` command (an update, and with --signal a signal), the web form's URL,
and the update and signal names a client or a saved history uses. Refusals reach the web form
at the field the workflow names, not by reading the sentence.

All on `python worker.py` (embedded dev server, SMTP sink) and `resolutions web`, each its own
process, as a user runs them.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from infra.connection import connect
from infra.links import Links
from infra.settings import Settings
from protocols.actions import ACTIONS, BY_ID, MANAGER_ACTIONS, ActionSpec
from protocols.messages import Person, TimelineEvent
from starter import cases
from starter.web.csrf import FIELD
from tests.conftest import HISTORY_DIR, ROOT, as_operator, case_input

# Who acts: the receiving practitioner, who holds every role of their side nobody is named
# for; withdrawing is the raising side's, so the raiser withdraws (protocols.permissions).
ROB = Person(name="Rob Receiver", email="rob@csc.example", role="Social worker")
RAE = Person(name="Rae Raiser", email="rae@school.example", role="Teacher")
BY = {"name": ROB.name, "email": ROB.email, "role": ROB.role}
RAE_BY = {"name": RAE.name, "email": RAE.email, "role": RAE.role}

# What each manager action needs: a protocol, the real updates that bring a case to where the
# action is accepted, the action's message, the same as command-line arguments and as a filled
# web form, and the event it records on the case. Dudley lets stage 1's timescale be agreed and
# awaits a written outcome once resolved; York allows an urgent bypass.
RESOLVED = ("record_outcome", {"stage": "1", "resolved": True, "summary": "Agreed"})


@dataclass(frozen=True)
class Scenario:
    protocol: str
    steps: tuple[tuple[str, dict[str, Any]], ...]
    message: dict[str, Any]
    argv: tuple[str, ...]
    form: dict[str, str]
    records: str
    raiser_acts: bool = False  # else the receiving practitioner

    @property
    def by(self) -> Person:
        return RAE if self.raiser_acts else ROB

    @property
    def role_key(self) -> str:
        return "raising" if self.raiser_acts else "receiving"

    @property
    def actor(self) -> dict[str, str]:
        return {"name": self.by.name, "email": self.by.email, "role": self.by.role}


SCENARIOS: dict[str, Scenario] = {
    "record_outcome": Scenario(
        "york", (), {"stage": "1", "resolved": False, "summary": "No agreement"},
        ("--stage", "1", "--not-resolved", "--summary", "No agreement"),
        {"stage": "1", "resolved": "no", "summary": "No agreement"}, "outcome_recorded"),
    "bypass": Scenario(
        "york", (), {"to_stage": "3", "reason": "Urgent", "urgent": True, "agreed_by": ["A"]},
        ("--to-stage", "3", "--reason", "Urgent", "--urgent", "--agreed-by", "A"),
        {"to_stage": "3", "reason": "Urgent", "urgent": "yes", "agreed_by": "A"}, "bypass"),
    # Only Leeds provides for halting, by the agency with the concern (s3 Stage 4 para 2).
    "pause": Scenario("leeds", (), {"reason": "Sickness"}, ("--reason", "Sickness"),
                      {"reason": "Sickness"}, "paused", raiser_acts=True),
    "resume": Scenario("leeds", (("pause", {"reason": "Sickness"}),), {"note": "Back"},
                       ("--note", "Back"), {"note": "Back"}, "resumed", raiser_acts=True),
    "agree_timescale": Scenario(
        "dudley", (), {"stage": "1", "timescale": {"kind": "working_days", "amount": 5}},
        ("--stage", "1", "--working-days", "5"),
        {"stage": "1", "kind": "working_days", "amount": "5"}, "timescale_agreed"),
    "assign": Scenario(
        "york", (), {"role": "2.receiving", "person": {"name": "Nia New",
                                                       "email": "nia@x.example"}},
        ("--role", "2.receiving", "--name", "Nia New", "--email", "nia@x.example"),
        {"role": "2.receiving", "person.name": "Nia New", "person.email": "nia@x.example"},
        "role_assigned"),
    "confirm_in_writing": Scenario(
        "dudley", (RESOLVED,), {"summary": "Letter sent"}, ("--summary", "Letter sent"),
        {"duty": "", "summary": "Letter sent"}, "confirmed_in_writing"),
    "report_immediate_risk": Scenario(
        "york", (), {"description": "Disclosure today"}, ("--description", "Disclosure today"),
        {"description": "Disclosure today"}, "immediate_risk"),
    "withdraw": Scenario("york", (), {"reason": "Raised in error"},
                         ("--reason", "Raised in error"), {"reason": "Raised in error"},
                         "withdrawn", raiser_acts=True),
    # York s5: "contemporaneously record each inter-agency discussion ... approve and date".
    "record_discussion": Scenario(
        "york", (), {"with_name": "Rob Receiver", "method": "phone", "said": "Talked it over"},
        ("--with", "Rob Receiver", "--how", "phone", "--said", "Talked it over"),
        {"with_name": "Rob Receiver", "method": "phone", "said": "Talked it over",
         "stage": "1"}, "discussion_recorded"),
    # York Stage 1's conversation deadline reminds rather than escalates: it can be done.
    "mark_step_done": Scenario(
        "york", (), {"deadline": "1/conversation", "note": "Spoke this morning"},
        ("--deadline", "1/conversation", "--note", "Spoke this morning"),
        {"deadline": "1/conversation", "note": "Spoke this morning"}, "step_done"),
    # York s5 Stage 4 para 1: "the matter unresolved within the timescale ... referred
    # directly to the Chair", a decision at stage 3 (reached here by an urgent bypass).
    "refer": Scenario(
        "york", (("bypass", {"to_stage": "3", "reason": "Urgent", "urgent": True,
                             "agreed_by": ["A"]}),),
        {"referral": "unresolved_in_timescale", "reason": "Stalled", "decided_by": ["A"]},
        ("--referral", "unresolved_in_timescale", "--reason", "Stalled", "--decided-by", "A"),
        {"referral": "unresolved_in_timescale", "refer": "yes", "reason": "Stalled",
         "decided_by": "A"}, "referred"),
    # Dudley s4 Stage 1: the receiving worker will "advise the complainant agency of the
    # outcome in writing"; issue 15: without it the case closes only by a recorded decision.
    "close_unconfirmed": Scenario(
        "dudley", (RESOLVED,), {"reason": "Agency closed", "decided_by": ["A"]},
        ("--reason", "Agency closed", "--decided-by", "A"),
        {"reason": "Agency closed", "decided_by": "A"}, "closed_unconfirmed"),
}


# Names people and clients used before each action had one id: commands in the README and
# in people's scripts, form URLs bookmarked or left open, update and signal names in running
# cases' histories. Each must keep meaning the same action.
OLD_COMMANDS = {"outcome": "record_outcome", "bypass": "bypass", "pause": "pause",
                "resume": "resume", "agree-timescale": "agree_timescale", "assign": "assign",
                "confirm": "confirm_in_writing", "risk": "report_immediate_risk",
                "withdraw": "withdraw"}
OLD_URLS = {"outcome": "record_outcome", "bypass": "bypass", "pause": "pause",
            "resume": "resume", "timescale": "agree_timescale", "hand-over": "assign",
            "confirm": "confirm_in_writing", "immediate-risk": "report_immediate_risk",
            "withdraw": "withdraw"}
OLD_UPDATES = {n: n for n in SCENARIOS}
OLD_SIGNALS = {f"{n}_signal": n for n in SCENARIOS}


@dataclass
class Stack:
    """`python worker.py` and `resolutions web`, with a client like the CLI's."""

    env: dict[str, str]
    settings: Settings
    client: Client
    web: httpx.AsyncClient
    links: Links
    cli_slots: asyncio.Semaphore
    tokens: dict[str, dict[str, str]]  # each person's environment, with their operator token
    raised: int = 0

    async def cli(self, *args: str, by: Person = ROB) -> subprocess.CompletedProcess:
        """`resolutions ARGS` as ``by`` (their operator token)."""
        async with self.cli_slots:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "starter.cli", *args, env=self.tokens[by.name], cwd=ROOT,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await asyncio.wait_for(proc.communicate(), 90)
        return subprocess.CompletedProcess(args, proc.returncode or 0, out.decode(),
                                           err.decode())

    async def prepared(self, action_id: str, protocol: str = "") -> str:
        """A new case where the action is accepted, brought there by real updates."""
        scenario = SCENARIOS[action_id]
        self.raised += 1
        handle = await cases.raise_case(self.client, self.settings, case_input(
            protocol or scenario.protocol, f"2026-{self.raised:04d}"))

        async def entered() -> bool:
            return any(e.kind == "stage_entered" for e in await self.recorded(handle.id))

        await _until(entered)
        for name, data in scenario.steps:
            await cases.act(self.client, handle.id, name,
                            cases.parse_action(name, {**data, "by": scenario.actor}))
        return handle.id

    async def recorded(self, wid: str) -> list[TimelineEvent]:
        return [e for e in await cases.get_timeline(self.client, wid) if e.via != "activity"]

    def case_url(self, wid: str, by: Person = ROB, role_key: str = "receiving") -> str:
        return f"/t/{self.links.token(self.links.for_case(wid, by, role_key))}/cases/{wid}"


async def _until(predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while not (value := await predicate()):
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.2)
    return value


def _wait_for_web(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
            return
        except httpx.TransportError:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.3)


@pytest.fixture
def web_process(running_worker) -> Iterator[tuple[dict[str, str], Path]]:
    env, _worker, tmp_path = running_worker
    log = tmp_path / "web.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "starter.cli", "web"], cwd=ROOT,
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_for_web(int(env["RESOLUTIONS_WEB_PORT"]), proc, log)
        yield env, tmp_path
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
async def stack(web_process) -> AsyncIterator[Stack]:
    env, tmp_path = web_process
    settings = Settings(data_dir=Path(env["RESOLUTIONS_DATA_DIR"]),
                        dev_server_port=int(env["RESOLUTIONS_DEV_SERVER_PORT"]))
    client = await connect(settings)
    base = f"http://127.0.0.1:{env['RESOLUTIONS_WEB_PORT']}"
    async with httpx.AsyncClient(base_url=base, timeout=60) as web:
        await web.get("/")  # one session (and CSRF) cookie for the forms sent side by side
        tokens = {p.name: as_operator(env, p.name, p.email, key)
                  for p, key in ((ROB, "receiving"), (RAE, "raising"))}
        yield Stack(env, settings, client, web, Links(settings), asyncio.Semaphore(3), tokens)


def _ways() -> list[tuple[str, tuple[str, str]]]:
    """Every way a person or a client names an action: each command spelling (as an update),
    the command with --signal, each update and signal name; the old names too."""
    ways: list[tuple[str, tuple[str, str]]] = []
    for action in MANAGER_ACTIONS:
        ways += [(action.id, ("command", s)) for s in (action.spelling, *action.alias_spellings)]
        ways.append((action.id, ("command --signal", action.spelling)))
        ways += [(action.id, ("update", name)) for name in action.names]
        ways += [(action.id, ("signal", name)) for name in action.signal_names]
    for channel, old in (("command", OLD_COMMANDS), ("update", OLD_UPDATES),
                         ("signal", OLD_SIGNALS)):
        ways += [(action_id, (channel, name)) for name, action_id in old.items()]
    return sorted(set(ways))


def _names_in_saved_histories() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for path in HISTORY_DIR.glob("*.json"):
        for event in json.loads(path.read_text())["events"]:
            if accepted := event.get("workflowExecutionUpdateAcceptedEventAttributes"):
                found.add(("update", accepted["acceptedRequest"]["input"]["name"]))
            if signalled := event.get("workflowExecutionSignaledEventAttributes"):
                found.add(("signal", signalled["signalName"]))
    return found


async def test_every_action_by_its_id_and_old_names_on_the_command_line_and_as_messages(
        stack: Stack) -> None:
    ways = _ways()
    # Every update and signal name a saved history holds is among those exercised here.
    assert _names_in_saved_histories() <= {w for _, w in ways}

    async def one(action_id: str, way: tuple[str, str]) -> None:
        scenario = SCENARIOS[action_id]
        wid = await stack.prepared(action_id)
        before = len(await stack.recorded(wid))
        channel, name = way
        message = cases.parse_action(action_id, {**scenario.message, "by": scenario.actor})
        if channel.startswith("command"):
            extra = ("--signal",) if channel.endswith("--signal") else ()
            done = await stack.cli(name, wid, *scenario.argv, "--by", scenario.by.name, *extra,
                                   by=scenario.by)
            assert done.returncode == 0, (way, done.stderr)
            assert ("Sent to" if extra else f"Case {wid}") in done.stdout, (way, done.stdout)
        elif channel == "update":
            handle = stack.client.get_workflow_handle(wid)
            await handle.execute_update(name, message)
        else:
            handle = stack.client.get_workflow_handle(wid)
            await handle.signal(name, message.model_dump(mode="json"))

        async def landed() -> list[TimelineEvent]:
            return (await stack.recorded(wid))[before:]

        new = await _until(landed)
        via = "signal" if "signal" in channel else "update"
        assert [(e.kind, e.via, e.actor) for e in new][:1] == [
            (scenario.records, via, scenario.by.name)], (way, new)
        assert not [e for e in new if e.kind == "rejected"], (way, new)

    await asyncio.gather(*(one(a, w) for a, w in ways))


async def test_every_action_form_by_its_url_and_old_urls(stack: Stack) -> None:
    async def one(action: ActionSpec, slug: str) -> None:
        assert action.id in SCENARIOS, slug
        scenario = SCENARIOS[action.id]
        wid = await stack.prepared(action.id)
        case = stack.case_url(wid, scenario.by, scenario.role_key)
        page = await stack.web.get(case)
        if slug == action.spelling and page.status_code == 200:
            # The case page offers the form under the action's id only.
            links = re.findall(rf'href="{re.escape(case)}/([a-z-]+)"', page.text)
            assert action.spelling in links, (slug, links)
            assert not set(links) & {s for a in ACTIONS for s in a.alias_spellings}, links
        form = await stack.web.get(f"{case}/{slug}")
        assert form.status_code == 200, (slug, form.text[-500:])
        # A form opened at an old URL still posts to the action's own.
        assert f'action="{case}/{action.spelling}"' in form.text
        csrf = re.search(rf'name="{FIELD}" value="([^"]+)"', form.text)
        assert csrf, slug
        before = len(await stack.recorded(wid))
        # Posted to the URL it was opened at: a form left open before the ids changed.
        done = await stack.web.post(f"{case}/{slug}", data={**scenario.form, FIELD: csrf[1]})
        assert done.status_code == 303, (slug, done.text[-800:])
        new = (await stack.recorded(wid))[before:]
        assert [(e.kind, e.via, e.actor) for e in new][:1] == [
            (scenario.records, "update", scenario.by.name)], (slug, new)

    urls = {(a.id, s) for a in MANAGER_ACTIONS for s in (a.spelling, *a.alias_spellings)}
    urls |= {(action_id, slug) for slug, action_id in OLD_URLS.items()}
    await asyncio.gather(*(one(BY_ID[a], s) for a, s in sorted(urls)))
    unknown = await stack.web.get(f"{stack.case_url('york-2026-0001')}/record_outcome")
    assert unknown.status_code == 404  # one spelling per name: dashes


def _placed(page: str, field: str | None, text: str) -> bool:
    """Whether the refusal starting ``text`` is shown at ``field`` (None: at the top only)."""
    if field is None:
        return f"<li>{text}" in page and "govuk-error-message" not in page
    anchor = field.replace(".", "-")
    return (re.search(rf'<a href="#{anchor}">[^<]*{re.escape(text)}', page) is not None
            and f'id="{anchor}-error"' in page)


async def test_refusals_are_placed_at_the_field_the_workflow_names(stack: Stack) -> None:
    """Each refusal carries its field as data; the form shows it there. A case paused for a
    reason full of the words that once decided where a refusal went is refused at the top."""
    misleading = "not the current stage, at most, maximum, in the past, who agreed, urgent"

    async def post(wid: str, slug: str, form: dict[str, str]) -> str:
        url = f"{stack.case_url(wid)}/{slug}"
        csrf = re.search(rf'name="{FIELD}" value="([^"]+)"', (await stack.web.get(url)).text)
        assert csrf
        before = await stack.recorded(wid)
        page = await stack.web.post(url, data={**form, FIELD: csrf[1]})
        assert page.status_code == 400, page.text[-800:]
        assert await stack.recorded(wid) == before, "a refused form wrote history"
        return page.text

    york, leeds, dudley, paused = [await stack.prepared(a, p) for a, p in (
        ("record_outcome", ""), ("record_outcome", "leeds"), ("confirm_in_writing", ""),
        ("record_outcome", "leeds"))]
    await cases.act(stack.client, paused, "pause",
                    cases.parse_action("pause", {"reason": misleading, "by": RAE_BY}))
    checks = [
        (york, "record-outcome", {"stage": "2", "resolved": "yes", "summary": "x"},
         "stage", "Stage 2 is not the current stage"),
        (york, "bypass", {"to_stage": "3", "reason": "faster"}, "urgent",
         "allows skipping stages only when the matter is urgent"),
        (york, "assign", {"role": "9.raising", "person.name": "Nia New"}, "role",
         "&#39;9.raising&#39; is not a role in this case"),
        # Leeds s4 bullet 1: more than 10 working days only "agreed and recorded".
        (leeds, "agree-timescale", {"stage": "1", "kind": "working_days",
                                            "amount": "11"}, "reason",
         "asks for at most 10 working days where possible"),
        (leeds, "agree-timescale", {"stage": "1", "kind": "until", "until.day": "1",
                                            "until.month": "1", "until.year": "2020"},
         "until", "The agreed date is in the past."),
        (dudley, "confirm-in-writing", {"duty": "nonsense"}, "duty",
         "&#39;nonsense&#39; is not awaited"),
        (paused, "record-outcome", {"stage": "2", "resolved": "yes", "summary": "x"}, None,
         f"The case is paused ({misleading}). Resume it first."),
        (paused, "bypass", {"to_stage": "3a", "reason": "x"}, None, "The case is paused"),
    ]
    for wid, slug, form, field, text in checks:
        page = await post(wid, slug, form)
        assert _placed(page, field, text), (slug, field, text, re.findall(
            r'govuk-error-summary__list">(.*?)</ul>', page, re.S))
    # Matching words put this one at the number of days ("at most", "maximum"): it is about
    # the whole case, whatever its pause reason says.
    # Leeds: the agency with the concern halts the process (Leeds s3 Stage 4 para 2).
    await cases.act(stack.client, leeds, "pause",
                    cases.parse_action("pause", {"reason": misleading, "by": RAE_BY}))
    page = await post(leeds, "agree-timescale", {"stage": "1", "kind": "working_days",
                                                 "amount": "5"})
    assert _placed(page, None, f"The case is paused ({misleading})"), page[-3000:]

    # The command line prints the same refusal as one line, and records nothing.
    refused = await stack.cli("outcome", york, "--stage", "2", "--resolved", "--summary", "x",
                              "--by", BY["name"])
    assert refused.returncode == 1
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith("error: Stage 2 is not the current stage: the case is at stage 1 ")
    assert line.endswith("Record the outcome for stage 1."), line
