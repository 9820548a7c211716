"""Child-protection-conference disagreements as a category with its own first steps (issue 15,
item 5, first bullet), driven through the `resolutions` CLI and a personal link against the
one-machine stack (`python -m starter.devstack`: dev server, worker, SMTP sink, web forms).

The documents, cited by section:
- Leeds (Professional Concerns Resolution Process, version 4, amended 11 October 2019) s1:
  "dissent or concerns in relation to Child Protection Conferences should follow the process
  outlined within Appendix 1". Appendix 1 a) para 1: the request is made "through a restorative
  conversation with the appropriate area team manager, and following discussion with your
  agencies safeguarding lead"; para 2: "every effort should be made to resolve them through
  restorative conversations and an explanation of CSWS decision. The resolution process
  (Appendix 2) would then be initiated". Appendix 1 b): dissent at a conference follows the
  West Yorkshire procedure, section 14; the Chair "will make a decision and note any dissenting
  views" (outside the resolution process).
- Barnsley (Protocol for Resolving Professional Disagreements, June 2011) 3.8: the request "should
  be made to the Social work Team Manager, and be supported by a Senior Manager or the
  Safeguarding lead in the complainant agency"; 3.9: "where agreement cannot be reached, a
  conference should be convened. Professional reasons for the final decision should be fully
  recorded". What follows is not set by the document: the case closes (the stated default).
- Swindon s1 para 16: its conference category stays a precondition.
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
RAE, ROB = ("Rae Raiser", "rae@school.example"), ("Rob Receiver", "rob@csc.example")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], Path]]:
    tmp = tmp_path_factory.mktemp("cpc")
    with devstack(tmp) as env:
        yield env, tmp


def _raise(env: dict[str, str], protocol: str, reference: str, *extra: str,
           ok: bool = True) -> str:
    done = cli(env, "raise", "--protocol", protocol, "--reference", reference,
               "--raising-name", RAE[0], "--raising-agency", "Example Primary",
               "--raising-email", RAE[1], "--receiving-name", ROB[0],
               "--receiving-role", "Team Manager", "--receiving-agency", "Children's Social Care",
               "--receiving-email", ROB[1], "--issue", "No conference after the s47 enquiry",
               "--risk", "Neglect is continuing", "--nature", "Need for a conference",
               "--aim", "A conference is held", *extra, ok=ok)
    return done.stdout + done.stderr


def _state(env: dict[str, str], wid: str) -> dict:
    return json.loads(cli(env, "status", wid, "--json").stdout)


def _timeline(env: dict[str, str], wid: str) -> list[dict]:
    return json.loads(cli(env, "timeline", wid, "--json").stdout)


def _raiser_link(data: Path, wid: str) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for record in filed_mail(data, wid, timeout=0):
            if record["to"] == [RAE[1]] and (link := link_in(data, record)):
                return link
        time.sleep(0.3)
    raise AssertionError("no e-mail to the raiser with a personal link")


def _subjects(data: Path, wid: str, *, until: str, count: int) -> list[str]:
    """The case's e-mail subjects once ``count`` of them contain ``until``."""
    deadline = time.monotonic() + 30
    while True:
        subjects = [r["subject"] for r in filed_mail(data, wid, timeout=0)]
        if sum(until in s for s in subjects) >= count or time.monotonic() > deadline:
            return subjects
        time.sleep(0.3)


def test_leeds_request_first_steps_then_the_appendix_2_stages(stack) -> None:
    """Leeds Appendix 1 a): the case starts at its first steps, each recorded inside the case
    and visible; differences remaining start the resolution process at Step 1. Steps not
    recorded as done ("should") are warned about on the timeline, never forced."""
    env, tmp = stack
    out = _raise(env, "leeds", "2030-7001", "--category", "conference_request")
    wid = "leeds-2030-7001"
    assert "cpc" in out, out
    state = _state(env, wid)
    assert state["stage"] == "cpc"
    steps = {d["rule"]: d for d in state["deadlines"] if d["stage"] == "cpc"}
    assert set(steps) == {"safeguarding_lead", "restorative_conversation", "explanation"}
    assert steps["safeguarding_lead"]["source"] == "Leeds Appendix 1 a) para 1"
    status = cli(env, "status", wid).stdout
    assert "Discuss the request with your agency's safeguarding lead" in status, status

    rae = as_operator(env, *RAE, "raising")
    rob = as_operator(env, *ROB, "receiving")
    done = cli(rae, "mark-step-done", wid, "--deadline", "safeguarding_lead",
               "--done-by", "Sam Lead", "--note", "Lead agrees a conference is needed")
    assert "Recorded as done" in done.stdout, done.stdout
    cli(rae, "mark-step-done", wid, "--deadline", "restorative_conversation")
    cli(rob, "record-discussion", wid, "--with", RAE[0], "--how", "phone",
        "--said", "Explained why CSWS decided no conference is needed")

    # The case page through the raiser's own link shows the first steps and what was done.
    page = httpx.get(_raiser_link(tmp / "data", wid) + f"/cases/{wid}", timeout=30,
                     follow_redirects=True)
    assert page.status_code == 200
    assert "Request for a child protection conference: first steps (before stage 1; Leeds " \
           "Appendix 1 a) para 1)" in page.text
    assert "Discuss the request with your agency" in page.text

    moved = cli(rob, "record-outcome", wid, "--stage", "cpc", "--not-resolved",
                "--summary", "Differences remain over the need for a conference")
    assert "resolution process begins at stage 1" in moved.stdout, moved.stdout
    state = _state(env, wid)
    assert state["stage"] == "1" and state["stages_visited"] == ["cpc", "1"]
    events = _timeline(env, wid)
    [warning] = [e for e in events if e["kind"] == "warning"]
    assert "explanation of the CSWS decision" in warning["summary"]
    assert "does not force" in warning["summary"]
    assert "safeguarding lead" not in warning["summary"]  # that one was recorded as done
    [escalated] = [e for e in events if e["kind"] == "escalated"]
    assert "Appendix 2" in escalated["summary"]
    assert "Leeds Appendix 1 a) para 2" in escalated["summary"]


def test_leeds_dissent_at_a_conference_is_outside_the_process(stack) -> None:
    """Leeds Appendix 1 b): the Conference Chair follows the West Yorkshire procedure s14; the
    system says so, points there, and starts nothing."""
    env, _ = stack
    out = _raise(env, "leeds", "2030-7002", "--category", "conference_dissent", ok=False)
    assert "West Yorkshire procedure" in out and "section 14" in out, out
    assert "Leeds Appendix 1 b)" in out and "No case is raised" in out, out
    assert "no such case" in cli(env, "status", "leeds-2030-7002", ok=False).stderr


def test_a_category_that_is_not_the_protocols_is_refused_plainly(stack) -> None:
    """Each protocol offers its own categories only: Swindon's is not York's."""
    env, _ = stack
    refused = cli(env, "raise", "--protocol", "york", "--reference", "2030-7003",
                  "--raising-name", RAE[0], "--raising-agency", "Example Primary",
                  "--raising-email", RAE[1], "--receiving-name", ROB[0],
                  "--receiving-agency", "CSC", "--receiving-email", ROB[1],
                  "--issue", "x", "--risk", "y", "--nature", "z", "--aim", "w",
                  "--category", "child_protection_conference_decision", ok=False)
    assert refused.returncode == 1
    err = refused.stderr
    assert "The CYSCP protocol has no category 'child_protection_conference_decision'" in err, err
    assert "'other' (A decision or action about a child's safety or welfare)" in err, err
    assert "Traceback" not in err
    assert "no such case" in cli(env, "status", "york-2030-7003", ok=False).stderr
    # Barnsley offers no dissent-at-conference category (3.8-3.9 is about holding one).
    out = _raise(env, "barnsley", "2030-7004", "--category", "conference_dissent", ok=False)
    assert "The BSCB protocol has no category 'conference_dissent'" in out, out


def test_barnsley_not_agreed_needs_the_reasons_then_a_conference_is_to_be_convened(
        stack) -> None:
    """Barnsley 3.8-3.9: first steps inside the case; "not agreed" without the professional
    reasons is refused and records nothing; with them a conference is to be convened, and the
    case closes (what follows is not set by the document). Only the case's two people (the
    stage's role holders) may record the outcome."""
    env, tmp = stack
    _raise(env, "barnsley", "2030-7005", "--category", "conference_request")
    wid = "barnsley-2030-7005"
    state = _state(env, wid)
    assert state["stage"] == "cpc"
    assert {d["rule"] for d in state["deadlines"] if d["stage"] == "cpc"} == {
        "request", "support", "discussion"}

    rob = as_operator(env, *ROB, "receiving")
    other = as_operator(env, "Pat Other", "pat@elsewhere.example", "2.raising")
    stranger = cli(other, "record-outcome", wid, "--stage", "cpc", "--not-resolved",
                   "--summary", "x", "--reasons", "y", ok=False)
    assert stranger.returncode == 1 and "may record" in stranger.stderr, stranger.stderr

    page = httpx.get(_raiser_link(tmp / "data", wid) + f"/cases/{wid}/record-outcome",
                     timeout=30, follow_redirects=True)
    assert page.status_code == 200
    assert "Professional reasons for the final decision" in page.text
    assert "Was agreement reached at these first steps?" in page.text

    refused = cli(rob, "record-outcome", wid, "--stage", "cpc", "--not-resolved",
                  "--summary", "No agreement after discussion", ok=False)
    assert refused.returncode == 1
    assert "Record the professional reasons for the final decision" in refused.stderr
    assert "Barnsley 3.9" in refused.stderr and "Nothing was recorded" in refused.stderr
    assert _state(env, wid)["outcomes"] == []

    cli(rob, "mark-step-done", wid, "--deadline", "discussion")
    closed = cli(rob, "record-outcome", wid, "--stage", "cpc", "--not-resolved",
                 "--summary", "No agreement after discussion",
                 "--reasons", "Second referral within a month; the school's concerns stand")
    assert "a conference is to be convened (Barnsley 3.9)" in closed.stdout, closed.stdout
    state = _state(env, wid)
    assert state["status"] == "closed"
    assert "not set by the document" in state["closing_summary"]
    assert state["outcomes"][0]["reasons"].startswith("Second referral")
    events = _timeline(env, wid)
    [convene] = [e for e in events if e["kind"] == "conference_to_be_convened"]
    assert "Second referral within a month" in convene["summary"]
    [warning] = [e for e in events if e["kind"] == "warning"]  # request, support not recorded
    assert "Social Work Team Manager" in warning["summary"]
    assert "Senior Manager or the Safeguarding lead" in warning["summary"]
    assert "outcomes:" in cli(env, "status", wid).stdout
    # One e-mail per event per person: the "case closed" e-mail tells it, no "outcome
    # recorded" beside it (the workflow sends both of any event's e-mails before it ends).
    subjects = _subjects(tmp / "data", wid, until="case closed", count=2)
    assert sum("case closed" in s for s in subjects) == 2, subjects
    assert not [s for s in subjects if "outcome recorded" in s], subjects
    # The first steps are not a numbered stage: subjects never say "stage cpc".
    assert [s for s in subjects if "raised at the first steps" in s], subjects
    assert not [s for s in subjects if "stage cpc" in s], subjects


def test_barnsley_agreement_closes_without_the_process_duties(stack) -> None:
    """Agreement reached at the first steps closes the case (Barnsley 3.9 "every effort ...
    through discussion and explanation"); the process's written confirmation (3.7(g)) is not
    awaited. Without reasons the agreement is recorded with a warning ("should")."""
    env, _ = stack
    _raise(env, "barnsley", "2030-7006", "--category", "conference_request")
    wid = "barnsley-2030-7006"
    rae = as_operator(env, *RAE, "raising")
    cli(rae, "record-outcome", wid, "--stage", "cpc", "--resolved",
        "--summary", "The Team Manager's explanation was accepted")
    state = _state(env, wid)
    assert state["status"] == "closed", state["status"]
    assert not [d for d in state["deadlines"] if d["kind"] == "duty"]
    warnings = [e["summary"] for e in _timeline(env, wid) if e["kind"] == "warning"]
    assert any(w.startswith("No reasons recorded: Professional reasons") for w in warnings)
    # The request and its support (3.8) were not recorded as done; "every effort ... through
    # discussion" (3.9) is asked for before "not agreed" only, so an agreement is not warned.
    assert any("Make the request to the Social Work Team Manager" in w for w in warnings)
    assert not any("Every effort" in w for w in warnings), warnings


def test_swindon_conference_category_still_needs_its_dissent_process_first(stack) -> None:
    """Swindon s1 para 16: the precondition is unchanged, and the case starts at stage 1."""
    env, _ = stack
    args = ("--category", "child_protection_conference_decision")
    out = _raise(env, "swindon", "2030-7007", *args, ok=False)
    assert "Multi-Agency Child Protection Standards" in out, out
    _raise(env, "swindon", "2030-7007", *args, "--conference-dissent-exhausted")
    assert _state(env, "swindon-2030-7007")["stage"] == "1"


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def test_raise_form_offers_the_protocols_own_categories_in_plain_words(stack) -> None:
    """The web raise form, through a raiser's link: Leeds offers its two conference
    categories by label (never Swindon's); choosing dissent at a conference keeps what was
    typed and points to the West Yorkshire procedure (Leeds Appendix 1 b), raising nothing."""
    env, _ = stack
    cli(env, "roles", "add", "--email", "ria@school.example", "--role", "raiser")
    link = cli(env, "link", "--raiser", "--name", "Ria Raiser", "--email",
               "ria@school.example", "--agency", "Example Primary").stdout.strip().splitlines()[-1]
    with httpx.Client(timeout=30, follow_redirects=True) as http:
        form = http.get(f"{link}/raise", params={"protocol": "leeds"})
        assert form.status_code == 200, form.text[:300]
        text = form.text
        assert "A request that Children&#39;s Social Work Services convene a child " \
               "protection conference" in text or "A request that Children's Social Work " \
               "Services convene" in text, text[:2000]
        assert "Dissent from a decision made at a child protection conference" in text
        assert "child_protection_conference_decision" not in text
        swindon = http.get(f"{link}/raise", params={"protocol": "swindon"}).text
        assert "A child protection conference decision" in swindon  # s1 para 16's, by label
        assert "Dissent from a decision made at a child protection conference" not in swindon
        token = CSRF.search(text)
        assert token
        sent = http.post(f"{link}/raise", data={
            "csrf_token": token.group(1), "protocol": "leeds", "urgency": "standard",
            "category": "conference_dissent", "reference": "2030-7008",
            "issue": "Plan not agreed", "risk_to_child": "Neglect", "nature": "Conference",
            "aim": "Review", "raising.name": "Ria Raiser", "raising.agency": "Example Primary",
            "raising.email": "ria@school.example", "receiving.name": "Rob Receiver",
            "receiving.agency": "CSC", "receiving.email": ROB[1]})
    assert sent.status_code in (400, 422), sent.status_code
    assert "West Yorkshire procedure" in sent.text and "section 14" in sent.text
    assert 'value="Plan not agreed"' in sent.text or ">Plan not agreed<" in sent.text
    assert "no such case" in cli(env, "status", "leeds-2030-7008", ok=False).stderr


FIRST_STEPS = """
[[categories]]
id = "conference_request"
label = "A decision not to hold a conference"
source = "Mini s5"

  [categories.first_steps]
  id = "@ID@"
  name = "First steps"
  summary = "Ask first"
  source = "Mini s5"
  raising = { title = "Professional", held_by = "practitioner" }
  receiving = { title = "Team manager", held_by = "practitioner" }

    [[categories.first_steps.deadlines]]
    id = "ask"
    what = "Ask the team manager"
    who = "Professional"
    timescale = { kind = "@KIND@"@AMOUNT@ }
    on_expiry = "@EXPIRY@"
    source = "Mini s5"

  [categories.not_agreed]
  leads_to = "process"
  text = "The stages begin"
  source = "Mini s5"
"""


def _mini(tmp: Path, name: str, *, sid: str = "cpc", escalate: bool = False,
          outside: bool = False) -> Path:
    from tests.test_protocols import MINIMAL

    steps = (FIRST_STEPS.replace("@ID@", sid)
             .replace("@KIND@", "working_days" if escalate else "none")
             .replace("@AMOUNT@", ", amount = 5" if escalate else "")
             .replace("@EXPIRY@", "escalate" if escalate else "remind"))
    if outside:
        steps += '\n  [categories.outside]\n  text = "Elsewhere"\n  source = "Mini s6"\n'
    path = tmp / f"{name}.toml"
    path.write_text(MINIMAL + steps, encoding="utf-8")
    return path


def test_protocol_files_categories_are_checked_when_loaded(stack, tmp_path: Path) -> None:
    """A protocol file's [[categories]] are validated with a message naming the fault:
    first steps or outside the process (one of them), first-steps ids apart from the stage
    ids, and first steps that remind (no escalating timescale: the documents set none)."""
    env, _ = stack
    shown = cli(env, "protocols", "show", str(_mini(tmp_path, "good"))).stdout
    assert "Category conference_request: A decision not to hold a conference" in shown, shown
    assert "not agreed: The stages begin" in shown
    for name, kwargs, expected in (
            ("both", {"outside": True}, "has either first_steps or outside"),
            ("clash", {"sid": "1"}, "first_steps id '1' is already a stage id"),
            ("escalates", {"escalate": True}, "first steps remind, never escalate")):
        refused = cli(env, "protocols", "show", str(_mini(tmp_path, name, **kwargs)), ok=False)
        assert refused.returncode == 1 and expected in refused.stderr, (name, refused.stderr)
        assert "Traceback" not in refused.stderr


def test_barnsley_not_agreed_through_the_web_form_asks_for_the_reasons(stack) -> None:
    """The record-outcome form through the raiser's own link (Barnsley 3.9): without the
    professional reasons the form comes back with the refusal and what was typed; with them
    the case closes with a conference to be convened."""
    env, tmp = stack
    _raise(env, "barnsley", "2030-7009", "--category", "conference_request")
    wid = "barnsley-2030-7009"
    case_page = _raiser_link(tmp / "data", wid) + f"/cases/{wid}"
    with httpx.Client(timeout=30, follow_redirects=True) as http:
        def post(**fields: str) -> httpx.Response:
            form = http.get(f"{case_page}/record-outcome")
            token = CSRF.search(form.text)
            assert token, form.text[:300]
            return http.post(f"{case_page}/record-outcome", data={
                "csrf_token": token.group(1), "stage": "cpc", "resolved": "no",
                "summary": "No agreement after the explanation", **fields})

        refused = post()
        assert refused.status_code in (400, 409, 422), refused.status_code
        assert "Record the professional reasons for the final decision" in refused.text
        assert "No agreement after the explanation" in refused.text  # what was typed is kept
        assert _state(env, wid)["status"] == "open"
        done = post(reasons="Three referrals in six weeks; the school's concerns stand")
        assert done.status_code == 200, done.status_code
    state = _state(env, wid)
    assert state["status"] == "closed" and "conference is to be convened" in \
        state["closing_summary"]
    assert state["outcomes"][0]["reasons"].startswith("Three referrals")
