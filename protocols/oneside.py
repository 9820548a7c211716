"""One person, one side: nobody is named for roles of both agencies on one case.

Every permission rests on which side a person acts for (a stage's outcome by its two sides'
holders, withdrawal by the raising side, written confirmation by the receiving side). A raiser
who names their own address as the receiving agency's line manager, or a hand-over that gives a
receiving-side role to someone already on the raising side, would let one person settle the
disagreement alone. Raising and hand-over both refuse it, with this check.
"""

from __future__ import annotations

from collections.abc import Mapping

from protocols.caserecord import agency_side
from protocols.messages import Person
from protocols.schema import Protocol

SIDE_NAMES = {"raising": "the agency raising the concern",
              "receiving": "the agency the disagreement is with"}


def key_side(protocol: Protocol, key: str) -> str:
    """Whose agency a role key is ("raising" or "receiving"): Swindon stage 1's second role
    is the raiser's own line manager, so it is the raising side's."""
    stage_id, _, slot = key.rpartition(".")
    if not stage_id:
        return slot
    try:
        return agency_side(protocol.stage(stage_id), slot)
    except (KeyError, ValueError):
        return slot


def both_sides(protocol: Protocol, people: Mapping[str, Person],
               address: str = "") -> tuple[str, str]:
    """An address named for roles of both agencies and a sentence saying which roles, or
    ``("", "")``. ``address``: check only that address (a hand-over's new holder)."""
    wanted = address.strip().casefold()
    seen: dict[str, dict[str, str]] = {}
    for key, person in people.items():
        email = person.email.strip().casefold()
        if not email or (wanted and email != wanted):
            continue
        sides = seen.setdefault(email, {})
        sides.setdefault(key_side(protocol, key), key)
        if {"raising", "receiving"} <= set(sides):
            return person.email, (
                f"The address {person.email} would hold roles for both agencies "
                f"({sides['raising']} for {SIDE_NAMES['raising']}, {sides['receiving']} for "
                f"{SIDE_NAMES['receiving']}); one person acts for one side only, so name "
                "someone from each agency")
    return "", ""
