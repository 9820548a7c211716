"""The categories of a protocol, as `resolutions protocols show` prints them."""

from __future__ import annotations

from protocols.schema import Protocol


def category_lines(p: Protocol) -> list[str]:
    """One block per category: its label, first steps and who takes them, and what "not
    agreed" leads to; or where the document handles it outside the process."""
    lines: list[str] = []
    for c in p.categories:
        lines.append(f"Category {c.id}: {c.label}  [{c.source}]")
        if c.outside is not None:
            lines.append(f"  outside the process: {c.outside.text}  [{c.outside.source}]")
            continue
        assert c.first_steps is not None and c.not_agreed is not None
        lines.append(f"  first steps (stage {c.first_steps.id}, before stage "
                     f"{p.stages[0].id}): {c.first_steps.name}")
        for d in c.first_steps.deadlines:
            lines.append(f"    - {d.what} ({d.who}; {d.timescale.describe()})  [{d.source}]")
        lines.append(f"  not agreed: {c.not_agreed.text}  [{c.not_agreed.source}]")
        if c.not_agreed.reasons is not None:
            lines.append(f"    required: {c.not_agreed.reasons.text}  "
                         f"[{c.not_agreed.reasons.source}]")
        if c.not_agreed.leads_to == "convene_conference":
            lines.append("    then: " + (c.not_agreed.after or "not set by the document; the "
                                          "case closes (the system's default)"))
    return lines
