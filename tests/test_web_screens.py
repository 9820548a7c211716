"""Every page on any screen: Chromium at 1280 px and 390 px, axe-core's WCAG 2.2 A/AA rules,
no horizontal scrolling, and no word broken mid-way in a table or summary list.

The pages come from the real web server on a real Temporal dev server and worker (the
fixtures of test_web.py); the cases are raised and driven as the CLI and the forms do.
axe-core is the npm package `./dev setup` installs (starter/web/package.json). Screenshots
of each page at both widths are kept under test-artifacts/screenshots/ (git-ignored).
"""

from __future__ import annotations

import json
from pathlib import Path

from playwright.async_api import Browser, Page

from protocols.loader import available_protocols
from protocols.messages import Person
from starter import cases
from tests import test_web
from tests.conftest import wait_for
from tests.test_web import Site

site = test_web.site  # the real web server, dev server, worker and SMTP

ROOT = Path(__file__).resolve().parents[1]
AXE = ROOT / "starter" / "web" / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = ROOT / "test-artifacts" / "screenshots"
WIDTHS = (1280, 390)
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
ROB = {"name": "Rob Receiver", "email": "rob@csc.example", "role": "Social worker"}

# Words broken across two lines inside a table cell or a summary list: one range, two boxes.
BROKEN_WORDS = """() => {
  const broken = [];
  const cells = document.querySelectorAll(
    '.govuk-table__cell, .govuk-table__header, .govuk-summary-list__key, ' +
    '.govuk-summary-list__value');
  for (const cell of cells) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const re = /\\S+/g;
      let m;
      while ((m = re.exec(node.data))) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const tops = new Set([...range.getClientRects()].filter(r => r.width > 0)
                             .map(r => Math.round(r.top)));
        if (tops.size > 1) broken.push(m[0]);
      }
    }
  }
  return broken;
}"""


async def check(page: Page, url: str, name: str, problems: list[str]) -> None:
    """Open ``url`` at each width: axe finds nothing, nothing scrolls sideways, no word is
    broken in a table (each failure is added to ``problems``); a full-page screenshot of each
    is kept."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        await page.set_viewport_size({"width": width, "height": 900})
        response = await page.goto(url)
        assert response is not None and response.status < 500, (name, response)
        await page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
        await page.add_script_tag(path=str(AXE))
        result = await page.evaluate(
            "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", TAGS)
        found = [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:3])
                 for v in result["violations"]]
        if found:
            problems.append(f"{name} at {width}px: axe: {json.dumps(found)}")
        sideways = await page.evaluate(
            "() => document.documentElement.scrollWidth - window.innerWidth")
        if sideways > 0:
            problems.append(f"{name} at {width}px scrolls sideways by {sideways}px")
        if broken := await page.evaluate(BROKEN_WORDS):
            problems.append(f"{name} at {width}px breaks words: {broken[:5]}")
    print(f"screenshots: {SHOTS}/{name}-{{1280,390}}.png")


async def test_every_page_at_1280_and_390(site: Site, chromium: Browser) -> None:
    page = await chromium.new_page(bypass_csp=True)  # to inject axe; the pages keep their CSP
    york = await test_web.raise_case_on(site, "york", "2026-0101")
    result = await cases.act(site.client, york, "record_outcome", cases.parse_action(
        "record_outcome", {"stage": "1", "resolved": False, "summary": "No agreement",
                           "by": ROB}))
    assert result is not None and "stage 2" in result.message
    swindon = await test_web.raise_case_on(site, "swindon", "2026-0102", urgency="urgent")
    unit = site.url(site.grant("business_unit", "CYSCP Business Unit", "cyscp@york.example",
                               protocol="york"))
    auditor = site.url(site.grant("auditor", "Ada Auditor", "ada@audit.example"))
    rob = site.url(site.links.for_case(york, Person(**ROB), "receiving"))
    raiser = site.url(site.grant("raiser", "Rae Raiser", "rae@school.example",
                                 title="Teacher", agency="Example Primary School"))

    async def listed() -> bool:
        await page.goto(f"{auditor}/cases")
        return await page.locator("tr", has_text=swindon).count() > 0

    await wait_for(listed, timeout=30, interval=0.5)
    problems: list[str] = []
    await check(page, site.settings.public_url + "/", "home", problems)
    await check(page, site.settings.public_url + "/protocols", "protocols", problems)
    for name in available_protocols():
        await check(page, f"{site.settings.public_url}/protocols/{name}", f"protocol-{name}",
                    problems)
    await check(page, site.settings.public_url + "/nowhere", "not-found", problems)
    await check(page, f"{raiser}/raise", "raise-choose", problems)
    await check(page, f"{raiser}/raise?protocol=york", "raise-york", problems)
    await check(page, unit, "business-unit-cases", problems)
    await check(page, f"{auditor}/cases", "auditor-cases", problems)
    await check(page, f"{auditor}/cases?status=all&started_from=nonsense", "auditor-cases-all",
                problems)
    await check(page, f"{unit}/cases/{york}", "business-unit-case", problems)
    await check(page, f"{rob}/cases/{york}", "practitioner-case", problems)
    await check(page, f"{rob}/cases/{york}/outcome", "practitioner-outcome-form", problems)
    # The case page draws its protocol with the path taken and where the case is now.
    await page.goto(f"{rob}/cases/{york}")
    diagram = page.locator("svg.app-diagram")
    assert await diagram.count() == 1
    assert "You are here: step 2" in (
        await diagram.locator("g[data-stage='2']").text_content() or "")
    assert "This case: step 1" in (
        await diagram.locator("g[data-stage='1']").text_content() or "")
    assert "stage 1, then 2" in (await diagram.locator("desc").text_content() or "")
    await check(page, f"{auditor}/cases/{swindon}", "auditor-case-swindon", problems)
    assert problems == [], "\n".join(problems + [f"screenshots: {SHOTS}"])
