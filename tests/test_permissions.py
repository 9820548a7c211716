"""Who may do what (protocols/permissions.py), as people meet it: each party's personal link
on the web forms, and the `resolutions` command with each person's operator token, against
`python worker.py` and `resolutions web`. Every attack is refused with who may do it instead,
and leaves the case as it was; the people the rules name still act."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

from protocols.messages import Person
from starter import cases
from starter.web.csrf import FIELD
from tests.conftest import as_operator, case_input
from tests.test_actions import RAE, ROB, Stack, stack, web_process  # noqa: F401 - fixtures

LEE = Person(name="Lee Manager", email="lee@school.example", role="Line manager")
MO = Person(name="Mo Manager", email="mo@csc.example", role="Team manager")
HOLDERS = {"2.raising": LEE.model_dump(), "2.receiving": MO.model_dump(),
           "3.raising": {"name": "Hana Head", "email": "hana@school.example"},
           "3.receiving": {"name": "Sol Service", "email": "sol@csc.example"}}
ONLY_STAGE_2 = ("Only the stage 2 role holders (Lee Manager, Mo Manager) may record this "
                "stage&#39;s outcome (York s5 Stage 2 para 1)")


async def _york_at_stage_2(st: Stack, reference: str) -> str:
    """A York case with its managers named, moved to stage 2 by the raiser's own link."""
    handle = await cases.raise_case(st.client, st.settings,
                                    case_input("york", reference, holders=HOLDERS))
    await _until_stage(st, handle.id, "1")
    page = await _post(st, handle.id, RAE, "raising", "record-outcome",
                       {"stage": "1", "resolved": "no", "summary": "No agreement"}, 303)
    assert page == "", page
    await _until_stage(st, handle.id, "2")
    return handle.id


async def _until_stage(st: Stack, wid: str, stage: str) -> None:
    from tests.test_actions import _until

    async def there() -> bool:
        state = await cases.get_state(st.client, wid)
        return state.stages_visited[-1:] == [stage]

    await _until(there)


async def _post(st: Stack, wid: str, who: Person, key: str, slug: str,
                form: dict[str, str], status: int = 400) -> str:
    """Send a form through ``who``'s personal link; the refusal page's text ('' if accepted)."""
    url = f"{st.case_url(wid, who, key)}/{slug}"
    csrf = re.search(rf'name="{FIELD}" value="([^"]+)"', (await st.web.get(url)).text)
    assert csrf, url
    page = await st.web.post(url, data={**form, FIELD: csrf[1]})
    assert page.status_code == status, page.text[-1500:]
    return page.text if status != 303 else ""


async def _unchanged(st: Stack, wid: str, before: list) -> None:
    after = await st.recorded(wid)
    assert after == before, "a refused action wrote history"


async def test_each_party_may_do_only_what_the_rules_give_them_on_the_web(
        stack: Stack) -> None:  # noqa: F811 - the fixture imported above
    wid = await _york_at_stage_2(stack, "2026-8101")
    before = await stack.recorded(wid)
    # The raiser records the line managers' stage.
    page = await _post(stack, wid, RAE, "raising", "record-outcome",
                       {"stage": "2", "resolved": "yes", "summary": "Sorted"})
    assert ONLY_STAGE_2 in page, page[-2000:]
    # The receiving practitioner hands the other agency's senior manager role to an outsider,
    # and the raiser's own role away, and withdraws the disagreement raised against them.
    page = await _post(stack, wid, ROB, "receiving", "assign",
                       {"role": "3.raising", "person.name": "Eve Outsider",
                        "person.email": "eve@elsewhere.example"})
    assert ("Only its holder, a manager of the raising side or anyone of the raising side "
            "while nobody is named for it (Hana Head, Lee Manager) may hand over the role of "
            "Senior manager (raising agency) at stage 3 (3.raising)") in page, page[-2000:]
    page = await _post(stack, wid, ROB, "receiving", "assign",
                       {"role": "raising", "person.name": "Eve Outsider",
                        "person.email": "eve@elsewhere.example"})
    assert ("may hand over the role of the practitioner raising the concern (raising)"
            in page), page[-2000:]
    assert "may hand over the role raising" not in page, page[-2000:]
    page = await _post(stack, wid, ROB, "receiving", "withdraw", {"reason": "Not ours"})
    assert ("Only the raising side (Rae Raiser, Lee Manager, Hana Head) may withdraw the "
            "disagreement (not set by the document; the default)") in page, page[-2000:]
    await _unchanged(stack, wid, before)
    state = await cases.get_state(stack.client, wid)
    assert state.stage == "2" and state.status == "open"
    assert state.holders["3.raising"].name == "Hana Head" and state.holders["raising"].name == (
        "Rae Raiser")

    # Allowed: the raising side's manager names its senior manager; the line manager records
    # stage 2; only the receiving line manager confirms in writing (York s5 Stage 2 para 3).
    await _post(stack, wid, LEE, "2.raising", "assign",
                {"role": "3.raising", "person.name": "Hal Head",
                 "person.email": "hal@school.example"}, 303)
    await _post(stack, wid, LEE, "2.raising", "record-outcome",
                {"stage": "2", "resolved": "yes", "summary": "Assessment reopened"}, 303)
    before = await stack.recorded(wid)
    page = await _post(stack, wid, LEE, "2.raising", "confirm-in-writing",
                       {"summary": "Letter"})
    assert ("Only the stage 2 Line manager (receiving agency) (Mo Manager) may confirm the "
            "outcome in writing (York s5 Stage 2 para 3)") in page, page[-2000:]
    await _unchanged(stack, wid, before)
    await _post(stack, wid, MO, "2.receiving", "confirm-in-writing", {"summary": "Letter"}, 303)
    state = await cases.get_state(stack.client, wid)
    assert state.status == "closed" and state.holders["3.raising"].name == "Hal Head"


async def test_the_command_line_acts_only_as_the_person_of_its_operator_token(
        stack: Stack) -> None:  # noqa: F811 - the fixture imported above
    wid = await _york_at_stage_2(stack, "2026-8102")
    before = await stack.recorded(wid)
    two = ("record-outcome", wid, "--stage", "2", "--resolved", "--summary", "Sorted")

    # No token: refused before anything is sent; a typed name is not who you are.
    bare = await _cli(stack, stack.env, *two, "--by", "Lee Manager")
    assert bare.returncode == 1 and "needs your operator token" in bare.stderr
    forged = await _cli(stack, {**stack.env, "RESOLUTIONS_OPERATOR_TOKEN": "rop_guessed"}, *two)
    assert forged.returncode == 1 and "not known here" in forged.stderr
    rae = stack.tokens[RAE.name]
    posing = await _cli(stack, rae, *two, "--by", "Lee Manager")
    assert posing.returncode == 1 and "is not the person of your operator token" in (
        posing.stderr)
    # Each attack, with the attacker's own token.
    refused = await _cli(stack, rae, *two)
    assert refused.returncode == 1, refused.stdout
    assert ONLY_STAGE_2.replace("&#39;", "'") in refused.stderr, refused.stderr
    rob = stack.tokens[ROB.name]
    for args, says in (
            (("assign", wid, "--role", "3.raising", "--name", "Eve Outsider", "--email",
              "eve@elsewhere.example"), "at stage 3 (3.raising)"),
            (("assign", wid, "--role", "raising", "--name", "Eve Outsider"),
             "may hand over the role of the practitioner raising the concern"),
            (("withdraw", wid, "--reason", "Not ours"),
             "Only the raising side (Rae Raiser, Lee Manager, Hana Head) may withdraw")):
        done = await _cli(stack, rob, *args)
        assert done.returncode == 1 and says in done.stderr, (args, done.stderr)
    # As a signal, the same refusal is recorded on the case, which is otherwise unchanged.
    sent = await _cli(stack, rae, *two, "--signal")
    assert sent.returncode == 0, sent.stderr
    from tests.test_actions import _until

    async def rejected() -> list:
        return [e for e in (await stack.recorded(wid))[len(before):] if e.kind == "rejected"]

    [event] = await _until(rejected)
    assert "Only the stage 2 role holders (Lee Manager, Mo Manager)" in event.summary
    assert (await cases.get_state(stack.client, wid)).stage == "2"

    # The business unit acts for someone only saying whose role and why.
    roles = json.dumps({"bu@york.example": {"role": "business_unit", "protocols": ["york"]}})
    bu = {**as_operator(stack.env, "Bea Unit", "bu@york.example", business_unit=True),
          "RESOLUTIONS_ROLES": roles}
    unsaid = await _cli(stack, bu, *two)
    assert unsaid.returncode == 1 and "only on behalf of someone who may" in unsaid.stderr
    done = await _cli(stack, bu, *two, "--on-behalf-of", "2.raising", "--behalf-reason",
                      "Lee is on leave; agreed by phone")
    assert done.returncode == 0 and "Resolved at stage 2" in done.stdout, done.stderr
    withdrawn = await _cli(stack, {**bu, "RESOLUTIONS_ROLES": "{}"}, "withdraw", wid,
                           "--reason", "x", "--on-behalf-of", "raising", "--behalf-reason", "y")
    assert withdrawn.returncode == 1 and "does not hold the business-unit role" in (
        withdrawn.stderr)
    # Allowed: the receiving line manager confirms with their own token.
    mo = as_operator(stack.env, MO.name, MO.email, "2.receiving")
    closed = await _cli(stack, mo, "confirm-in-writing", wid, "--summary", "Letter sent")
    assert closed.returncode == 0 and "the case is closed" in closed.stdout, closed.stderr

    # The token store keeps no token, and only its owner can read it.
    store = Path(stack.env["RESOLUTIONS_DATA_DIR"]) / "operators.json"
    assert stat.S_IMODE(os.stat(store).st_mode) == 0o600
    text = store.read_text()
    assert rae["RESOLUTIONS_OPERATOR_TOKEN"] not in text and "Rae Raiser" in text


async def _cli(st: Stack, env: dict[str, str], *args: str):
    import asyncio
    import subprocess
    import sys

    from tests.conftest import ROOT

    async with st.cli_slots:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "starter.cli", *args, env=env, cwd=ROOT,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 90)
    return subprocess.CompletedProcess(args, proc.returncode or 0, out.decode(), err.decode())


async def test_a_deployment_that_lists_its_agencies_mail_domains_names_no_one_outside_them(
        stack: Stack) -> None:  # noqa: F811 - the fixture imported above
    """SECURITY.md: with RESOLUTIONS_MAIL_DOMAINS set, a case names people only at those
    domains, when it is raised and at every hand-over (the workflow holds the list)."""
    domains = {"RESOLUTIONS_MAIL_DOMAINS": "school.example, csc.example"}
    raise_args = ("raise", "--protocol", "york", "--reference", "2026-8110",
                  "--raising-name", RAE.name, "--raising-agency", "School",
                  "--raising-email", RAE.email, "--receiving-name", ROB.name,
                  "--receiving-agency", "Children's Social Care", "--issue", "Closed early",
                  "--risk", "Neglect continues", "--nature", "Threshold",
                  "--aim", "Reopen the assessment")
    env = {**stack.tokens[RAE.name], **domains}
    outside = await _cli(stack, env, *raise_args, "--receiving-email", "rob@gmail.example")
    assert outside.returncode == 1, outside.stdout
    assert ("'rob@gmail.example' is not at one of this partnership's agencies' mail domains "
            "(school.example, csc.example)") in outside.stderr, outside.stderr
    raised = await _cli(stack, env, *raise_args, "--receiving-email", ROB.email)
    assert raised.returncode == 0, raised.stderr
    wid = "york-2026-8110"
    before = await stack.recorded(wid)
    # The raiser hands over their own role: to someone outside the domains, refused (also
    # when the command line that does it has no domain list of its own: the case holds it).
    for who in (env, stack.tokens[RAE.name]):
        away = await _cli(stack, who, "assign", wid, "--role", "raising", "--name", "Eve Out",
                          "--email", "eve@elsewhere.example")
        assert away.returncode == 1 and "not at one of this partnership's agencies'" in (
            away.stderr), away.stderr
    await _unchanged(stack, wid, before)
    inside = await _cli(stack, env, "assign", wid, "--role", "raising", "--name", "Ria New",
                        "--email", "ria@sub.school.example")
    assert inside.returncode == 0, inside.stderr
    assert (await cases.get_state(stack.client, wid)).holders["raising"].name == "Ria New"


async def test_york_stage_two_is_recorded_only_by_a_line_manager_named_for_it(
        stack: Stack) -> None:  # noqa: F811 - the fixture imported above
    """York s5 Stage 2 para 1, "The line managers should then liaise with each other": on a
    case raised without its line managers, neither practitioner (standing in for the unnamed
    roles) may record stage 2; once the raising side names its line manager, that manager
    does."""
    wid = "york-2026-8120"
    raised = await _cli(stack, stack.tokens[RAE.name], "raise", "--protocol", "york",
                        "--reference", "2026-8120", "--raising-name", RAE.name,
                        "--raising-agency", "School", "--raising-email", RAE.email,
                        "--receiving-name", ROB.name, "--receiving-agency", "CSC",
                        "--receiving-email", ROB.email, "--issue", "Closed early",
                        "--risk", "Neglect continues", "--nature", "Threshold",
                        "--aim", "Reopen the assessment")
    assert raised.returncode == 0, raised.stderr
    await _until_stage(stack, wid, "1")
    moved = await _cli(stack, stack.tokens[RAE.name], "record-outcome", wid, "--stage", "1",
                       "--not-resolved", "--summary", "No agreement")
    assert moved.returncode == 0, moved.stderr
    await _until_stage(stack, wid, "2")
    before = await stack.recorded(wid)
    two = ("record-outcome", wid, "--stage", "2", "--resolved", "--summary", "Sorted")
    for person in (RAE, ROB):
        refused = await _cli(stack, stack.tokens[person.name], *two)
        assert refused.returncode == 1, refused.stdout
        assert ("Only the stage 2 role holders (nobody is named for that yet) may record this "
                "stage's outcome (York s5 Stage 2 para 1)") in refused.stderr, refused.stderr
    await _unchanged(stack, wid, before)
    named = await _cli(stack, stack.tokens[RAE.name], "assign", wid, "--role", "2.raising",
                       "--name", LEE.name, "--email", LEE.email)
    assert named.returncode == 0, named.stderr
    lee = as_operator(stack.env, LEE.name, LEE.email, "2.raising")
    done = await _cli(stack, lee, *two)
    assert done.returncode == 0 and "Resolved at stage 2" in done.stdout, done.stderr
