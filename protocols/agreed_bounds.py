"""The bounds on a timescale agreed for a stage (`agree-timescale`): a rule of the protocol,
checked by the workflow's validator, so the web, the command line and signals get one refusal.

Where the document sets a maximum (York stage 2's "5 working days … whichever is less", Leeds'
"ideally within 10 working days") its own rule applies (``Timescale.max_working_days``, cited
by the deadline's source). Everything else is the project's default, labelled as such.
"""

from __future__ import annotations

from pydantic import BaseModel

from protocols.deadlines import AgreedTimescale
from protocols.schema import Timescale

NOT_SET = "not set by the document; the project's default"


class AgreedBound(BaseModel):
    """Counts an agreed timescale may take where the document sets none."""

    least: int = 1
    most: int = 365
    source: str = NOT_SET


DEFAULT = AgreedBound()
UNITS = {"working_days": "working days", "hours": "hours"}


def refusal(agreed: AgreedTimescale, timescale: Timescale,
            bound: AgreedBound = DEFAULT) -> str | None:
    """The rule's own words when ``agreed``'s count is out of bounds, else None. A maximum the
    document sets for working days (``timescale.max_working_days``) is checked after this, by
    the validator, citing the document."""
    unit = UNITS.get(agreed.kind)
    if unit is None or agreed.amount is None or bound.least <= agreed.amount <= bound.most:
        return None
    return (f"An agreed timescale is a number of {unit} from {bound.least} to {bound.most}; "
            f"{agreed.amount} was given ({bound.source}). The protocol's own limit for the "
            f"stage, where it sets one, is shown by `resolutions status` and on the case page.")
