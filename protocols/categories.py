"""What a disagreement is about (its category), as each protocol knows them.

A protocol offers "other" (the usual process), the categories its preconditions name (Swindon
s1 para 16) and its ``[[categories]]``: a kind of disagreement with its own first steps taken
inside the case before stage 1 (Leeds Appendix 1 a, Barnsley 3.8-3.9), or one the document
handles outside the process (Leeds Appendix 1 b). Pure functions; the workflow may call them.
"""

from __future__ import annotations

from protocols.schema import Protocol, Stage

OTHER_LABEL = "A decision or action about a child's safety or welfare"


def label(protocol: Protocol, category_id: str) -> str:
    """The category's plain label."""
    if category_id == "other":
        return OTHER_LABEL
    category = protocol.category(category_id)
    if category is not None:
        return category.label
    pre = next((p for p in protocol.preconditions if p.applies_to_category == category_id
                and p.category_label), None)
    return pre.category_label if pre else category_id.replace("_", " ").capitalize()


def options(protocol: Protocol) -> list[tuple[str, str, str]]:
    """(id, label, hint) for each category the protocol offers, "other" first."""
    out: list[tuple[str, str, str]] = []
    for cid in protocol.category_ids:
        category = protocol.category(cid)
        pre = next((p for p in protocol.preconditions if p.applies_to_category == cid), None)
        hint = ""
        if pre is not None:
            hint = pre.requirement + " first."
        elif category is not None and category.outside is not None:
            hint = f"{category.outside.text} ({category.outside.source})"
        elif category is not None and category.first_steps is not None:
            hint = (f"The case starts with its own first steps ({category.first_steps.source}): "
                    + "; ".join(d.what for d in category.first_steps.deadlines) + ".")
        out.append((cid, label(protocol, cid), hint))
    return out


def problem(protocol: Protocol, category_id: str) -> str:
    """Why a case cannot be raised under this category ('' where it can)."""
    if category_id not in protocol.category_ids:
        offered = "; ".join(f"'{cid}' ({label(protocol, cid)})" for cid in protocol.category_ids)
        return (f"The {protocol.short_name} protocol has no category '{category_id}'. "
                f"Choose one of: {offered}")
    category = protocol.category(category_id)
    if category is not None and category.outside is not None:
        return (f"{category.label}: {category.outside.text} ({category.outside.source}). "
                "No case is raised.")
    return ""


def first_steps(protocol: Protocol, category_id: str, urgency: str) -> Stage | None:
    """The first-steps stage a case of this category starts at: only for a standard start
    (an urgent or immediate-risk case starts where the protocol says, as before)."""
    category = protocol.category(category_id)
    if urgency != "standard" or category is None:
        return None
    return category.first_steps
