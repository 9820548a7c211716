"""Who may take each action at each stage: permission rules as protocol data.

A rule names an action (an id of :mod:`protocols.actions`), optionally the stages it covers,
and who may take it, as *parties* of the case:

``stage_holders``
    the current stage's raising and receiving role holders (a stage role nobody is named for
    is held by that side's practitioner, who gets its e-mails too)
``stage_named``
    the current stage's role holders named for it: no practitioner stands in (York's line
    managers: a stage the document gives to managers is recorded by the managers named)
``stage_raising`` / ``stage_receiving``
    one side of the current stage
``raising_side`` / ``receiving_side``
    everyone holding a role of that side (its practitioner and each stage's holder)
``practitioners``
    the two practitioners (``raising`` and ``receiving``)
``deadline_holders``
    for marking a step done: the role holders the deadline's e-mails go to (its stage's, or
    the earlier stage's it names, as Leeds Step 3b's Heads of Service)
``named``
    anyone named on the case
``business_unit``
    the partnership's business unit (an operator token made with ``--business-unit``)
``own_role`` / ``side_manager`` / ``side_vacant``
    for a hand-over: the role's own holder; a manager (a stage role after the first) of the
    role's side; anyone of the role's side while nobody is named for it
an exact role key
    ``raising``, ``receiving`` or ``<stage>.<side>`` (no stand-in by the practitioner)

``agreement = "all"`` means every named person of those parties must agree (each through their
own link or token) before the action takes effect (Barnsley's bypass).

Rules come in three layers, the first that covers an action (and, within a layer, a rule for
the stage before one for every stage) wins:

1. the deployment's (``RESOLUTIONS_PERMISSIONS``, frozen into a case when it is raised),
2. the protocol file's ``[[permissions]]`` (the document's words, each with its ``source``),
3. :data:`DEFAULTS` here: the project's defaults where the document says nothing, shown as
   "not set by the document". Protocols frozen before permissions existed have none of (2),
   so every open case has rules.

Pure data and functions: the workflow calls them (no I/O, no clock).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal
from typing import Protocol as Typing

from pydantic import BaseModel, ConfigDict, Field, field_validator

# The action ids of protocols.actions (that module imports the messages, which import the
# schema, which imports this one: the ids are repeated here and a test keeps them equal).
ACTION_IDS = ("record_outcome", "bypass", "pause", "resume", "agree_timescale", "assign",
              "confirm_in_writing", "report_immediate_risk", "withdraw", "set_legal_hold",
              "record_discussion", "mark_step_done", "refer", "close_unconfirmed")
PARTIES = ("stage_holders", "stage_named", "stage_raising", "stage_receiving", "raising_side",
           "receiving_side", "practitioners", "deadline_holders", "named", "business_unit",
           "own_role", "side_manager", "side_vacant")
ROLE_KEY = re.compile(r"^(raising|receiving|[0-9a-z]+\.(raising|receiving))$")
BUSINESS_UNIT = "business_unit"
Origin = Literal["deployment", "document", "default"]
SIDES = ("raising", "receiving")


class PermissionRule(BaseModel):
    """Who may take ``action`` (at ``stages``; empty = every stage)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: str
    stages: list[str] = Field(default_factory=list)
    # What the rule is for within the action: the duties (ids) of confirm_in_writing, the
    # role keys of assign (the role handed over); empty = all of them.
    of: list[str] = Field(default_factory=list)
    who: list[str] = Field(min_length=1)
    agreement: Literal["any", "all"] = "any"
    source: str = Field(default="", description="The document's section; empty where the "
                        "document does not say (a default or a deployment's own rule)")
    quote: str = Field(default="", max_length=300)
    note: str = Field(default="", description="The project's reading, when it is one")

    @field_validator("action")
    @classmethod
    def _known_action(cls, action: str) -> str:
        if action not in ACTION_IDS:
            raise ValueError(f"unknown action '{action}'; actions: {', '.join(ACTION_IDS)}")
        return action

    @field_validator("who")
    @classmethod
    def _known_parties(cls, who: list[str]) -> list[str]:
        bad = [w for w in who if w not in PARTIES and not ROLE_KEY.fullmatch(w)]
        if bad:
            raise ValueError(f"unknown part{'y' if len(bad) == 1 else 'ies'} {', '.join(bad)}; "
                             f"use {', '.join(PARTIES)} or a role key such as 2.raising")
        return who


def _default(action: str, who: list[str], note: str, **more: object) -> PermissionRule:
    return PermissionRule(action=action, who=who, note=note, **more)  # type: ignore[arg-type]


DEFAULTS: tuple[PermissionRule, ...] = (
    _default("record_outcome", ["stage_holders"],
             "a stage's outcome is recorded by that stage's role holders"),
    _default("bypass", ["stage_holders"], "a bypass is recorded by the current stage's role "
             "holders"),
    _default("pause", ["stage_holders"], "the current stage's role holders"),
    _default("resume", ["stage_holders"], "the current stage's role holders"),
    _default("agree_timescale", ["stage_holders"], "the current stage's role holders"),
    _default("assign", ["own_role", "side_manager", "side_vacant"],
             "a role is handed over by its holder, or by a manager of its side; a role nobody "
             "holds by anyone of its side; never by the other side"),
    _default("confirm_in_writing", ["stage_holders"], "the role holders of the stage the case "
             "was resolved at"),
    _default("report_immediate_risk", ["named"], "anyone named on the case"),
    _default("withdraw", ["raising_side"], "the side that raised the disagreement"),
    _default("set_legal_hold", [BUSINESS_UNIT], "the partnership's business unit"),
    _default("record_discussion", ["stage_holders", "raising"], "the professionals involved "
             "record their discussions (York s5, Dudley section 2, Swindon section 3): the "
             "current stage's role holders and the practitioner who raised it"),
    _default("mark_step_done", ["deadline_holders"], "the people the deadline names (its "
             "e-mails go to them); otherwise the current stage's role holders"),
    _default("refer", ["stage_holders"], "a referral is decided by the current stage's role "
             "holders, who record who else decided"),
    _default("close_unconfirmed", ["stage_holders"], "the role holders of the stage the case "
             "was resolved at (either side), who record who else decided"),
)


@dataclass(frozen=True)
class Effective:
    """The rule that applies, and which layer it came from."""

    rule: PermissionRule
    origin: Origin

    def cites(self) -> str:
        """Where the rule comes from, as a refusal or a page shows it."""
        if self.origin == "document" and self.rule.source:
            return self.rule.source
        if self.origin == "deployment":
            return "set by this deployment"
        return "not set by the document; the default"


def rule_for(action: str, stage: str, *, of: str = "",
             deployment: Iterable[PermissionRule] = (),
             document: Iterable[PermissionRule] = ()) -> Effective:
    """The rule for ``action`` at ``stage`` (and ``of``, the duty confirmed or the role handed
    over): deployment, then document, then
    default; within a layer the most specific rule first."""
    layers: tuple[tuple[Origin, Iterable[PermissionRule]], ...] = (
        ("deployment", deployment), ("document", document), ("default", DEFAULTS))
    for origin, rules in layers:
        mine = [r for r in rules if r.action == action and (not r.stages or stage in r.stages)
                and (not r.of or of in r.of)]
        if mine:
            rule = max(mine, key=lambda r: (bool(r.of), bool(r.stages)))
            return Effective(rule, origin)
    raise KeyError(action)  # every action has a default


def parse_deployment(data: object, protocol: str) -> list[PermissionRule]:
    """A deployment's rules for ``protocol`` from ``{"<protocol>" | "*": [rule, …]}``."""
    if not isinstance(data, Mapping):
        raise ValueError("expected a mapping of protocol id (or \"*\") to a list of rules")
    rules: list[PermissionRule] = []
    for key in (protocol, "*"):
        entries = data.get(key, [])
        if not isinstance(entries, list):
            raise ValueError(f"'{key}' must hold a list of rules")
        rules += [PermissionRule.model_validate(e) for e in entries]
    return rules


# -- who is who on a case -----------------------------------------------------------------------
class _Person(Typing):
    name: str
    email: str


class _Actor(_Person, Typing):
    role_key: str


@dataclass(frozen=True)
class Seat:
    """A role on the case and the person in it (``stand_in``: the practitioner, for a stage
    role nobody is named for)."""

    key: str
    person: _Person
    stand_in: bool = False
    side: str = ""  # the agency whose role it is, where not the key's (Swindon stage 1)

    @property
    def agency(self) -> str:
        """The side whose role this is: Swindon stage 1's second role is the raiser's."""
        return self.side or side_of(self.key)

    @property
    def own_key(self) -> str:
        """The key the person holds in their own right (a stand-in: their side)."""
        return self.agency if self.stand_in else self.key


def seats(holders: Mapping[str, _Person], stage_ids: list[str]) -> dict[str, Seat]:
    """Every role key with the person holding it; a stage role nobody is named for is held by
    that side's practitioner (who gets its e-mails too)."""
    out: dict[str, Seat] = {}
    for side in SIDES:
        if side in holders:
            out[side] = Seat(side, holders[side])
    for stage in stage_ids:
        for side in SIDES:
            key = f"{stage}.{side}"
            person = holders.get(key)
            if person is not None and (person.name or person.email):
                out[key] = Seat(key, person)
            elif side in holders:
                out[key] = Seat(key, holders[side], stand_in=True)
    return out


def same(a: str, b: str) -> bool:
    return bool(a) and a.strip().casefold() == b.strip().casefold()


def held_by(actor: _Actor, all_seats: Mapping[str, Seat]) -> list[str]:
    """The role keys ``actor`` holds: by e-mail address; where a role's holder has no address,
    by role key and name."""
    held = []
    for key, seat in all_seats.items():
        person = seat.person
        if person.email:
            if same(actor.email, person.email):
                held.append(key)
        elif actor.role_key == seat.own_key and same(actor.name, person.name):
            held.append(key)
    return held


def side_of(key: str) -> str:
    return key.rpartition(".")[2]


def stage_of(key: str) -> str:
    return key.rpartition(".")[0]


def eligible(who: Iterable[str], all_seats: Mapping[str, Seat], stage: str, stage_ids: list[str],
             *, target: str = "") -> dict[str, Seat]:
    """The seats whose holders the parties ``who`` name, at ``stage`` (``target``: the role
    a hand-over is of)."""
    out: dict[str, Seat] = {}

    def add(key: str, *, exact: bool = False) -> None:
        seat = all_seats.get(key)
        if seat is not None and not (exact and seat.stand_in):
            out.setdefault(key, seat)

    first = stage_ids[0] if stage_ids else ""
    target_side = all_seats[target].agency if target in all_seats else side_of(target)
    for party in who:
        if party == "stage_holders":
            add(f"{stage}.raising")
            add(f"{stage}.receiving")
        elif party == "stage_named":
            add(f"{stage}.raising", exact=True)
            add(f"{stage}.receiving", exact=True)
        elif party in ("stage_raising", "stage_receiving"):
            add(f"{stage}.{party.removeprefix('stage_')}")
        elif party in ("raising_side", "receiving_side"):
            side = party.removesuffix("_side")
            for key, seat in all_seats.items():
                if seat.agency == side:
                    add(key)
        elif party == "practitioners":
            add("raising")
            add("receiving")
        elif party == "deadline_holders":
            add(f"{target or stage}.raising")
            add(f"{target or stage}.receiving")
        elif party == "named":
            for key in all_seats:
                add(key)
        elif party == "own_role" and target:
            add(target, exact=True)
        elif party == "side_manager" and target:
            for key, seat in all_seats.items():
                if (seat.agency == target_side and stage_of(key) and not seat.stand_in
                        and (stage_of(key) != first or seat.agency != side_of(key))):
                    add(key)
        elif party == "side_vacant" and target:
            vacant = target not in all_seats or all_seats[target].stand_in
            if vacant:
                for key, seat in all_seats.items():
                    if seat.agency == target_side:
                        add(key)
        elif ROLE_KEY.fullmatch(party):
            add(party, exact=True)
    return out


def names(seats_: Iterable[Seat]) -> str:
    """'Lee Manager, Mo Manager': each person once."""
    seen: list[str] = []
    for seat in seats_:
        label = seat.person.name or seat.person.email
        if label and label not in seen:
            seen.append(label)
    return ", ".join(seen)
