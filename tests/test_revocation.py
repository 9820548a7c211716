"""Revocation, as people meet it: links made with `resolutions link`, roles given and taken back
with `resolutions roles`, a role handed over with `resolutions assign`, a case terminated from
outside (as an operator would from the Temporal UI), and each link's next request.

All on `python worker.py` (embedded dev server, SMTP sink) and `resolutions web`, each its own
process, with every command run as a subprocess.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from infra.connection import connect
from infra.links import Grant, Links, sign
from infra.settings import Settings
from tests.conftest import ROOT, as_operator, free_port
from tests.test_actions import _wait_for_web

CASE = "york-2026-0101"
RAISE = ["raise", "--protocol", "york", "--raising-name", "Rae Raiser", "--raising-role",
         "Teacher", "--raising-agency", "Example Primary", "--raising-email",
         "rae@school.example", "--receiving-name", "Rob Receiver", "--receiving-agency",
         "Children's Social Care", "--receiving-email", "rob@csc.example", "--issue",
         "Case closed after one visit", "--risk", "Neglect is continuing", "--nature",
         "Threshold", "--aim", "Reopen the assessment"]


def _day(offset: int) -> str:
    return (datetime.now(UTC) + timedelta(days=offset)).date().isoformat()


@dataclass
class Web:
    """One `resolutions web` process (its own settings), reached over HTTP."""

    proc: subprocess.Popen
    http: httpx.Client

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path)

    def stop(self) -> None:
        self.http.close()
        self.proc.terminate()
        self.proc.wait(timeout=30)


@dataclass
class Deployment:
    env: dict[str, str]
    tmp_path: Path
    webs: list[Web]

    def cli(self, *args: str, **extra_env: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "starter.cli", *args], cwd=ROOT,
                              env={**self.env, **extra_env}, capture_output=True, text=True,
                              timeout=120)

    def as_(self, name: str, email: str, role_key: str) -> dict[str, str]:
        """The operator token of the person named (`resolutions operators add`)."""
        return {"RESOLUTIONS_OPERATOR_TOKEN": as_operator(
            self.env, name, email, role_key)["RESOLUTIONS_OPERATOR_TOKEN"]}

    def ok(self, *args: str, **extra_env: str) -> str:
        done = self.cli(*args, **extra_env)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def link(self, *args: str) -> str:
        """The path of a link `resolutions link` prints (/t/<token>)."""
        return "/t/" + self.ok("link", *args).strip().rsplit("/t/", 1)[1]

    def web(self, **extra_env: str) -> Web:
        port = free_port()
        env = {**self.env, **extra_env, "RESOLUTIONS_WEB_PORT": str(port)}
        log = self.tmp_path / f"web-{port}.log"
        with open(log, "w") as out:
            proc = subprocess.Popen([sys.executable, "-m", "starter.cli", "web"], cwd=ROOT,
                                    env=env, stdout=out, stderr=subprocess.STDOUT)
        _wait_for_web(port, proc, log)
        web = Web(proc, httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60,
                                     follow_redirects=False))
        self.webs.append(web)
        return web

    def settings(self) -> Settings:
        return Settings(data_dir=Path(self.env["RESOLUTIONS_DATA_DIR"]),
                        dev_server_port=int(self.env["RESOLUTIONS_DEV_SERVER_PORT"]))

    async def client(self) -> Client:
        return await connect(self.settings())

    def raise_case(self, reference: str) -> str:
        self.ok(*RAISE, "--reference", reference)
        wid = f"york-{reference}"
        deadline = time.monotonic() + 30
        while not json.loads(self.ok("status", wid, "--json"))["stages_visited"]:
            assert time.monotonic() < deadline, "the case did not open"
            time.sleep(0.3)
        return wid


@pytest.fixture
def deployment(running_worker) -> Iterator[Deployment]:
    env, _worker, tmp_path = running_worker
    here = Deployment(env, tmp_path, [])
    try:
        yield here
    finally:
        for web in here.webs:
            web.stop()


def _page_says(page: httpx.Response, *phrases: str) -> None:
    text = re.sub(r"\s+", " ", page.text)
    for phrase in phrases:
        assert phrase in text, f"{phrase!r} not on the page ({page.status_code})"


def test_withdrawn_roles_and_handed_over_links_are_refused(deployment: Deployment) -> None:
    d = deployment
    web = d.web()
    grace_over = d.web(RESOLUTIONS_HANDOVER_GRACE_HOURS="0")
    wid = d.raise_case("2026-0101")

    # A fresh install gives its first business unit with one command, and its link works.
    refused = d.cli("link", "--business-unit", "--protocol", "york", "--email",
                    "bu@york.example")
    assert refused.returncode == 1 and "resolutions roles add" in refused.stderr
    d.ok("roles", "add", "--email", "bu@york.example", "--role", "business_unit",
         "--protocol", "york")
    roles_file = Path(d.env["RESOLUTIONS_DATA_DIR"]) / "roles.toml"
    assert roles_file.stat().st_mode & 0o777 == 0o600
    bu_list = d.link("--business-unit", "--protocol", "york", "--email", "bu@york.example")
    bu_case = d.link(wid, "--name", "BU Officer", "--email", "bu@york.example",
                     "--role-key", "contact:business_unit")
    assert web.get(f"{bu_list}/cases").status_code == 200
    assert web.get(f"{bu_case}/cases/{wid}").status_code == 200

    # A raiser: allowed by the roles file, for as long as it says so.
    d.ok("roles", "add", "--email", "@school.example", "--role", "raiser")
    raiser = d.link("--raiser", "--name", "Rae Raiser", "--email", "rae@school.example")
    assert web.get(f"{raiser}/raise").status_code == 200

    # Rob holds the receiving role; his link acts.
    rob = d.link(wid, "--name", "Rob Receiver", "--email", "rob@csc.example",
                 "--role-key", "receiving")
    page = web.get(f"{rob}/cases/{wid}")
    assert page.status_code == 200 and f"/cases/{wid}/record-outcome" in page.text

    # Taking the roles back withdraws every link sent, at the next request.
    d.ok("roles", "remove", "--email", "bu@york.example")
    d.ok("roles", "remove", "--email", "@school.example")
    for path in (f"{bu_list}/cases", f"{bu_case}/cases/{wid}"):
        page = web.get(path)
        assert page.status_code == 403
        _page_says(page, "has been withdrawn")
    page = web.get(f"{raiser}/raise")
    assert page.status_code == 403
    _page_says(page, "has been withdrawn")

    # The receiving role is handed over by its holder: Rob's link reads the case for the
    # grace, no more.
    d.ok("assign", wid, "--role", "receiving", "--name", "Nia New", "--email",
         "nia@csc.example", **d.as_("Rob Receiver", "rob@csc.example", "receiving"))
    page = web.get(f"{rob}/cases/{wid}")
    assert page.status_code == 200
    _page_says(page, "was handed to Nia New", "lets you read this case until")
    assert f"/cases/{wid}/record-outcome" not in page.text
    form = web.get(f"{rob}/cases/{wid}/record-outcome")
    assert form.status_code == 403
    _page_says(form, "no longer change it")
    # With the grace over (here: a deployment with no grace), the link no longer opens it.
    page = grace_over.get(f"{rob}/cases/{wid}")
    assert page.status_code == 403
    _page_says(page, "Your access through this link has been withdrawn",
               "now held by Nia New", "no longer opens it")
    # The new holder's link works in full.
    nia = d.link(wid, "--name", "Nia New", "--email", "nia@csc.example", "--role-key",
                 "receiving")
    page = grace_over.get(f"{nia}/cases/{wid}")
    assert page.status_code == 200 and f"/cases/{wid}/record-outcome" in page.text


def test_link_lifetimes_legacy_sunset_and_secret_rotation(deployment: Deployment) -> None:
    d = deployment
    # Lifetimes are bounded: a setting or a flag beyond 90 days is refused, saying why.
    too_long = d.cli("link", CASE, "--name", "Rob", "--email", "rob@csc.example",
                     RESOLUTIONS_LINK_VALID_DAYS="100000")
    assert too_long.returncode == 1
    assert "RESOLUTIONS_LINK_VALID_DAYS: must be between 1 and 90 days" in too_long.stderr
    flag = d.cli("link", CASE, "--name", "Rob", "--email", "rob@csc.example", "--days", "91")
    assert flag.returncode == 1 and "--days must be between 1 and 90" in flag.stderr

    wid = d.raise_case("2026-0102")
    rob = d.link(wid, "--name", "Rob Receiver", "--email", "rob@csc.example", "--role-key",
                 "receiving")
    # A link of the older, signed kind (as sent before sealing), for the same person.
    links = Links(d.settings())
    old = sign(links.key, Grant(name="Rob Receiver", email="rob@csc.example",
                                role="practitioner", role_key="receiving", workflow_id=wid,
                                expires=links.expiry()))
    before = d.web(RESOLUTIONS_LEGACY_LINKS_UNTIL=_day(1))
    assert before.get(f"/t/{old}/cases/{wid}").status_code == 200
    after = d.web(RESOLUTIONS_LEGACY_LINKS_UNTIL=_day(-1))
    page = after.get(f"/t/{old}/cases/{wid}")
    assert page.status_code == 410
    _page_says(page, "This link is no longer accepted", "stopped accepting")
    assert after.get(f"{rob}/cases/{wid}").status_code == 200  # sealed links still open

    # Rotation: links sent before keep opening through the overlap; new ones use the new key.
    out = d.ok("links", "rotate", "--overlap-days", "3")
    assert f"open until the end of {_day(3)}" in out
    rotated = d.web()
    assert rotated.get(f"{rob}/cases/{wid}").status_code == 200
    fresh = d.link(wid, "--name", "Rob Receiver", "--email", "rob@csc.example", "--role-key",
                   "receiving")
    assert fresh != rob and rotated.get(f"{fresh}/cases/{wid}").status_code == 200
    previous = Path(d.env["RESOLUTIONS_DATA_DIR"]) / "link_secrets_previous.json"
    assert previous.stat().st_mode & 0o777 == 0o600
    # Past the overlap, the old secret opens nothing.
    [entry] = json.loads(previous.read_text())
    previous.write_text(json.dumps([{**entry, "until": _day(-1)}]))
    lapsed = d.web()
    page = lapsed.get(f"{rob}/cases/{wid}")
    assert page.status_code == 403
    _page_says(page, "This link is not valid")
    assert lapsed.get(f"{fresh}/cases/{wid}").status_code == 200

    # A secret given in the environment rotates the same way, by setting.
    new_secret = "a-new-link-secret-of-at-least-thirty-two-bytes"
    by_setting = d.web(RESOLUTIONS_LINK_SECRET=new_secret,
                       RESOLUTIONS_LINK_PREVIOUS_SECRETS=json.dumps(
                           [{"secret": (Path(d.env["RESOLUTIONS_DATA_DIR"]) / "link_secret")
                             .read_text().strip(), "until": _day(2)}]))
    assert by_setting.get(f"{fresh}/cases/{wid}").status_code == 200


async def test_terminated_case_shows_everywhere_and_survives_purge(
        deployment: Deployment) -> None:
    d = deployment
    web = d.web()
    wid = d.raise_case("2026-0103")
    done = d.raise_case("2026-0104")
    d.ok("withdraw", done, "--reason", "Raised in error",
         **d.as_("Rae Raiser", "rae@school.example", "raising"))
    client = await d.client()
    # What an operator does from the Temporal UI's "Terminate" button.
    await client.get_workflow_handle(wid).terminate(reason="stuck, ended from the UI")

    status = d.ok("status", wid)
    assert "TERMINATED" in status and "status: terminated" in status
    state = json.loads(d.ok("status", wid, "--json"))
    assert state["ended_abnormally"]["how"] == "terminated"
    listed = {r["workflow_id"]: r["status"] for r in json.loads(d.ok("list", "--json"))}
    assert listed.get(wid) == "terminated" and done not in listed
    assert "terminated" in d.ok("list")

    rob = d.link(wid, "--name", "Rob Receiver", "--email", "rob@csc.example", "--role-key",
                 "receiving")
    page = web.get(f"{rob}/cases/{wid}")
    assert page.status_code == 200 and f"/cases/{wid}/record-outcome" not in page.text
    _page_says(page, "This case was terminated in Temporal", "never purged automatically")
    assert web.get(f"{rob}/cases/{wid}/record-outcome").status_code == 409
    d.ok("roles", "add", "--email", "bu@york.example", "--role", "business_unit",
         "--protocol", "york")
    bu = d.link("--business-unit", "--protocol", "york", "--email", "bu@york.example")
    page = web.get(f"{bu}/cases")
    assert page.status_code == 200 and wid in page.text
    _page_says(page, "Terminated")

    audit = d.ok("audit", "timeline", wid)
    assert "TERMINATED in Temporal, outside the protocol" in audit

    # Past every retention period: the withdrawn case goes, the terminated one stays.
    dry = re.sub(r"\s+", " ", d.ok("purge", "--dry-run", "--as-of", "2100-01-01"))
    assert "kept: terminated" in dry and "would purge" in dry
    purged = d.ok("purge", "--as-of", "2100-01-01")
    assert "1 of 2 closed case(s) purged" in purged
    log = (Path(d.env["RESOLUTIONS_DATA_DIR"]) / "purge-log.jsonl").read_text()
    assert [json.loads(line)["workflow_id"] for line in log.splitlines()] == [done]
    assert "TERMINATED" in d.ok("status", wid)  # still there, still saying so
