"""Only valid choices (issue 16): a case-page form offers only what can be chosen where the
case stands (the stage whose outcome can be recorded now, the outcomes the protocol allows
and what each leads to, the roles that exist), reports every error of a form in one round;
the CLI refuses other values with a plain message listing the valid ones; the agreed-timescale
bounds are the protocol's rule, so the web, the CLI and a signal get one refusal; `status`
shows deadlines in plain words, numbered, and `mark-step-done` takes that number or the plain
name. The one-machine stack (`python -m starter.devstack`) as a subprocess, the CLI as a
subprocess, the web pages in Chromium."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.conftest import as_operator, cli, devstack, filed_mail, link_in
from tests.test_web import shot

YORK = ["raise", "--protocol", "york", "--raising-name", "Rae Raiser",
        "--raising-agency", "Example Primary", "--raising-email", "rae@school.example",
        "--receiving-name", "Rob Receiver", "--receiving-agency", "CSC",
        "--receiving-email", "rob@csc.example", "--issue", "Case closed after one visit",
        "--risk", "Neglect continues", "--nature", "Threshold", "--aim", "Reopen it",
        "--holder", "2.raising=Lee Manager <lee@school.example>"]
DUDLEY = ["raise", "--protocol", "dudley", "--raising-name", "Rae Raiser",
          "--raising-agency", "Example Primary", "--raising-email", "rae@school.example",
          "--receiving-name", "Rob Receiver", "--receiving-agency", "CSC",
          "--receiving-email", "rob@csc.example"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], Path]]:
    tmp = tmp_path_factory.mktemp("choices")
    with devstack(tmp) as env:
        yield env, tmp / "data"


def _link(data: Path, case: str, address: str) -> str:
    """The personal link in the first e-mail the sink filed for ``address`` on ``case``."""
    deadline = time.monotonic() + 40
    while True:
        for row in filed_mail(data, case, timeout=0):
            if address in row["to"] and (link := link_in(data, row)):
                return link
        assert time.monotonic() < deadline, f"no link for {address}"
        time.sleep(0.3)


def test_cli_refuses_what_cannot_be_chosen_and_speaks_of_deadlines_plainly(stack) -> None:
    env, _data = stack
    cli(env, *YORK[:3], "--reference", "2026-8301", *YORK[3:])
    rae = as_operator(env, "Rae Raiser", "rae@school.example", "raising")

    # An outcome for a stage the case is not at: refused, listing the one that can be chosen.
    refused = cli(rae, "outcome", "york-2026-8301", "--stage", "2", "--not-resolved",
                  "--summary", "x", ok=False)
    assert refused.returncode == 1
    assert "Stage 2 is not the current stage: the case is at stage 1" in refused.stderr, \
        refused.stderr
    assert "Record the outcome for stage 1." in refused.stderr

    # A role that does not exist on the case: refused, listing the roles that do, by title.
    wrong_role = cli(rae, "assign", "york-2026-8301", "--role", "9.raising", "--name", "X",
                     "--email", "x@school.example", ok=False)
    assert wrong_role.returncode == 1
    assert "'9.raising' is not a role in this case. Choose from: --role raising " \
        "(Practitioner raising the concern)" in wrong_role.stderr, wrong_role.stderr
    assert "--role 2.raising (Stage 2 (Direct line manager to line manager conversation): " \
        "Line manager" in wrong_role.stderr

    cli(rae, "outcome", "york-2026-8301", "--stage", "1", "--not-resolved",
        "--summary", "No agreement")
    status = cli(env, "status", "york-2026-8301").stdout
    assert "key:" not in status and "on expiry" not in status, status
    assert "2/" not in status, status
    assert "1. Each practitioner discusses the matter with their line manager: due" in status
    assert "when it passes, a reminder is sent; the case stays at its stage" in status
    assert "when it passes, the case moves up to the next stage" in status

    # The step is named by the number `status` shows (or its plain name), not its key.
    lee = as_operator(env, "Lee Manager", "lee@school.example", "2.raising")
    unknown = cli(lee, "mark-step-done", "york-2026-8301", "--deadline", "7", ok=False)
    assert unknown.returncode == 1
    assert "Steps that can be marked done, by the number `status` shows: 1 (Each " \
        "practitioner discusses" in unknown.stderr, unknown.stderr
    done = cli(lee, "mark-step-done", "york-2026-8301", "--deadline", "1")
    assert "Recorded as done: Each practitioner discusses the matter with their line " \
        "manager." in done.stdout, done.stdout
    assert "Each practitioner discusses" not in cli(env, "status", "york-2026-8301").stdout

    # Plan prints what passing a deadline does in words.
    plan = cli(env, "plan", "--protocol", "york", "--arose", "2026-03-02T09:00").stdout
    assert "on expiry" not in plan.split("Overall")[0], plan
    assert "when it passes, the case moves up to the next stage" in plan


def test_agreed_hours_bound_is_the_protocols_rule_for_signals_too(stack) -> None:
    env, _data = stack
    cli(env, *DUDLEY[:3], "--reference", "2026-8302", *DUDLEY[3:])
    rae = as_operator(env, "Rae Raiser", "rae@school.example", "raising")
    for hours in ("0", "400"):
        refused = cli(rae, "agree-timescale", "dudley-2026-8302", "--stage", "1", "--hours",
                      hours, ok=False)
        assert refused.returncode == 1
        assert (f"An agreed timescale is a number of hours from 1 to 365; {hours} was given "
                "(not set by the document; the project's default)") in refused.stderr, \
            refused.stderr
    # The same rule refuses it as a signal: recorded on the case as refused, nothing changed.
    cli(rae, "agree-timescale", "dudley-2026-8302", "--stage", "1", "--hours", "400",
        "--signal")
    deadline = time.monotonic() + 30
    while not [e for e in json.loads(cli(env, "timeline", "dudley-2026-8302",
                                         "--json").stdout)
               if "number of hours from 1 to 365; 400 was given" in e["summary"]]:
        assert time.monotonic() < deadline
        time.sleep(0.5)
    state = json.loads(cli(env, "status", "dudley-2026-8302", "--json").stdout)
    assert all(d["agreed"] is None for d in state["deadlines"] if d["stage"] == "1")


async def test_forms_offer_only_valid_choices_and_every_error_at_once(
        stack, chromium: Browser) -> None:
    env, data = stack
    cli(env, *DUDLEY[:3], "--reference", "2026-8303", *DUDLEY[3:])
    link = _link(data, "dudley-2026-8303", "rae@school.example")
    page = await chromium.new_page()
    await page.goto(link)
    await expect(page.locator("h1")).to_have_text("Case dudley-2026-8303")

    await page.get_by_role("link", name="Record the outcome of a stage").click()
    stages = page.locator("input[name=stage]")
    await expect(stages).to_have_count(1)  # only the stage the case is at
    await expect(page.locator("main")).to_contain_text("Stage 1: Practitioners")
    await expect(page.locator("main")).not_to_contain_text("Stage 3b")
    await expect(page.locator("main")).to_contain_text(
        "The case moves to stage 2 (Line / team managers).")
    await shot(page, "choices-01-outcome-current-stage-only")

    # A tampered stage and no summary: both errors in one round, nothing recorded.
    await stages.first.evaluate("el => { el.value = '3b'; el.checked = true; }")
    await page.get_by_label("No, it was not resolved").check()
    await page.get_by_role("button", name="Record the outcome").click()
    summary = page.locator(".govuk-error-summary")
    await expect(summary).to_contain_text("Stage 3b is not the current stage: the case is at "
                                          "stage 1 (Practitioners). Record the outcome for "
                                          "stage 1.")
    await expect(summary).to_contain_text("Enter a summary of the discussion")
    await shot(page, "choices-02-outcome-errors-in-one-round")
    state = json.loads(cli(env, "status", "dudley-2026-8303", "--json").stdout)
    assert state["stage"] == "1" and state["outcomes"] == []

    # The hand-over form lists the roles that exist, by title, never keys.
    await page.goto(link + "/cases/dudley-2026-8303/assign")
    options = await page.locator("#role option").all_inner_texts()
    assert "Practitioner raising the concern" in options, options
    assert any(o.startswith("Stage 2 (Line / team managers): ") for o in options), options
    assert not [o for o in options if re.search(r"\b\d\w*\.(raising|receiving)\b", o)]

    # The agreed-timescale bound: the rule's own words at the field.
    await page.goto(link + "/cases/dudley-2026-8303/agree-timescale")
    await page.get_by_label("A number of hours").check()
    await page.fill("#amount", "400")
    await page.get_by_role("button", name="Record the agreed timescale").click()
    await expect(page.locator("#amount-error")).to_contain_text(
        "a number of hours from 1 to 365; 400 was given (not set by the document")
    await expect(page.locator("#amount")).to_have_value("400")
    await shot(page, "choices-03-hours-bound")

