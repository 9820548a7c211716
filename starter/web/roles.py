"""Who may see what: standing roles from ``roles.toml`` / ``RESOLUTIONS_ROLES``, and the checks.

Partnership-wide roles are held by e-mail address::

    # <data_dir>/roles.toml
    ["cyscp@york.gov.uk"]
    role = "business_unit"
    protocols = ["york"]

    ["auditor@partnership.example"]
    role = "auditor"
    protocols = []          # empty or absent: every partnership

    ["@school.example"]     # raisers only: everyone at one agency's domain
    role = "raiser"

``RESOLUTIONS_ROLES`` holds the same mapping as JSON and wins over the file per address. A
business-unit, auditor or raiser link works only while its address (for raisers, or its
domain) still holds the role here, so removing a line withdraws every link already sent.

A case link works while its person still holds the link's role key on the case (the case's
own record of holders, read on every request); after a hand-over, for a short grace, it
reads the case but no longer changes it.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from infra.links import Grant
from infra.settings import Settings, read_variable
from protocols.loader import available_protocols

ROLES_ENV = "RESOLUTIONS_ROLES"
STANDING_ROLES = ("business_unit", "auditor")  # the roles that see the list of cases
FILE_ROLES = (*STANDING_ROLES, "raiser")  # every role the roles file may give


class RolesError(ValueError):
    """The roles file or variable cannot be used; the message says where and why."""


class Denied(Exception):
    """The link does not allow this page or action; the message says why, for the person."""


@dataclass(frozen=True)
class StandingRole:
    role: str
    protocols: tuple[str, ...] = ()  # empty: every partnership

    def covers(self, protocol: str) -> bool:
        return not self.protocols or protocol in self.protocols


def parse_roles(data: Any, where: str) -> dict[str, StandingRole]:
    if not isinstance(data, dict):
        raise RolesError(f"{where}: expected a mapping of e-mail address to {{role, protocols}}")
    known = set(available_protocols())
    out: dict[str, StandingRole] = {}
    for email, entry in data.items():
        if not isinstance(entry, dict) or entry.get("role") not in FILE_ROLES:
            raise RolesError(f"{where}: '{email}' needs role = one of {', '.join(FILE_ROLES)}")
        if str(email).startswith("@") and entry["role"] != "raiser":
            raise RolesError(f"{where}: '{email}' is a whole domain, which may only be given "
                             "the raiser role; name business units and auditors one by one")
        protocols = entry.get("protocols", [])
        if isinstance(protocols, str):
            protocols = [protocols]
        unknown = [p for p in protocols if p not in known]
        if unknown or not isinstance(protocols, list):
            raise RolesError(f"{where}: '{email}' names unknown protocol(s) {unknown}; "
                             f"known: {', '.join(sorted(known))}")
        extra = set(entry) - {"role", "protocols"}
        if extra:
            raise RolesError(f"{where}: '{email}' has unknown key(s) {', '.join(sorted(extra))}")
        out[str(email).strip().lower()] = StandingRole(entry["role"], tuple(protocols))
    return out


def load_roles(settings: Settings) -> dict[str, StandingRole]:
    """Standing roles by lower-case e-mail address (file first, then the variable)."""
    roles: dict[str, StandingRole] = {}
    path = Path(settings.data_dir) / "roles.toml"
    if path.is_file():
        try:
            roles.update(parse_roles(tomllib.loads(path.read_text(encoding="utf-8")), str(path)))
        except tomllib.TOMLDecodeError as exc:
            raise RolesError(f"{path}: not valid TOML: {exc}") from exc
    raw = read_variable("roles").strip()
    if raw:
        try:
            roles.update(parse_roles(json.loads(raw), ROLES_ENV))
        except json.JSONDecodeError as exc:
            raise RolesError(f"{ROLES_ENV} is not valid JSON: {exc.msg}") from exc
    return roles


def holds(roles: dict[str, StandingRole], email: str, role: str, protocol: str = "") -> bool:
    """Does ``email`` hold ``role`` (for ``protocol``)? Raisers may be held by their domain."""
    address = email.strip().lower()
    entries = [roles.get(address)]
    if role == "raiser" and "@" in address:
        entries.append(roles.get("@" + address.rsplit("@", 1)[1]))
    return any(held is not None and held.role == role and (not protocol or held.covers(protocol))
               for held in entries)


# -- checks made on every request ---------------------------------------------------------------
def _standing(grant: Grant, roles: dict[str, StandingRole]) -> None:
    """A partnership-wide link works only while its address still holds the role."""
    if not holds(roles, grant.email, grant.role, grant.protocol):
        raise Denied(f"The {grant.role_label()} access this link gave has been withdrawn. "
                     "Ask your administrator for a new link if you still need it.")


def protocol_of(workflow_id: str) -> str:
    """Workflow ids are '<protocol>-<reference>' (starter.cases.workflow_id_for)."""
    return workflow_id.split("-", 1)[0]


def check_case(grant: Grant, workflow_id: str, roles: dict[str, StandingRole],
               *, act: bool = False) -> None:
    """May this link open (or, with ``act``, change) this case? (Case links are checked
    against the case's holders afterwards: :func:`case_access`.)"""
    if grant.workflow_id:
        if grant.workflow_id != workflow_id:
            raise Denied("This link is for a different case. Use the link you were sent for "
                         "this case.")
    elif grant.role == "auditor":
        _standing(grant, roles)
        protocol = protocol_of(workflow_id)
        if (grant.protocol and protocol != grant.protocol) or not holds(
                roles, grant.email, "auditor", protocol):  # the roles file's partnerships too
            raise Denied("This link does not cover cases of that partnership.")
    elif grant.role == "business_unit" and grant.protocol:
        _standing(grant, roles)
        if protocol_of(workflow_id) != grant.protocol:
            raise Denied("This link shows the cases of one partnership only.")
    else:
        raise Denied("This link does not open case pages.")
    if act and not grant.can_act:
        raise Denied("Your link lets you read this case but not change it. Only the "
                     "practitioners and managers named on the case can record actions.")


def _same(a: str, b: str) -> bool:
    return a.strip().lower() == b.strip().lower()


def still_holds(grant: Grant, holders: dict[str, Any]) -> str:
    """'' if the link's person may still act in their role; else why not.

    Handing a role to someone else (the Assign update) moves it to their address, so a link
    sent to the previous holder no longer changes the case. A role nobody on the case holds
    yet (a link made by hand before anyone was assigned) is no one else's: it stands.
    """
    holder = holders.get(grant.role_key)
    email = getattr(holder, "email", "") if holder is not None else ""
    if email and grant.email and not _same(email, grant.email):
        return (f"The role {grant.role_key} is now held by {holder.label()}, so your link "
                "lets you read this case but no longer change it.")
    return ""


def handed_over_at(grant: Grant, timeline: list[Any]) -> datetime | None:
    """When the link's person stopped holding its role key, from the case's timeline.

    Each hand-over (``role_assigned``) names the role and the new holder's address; the
    person lost the role at the first hand-over of it after they last received it. None if
    the timeline shows no hand-over of the role.
    """
    lost: datetime | None = None
    for event in timeline:
        if event.kind != "role_assigned":
            continue
        role = event.details.get("role")
        if role is None:  # an event recorded before hand-overs named their role
            if not event.summary.startswith(f"{grant.role_key} is now held by"):
                continue
        elif role != grant.role_key:
            continue
        if _same(event.details.get("email", ""), grant.email):
            lost = None  # given (back) to this person: they hold it from here
        elif lost is None:
            lost = event.at
    return lost


@dataclass(frozen=True)
class Access:
    """What a case link may do on its case now: act, or only read (and why)."""

    act: bool
    reason: str = ""


def case_access(grant: Grant, holders: dict[str, Any], timeline: list[Any] | None,
                now: datetime, grace: timedelta, contact_address: str = "",
                roles: dict[str, StandingRole] | None = None) -> Access:
    """A case link against the case's current holders; :class:`Denied` once access is gone.

    Practitioner and manager links: full access while the person holds the role key; after
    a hand-over, read only for ``grace``, then refused. A partnership contact's link
    (``contact:…``) works while its address is still that contact's (``contact_address``)
    or still holds the business-unit role for the partnership in the roles file.
    """
    if not grant.workflow_id:
        return Access(act=False)
    if grant.role_key.startswith("contact:"):
        if (contact_address and _same(contact_address, grant.email)) or holds(
                roles or {}, grant.email, "business_unit", protocol_of(grant.workflow_id)):
            return Access(act=False)
        raise Denied("The partnership access this link gave has been withdrawn: the address "
                     "it was sent to no longer receives this case's copies. Ask your "
                     "administrator for a new link if you still need it.")
    why = still_holds(grant, holders)
    if not why:
        return Access(act=grant.can_act)
    lost = handed_over_at(grant, timeline or [])
    holder = holders[grant.role_key].label()
    if lost is not None and now < lost + grace:
        until = lost + grace
        return Access(act=False, reason=(
            f"The role {grant.role_key} was handed to {holder}, so your link lets you read "
            f"this case until {until:%d %B %Y %H:%M} UTC, and no longer change it."))
    raise Denied(f"The role {grant.role_key} on this case is now held by {holder}, so your "
                 "link no longer opens it. Ask whoever handed the role over if you still "
                 "need to see the case.")


def check_list(grant: Grant, roles: dict[str, StandingRole]) -> None:
    """May this link see a partnership's list of cases?"""
    if grant.workflow_id or grant.role not in STANDING_ROLES:
        raise Denied("This link does not open the list of cases.")
    if grant.role == "business_unit" and not grant.protocol:
        raise Denied("This link does not name a partnership.")
    _standing(grant, roles)


def list_scope(grant: Grant, roles: dict[str, StandingRole]) -> tuple[str, ...]:
    """The partnerships a list link may see (empty: every one): the link's own, else those
    the roles file gives its address (an auditor for some partnerships sees only theirs)."""
    if grant.protocol:
        return (grant.protocol,)
    entry = roles.get(grant.email.strip().lower())
    return entry.protocols if entry is not None else ()


def check_raise(grant: Grant, roles: dict[str, StandingRole]) -> None:
    """May this link raise a disagreement? Only while the roles file names its address (or
    the address's domain) as a raiser, for the link's partnership."""
    if grant.role != "raiser":
        raise Denied("This link does not let you raise a disagreement. Ask your administrator "
                     "for a link to raise one.")
    _standing(grant, roles)
