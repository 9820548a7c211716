"""Who may see what: standing roles from ``roles.toml`` / ``RESOLUTIONS_ROLES``, and the checks.

Partnership-wide roles are held by e-mail address::

    # <data_dir>/roles.toml
    ["cyscp@york.gov.uk"]
    role = "business_unit"
    protocols = ["york"]

    ["auditor@partnership.example"]
    role = "auditor"
    protocols = []          # empty or absent: every partnership

``RESOLUTIONS_ROLES`` holds the same mapping as JSON and wins over the file per address. A
business-unit or auditor link works only while its address still holds the role here, so
removing a line withdraws the access of every link already sent.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.links import Grant
from infra.settings import Settings, read_variable
from protocols.loader import available_protocols

ROLES_ENV = "RESOLUTIONS_ROLES"
STANDING_ROLES = ("business_unit", "auditor")


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


def _parse(data: Any, where: str) -> dict[str, StandingRole]:
    if not isinstance(data, dict):
        raise RolesError(f"{where}: expected a mapping of e-mail address to {{role, protocols}}")
    known = set(available_protocols())
    out: dict[str, StandingRole] = {}
    for email, entry in data.items():
        if not isinstance(entry, dict) or entry.get("role") not in STANDING_ROLES:
            raise RolesError(f"{where}: '{email}' needs role = one of {', '.join(STANDING_ROLES)}")
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
            roles.update(_parse(tomllib.loads(path.read_text(encoding="utf-8")), str(path)))
        except tomllib.TOMLDecodeError as exc:
            raise RolesError(f"{path}: not valid TOML: {exc}") from exc
    raw = read_variable("roles").strip()
    if raw:
        try:
            roles.update(_parse(json.loads(raw), ROLES_ENV))
        except json.JSONDecodeError as exc:
            raise RolesError(f"{ROLES_ENV} is not valid JSON: {exc.msg}") from exc
    return roles


def holds(roles: dict[str, StandingRole], email: str, role: str, protocol: str = "") -> bool:
    held = roles.get(email.strip().lower())
    return held is not None and held.role == role and (not protocol or held.covers(protocol))


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
    """May this link open (or, with ``act``, change) this case?"""
    if grant.workflow_id:
        if grant.workflow_id != workflow_id:
            raise Denied("This link is for a different case. Use the link you were sent for "
                         "this case.")
    elif grant.role == "auditor":
        _standing(grant, roles)
        if grant.protocol and protocol_of(workflow_id) != grant.protocol:
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


def still_holds(grant: Grant, holders: dict[str, Any]) -> str:
    """'' if the link's person may still act in their role; else why not.

    Handing a role to someone else (the Assign update) moves it to their address, so a link
    sent to the previous holder reads the case but can no longer change it.
    """
    holder = holders.get(grant.role_key)
    email = getattr(holder, "email", "") if holder is not None else ""
    if email and grant.email and email.strip().lower() != grant.email.strip().lower():
        return (f"The role {grant.role_key} is now held by {holder.label()}, so your link "
                "lets you read this case but no longer change it.")
    return ""


def check_list(grant: Grant, roles: dict[str, StandingRole]) -> None:
    """May this link see a partnership's list of cases?"""
    if grant.workflow_id or grant.role not in STANDING_ROLES:
        raise Denied("This link does not open the list of cases.")
    if grant.role == "business_unit" and not grant.protocol:
        raise Denied("This link does not name a partnership.")
    _standing(grant, roles)


def check_raise(grant: Grant) -> None:
    if grant.role != "raiser":
        raise Denied("This link does not let you raise a disagreement. Ask your administrator "
                     "for a link to raise one.")
