"""What a person does on the web forms, step by step, in the journeys' Chromium."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.journeys.harness import Did, Journey, now

BANNER = ".govuk-notification-banner--success"
CONTACT = {"Meeting in person": "meeting", "Video call": "video", "Telephone": "phone",
           "E-mail": "email", "Letter": "letter"}


async def raise_on_web(j: Journey, page: Page, *, protocol: str, raiser: tuple[str, str, str, str],
                       urgency: str, fields: dict[str, str]) -> tuple[str, Did]:
    """Give the raiser the role (`resolutions roles add`), open the link made with
    `resolutions link --raiser`, fill the raising form and
    submit it. ``raiser`` is (name, email, title, agency). Returns the case id and the window
    in which it was raised (as a Did with stage '')."""
    name, email, title, agency = raiser
    await j.run("roles", "add", "--email", email, "--role", "raiser", "--protocol", protocol)
    link = (await j.run("link", "--raiser", "--name", name, "--email", email, "--title", title,
                        "--agency", agency, "--protocol", protocol)).out.strip()
    await page.goto(link)
    await expect(page.locator("h1")).to_have_text("Raise a professional disagreement")
    await expect(page.locator("#raising-name")).to_have_value(name)
    await page.get_by_label(urgency, exact=True).check()
    for field, value in fields.items():
        await page.fill(f"#{field}", value)
    t0 = now()
    await page.get_by_role("button", name="Raise the disagreement").click()
    await expect(page.locator(BANNER)).to_contain_text("Disagreement raised: case")
    t1 = now()
    case_id = page.url.rsplit("/cases/", 1)[1]
    await expect(page.locator("h1")).to_have_text(f"Case {case_id}")
    return case_id, Did("", False, name, "raised", t0, t1)


async def holder_name(page: Page) -> str:
    return (await page.locator("#link-holder strong").inner_text()).strip()


async def outcome(page: Page, stage_label: str, resolved: bool, summary: str, *,
                  contact: str = "", learning: str = "", expect_text: str = "") -> Did:
    """Record a stage's outcome as the link's holder; returns what was done, and when."""
    by = await holder_name(page)
    await page.get_by_role("link", name="Record the outcome of a stage").click()
    await page.get_by_label(stage_label).check()
    await page.get_by_label("Yes, it was resolved" if resolved else "No, it was not resolved"
                            ).check()
    if contact:
        await page.get_by_label(contact, exact=True).check()
    await page.fill("#summary", summary)
    if learning:
        await page.fill("#learning_points", learning)
    t0 = now()
    await page.get_by_role("button", name="Record the outcome").click()
    banner = page.locator(BANNER)
    await expect(banner).to_be_visible()
    if expect_text:
        await expect(banner).to_contain_text(expect_text)
    t1 = now()
    stage = stage_label.split(":", 1)[0].removeprefix("Stage ")
    return Did(stage, resolved, by, summary, t0, t1, CONTACT.get(contact, ""))


async def hand_over(page: Page, role: str, name: str, email: str) -> None:
    await page.get_by_role("link", name="Hand a role to someone else").click()
    await page.select_option("#role", role)
    await page.fill("#person-name", name)
    await page.fill("#person-email", email)
    await page.get_by_role("button", name="Hand over the role").click()
    await expect(page.locator(BANNER)).to_contain_text(f"{name} now holds the role {role}")


async def agree(page: Page, kind: str, amount: str = "", *, reason: str = "",
                agreed_by: str = "") -> None:
    """Agree (or extend) the current stage's timescale: kind is the radio's label."""
    await page.get_by_role("link", name="Agree or extend a timescale").click()
    await page.get_by_label(kind, exact=True).check()
    if amount:
        await page.fill("#amount", amount)
    if reason:
        await page.fill("#reason", reason)
    if agreed_by:
        await page.fill("#agreed_by", agreed_by)
    await page.get_by_role("button", name="Record the agreed timescale").click()
    await expect(page.locator(BANNER)).to_contain_text("now due")


async def simple(page: Page, link: str, button: str, fills: dict[str, str],
                 says: str) -> None:
    """A one-form action (pause, resume, withdraw, immediate risk, confirm): open its link on
    the case page, fill it, send it, and see the success banner."""
    await page.get_by_role("link", name=link).click()
    for field, value in fills.items():
        await page.fill(f"#{field}", value)
    await page.get_by_role("button", name=button).click()
    await expect(page.locator(BANNER)).to_contain_text(says)
