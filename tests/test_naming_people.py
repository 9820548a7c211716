"""Who acts next is known and told (issue 16): the raise form and `resolutions raise` ask for
the people of the stage a case starts at and the next one, refuse a side with no address, and
whoever owns a live deadline without an address is flagged at once (CLI warning, case-page
banner, the state's ``unreached``). Chromium on the real app and worker; the CLI as a
subprocess on `python worker.py`. Screenshots go to tests/web_screenshots/ (git-ignored)."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Browser, expect
from temporalio.service import RPCError

from tests.conftest import as_operator, cli, wait_for
from tests.test_web import (  # noqa: F401  (fixtures)
    Site,
    _chromium_installed,
    shot,
    site,
)

YORK = ["raise", "--protocol", "york", "--reference", "2026-8101",
        "--raising-name", "Rae Raiser", "--raising-agency", "Example Primary",
        "--raising-email", "rae@school.example",
        "--receiving-name", "Rob Receiver", "--receiving-agency", "CSC",
        "--issue", "Case closed after one visit", "--risk", "Neglect continues",
        "--nature", "Threshold", "--aim", "Reopen the assessment"]


async def _ics_url(on: Site, address: str) -> str | None:
    """The URL of the first calendar entry e-mailed to ``address`` for the case."""
    for msg in on.mail.messages:
        if address not in (msg["X-Envelope-To"] or "") or \
                msg["X-Resolutions-Case"] != "york-2026-8103":
            continue
        for part in msg.iter_attachments():
            if part.get_filename("").endswith(".ics"):
                text = part.get_content()
                text = text.decode() if isinstance(text, bytes) else text
                match = re.search(r"^URL:(\S+)", re.sub(r"\r?\n ", "", text), re.M)
                if match:
                    return match[1]
    return None


def test_cli_asks_for_the_first_actors_and_warns_of_the_unreached(running_worker) -> None:
    env, _proc, _tmp = running_worker
    # York's urgent start is the senior managers' stage 3 (York s4): both must be named, and
    # the receiving side needs an address; one refusal lists everything, nothing is started.
    refused = cli(env, *YORK, "--urgency", "urgent", ok=False)
    assert refused.returncode == 1
    err = refused.stderr
    assert "‘Senior manager (raising agency)’" in err and "stage 3" in err, err
    assert "--holder '3.receiving=NAME <EMAIL>'" in err, err
    assert "at least one email address for the other agency" in err, err
    assert "no such case" in cli(env, "status", "york-2026-8101", ok=False).stderr

    # Standard: stage 1 is the practitioners'; stage 2's line managers may be named later.
    raised = cli(env, *YORK, "--receiving-email", "rob@csc.example")
    assert "not named yet" in raised.stdout and "--role 2.raising" in raised.stdout, \
        raised.stdout
    assert "warning" not in raised.stdout

    # Stage 2 entered with nobody named: the person acting is warned at once, in words.
    rae = as_operator(env, "Rae Raiser", "rae@school.example", "raising")
    moved = cli(rae, "outcome", "york-2026-8101", "--stage", "1", "--not-resolved",
                "--summary", "No agreement")
    assert "warning: not told" in moved.stdout, moved.stdout
    assert "Line manager (raising agency) for stage 2: nobody is named yet" in moved.stdout
    state = json.loads(cli(env, "status", "york-2026-8101", "--json").stdout)
    assert len(state["unreached"]) == 2, state["unreached"]
    # The warning names the role to hand over, as `assign --role` takes it.
    assert state["unreached_roles"] == ["2.raising", "2.receiving"], state
    assert "resolutions assign york-2026-8101 --role 2.raising --name" in moved.stdout

    # Once both are named with an address, the flag clears (no stale "not notified").
    # Each side names its own (permissions: never the other side's roles).
    rob = as_operator(env, "Rob Receiver", "rob@csc.example", "receiving")
    for who, key, name, email in ((rae, "2.raising", "Lee Manager", "lee@school.example"),
                                  (rob, "2.receiving", "Mo Manager", "mo@csc.example")):
        cli(who, "assign", "york-2026-8101", "--role", key, "--name", name, "--email", email)
    state = json.loads(cli(env, "status", "york-2026-8101", "--json").stdout)
    assert state["unreached"] == []
    assert "warning" not in cli(env, "status", "york-2026-8101").stdout

    # A timescale of 0 or 400 hours gets the rule's words, not "give exactly one of" or a
    # raw validation error.
    for hours in ("0", "400"):
        agreed = cli(rae, "agree-timescale", "york-2026-8101", "--stage", "2", "--hours",
                     hours, ok=False)
        assert agreed.returncode == 1
        assert f"number of hours from 1 to 365; {hours} was given" in agreed.stderr, \
            agreed.stderr

    # `mail` lists who each message went to.
    deadline = time.monotonic() + 30
    while "lee@school.example" not in (listing := cli(env, "mail", "--case",
                                                      "york-2026-8101").stdout):
        assert time.monotonic() < deadline, listing
        time.sleep(0.5)
    assert "to rae@school.example" in listing or "rae@school.example," in listing, listing


async def test_raise_form_names_the_senior_managers_and_the_page_reads_plainly(
        site: Site, chromium: Browser) -> None:  # noqa: F811
    page = await chromium.new_page()
    raiser = site.grant("raiser", "Rae Raiser", "rae@school.example", title="Teacher",
                        agency="Example Primary School")
    await page.goto(site.url(raiser) + "/raise?protocol=york")
    form = page.locator("form")
    await expect(form).to_contain_text("Who acts first, and next")
    await expect(form).to_contain_text("Stage 3 (Senior manager to senior manager "
                                       "conversation): Senior manager (raising agency)")
    await expect(form).to_contain_text("Stage 2 (Direct line manager to line manager "
                                       "conversation): Line manager (receiving agency)")

    # Urgent, with the senior managers unnamed and no address for the other agency: every
    # problem in one round, what was typed kept.
    await page.get_by_label("Urgent: the situation needs a quick resolution").check()
    for field, value in (("#reference", "2026-8102"), ("#issue", "Plan closed early"),
                         ("#risk_to_child", "Neglect may continue"), ("#nature", "Threshold"),
                         ("#aim", "Reopen the plan"), ("#receiving-name", "Rob Receiver"),
                         ("#receiving-agency", "Children's Social Care")):
        await page.fill(field, value)
    await page.get_by_role("button", name="Raise the disagreement").click()
    summary = page.locator(".govuk-error-summary")
    await expect(summary).to_contain_text("at least one email address for the other agency")
    await expect(summary).to_contain_text("stage 3 role ‘Senior manager (raising agency)’")
    await expect(summary).to_contain_text("stage 3 role ‘Senior manager (receiving agency)’")
    await expect(page.locator("#aim")).to_have_value("Reopen the plan")
    await shot(page, "naming-01-urgent-needs-senior-managers")

    await page.fill("#receiving-email", "rob@csc.example")
    for key, name, email in (("3.raising", "Sam Senior", "sam@school.example"),
                             ("3.receiving", "Sue Service", "sue@csc.example")):
        await page.fill(f"#holder-{key.replace('.', '-')}-name", name)
        await page.fill(f"#holder-{key.replace('.', '-')}-email", email)
    await page.get_by_role("button", name="Raise the disagreement").click()
    await expect(page.locator("h1")).to_have_text("Case york-2026-8102")
    await expect(page.locator("#current-stage")).to_contain_text("Stage 3")
    about = page.locator("#about")
    await expect(about).to_contain_text("Plan closed early")
    await expect(about).to_contain_text("Reopen the plan")
    people = page.locator("#holders")
    await expect(people).to_contain_text("Senior manager (raising agency)")
    await expect(people).to_contain_text("Sam Senior")
    await expect(page.locator("#unreached")).to_have_count(0)
    body = await page.locator("main").inner_text()
    for leak in ("3.raising", "3.receiving", "case_raised:", "stage_entered:", "(update)",
                 "on expiry"):
        assert leak not in body, leak
    await shot(page, "naming-02-case-reads-plainly")


async def test_escalating_to_an_unnamed_stage_shows_a_banner(
        site: Site, chromium: Browser) -> None:  # noqa: F811
    page = await chromium.new_page()
    raiser = site.grant("raiser", "Rae Raiser", "rae@school.example", title="Teacher",
                        agency="Example Primary School")
    await page.goto(site.url(raiser) + "/raise?protocol=york")
    for field, value in (("#reference", "2026-8103"), ("#issue", "Plan closed early"),
                         ("#risk_to_child", "Neglect may continue"), ("#nature", "Threshold"),
                         ("#aim", "Reopen the plan"), ("#receiving-name", "Rob Receiver"),
                         ("#receiving-agency", "Children's Social Care"),
                         ("#receiving-email", "rob@csc.example")):
        await page.fill(field, value)
    await page.get_by_role("button", name="Raise the disagreement").click()
    await expect(page.locator("#current-stage")).to_contain_text("Stage 1")
    await expect(page.locator("#unreached")).to_have_count(0)

    await page.get_by_role("link", name="Record the outcome of a stage").click()
    await page.get_by_label("Stage 1: Direct professional to professional conversation").check()
    await page.get_by_label("No, it was not resolved").check()
    await page.fill("#summary", "No agreement")
    await page.get_by_role("button", name="Record the outcome").click()
    await expect(page.locator("#current-stage")).to_contain_text("Stage 2")
    banner = page.locator("#unreached")
    await expect(banner).to_contain_text("Someone who must act has not been told")
    await expect(banner).to_contain_text("Line manager (raising agency) for stage 2: nobody "
                                         "is named yet")
    await shot(page, "naming-03-banner-unreached")

    # Stage 2's dated deadline comes as a calendar entry; it opens the case through the
    # recipient's own personal link (a plain /cases/ address is no page at all).
    ics_url = await wait_for(lambda: _ics_url(site, "rob@csc.example"), timeout=30)
    assert "/t/" in ics_url
    await page.goto(ics_url)
    await expect(page.locator("h1")).to_have_text("Case york-2026-8103")
    await expect(page.locator("#link-holder")).to_contain_text("Rob Receiver")


def _month_ago() -> datetime:
    return datetime.now(UTC) - timedelta(days=30)


async def test_backdated_raise_shows_what_has_passed_and_asks_first(
        site: Site, chromium: Browser) -> None:  # noqa: F811
    page = await chromium.new_page()
    raiser = site.grant("raiser", "Rae Raiser", "rae@school.example", title="Teacher",
                        agency="Example Primary School")
    await page.goto(site.url(raiser) + "/raise?protocol=swindon")
    arose = _month_ago()
    for field, value in (("#reference", "2026-8105"), ("#receiving-name", "Carl Social"),
                         ("#receiving-agency", "CSC"), ("#receiving-email", "carl@csc.example"),
                         ("#arose", str(arose.day)), ("#arose-month", str(arose.month)),
                         ("#arose-year", str(arose.year)), ("#arose-time", "10:00")):
        await page.fill(field, value)
    await page.get_by_role("button", name="Raise the disagreement").click()
    await expect(page.locator("h1")).to_have_text("Deadlines have already passed")
    await expect(page.locator("#passed")).to_contain_text("Stage 1: Internal discussion")
    await expect(page.locator("#starts-at")).to_contain_text("stage 5")
    with pytest.raises(RPCError):  # nothing is raised until the raiser confirms
        await site.client.get_workflow_handle("swindon-2026-8105").describe()
    await shot(page, "naming-04-backdated-confirm")
    await page.get_by_role("button", name="Raise it starting at stage 5").click()
    await expect(page.locator("h1")).to_have_text("Case swindon-2026-8105")
    await shot(page, "naming-05-backdated-raised")


def test_cli_refuses_a_backdated_raise_without_confirming(running_worker) -> None:
    env, _proc, _tmp = running_worker
    arose = _month_ago().strftime("%Y-%m-%dT10:00")
    swindon = ["raise", "--protocol", "swindon", "--reference", "2026-8106",
               "--raising-name", "Hana Visitor", "--raising-agency", "Health Visiting",
               "--raising-email", "hana@hv.example", "--receiving-name", "Carl Social",
               "--receiving-agency", "CSC", "--receiving-email", "carl@csc.example",
               "--arose", arose]
    refused = cli(env, *swindon, ok=False)
    assert refused.returncode == 1
    assert "Stage 1: Internal discussion" in refused.stderr, refused.stderr
    assert "The case will start at stage 5" in refused.stderr
    assert "--confirm-backdated" in refused.stderr
    assert "no such case" in cli(env, "status", "swindon-2026-8106", ok=False).stderr
    raised = cli(env, *swindon, "--confirm-backdated")
    assert "Raised case swindon-2026-8106" in raised.stdout
