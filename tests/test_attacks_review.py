"""Attacks found by a hostile review of the landed system (issue 14, "further attacks"), each
run on loopback against the real one-machine stack (`python -m starter.devstack`: dev server,
mail sink, worker, web forms) through the `resolutions` CLI as a subprocess and over HTTP, and
each now refused:

- one person named for roles of both agencies (at raise, or by a hand-over, update or signal)
  would settle a disagreement alone;
- a trailing-slash redirect built from the Host header sent a personal link to another host;
- an auditor given some partnerships in the roles file saw every partnership's cases;
- a CSV cell such as ``=1+HYPERLINK(…)`` passed the formula check (a digit after the ``=``);
- the dashboard, its CSV and the raise form had no rate limit (each list page asks every case);
- the raise form read any TOML file on the server named in its address.
"""

from __future__ import annotations

import json
import re
import string
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, as_operator, cli, devstack, filed_mail
from tests.test_security import _link

pytestmark = pytest.mark.slow
PER_MINUTE = 3  # changes one link may send a minute here (pages read: ten times that)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], Path]]:
    """`python -m starter.devstack` as `./dev start` runs it, on ports of its own."""
    tmp = tmp_path_factory.mktemp("attacks")
    with devstack(tmp, {
            "RESOLUTIONS_WEB_LINK_ACTIONS_PER_MINUTE": str(PER_MINUTE),
    }) as env:
        yield env, tmp


def _raise(env: dict[str, str], protocol: str, reference: str, *extra: str,
           ok: bool = True, receiving_agency: str = "CSC") -> subprocess.CompletedProcess:
    return cli(env, "raise", "--protocol", protocol, "--reference", reference,
               "--raising-name", "Rae Raiser", "--raising-agency", "Example Primary",
               "--raising-email", "rae@school.example", "--receiving-name", "Rob Receiver",
               "--receiving-agency", receiving_agency, "--receiving-email", "rob@csc.example",
               "--issue", "Case closed after one visit", "--risk", "Neglect continues",
               "--nature", "Threshold", "--aim", "Reopen", *extra, ok=ok)


def _web(env: dict[str, str]) -> httpx.Client:
    return httpx.Client(base_url=env["RESOLUTIONS_PUBLIC_URL"], timeout=30)


def _timeline(env: dict[str, str], wid: str) -> list[dict]:
    return json.loads(cli(env, "timeline", wid, "--json").stdout)


def test_one_person_never_holds_roles_of_both_agencies(stack) -> None:
    env, _ = stack
    # The raiser names their own address as the receiving agency's line manager: refused at
    # raise (letter case does not hide it), nothing started.
    crossed = _raise(env, "york", "2026-0801", "--holder",
                     "2.receiving=Rae Raiser <RAE@school.example>", ok=False)
    assert crossed.returncode == 1
    assert "would hold roles for both agencies" in crossed.stderr
    assert cli(env, "status", "york-2026-0801", ok=False).returncode != 0

    # Swindon's stage 1 second role is the raiser's own line manager: the raising side's.
    _raise(env, "swindon", "2026-0802", "--holder", "1.receiving=Lin <lin@school.example>",
           "--holder", "2.raising=Lin <lin@school.example>")

    # A hand-over by the receiving practitioner of a vacant receiving-side role to the raiser:
    # refused as an update (one clear line, exit 1) and as a signal (recorded as refused).
    _raise(env, "york", "2026-0803", "--holder", "2.raising=Lee Manager <lee@school.example>")
    rob = as_operator(env, "Rob Receiver", "rob@csc.example", "receiving")
    update = cli(rob, "assign", "york-2026-0803", "--role", "2.receiving", "--name", "Rae",
                 "--email", "rae@school.example", ok=False)
    assert update.returncode == 1 and "both agencies" in update.stderr
    cli(rob, "assign", "york-2026-0803", "--role", "2.receiving", "--name", "Rae",
        "--email", "rae@school.example", "--signal")
    deadline = time.monotonic() + 30
    while not any(e["kind"] == "rejected" for e in _timeline(env, "york-2026-0803")):
        assert time.monotonic() < deadline, "the signal was not refused"
        time.sleep(0.5)
    events = _timeline(env, "york-2026-0803")
    assert not any(e["kind"] == "role_assigned" for e in events)
    assert "both agencies" in next(e["summary"] for e in events if e["kind"] == "rejected")
    # So the raiser cannot record the receiving managers' stage 2 outcome alone.
    rae = as_operator(env, "Rae Raiser", "rae@school.example", "raising")
    cli(rae, "record-outcome", "york-2026-0803", "--stage", "1", "--not-resolved",
        "--summary", "No agreement")
    alone = cli(rae, "record-outcome", "york-2026-0803", "--stage", "2", "--resolved",
                "--summary", "I decide", ok=False)
    assert alone.returncode == 1 and "may record this stage's outcome" in alone.stderr
    # Someone of the receiving agency can still take the role.
    cli(rob, "assign", "york-2026-0803", "--role", "2.receiving", "--name", "Mo Manager",
        "--email", "mo@csc.example")


def test_no_redirect_sends_a_personal_link_to_another_host(stack) -> None:
    env, tmp = stack
    _raise(env, "leeds", "2026-0811")
    link = _link(tmp / "data", filed_mail(tmp / "data", "leeds-2026-0811")[0])
    token = link.rsplit("/t/", 1)[1]
    with _web(env) as web:
        for path in (f"/t/{token}/", f"/t/{token}/cases/leeds-2026-0811/"):
            answer = web.get(path, headers={"Host": "evil.example"})
            assert "evil.example" not in answer.headers.get("location", "")
            assert answer.status_code == 404
        assert web.get(f"/t/{token}/cases/leeds-2026-0811").status_code == 200
        # The Temporal UI's codec endpoint: its token (which decrypts every case) is in the path.
        codec = (tmp / "data" / "codec_token").read_text().strip()
        for path in (f"/codec/t/{codec}/decode/", "/codec/default/decode/"):
            answer = web.post(path, json={"payloads": []}, headers={"Host": "evil.example"})
            assert "evil.example" not in answer.headers.get("location", "")
            assert answer.status_code in (404, 405)
        assert web.post(f"/codec/t/{codec}/decode", json={"payloads": []}).status_code == 200


def test_an_auditor_sees_only_the_partnerships_the_roles_file_gives(stack) -> None:
    env, _ = stack
    _raise(env, "york", "2026-0821")
    _raise(env, "leeds", "2026-0822")
    cli(env, "roles", "add", "--email", "audit@leeds.example", "--role", "auditor",
        "--protocol", "leeds")
    link = cli(env, "link", "--auditor", "--email", "audit@leeds.example").stdout.strip()
    token = link.rsplit("/t/", 1)[1]
    with _web(env) as web:
        assert web.get(f"/t/{token}/cases/york-2026-0821").status_code == 403
        assert web.get(f"/t/{token}/cases/leeds-2026-0822").status_code == 200
        for path in ("/cases", "/cases?protocol=york", "/cases.csv", "/cases.csv?protocol=york"):
            page = web.get(f"/t/{token}{path}")
            assert page.status_code == 200
            assert "york-2026-0821" not in page.text and "leeds-2026-0822" in page.text


def test_csv_cells_never_run_as_formulas(stack) -> None:
    env, _ = stack
    formula = '=1+HYPERLINK("http://evil.example","x")'
    _raise(env, "barnsley", "2026-0831", receiving_agency=formula)
    cli(env, "roles", "add", "--email", "bu@barnsley.example", "--role", "business_unit",
        "--protocol", "barnsley")
    link = cli(env, "link", "--business-unit", "--protocol", "barnsley", "--email",
               "bu@barnsley.example").stdout.strip()
    with _web(env) as web:
        csv_text = web.get(link.replace(env["RESOLUTIONS_PUBLIC_URL"], "") + "/cases.csv").text
    row = next(line for line in csv_text.splitlines() if line.startswith("barnsley-2026-0831"))
    assert ',"\'=1+HYPERLINK(' in row and ',"=1' not in row


def test_list_pages_and_raising_are_rate_limited_per_link(stack) -> None:
    env, _ = stack
    cli(env, "roles", "add", "--email", "bu2@leeds.example", "--role", "business_unit",
        "--protocol", "leeds")
    bu = cli(env, "link", "--business-unit", "--protocol", "leeds", "--email",
             "bu2@leeds.example").stdout.strip().rsplit("/t/", 1)[1]
    reads = PER_MINUTE * 10
    with _web(env) as web:
        codes = [web.get(f"/t/{bu}/cases.csv").status_code for _ in range(reads + 1)]
        assert codes[:reads] == [200] * reads and codes[reads] == 429

    cli(env, "roles", "add", "--email", "@flood.example", "--role", "raiser")
    raiser = cli(env, "link", "--raiser", "--name", "Fay Flood", "--email", "fay@flood.example",
                 "--protocol", "leeds").stdout.strip().rsplit("/t/", 1)[1]
    with _web(env) as web:
        form = web.get(f"/t/{raiser}/raise")
        token = CSRF.search(form.text).group(1)
        codes = [web.post(f"/t/{raiser}/raise", data={"csrf_token": token}).status_code
                 for _ in range(PER_MINUTE + 1)]
    assert codes[:PER_MINUTE] == [400] * PER_MINUTE  # an empty form: refused, field by field
    assert codes[PER_MINUTE] == 429


def test_the_raise_form_reads_no_file_named_in_its_address(stack) -> None:
    env, tmp = stack
    planted = tmp / "planted.toml"
    text = (ROOT / "protocols" / "files" / "leeds.toml").read_text(encoding="utf-8")
    planted.write_text(re.sub(r'(?m)^partnership = .*$', 'partnership = "Planted Partnership"',
                              text, count=1), encoding="utf-8")
    cli(env, "roles", "add", "--email", "@anywhere.example", "--role", "raiser")
    raiser = cli(env, "link", "--raiser", "--name", "Ann", "--email",
                 "ann@anywhere.example").stdout.strip().rsplit("/t/", 1)[1]
    with _web(env) as web:
        page = web.get(f"/t/{raiser}/raise", params={"protocol": str(planted)})
        assert "Planted Partnership" not in page.text
        assert page.status_code == 400  # "Select the partnership whose protocol applies"
        assert web.get(f"/t/{raiser}/raise", params={"protocol": "leeds"}).status_code == 200


def test_a_flood_of_refused_signals_leaves_the_record_bounded(stack) -> None:
    """Each refused signal used to add a timeline event, past every cap: enough of them and
    the record carried into the next run passes Temporal's payload limit, stalling the case."""
    env, _ = stack
    capped = {**env, "RESOLUTIONS_CASE_ACTIONS_PER_MINUTE": "3",
              "RESOLUTIONS_CASE_ACTIONS_PER_DAY": "3"}
    _raise(capped, "leeds", "2026-0841")
    nobody = as_operator(env, "Ned Nobody", "ned@elsewhere.example", "receiving")
    for n in range(6):
        cli(nobody, "pause", "leeds-2026-0841", "--reason", f"flood {n}", "--signal")
    rae = as_operator(env, "Rae Raiser", "rae@school.example", "raising")
    cli(rae, "pause", "leeds-2026-0841", "--reason", "Waiting for the strategy meeting",
        "--signal")
    deadline = time.monotonic() + 60  # signals are handled in order: the flood came first
    while json.loads(cli(env, "status", "leeds-2026-0841", "--json").stdout)["status"] != "paused":
        assert time.monotonic() < deadline, "the raiser's pause was not applied"
        time.sleep(0.5)
    refused = [e for e in _timeline(env, "leeds-2026-0841") if e["kind"] == "rejected"]
    assert len(refused) == 3  # the case's own cap a day; the rest changed nothing, unrecorded
    assert all("Ned Nobody" == e["actor"] for e in refused)


def test_names_that_turn_text_round_are_refused(stack) -> None:
    """A bidirectional override in a name ("Trojan source") makes it read as someone else's
    on the timeline, the dashboard and in e-mails: refused, saying why, nothing started."""
    env, _ = stack
    spoof = cli(env, "raise", "--protocol", "leeds", "--reference", "2026-0851",
                "--raising-name", "Rae \u202eresieceR boR", "--raising-agency", "Example Primary",
                "--raising-email", "rae@school.example", "--receiving-name", "Rob Receiver",
                "--receiving-agency", "CSC", "--receiving-email", "rob@csc.example",
                "--issue", "Case closed", ok=False)
    assert spoof.returncode == 1 and "reverse the direction of text" in spoof.stderr
    assert cli(env, "status", "leeds-2026-0851", ok=False).returncode != 0
    _raise(env, "leeds", "2026-0852")
    rob = as_operator(env, "Rob Receiver", "rob@csc.example", "receiving")
    handed = cli(rob, "assign", "leeds-2026-0852", "--role", "receiving", "--name",
                 "Mo \u2067Manager\u2069", "--email", "mo@csc.example", ok=False)
    assert handed.returncode == 1 and "reverse the direction of text" in handed.stderr


def test_a_link_has_one_spelling(stack) -> None:
    """Base64 decoding skips junk characters, padding and a last character's spare bits, so
    one link had endless spellings, each with rate limits of its own: now only its own opens."""
    env, tmp = stack
    _raise(env, "leeds", "2026-0861")
    token = _link(tmp / "data", filed_mail(tmp / "data", "leeds-2026-0861")[0]).rsplit("/t/")[1]
    variants = [token[:10] + "!!!!" + token[10:], token + "="]
    if len(token) % 4:  # the last character has spare low bits: flip the lowest
        alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
        variants.append(token[:-1] + alphabet[alphabet.index(token[-1]) ^ 1])
    with _web(env) as web:
        page = "/cases/leeds-2026-0861"
        assert web.get(f"/t/{token}{page}").status_code == 200
        for variant in variants:
            assert web.get(f"/t/{variant}{page}").status_code == 403


def test_a_form_written_where_it_cannot_go_says_so(stack) -> None:
    """Writing a form into a folder that does not exist used to read "cannot connect"."""
    env, tmp = stack
    _raise(env, "york", "2026-0871")
    out = tmp / "no such folder" / "form.html"
    wrote = cli(env, "form", "york-2026-0871", "--kind", "york_written_account", "--out",
                str(out), ok=False)
    assert wrote.returncode == 1
    assert f"cannot use the file {out}" in wrote.stderr and "connect" not in wrote.stderr
