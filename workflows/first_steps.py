"""A category's first steps inside a case (Leeds Appendix 1 a, Barnsley 3.8-3.9): what an
outcome recorded at them must carry, and what it is recorded with a warning for.

The documents say "should" and "every effort": steps not recorded as done are warned about,
never enforced. Only the reasons a document asks for with a "not agreed" are required
(Barnsley 3.9, the final decision's professional reasons). Pure functions over the case book.
"""

from __future__ import annotations

from protocols.messages import RecordOutcome
from protocols.schema import Category
from workflows.book import CaseBook

# Patch id: a case of a category with first steps starts at them (protocols frozen with
# ``categories``; cases frozen before have none, so none of this runs for them).
FIRST_STEPS = "category-first-steps-v1"


def category_here(book: CaseBook) -> Category | None:
    """The category whose first steps the case is at, if it is at them."""
    return book.protocol.category_of_stage(book.stage_id)


def outcome_problem(book: CaseBook, msg: RecordOutcome) -> str:
    """Why this outcome cannot be recorded at the first steps ('' where it can)."""
    category = category_here(book)
    if category is None or category.not_agreed is None or msg.resolved:
        return ""
    reasons = category.not_agreed.reasons
    if reasons is not None and not msg.reasons.strip():
        return (f"Agreement not reached: {category.not_agreed.text} Record the "
                f"{reasons.text[0].lower()}{reasons.text[1:]} with --reasons (the web form's "
                f"'Professional reasons' box) ({reasons.source}). Nothing was recorded.")
    return ""


def closes_case(book: CaseBook, msg: RecordOutcome) -> bool:
    """Whether this outcome closes the case at its first steps (a conference to be convened,
    Barnsley 3.9): its "case closed" e-mail then tells the outcome (one e-mail per event)."""
    category = category_here(book)
    return (category is not None and category.not_agreed is not None and not msg.resolved
            and category.not_agreed.leads_to == "convene_conference")


def warnings(book: CaseBook, msg: RecordOutcome) -> list[str]:
    """What the outcome is recorded without, that the document asks for with a "should"."""
    category = category_here(book)
    if category is None or category.first_steps is None:
        return []
    out = []
    skip = set(category.not_agreed.only_before) if category.not_agreed and msg.resolved else set()
    undone = [d for d in book.stage_deadlines() if d.live and d.rule not in skip]
    if undone:
        out.append("Recorded although these first steps are not recorded as done: "
                   + "; ".join(f"{d.what} ({d.source})" for d in undone)
                   + ". The document asks for them ('should'); the system does not force them.")
    reasons = category.not_agreed.reasons if category.not_agreed else None
    if msg.resolved and reasons is not None and not msg.reasons.strip():
        out.append(f"No reasons recorded: {reasons.text} ({reasons.source}).")
    return out
