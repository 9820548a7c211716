"""Who an e-mail goes to: role keys resolved to people and the partnership's contacts.

Addressees arrive as role keys ("raising", "2.receiving", "contact:lscp", "actor") and are
resolved against the case's current holders and the protocol's contacts; anyone without an
address is reported back as ``missing`` (the workflow records them as not notified).

Where the case's frozen protocol asks for feedback to the raiser at every stage
(``feedback_to_raiser_every_stage``: Leeds s4 bullet 3, Dudley Key principle 8), the practitioner
who raised the concern is copied into every stage change, outcome, passed deadline and
resolution, whoever holds the stage. It is done here, from the protocol the case began with, so
the workflow's requests (and saved histories) are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from infra.contacts import contact_address, contact_confirmed
from infra.settings import Settings
from protocols.caserecord import agency_side, carried_from, held_by, holder, role_title
from protocols.messages import NotificationRequest, Person
from protocols.schema import Guidance, Stage

# The e-mails that carry a stage change, an outcome, an escalation or a resolution.
FEEDBACK_EVENTS = ("stage_entered", "outcome_recorded", "deadline_passed", "resolved")


@dataclass(frozen=True)
class Recipient:
    """One resolved addressee: the role key it came from and the person (or contact) behind it."""

    key: str
    person: Person
    # Who holds the stage role the key names, by the protocol (None for a practitioner's or a
    # contact's key): what the recipient's personal link gives access as.
    held_by: str | None = None

    @property
    def address(self) -> str:
        return self.person.email


@dataclass
class Addressees:
    to: list[Recipient] = field(default_factory=list)
    cc: list[Recipient] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    # Partnership contacts whose address (from the protocol file) this deployment has not
    # confirmed: 'Name <address>', not sent to (infra.contacts.contact_confirmed).
    held: list[str] = field(default_factory=list)

    @property
    def everyone(self) -> list[Recipient]:
        return [*self.to, *self.cc]


def feedback_rule(req: NotificationRequest) -> Guidance | None:
    """The protocol's feedback-to-the-raiser rule, if it applies to this e-mail."""
    rule = req.protocol.feedback_to_raiser_every_stage if req.protocol else None
    return rule if rule is not None and req.event in FEEDBACK_EVENTS else None


class _Resolver:
    """Turns one request's role keys into recipients, collecting the roles nobody can reach."""

    def __init__(self, req: NotificationRequest, settings: Settings) -> None:
        self.req, self.settings = req, settings
        self.missing: list[str] = []
        self.held: list[str] = []

    def __call__(self, key: str) -> Recipient | None:
        if key.startswith("contact:"):
            return self._contact(key.removeprefix("contact:"))
        if key == "actor":
            return self._actor()
        if key in ("raising", "receiving"):
            return self._practitioner(key)
        stage_id, _, side = key.rpartition(".")
        if side in ("raising", "receiving") and stage_id:
            return self._stage_role(key, stage_id, side)
        self._miss(f"Unknown addressee '{key}'")
        return None

    def _miss(self, label: str) -> None:
        if label not in self.missing:
            self.missing.append(label)

    def _contact(self, contact_id: str) -> Recipient | None:
        protocol = self.req.protocol
        contact = protocol.contacts.get(contact_id)
        name = contact.name if contact else contact_id
        address = contact_address(protocol, contact_id, self.settings)
        if not address:
            self._miss(name)
            return None
        if not contact_confirmed(protocol, contact_id, self.settings):
            self._miss(f"{name} (not sent: address not confirmed)")
            if f"{name} <{address}>" not in self.held:
                self.held.append(f"{name} <{address}>")
            return None
        return Recipient(f"contact:{contact_id}", Person(name=name, email=address,
                                                         phone=contact.phone if contact else ""))

    def _actor(self) -> Recipient | None:
        actor = self.req.actor
        if actor is None:
            return None
        if not actor.email:
            self._miss(f"{actor.name} (who made the change)")
            return None
        return Recipient("actor", Person(name=actor.name, role=actor.role, agency=actor.agency,
                                         email=actor.email))

    def _practitioner(self, side: str, *, report: bool = True) -> Recipient | None:
        person = holder(self.req.state, self.req.case, side)
        if person is not None and person.email:
            return Recipient(side, person)
        if report:
            who = f": {person.name}" if person is not None and person.name else ""
            self._miss(f"Practitioner ({side} agency){who}")
        return None

    def _stage_role(self, key: str, stage_id: str, side: str) -> Recipient | None:
        req = self.req
        named = holder(req.state, req.case, key)
        try:
            stage: Stage | None = req.protocol.stage(stage_id)
        except KeyError:
            stage = None
        if stage is None:
            if named is not None and named.email:
                return Recipient(key, named)
            self._miss(f"{side.capitalize()} role for stage {stage_id}")
            return self._practitioner(side, report=False)
        agency = agency_side(stage, side)
        carried = (carried_from(req.protocol, req.case, req.state, stage, side)
                   if named is None and req.protocol.holders_carried_forward else None)
        person = named or (carried[1] if carried else None)
        if person is not None and person.email:
            return Recipient(key, person, held_by(req.protocol, req.case, stage, side))
        if person is None and held_by(req.protocol, req.case, stage, side) == "practitioner":
            # The practitioners themselves hold this stage's role: no one is missing.
            return self._practitioner(agency)
        if person is None and self._partnership_reached(stage, side):
            # The partnership's role is reached through its contact copied on this e-mail
            # (York s5 Stage 4: the CYSCP Chair, via the Business Unit): nobody is missing.
            return self._practitioner(agency, report=False)
        title = role_title(req.protocol, req.case, stage, side)
        who = f" ({person.name})" if person is not None and person.name else ""
        self._miss(f"{title} for stage {stage_id}{who}")
        return self._practitioner(agency, report=False)

    def _partnership_reached(self, stage: Stage, side: str) -> bool:
        """Whether a role the partnership holds is reached by a contact of this e-mail."""
        req = self.req
        if held_by(req.protocol, req.case, stage, side) != "partnership":
            return False
        return any(key.startswith("contact:") and contact_address(
            req.protocol, key.removeprefix("contact:"), self.settings)
            for key in [*req.to, *req.cc])


def _outside(req: NotificationRequest, key: str) -> bool:
    """True for an addressee of the other agency while the case is at a stage it takes no
    part in (Swindon 002 s4 Stage 1: the raiser's internal discussion)."""
    try:
        stage = req.protocol.stage(req.stage or req.state.stage)
    except KeyError:
        return False
    if not stage.internal:
        return False
    if key == "receiving":
        return True
    stage_id, _, slot = key.rpartition(".")
    if slot not in ("raising", "receiving") or not stage_id:
        return False
    try:
        return agency_side(req.protocol.stage(stage_id), slot) == "receiving"
    except KeyError:
        return False


def resolve_addressees(req: NotificationRequest, settings: Settings) -> Addressees:
    """Resolve To and Cc role keys to unique addresses; report the roles nobody can reach."""
    resolve = _Resolver(req, settings)
    seen: set[str] = set()
    result = Addressees()
    feedback = ["raising"] if feedback_rule(req) is not None else []
    for keys, bucket in ((req.to, result.to), ([*req.cc, *feedback], result.cc)):
        for key in keys:
            if _outside(req, key):
                continue
            recipient = resolve(key)
            if recipient is None or recipient.address.lower() in seen:
                continue
            seen.add(recipient.address.lower())
            bucket.append(recipient)
    if not result.to and result.cc:
        result.to, result.cc = result.cc, []
    result.missing = resolve.missing
    result.held = resolve.held
    return result
