"""The business unit's dashboard in Chromium with JavaScript off: overdue first, who acts
next, flags, filters over what is held in clear, closed cases, charts and the CSV export.

Real web server, dev server, worker and SMTP (test_web.py's fixtures); the cases are raised
and driven as the CLI does. Nothing personal reaches a URL or the CSV.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

from playwright.async_api import Browser, Page, expect

from protocols.messages import Person
from starter import cases
from tests import test_web
from tests.conftest import wait_for
from tests.test_web import Site
from tests.test_web_screens import check

site = test_web.site  # the real web server, dev server, worker and SMTP

RAE = {"name": "Rae Raiser", "email": "rae@school.example", "role": "Teacher"}
ROB = {"name": "Rob Receiver", "email": "rob@csc.example", "role": "Social worker"}
PERSONAL = ("Test Child Alpha", "Example Road", "Rae", "Rob", "@")


async def _act(site: Site, wid: str, name: str, data: dict[str, object],
               by: dict[str, str]) -> None:
    result = await cases.act(site.client, wid, name, cases.parse_action(name, {**data,
                                                                               "by": by}))
    assert result is not None


def _row(page: Page, wid: str):  # noqa: ANN202 - a playwright locator
    return page.locator(f"#open-cases tr[data-case='{wid}']")


async def test_dashboard_overdue_first_filters_charts_and_csv(site: Site,
                                                              chromium: Browser) -> None:
    fresh = await test_web.raise_case_on(site, "york", "2026-0201")
    moved = await test_web.raise_case_on(site, "york", "2026-0202")
    await _act(site, moved, "record_outcome", {"stage": "1", "resolved": False,
                                               "summary": "No agreement"}, ROB)
    gone = await test_web.raise_case_on(site, "york", "2026-0203")
    await _act(site, gone, "withdraw", {"reason": "Raised in error"}, RAE)
    # Swindon's clocks run from when the concern arose: ten weeks ago, every stage's time has
    # passed, so the case is at stage 5 with (at least) four deadlines passed unmet.
    late = await test_web.raise_case_on(site, "swindon", "2026-0204",
                        arose=datetime.now(UTC) - timedelta(days=70))

    context = await chromium.new_context(java_script_enabled=False)
    page = await context.new_page()
    visited: list[str] = []
    page.on("request", lambda r: visited.append(r.url))
    auditor = site.url(site.grant("auditor", "Ada Auditor", "ada@audit.example"))

    async def listed() -> bool:
        await page.goto(f"{auditor}/cases")
        return (await page.locator("#open-cases tbody tr").count() == 3
                and await _row(page, late).count() == 1
                and "5" in await _row(page, late).locator("td").nth(1).inner_text())

    await wait_for(listed, timeout=40, interval=0.5)
    await expect(page.locator("h1")).to_have_text("Open cases")
    # The withdrawn case is not among the open ones.
    await expect(_row(page, gone)).to_have_count(0)
    # Who acts next, by name where someone is named; the stage's role where nobody is.
    await expect(_row(page, fresh).locator("td[data-label='Who acts next']")).to_contain_text(
        "Rae Raiser")
    await expect(_row(page, moved).locator("td[data-label='Who acts next']")).to_contain_text(
        "Line manager (raising agency): not named yet")
    await expect(_row(page, moved).locator("td[data-label='Stage']")).to_have_text("2")
    await expect(page.locator("#counts")).to_contain_text("3 open")
    await expect(page.locator("#counts")).to_contain_text("1 closed")
    await expect(_row(page, late).locator("td[data-label='Stage']")).to_have_text("5")
    # The charts are server-rendered SVG with their numbers as text.
    stage_desc = await page.locator("#stage-chart desc").text_content() or ""
    assert "Stage 1: 1" in stage_desc and "Stage 2: 1" in stage_desc, stage_desc
    breach_desc = await page.locator("#breach-chart desc").text_content() or ""
    assert sum(int(n) for n in re.findall(r": (\d+)", breach_desc)) >= 4, breach_desc

    # Filters, without JavaScript: a reference, then closed cases, then an agency and a stage.
    await page.get_by_text("Filter and search").click()
    await page.fill("#q", "0202")
    await page.get_by_role("button", name="Show cases").click()
    await expect(page.locator("#open-cases tbody tr")).to_have_count(1)
    await expect(_row(page, moved)).to_have_count(1)
    await page.select_option("#status", "closed")
    await page.fill("#q", "")
    await page.get_by_role("button", name="Show cases").click()
    await expect(page.locator("h1")).to_have_text("Closed cases")
    await expect(page.locator("#open-cases tbody tr")).to_have_count(1)
    await expect(_row(page, gone)).to_contain_text("Withdrawn")
    await page.select_option("#status", "all")
    await page.select_option("#protocol", "york")
    await page.fill("#agency", "primary")
    await page.select_option("#stage", "1")
    await page.get_by_role("button", name="Show cases").click()
    ids = await page.locator("#open-cases tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.case)")
    assert sorted(ids) == sorted([fresh, gone]), ids
    # A date that is not one: a clear message by the field; the list still shows.
    await page.fill("#started_from", "last tuesday")
    await page.get_by_role("button", name="Show cases").click()
    await expect(page.locator("#error-summary")).to_contain_text("Enter the earliest start date")
    await expect(page.locator("#started_from")).to_have_value("last tuesday")
    today = datetime.now(UTC).date()
    await page.fill("#started_from", (today + timedelta(days=2)).isoformat())
    await page.get_by_role("button", name="Show cases").click()
    await expect(page.locator("#no-cases")).to_be_visible()

    # The CSV holds what the filtered page shows; nothing personal.
    await page.goto(f"{auditor}/cases?status=all")
    href = await page.locator("#csv-link").get_attribute("href")
    assert href is not None and href.endswith("cases.csv?status=all")
    response = await page.request.get(site.settings.public_url + href)
    assert response.ok and response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    text = await response.text()
    table = list(csv.DictReader(io.StringIO(text)))
    assert {r["case"] for r in table} == {fresh, moved, gone, late}
    by_case = {r["case"]: r for r in table}
    assert by_case[late]["stage"] == "5" and by_case[late]["days_open"] == "0"
    assert by_case[gone]["status"] == "withdrawn" and by_case[gone]["closed_utc"]
    assert by_case[moved]["stage"] == "2"
    assert "Test Child Alpha" not in text and "Example Road" not in text
    for url in visited:
        assert not any(p in url.split("/t/")[-1].split("/", 1)[-1] for p in PERSONAL), url

    # The York business unit sees York's cases only; the page passes the screen checks.
    unit = site.url(site.grant("business_unit", "CYSCP Business Unit", "cyscp@york.example",
                               protocol="york"))
    await page.goto(f"{unit}/cases?status=all")
    await expect(_row(page, late)).to_have_count(0)
    await expect(_row(page, gone)).to_have_count(1)
    await expect(page.locator("#protocol")).to_have_count(0)
    problems: list[str] = []
    screens = await chromium.new_page(bypass_csp=True)
    await check(screens, f"{unit}/cases?status=all", "dashboard-york-all", problems)
    await check(screens, f"{auditor}/cases?status=closed", "dashboard-closed", problems)
    assert problems == [], "\n".join(problems)  # screenshots: test-artifacts/screenshots/
    link = site.links.for_case(fresh, Person(**ROB), "receiving")
    assert (await page.goto(site.url(link) + "/cases")).status == 403  # a case link: no list
    await context.close()
