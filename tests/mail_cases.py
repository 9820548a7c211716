"""People, cases and readers for the mail and form tests (tests/test_notify.py, test_forms.py).

Cases are raised through the real raising function and moved on by the messages a manager
sends; forms are read with the `resolutions form` command, as a person prints them.
"""

from __future__ import annotations

import asyncio
import base64
import html
import json
import os
import re
import sys
from datetime import date
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from protocols.messages import Child, Person
from tests.conftest import ROOT, TEST_KEY, TEST_KEY_ID, at, case_input, skip_to, start_case

CHILD = Child(name="Amelia Thornbury", date_of_birth=date(2019, 5, 14),
              address="12 Orchard Close, Swindon SN1 4AB", family="Thornbury family")
CHILD_BITS = ("Amelia", "Thornbury", "Orchard", "SN1 4AB", "14/05/2019", "2019-05-14")
RAISING = Person(name="Priya Shah", role="Health Visitor", agency="Great Western Hospitals NHS FT",
                 email="priya.shah@nhs.example", phone="01793 000111")
RECEIVING = Person(name="Tom Reed", role="Social Worker", agency="Children's Social Care",
                   email="tom.reed@council.example", phone="01793 000222")
LINE_MANAGER_A = Person(name="Hannah Cole", role="Health Visiting Team Leader",
                        agency=RAISING.agency, email="hannah.cole@nhs.example")
LINE_MANAGER_B = Person(name="Gary Owen", role="Team Manager", agency=RECEIVING.agency,
                        email="gary.owen@council.example")
HEAD_A = Person(name="Dr Ruth Ellis", role="Head of Safeguarding", agency=RAISING.agency,
                email="ruth.ellis@nhs.example", phone="01793 000333")
HEAD_B = Person(name="Mark Bright", role="Head of Service", agency=RECEIVING.agency,
                email="mark.bright@council.example")
DETAILS = dict(issue="Health visitor believes the case should not be closed.",
               risk_to_child="Missed health appointments; weight loss.",
               nature="CSC plans to close the child in need plan.",
               aim="Keep the plan open and hold a multi-agency meeting.")


def actor(person: Person) -> dict[str, str]:
    return person.model_dump(include={"name", "role", "agency", "email"})


async def raise_case(env: WorkflowEnvironment, protocol: str, when: str, *,
                     reference: str = "2030-0042", **fields: Any) -> WorkflowHandle:
    """Raise a case at a London time, with the practitioners and child above."""
    await skip_to(env, at(when))
    details = {"child": CHILD, "raising": RAISING, "receiving": RECEIVING, **DETAILS,
               **fields}
    return await start_case(env.client, case_input(protocol, reference, **details))


async def send(env: WorkflowEnvironment, handle: WorkflowHandle, when: str, name: str,
               **data: Any) -> None:
    """At a London time, send one manager's message (as `resolutions ... --signal` does)."""
    await skip_to(env, at(when))
    await handle.signal(f"{name}_signal", data)


async def outcome(env: WorkflowEnvironment, handle: WorkflowHandle, when: str, stage: str,
                  by: Person, summary: str, *, resolved: bool = False, **more: Any) -> None:
    await send(env, handle, when, "record_outcome", stage=stage, resolved=resolved,
               by=actor(by), summary=summary, **more)


async def form_via_cli(env: WorkflowEnvironment, workflow_id: str, kind: str,
                       tmp_path: Path) -> str:
    """`resolutions form ID --kind KIND --out F` against this test's server; the page."""
    out = tmp_path / f"{workflow_id}-{kind}.html"
    code, _, err = await run_cli(env, "form", workflow_id, "--kind", kind, "--out", str(out),
                                 tmp_path=tmp_path)
    assert code == 0, err
    return out.read_text(encoding="utf-8")


async def run_cli(env: WorkflowEnvironment, *args: str, tmp_path: Path) -> tuple[int, str, str]:
    """The CLI as a subprocess, pointed at the test server with the suite's key."""
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith(("RESOLUTIONS_", "TEMPORAL_"))}
    environ.update({
        "RESOLUTIONS_TEMPORAL_ADDRESS": env.client.service_client.config.target_host,
        "RESOLUTIONS_CODEC_KEYS": json.dumps({TEST_KEY_ID: base64.b64encode(TEST_KEY).decode()}),
        "RESOLUTIONS_DATA_DIR": str(tmp_path / "cli-data"),
        "RESOLUTIONS_SETTINGS_FILE": str(tmp_path / "none.toml"),
    })
    if "--by" in args:  # the command acts as that person: with their operator token
        environ["RESOLUTIONS_OPERATOR_TOKEN"] = await _token(environ, args[args.index("--by") + 1])
    return await _exec(environ, *args)


async def _exec(environ: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "starter.cli", *args, cwd=ROOT, env=environ,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode or 0, out.decode(), err.decode()


PEOPLE = {p.name: p for p in (RAISING, RECEIVING, LINE_MANAGER_A, LINE_MANAGER_B, HEAD_A, HEAD_B)}


async def _token(environ: dict[str, str], name: str) -> str:
    """An operator token for the person named, made as an administrator does (`resolutions
    operators add`); their address is how the case knows them."""
    person = PEOPLE[name]
    side = "receiving" if person.agency == RECEIVING.agency else "raising"
    code, out, err = await _exec(environ, "operators", "add", "--name", person.name,
                                 "--email", person.email, "--role-key", side)
    assert code == 0, err
    return out.splitlines()[0].strip()


# -- reading mail and pages ---------------------------------------------------------------------
def addresses(msg: EmailMessage, header: str) -> list[str]:
    return sorted(a.lower() for _, a in getaddresses(msg.get_all(header, [])))


def recipients(msg: EmailMessage) -> list[str]:
    return sorted(a.strip().lower() for a in (msg["X-Envelope-To"] or "").split(",") if a.strip())


def part(msg: EmailMessage, mime: str) -> str:
    body = msg.get_body(preferencelist=(mime.split("/")[1],))
    assert body is not None
    return body.get_content()


def attachments(msg: EmailMessage) -> dict[str, bytes]:
    return {a.get_filename() or "": a.get_payload(decode=True) for a in msg.iter_attachments()}


def text_of(page: str) -> str:
    """The visible text of an HTML page, unescaped, with whitespace collapsed."""
    page = re.sub(r"<style.*?</style>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page))).strip()


def row_cells(page: str, stage_id: str) -> list[str]:
    """The cells of the table row that starts with 'Stage <id>'."""
    for row in re.findall(r"<tr>(.*?)</tr>", page, flags=re.S):
        cells = [text_of(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)]
        if cells and cells[0].startswith(f"Stage {stage_id} "):
            return cells
    raise AssertionError(f"no row for stage {stage_id}")


def emails(person: Person, *more: Person) -> list[str]:
    return sorted(p.email.lower() for p in (person, *more))
