"""Issue 14 item 2: a case cannot be broken by its own users.

The attack: alternating pause/resume with 5,000-character reasons through one personal link
pushed a case's history past Temporal's limit in seconds, because every e-mail activity's
input carried the whole case. Here the one-machine stack (`python -m starter.devstack`, as
`./dev start` runs it) is driven through a personal link over HTTP and by the `resolutions`
CLI, and the case stays alive: long reasons are refused, the link and the case are capped,
the history grows by a bounded amount per action, and a long-lived case continues as new
with its status, timeline, report, export, replay, links and purge following it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import as_operator, cli, devstack, filed_mail, link_in

pytestmark = pytest.mark.slow
LINK = re.compile(r"http://127\.0\.0\.1:\d+/t/([A-Za-z0-9_-]{40,})")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PER_LINK, PER_CASE = 4, 8  # actions per minute through one link, and on one case


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], Path]]:
    """The one-machine stack on ports of its own, with small caps so they show in seconds."""
    tmp = tmp_path_factory.mktemp("limits")
    with devstack(tmp, {
            "RESOLUTIONS_WEB_LINK_ACTIONS_PER_MINUTE": str(PER_LINK),
            "RESOLUTIONS_CASE_ACTIONS_PER_MINUTE": str(PER_CASE),
    }) as env:
        yield env, tmp


def _raise(env: dict[str, str], reference: str) -> str:
    cli(env, "raise", "--protocol", "leeds", "--reference", reference,
        "--raising-name", "Rae Raiser", "--raising-agency", "Example Primary",
        "--raising-email", "rae@school.example", "--receiving-name", "Rob Receiver",
        "--receiving-agency", "CSC", "--receiving-email", "rob@csc.example",
        "--issue", "Case closed after one visit", "--risk", "Neglect is continuing",
        "--nature", "Threshold", "--aim", "Reopen the assessment")
    return f"leeds-{reference}"



def _raiser_link(data: Path, wid: str, after: int = 0) -> str:
    """The personal link in the newest e-mail to the raiser, among the case's e-mails
    after the first ``after`` of them."""
    for record in reversed(filed_mail(data, wid, after + 1)[after:]):
        if record["to"] != ["rae@school.example"]:  # the envelope: this copy is hers alone
            continue
        if link := link_in(data, record):
            return link
    raise AssertionError("no e-mail to the raiser with a personal link")


def _post(http: httpx.Client, case_page: httpx.URL, slug: str, **fields: str) -> httpx.Response:
    """Submit an action's form through the link, as the browser does (CSRF token included)."""
    url = case_page.copy_with(path=f"{case_page.path}/{slug}")
    form = http.get(url)
    assert form.status_code == 200, form.text[:300]
    token = CSRF.search(form.text)
    assert token, "no CSRF token on the form"
    return http.post(url, data={"csrf_token": token.group(1), **fields})


def _export_bytes(env: dict[str, str], wid: str, out: Path) -> int:
    """The size of the case's exported history, every run of it (payloads as stored)."""
    for old in out.parent.glob(f"{out.stem}*"):
        old.unlink()
    cli(env, "audit", "export", wid, "--out", str(out))
    return sum(p.stat().st_size for p in out.parent.glob(f"{out.stem}*"))


def _status(env: dict[str, str], wid: str) -> dict:
    return json.loads(cli(env, "status", wid, "--json").stdout)


def test_pause_resume_flood_through_one_link_leaves_the_case_alive(stack) -> None:
    env, tmp = stack
    data = tmp / "data"
    wid = _raise(env, "2026-1401")
    link = _raiser_link(data, wid)
    rae = as_operator(env, "Rae Raiser", "rae@school.example", "raising")
    with httpx.Client(timeout=60, follow_redirects=False) as http:
        page = http.get(link, follow_redirects=True)
        assert page.status_code == 200
        case_page = page.url
        # The attack's 5,000-character reason: refused with a clear message, nothing recorded.
        long = _post(http, case_page, "pause", reason="x" * 5000)
        assert long.status_code == 400
        assert "a reason may be at most 1,000 characters" in long.text
        assert _status(env, wid)["status"] == "open"
        (tmp / "export").mkdir(exist_ok=True)
        before = _export_bytes(env, wid, tmp / "export" / "a.json")

        # Through one link: PER_LINK submissions a minute (the refused one above counts),
        # then a clear refusal.
        answers = [_post(http, case_page, slug, **fields) for slug, fields in
                   [("pause", {"reason": "r" * 1000}), ("resume", {"note": "n" * 1000})] * 2]
        through_link = PER_LINK - 1
        assert [a.status_code for a in answers[:through_link]] == [303] * through_link
        refused = answers[through_link]
        assert refused.status_code == 429
        assert "Too many requests" in refused.text and "Nothing was recorded" in refused.text
        after_link = _export_bytes(env, wid, tmp / "export" / "a.json")

    # The case's own cap holds for every client: the CLI (as the raiser) gets the rest.
    by_cli = PER_CASE - through_link
    for n in range(by_cli):  # the link's last accepted change was a pause
        args = ("resume", wid, "--note", "c" * 1000) if n % 2 == 0 else (
            "pause", wid, "--reason", "c" * 1000)
        cli(rae, *args)
    over = cli(rae, "pause", wid, "--reason", "one more", ok=False)
    assert over.returncode == 1
    assert f"This case has taken {PER_CASE} actions in the last minute" in over.stderr
    assert "nothing was recorded" in over.stderr
    after_cli = _export_bytes(env, wid, tmp / "export" / "a.json")

    # Alive, its record intact, and the history grew by a bounded amount per action, the
    # same for the later actions as the earlier ones (linear, not quadratic).
    state = _status(env, wid)
    assert state["status"] == "open" and "ended_abnormally" not in state
    kinds = [e["kind"] for e in json.loads(cli(env, "timeline", wid, "--json").stdout)]
    assert kinds.count("paused") == PER_CASE // 2 and kinds.count("resumed") == PER_CASE // 2
    first = (after_link - before) / through_link
    later = (after_cli - after_link) / by_cli
    # (exported JSON, payloads encrypted and base64: ~3x the bytes the server stores)
    assert first < 24_000 and later < 24_000, (first, later)
    assert later < first * 1.3, (first, later)


def test_a_long_lived_case_continues_as_new_and_everything_follows_it(stack) -> None:
    env, tmp = stack
    data = tmp / "data"
    # This case continues as new after 200 events of history and takes many actions a minute.
    wide = {**env, "RESOLUTIONS_CASE_CONTINUE_AFTER_EVENTS": "200",
            "RESOLUTIONS_CASE_ACTIONS_PER_MINUTE": "1000"}
    wid = _raise(wide, "2026-1402")
    first_link = _raiser_link(data, wid)
    rae = as_operator(env, "Rae Raiser", "rae@school.example", "raising")
    actions = 36
    for n in range(actions):
        if n % 3 == 0:
            cli(rae, "pause", wid, "--reason", f"Sickness {n}")
        elif n % 3 == 1:
            cli(rae, "resume", wid, "--note", f"Back {n}")
        else:
            cli(rae, "record-discussion", wid, "--with", "Rob Receiver", "--how", "phone",
                "--said", f"Call {n}")

    # Export: the case ran in several runs; each is written, the latest carrying the record.
    (tmp / "export").mkdir(exist_ok=True)
    out = tmp / "export" / "long.json"
    said = cli(env, "audit", "export", wid, "--out", str(out)).stdout
    runs = int(re.search(r"\(run (\d+) of \1\)", said).group(1))  # type: ignore[union-attr]
    assert runs >= 3, said
    assert len(list(out.parent.glob("long.run-*.json"))) == runs - 1

    # Status and timeline: the whole story, in order, once.
    state = _status(env, wid)
    assert state["status"] == "open" and state["stage"] == "1"
    assert len(state["discussions"]) == actions // 3
    timeline = json.loads(cli(env, "timeline", wid, "--json").stdout)
    assert [e["seq"] for e in timeline] == list(range(1, len(timeline) + 1))
    kinds = [e["kind"] for e in timeline]
    assert kinds.count("paused") == actions // 3 and kinds.count("raised") == 1
    assert kinds.count("discussion_recorded") == actions // 3

    # Every run replays; the rebuilt timeline checks out; the case is listed and reported once.
    replayed = cli(env, "audit", "replay", wid).stdout
    assert replayed.count(f"{wid}: replayed OK") == runs and "FAILED" not in replayed
    cli(env, "audit", "timeline", wid)  # exit 0: every cross-check passed
    listed = [c["workflow_id"] for c in json.loads(cli(env, "list", "--all", "--json").stdout)]
    assert listed.count(wid) == 1
    report = json.loads(cli(env, "report", "--protocol", "leeds", "--json").stdout)
    assert [line["workflow_id"] for line in report["lines"]].count(wid) == 1
    assert [p["workflow_id"] for p in report["pauses"]].count(wid) == actions // 3

    # The raiser's first link (bound to the first run) opens the latest run and acts on it;
    # the e-mail that action sends, from the latest run, carries the same link: still bound
    # to the case's first run, not to the run that sent it.
    mails_before = len(filed_mail(data, wid))
    with httpx.Client(timeout=60, follow_redirects=False) as http:
        page = http.get(first_link, follow_redirects=True)
        assert page.status_code == 200 and "Call 35" in page.text
        assert _post(http, page.url, "pause", reason="Annual leave").status_code == 303
    assert _status(env, wid)["status"] == "paused"
    assert _raiser_link(data, wid, after=mails_before) == first_link

    # Purge follows it: once withdrawn and past retention, every run goes, and its mail.
    cli(rae, "withdraw", wid, "--reason", "Raised in error")
    dry = cli(env, "purge", "--dry-run", "--as-of", "2040-01-01").stdout
    assert dry.count(wid) == 1 and "would purge" in dry
    purged = cli(env, "purge", "--as-of", "2040-01-01").stdout
    assert re.search(rf"{wid}\s.*purged", purged), purged

    def gone() -> bool:  # the server deletes in the background (its close tasks, ~30 s)
        every_run = cli(env, "audit", "replay", "--all").stdout  # every run, continued too
        listed = cli(env, "list", "--all", "--json").stdout
        return (wid not in every_run and wid not in listed
                and cli(env, "audit", "export", wid, ok=False).returncode == 1)

    deadline = time.monotonic() + 150
    while not gone():
        assert time.monotonic() < deadline, "the case's runs were not all deleted"
        time.sleep(3)
    assert not filed_mail(data, wid, timeout=0)
