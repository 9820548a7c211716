"""The web forms in a real headless Chromium, against the real dev server, worker and SMTP.

Screenshots of every page visited are saved under tests/web_screenshots/ (git-ignored).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from infra.links import Grant, Links, link_builder_from_settings
from infra.settings import Settings
from protocols.calendar import WorkingCalendar
from protocols.messages import Person
from starter import cases
from starter.web.server import start_web_server
from tests.conftest import CHROMIUM, MailBox, case_input, free_port, start_case, wait_for
from worker import build_worker

SHOTS = Path(__file__).parent / "web_screenshots"
ROLES = """
["cyscp@york.example"]
role = "business_unit"
protocols = ["york"]

["ada@audit.example"]
role = "auditor"

["rae@school.example"]
role = "raiser"
"""


@pytest.fixture(autouse=True, scope="module")
def _chromium_installed() -> None:
    """Browser tests never skip: ./dev test installs Debian's chromium first."""
    assert shutil.which(CHROMIUM), "Debian's chromium is missing: run ./dev test (it installs it)"


@dataclass
class Site:
    settings: Settings
    client: Client
    links: Links
    mail: MailBox

    def url(self, grant: Grant) -> str:
        return self.links.url(grant)

    def grant(self, role: str, name: str, email: str, **kw: str) -> Grant:
        return Grant(name=name, email=email, role=role, expires=self.links.expiry(), **kw)


@pytest.fixture
async def site(dev_env: WorkflowEnvironment, settings: Settings,
               mailbox: tuple[MailBox, int]) -> AsyncIterator[Site]:
    port = free_port()
    settings = settings.model_copy(update={"web_port": port,
                                           "public_url": f"http://127.0.0.1:{port}"})
    (settings.data_dir / "roles.toml").write_text(ROLES, encoding="utf-8")
    client = dev_env.client
    worker = build_worker(client, settings, link_builder=link_builder_from_settings(settings),
                          calendar=WorkingCalendar())
    async with worker:
        stop = await start_web_server(settings, client)
        try:
            yield Site(settings, client, Links(settings), mailbox[0])
        finally:
            await stop()


async def raise_case_on(site: Site, protocol: str, reference: str, **fields: object) -> str:
    """Raise a case through the starter the CLI and the raise form call, once it has entered
    its first stage."""
    handle = await start_case(site.client, case_input(protocol, reference, **fields))

    async def entered() -> bool:
        return bool((await cases.get_state(site.client, handle.id)).stages_visited)

    await wait_for(entered)
    return handle.id


async def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def mailed_link(site: Site, event: str, address: str) -> str:
    """The personal link in the e-mail sent to ``address`` for ``event``."""

    async def find() -> str | None:
        for msg in site.mail.for_event(event):
            if address in (msg["X-Envelope-To"] or ""):
                body = msg.get_body(preferencelist=("plain",))
                assert body is not None
                match = re.search(re.escape(site.settings.public_url) + r"/t/[A-Za-z0-9_.-]+",
                                  body.get_content())
                if match:
                    return match[0]
        return None

    return await wait_for(find, timeout=30)


async def test_raise_act_escalate_and_guard(site: Site, chromium: Browser) -> None:
    page = await chromium.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)

    # A raiser link opens the raising form; first choose the partnership.
    raiser = site.grant("raiser", "Rae Raiser", "rae@school.example", title="Teacher",
                        agency="Example Primary School")
    await page.goto(site.url(raiser))
    await expect(page.locator("h1, legend h1, .govuk-fieldset__legend--l").first).to_contain_text(
        "Which partnership")
    await shot(page, "01-raise-choose-protocol")
    await page.get_by_label("City of York Safeguarding Children Partnership").check()
    await page.get_by_role("button", name="Continue").click()
    await expect(page.locator("h1")).to_have_text("Raise a professional disagreement")
    await expect(page.locator("#raising-name")).to_have_value("Rae Raiser")
    await expect(page.locator(".govuk-warning-text").first).to_contain_text("immediate risk")

    # Missing York's four statements: errors next to each, what was typed is kept.
    await page.fill("#reference", "2026-0042")
    await page.fill("#issue", "Closure of the child in need plan")
    await page.fill("#receiving-name", "Rob Receiver")
    await page.fill("#receiving-agency", "Children's Social Care")
    await page.fill("#receiving-email", "rob@csc.example")
    await page.get_by_role("button", name="Raise the disagreement").click()
    await expect(page.locator(".govuk-error-summary")).to_be_visible()
    await expect(page.locator("#risk_to_child-error")).to_contain_text("the risk to the child")
    await expect(page.locator("#reference")).to_have_value("2026-0042")
    await expect(page.locator("#issue")).to_have_value("Closure of the child in need plan")
    assert (await page.title()).startswith("Error: ")
    await shot(page, "02-raise-errors")

    await page.fill("#risk_to_child", "Neglect may continue unseen")
    await page.fill("#nature", "Threshold for closure")
    await page.fill("#aim", "Keep the plan open")
    await page.fill("#child-name", "Test Child Gamma")
    await page.fill("#child-date_of_birth", "3")
    await page.fill("#child-date_of_birth-month", "4")
    await page.fill("#child-date_of_birth-year", "2017")
    await page.get_by_role("button", name="Raise the disagreement").click()

    # The raiser lands on their own personal case link, with what happens next.
    await expect(page.locator("h1")).to_have_text("Case york-2026-0042")
    assert "/t/" in page.url and page.url.endswith("/cases/york-2026-0042")
    banner = page.locator(".govuk-notification-banner--success")
    await expect(banner).to_contain_text("Disagreement raised: case york-2026-0042")
    await expect(banner).to_contain_text("What happens next")
    await expect(page.locator("#current-stage")).to_contain_text("Stage 1")
    await expect(page.locator("#link-holder")).to_contain_text("Rae Raiser")
    assert "Gamma" not in await page.title() and "Gamma" not in page.url
    await shot(page, "03-case-raised")

    # The receiving practitioner opens the link e-mailed to them.
    rob_link = await mailed_link(site, "case_raised", "rob@csc.example")
    await page.goto(rob_link)
    await expect(page.locator("#link-holder")).to_contain_text("Rob Receiver")
    await expect(page.locator("#deadlines")).to_contain_text("York")
    await page.get_by_role("link", name="Record the outcome of a stage").click()
    await expect(page.locator("h1")).to_have_text("Record the outcome of a stage")
    await shot(page, "04-outcome-form")
    hostile = "We could not agree <script>alert(1)</script>"
    await page.get_by_label("Stage 1: Direct professional to professional conversation").check()
    await page.get_by_label("No, it was not resolved").check()
    await page.fill("#summary", hostile)
    await page.get_by_role("button", name="Record the outcome").click()

    # Escalated: the success banner says what changed and what happens next.
    banner = page.locator(".govuk-notification-banner--success")
    await expect(banner).to_contain_text("Not resolved; the case moved to stage 2")
    await expect(banner).to_contain_text("What happens next")
    await expect(page.locator("#current-stage")).to_contain_text("Stage 2")
    timeline = page.locator("#timeline")
    await expect(timeline).to_contain_text(hostile)  # shown as text, never run
    await expect(timeline.locator("tr", has_text="Stage 1 not resolved")).to_contain_text(
        "Rob Receiver")
    assert dialogs == []
    assert not [m for m in console if "Content Security Policy" in m], console
    assert await page.evaluate("document.body.classList.contains('govuk-frontend-supported')")
    await shot(page, "05-escalated-to-stage-2")
    case_url = page.url

    # Only the current stage is offered; one no longer current (a stale or tampered form) is
    # refused next to the stage field.
    await page.goto(case_url + "/outcome")
    await expect(page.locator("input[name=stage]")).to_have_count(1)
    await expect(page.get_by_label("Stage 1: Direct professional to professional "
                                   "conversation")).to_have_count(0)
    await page.get_by_label("Stage 2: Direct line manager to line manager conversation"
                            ).evaluate("el => { el.value = '1'; el.checked = true; }")
    await page.get_by_label("Yes, it was resolved").check()
    await page.fill("#summary", "Typed text to keep")
    await page.get_by_role("button", name="Record the outcome").click()
    summary = page.locator(".govuk-error-summary")
    await expect(summary).to_contain_text("Stage 1 is not the current stage")
    await expect(summary.locator("a[href='#stage']")).to_be_visible()
    await expect(page.locator("#stage-error")).to_contain_text("Stage 1 is not the current stage")
    await expect(page.locator("#summary")).to_have_value("Typed text to keep")
    await expect(summary).to_be_focused()
    await shot(page, "06-outcome-rejected")
    await summary.locator("a[href='#stage']").click()
    await expect(page.locator("#stage")).to_be_focused()

    # A form without its CSRF token is refused with a clear page; nothing is recorded.
    before = await cases.get_state(site.client, "york-2026-0042")
    await page.goto(case_url + "/pause")
    await page.fill("#reason", "Sickness")
    await page.evaluate("document.querySelector('input[name=csrf_token]').remove()")
    async with page.expect_response(lambda r: r.request.method == "POST") as posted:
        await page.get_by_role("button", name="Pause the case").click()
    assert (await posted.value).status == 403
    await expect(page.locator("h1")).to_have_text("Your form could not be accepted")
    await shot(page, "07-csrf-refused")
    after = await cases.get_state(site.client, "york-2026-0042")
    assert after.status == before.status == "open"

    # A tampered link: a clear page, never a stack trace.
    token = rob_link.rsplit("/", 1)[1]
    tampered = rob_link[: -len(token)] + token[:20] + ("x" if token[20] != "x" else "y") \
        + token[21:]
    response = await page.goto(tampered)
    assert response is not None and response.status == 403
    await expect(page.locator("h1")).to_have_text("This link is not valid")
    await shot(page, "08-tampered-link")

    # An auditor reads the case but cannot act.
    auditor = site.grant("auditor", "Ada Auditor", "ada@audit.example")
    auditor_base = site.url(auditor)
    await page.goto(f"{auditor_base}/cases/york-2026-0042")
    await expect(page.locator("#read-only")).to_be_visible()
    await expect(page.locator("#actions")).to_have_count(0)
    await expect(page.locator("#timeline")).to_contain_text("Rob Receiver")
    await shot(page, "09-auditor-case")
    response = await page.goto(f"{auditor_base}/cases/york-2026-0042/outcome")
    assert response is not None and response.status == 403
    await expect(page.locator("#error-message")).to_contain_text("not change it")

    # The business unit's list of open cases for its partnership.
    unit = site.grant("business_unit", "CYSCP Business Unit", "cyscp@york.example",
                      protocol="york")

    async def listed() -> bool:
        await page.goto(site.url(unit))
        rows = page.locator("#open-cases tr", has_text="york-2026-0042")
        return await rows.count() == 1 and "2" in await rows.locator("td").nth(1).inner_text()

    await wait_for(listed, timeout=30, interval=0.5)
    await expect(page.locator("h1")).to_have_text("Open cases")
    await shot(page, "10-business-unit-list")
    await page.get_by_role("link", name="york-2026-0042").click()
    await expect(page.locator("#current-stage")).to_contain_text("Stage 2")
    await expect(page.locator("#read-only")).to_be_visible()


async def test_timescale_limit_and_immediate_risk(site: Site, chromium: Browser) -> None:
    page = await chromium.new_page()
    # Lee holds stage 1's raising role, so Lee's link may act in it (protocols.permissions).
    lee = {"name": "Lee Manager", "role": "Team manager", "email": "lee@csc.example"}
    leeds = await start_case(site.client, case_input("leeds", "2026-0077",
                                                     holders={"1.raising": lee}))

    async def entered() -> bool:
        return bool((await cases.get_state(site.client, leeds.id)).stages_visited)

    await wait_for(entered)
    manager = site.links.for_case(leeds.id, Person(name="Lee Manager", role="Team manager",
                                                   email="lee@csc.example"), "1.raising",
                                  role="manager")
    await page.goto(site.url(manager))
    await page.get_by_role("link", name="Agree or extend a timescale").click()
    await page.get_by_label("A number of working days").check()
    await page.fill("#amount", "11")
    await page.get_by_role("button", name="Record the agreed timescale").click()
    # Leeds s4 bullet 1: more than 10 working days only "agreed and recorded": say why.
    await expect(page.locator("#reason-error")).to_contain_text(
        "at most 10 working days where possible")
    await expect(page.locator(".govuk-error-summary a[href='#reason']")).to_be_visible()
    await expect(page.locator("#amount")).to_have_value("11")
    await shot(page, "11-timescale-past-leeds-maximum")
    await page.fill("#amount", "5")
    await page.get_by_role("button", name="Record the agreed timescale").click()
    await expect(page.locator(".govuk-notification-banner--success")).to_contain_text("now due")
    await expect(page.locator("#timeline")).to_contain_text("Lee Manager")
    await shot(page, "12-timescale-agreed")

    # Halted for sickness, then resumed; then the role handed to someone else.
    await page.get_by_role("link", name="Pause the case").click()
    await page.fill("#reason", "Sickness")
    await page.get_by_role("button", name="Pause the case").click()
    await expect(page.locator(".govuk-notification-banner--success")).to_contain_text("paused")
    await page.get_by_role("link", name="Resume the case").click()
    await page.get_by_role("button", name="Resume the case").click()
    await expect(page.locator(".govuk-notification-banner--success")).to_contain_text("Resumed")
    await page.get_by_role("link", name="Hand a role to someone else").click()
    await page.select_option("#role", "1.raising")
    await page.fill("#person-name", "Nia Newman")
    await page.fill("#person-email", "nia@csc.example")
    await page.get_by_role("button", name="Hand over the role").click()
    await expect(page.locator(".govuk-notification-banner--success")).to_contain_text(
        "Nia Newman now holds the role 1.raising")
    await expect(page.locator("#holders")).to_contain_text("Nia Newman")
    # Lee's link now only reads the case; Nia's e-mailed link can act.
    await expect(page.locator("#read-only")).to_contain_text("was handed to Nia Newman")
    await expect(page.locator("#actions")).to_have_count(0)
    await page.goto(await mailed_link(site, "role_assigned", "nia@csc.example"))
    await expect(page.locator("#link-holder")).to_contain_text("Nia Newman")
    await expect(page.locator("#actions")).to_contain_text("Record the outcome of a stage")

    # Immediate risk from the raising form: no waiting on York's four statements.
    raiser = site.grant("raiser", "Rae Raiser", "rae@school.example", protocol="york")
    await page.goto(site.url(raiser))
    await page.get_by_label("Immediate risk of significant harm to the child").check()
    await page.fill("#reference", "2026-0099")
    await page.fill("#risk_to_child", "Child disclosed harm this morning")
    await page.fill("#raising-agency", "Example Primary School")
    await page.fill("#receiving-agency", "Children's Social Care")
    await page.fill("#receiving-email", "rob@csc.example")
    await shot(page, "13-raise-immediate-risk")
    await page.get_by_role("button", name="Raise the disagreement").click()
    banner = page.locator(".govuk-notification-banner--success")
    await expect(banner).to_contain_text("immediate risk alarm has been sent")
    await expect(page.locator("#current-stage")).to_contain_text("Stage 3")
    await expect(page.locator(".govuk-warning-text")).to_contain_text("Immediate risk")
    await shot(page, "14-immediate-risk-case")
    await mailed_link(site, "immediate_risk", "rob@csc.example")
