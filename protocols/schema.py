"""The protocol schema: one partnership's escalation protocol as data.

A protocol file (TOML, under ``protocols/files/``) is validated against these models. The file
cites its document by title, partnership, version and date, with the sha256 ``digest`` of the
document's text; every rule carries ``source``, the section of the document it comes from, and
may carry ``quote``, the document's own words, so an auditor can trace any deadline or duty back
to the text (``resolutions protocols verify`` checks both against the published documents).

Protocols frozen into running cases before the document was cited this way named a file path
in ``source`` and had no ``published``, ``digest`` or ``quote``: they still load, with those
fields empty, and keep the content hash they were frozen with. Likewise protocols frozen before
roles said who holds them (``held_by``) and duties said whether they keep a case open
(``awaited``): those fields are empty there, and the rule the code followed before stands in
(:func:`implied_held_by`, :data:`IMPLIED_AWAITED`). Protocols frozen before routing variants
named the kind of agency they change (``applies_to_kind``) list variants a case chose by id,
and such a variant changes both sides, as it did then.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from protocols.permissions import PermissionRule

TimescaleKind = Literal[
    "none",  # no timescale at all ("timely action is paramount")
    "asap",  # "as soon as possible" / "without delay": no fixed instant
    "same_working_day",  # the cut-off of the clock's working day
    "working_days",  # the cut-off of the Nth working day after the clock's working day
    "hours",  # wall-clock hours
    "calendar_months",  # the same date N months later (clamped to the month's end)
    "agreed",  # agreed per case, optionally within a maximum of working days
]
# Who holds a role: the practitioners themselves, their line managers (or an agency's named
# safeguarding lead), senior managers and heads of service, directors, the partnership's own
# chair, executive, business unit or panel (or the one office a protocol names to settle what
# stays unresolved), or someone outside the agencies (a professional body, a committee).
# A role on one side held by the same kind of person as that side's role at an earlier stage
# is the same role: whoever was named for it stays named (agencies' own people only; the
# partnership's offices and outside bodies are named stage by stage).
HeldBy = Literal["practitioner", "manager", "head", "director", "partnership", "external"]
CARRIED: tuple[str, ...] = ("practitioner", "manager", "head", "director")
# The partnership forms the system can fill from a case's record (protocols/forms.py).
FormKind = Literal["swindon_appendix_1", "leeds_appendix_3", "york_written_account"]
FORM_KINDS: tuple[str, ...] = get_args(FormKind)
ClockStart = Literal["stage_entry", "previous_stage_completion", "concern_arose", "resolution"]
ExpiryAction = Literal["escalate", "remind"]
Side = Literal["raising", "receiving", "both"]
Party = Literal["raising", "receiving"]


class Strict(BaseModel):
    """Base for protocol models: unknown keys are errors, so a typo in a file is caught."""

    model_config = ConfigDict(extra="forbid", frozen=True)


QUOTE_MAX = 300  # a quotation is a short passage, not a copy of the document


class Sourced(Strict):
    source: str = Field(min_length=3, description="Document section the rule comes from")
    quote: str = Field(default="", max_length=QUOTE_MAX,
                       description="The document's own words the rule rests on, verbatim")

    @field_validator("quote")
    @classmethod
    def _well_formed(cls, quote: str) -> str:
        if quote and (quote != quote.strip() or len(quote) < 3 or not quote.isprintable()
                      or "..." in quote or "\u2026" in quote):
            raise ValueError("a quotation is one unbroken passage of the document: at least "
                             "3 characters, one line, no surrounding spaces, no '...'")
        return quote


class Timescale(Strict):
    kind: TimescaleKind
    amount: int | None = Field(default=None, ge=0)
    # For "agreed": the most that may be agreed, and what applies until something is agreed.
    max_working_days: int | None = Field(default=None, ge=0)
    default_working_days: int | None = Field(default=None, ge=0)
    # For "agreed": the choices the document names (e.g. immediate / 24 hours / a date).
    options: list[str] = Field(default_factory=list)
    text: str = Field(default="", description="The document's own words")
    # For "agreed": where the document's maximum is "where possible"/"ideally" (Leeds), the
    # citation of its rule for going beyond it ("agreed and recorded"): a longer timescale is
    # then accepted with who agreed it and why, and flagged. Empty: the maximum is hard.
    beyond_max: str = ""

    @model_validator(mode="after")
    def _check(self) -> Timescale:
        needs_amount = self.kind in ("working_days", "hours", "calendar_months")
        if needs_amount and self.amount is None:
            raise ValueError(f"'amount' is required when kind is '{self.kind}'")
        if not needs_amount and self.amount is not None:
            raise ValueError(f"'amount' makes no sense when kind is '{self.kind}'")
        if self.kind != "agreed" and (
            self.max_working_days is not None or self.default_working_days is not None
        ):
            raise ValueError("'max_working_days'/'default_working_days' only apply to 'agreed'")
        if (
            self.max_working_days is not None
            and self.default_working_days is not None
            and self.default_working_days > self.max_working_days
        ):
            raise ValueError("'default_working_days' is larger than 'max_working_days'")
        return self

    @property
    def fixed(self) -> bool:
        """True when the timescale yields a due instant without anyone agreeing anything."""
        if self.kind == "agreed":
            return self.default_working_days is not None
        return self.kind in ("same_working_day", "working_days", "hours", "calendar_months")

    def describe(self) -> str:
        match self.kind:
            case "none":
                return "no timescale"
            case "asap":
                return "as soon as possible"
            case "same_working_day":
                return "same working day"
            case "working_days":
                return f"{self.amount} working day{'s' if self.amount != 1 else ''}"
            case "hours":
                return f"{self.amount} hours"
            case "calendar_months":
                return f"{self.amount} month{'s' if self.amount != 1 else ''}"
            case "agreed":
                parts = ["agreed per case"]
                if self.max_working_days is not None:
                    parts.append(f"at most {self.max_working_days} working days")
                if self.default_working_days is not None:
                    parts.append(f"{self.default_working_days} until agreed")
                return ", ".join(parts)
        return self.kind  # pragma: no cover


class DeadlineRule(Sourced):
    """Something that must happen by a time, and what the system does when it has not."""

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    what: str
    who: str = Field(description="Role expected to act")
    timescale: Timescale
    clock: ClockStart = "stage_entry"
    on_expiry: ExpiryAction = "remind"
    # Met when the system sends this form (one of the stage's forms) with the stage's entry
    # e-mail to the form's addressee: Swindon's Stage 5 referral "using the form at Appendix 1".
    met_by_sending: FormKind | None = None
    # Where the people who must act hold an earlier stage's roles (Leeds Step 3b: each Head of
    # Service raises it with their Director): that stage's id; empty for the stage's own.
    holders_of: str | None = None
    # Met by a discussion or contact recorded at the stage by the time it falls due (Swindon's
    # "When" column: when the discussion or contact "should take place").
    met_by_discussion: bool = False
    # False where another deadline of the stage falls due at the same time and sends the
    # advance reminder (Swindon's contact deadlines and Day 17 beside the ladder).
    remind_before: bool = True


# -- rules protocols frozen before a field existed still follow -------------------------------
_PRACTITIONER_WORDS = ("practitioner", "professional", "worker")
_SENIOR_WORDS = ("manager", "lead", "head", "director", "chair", "executive", "principal")
# Before duties carried ``awaited``: the duty kinds that kept a resolved case open.
IMPLIED_AWAITED = ("written_confirmation", "learning_dissemination")


def implied_held_by(title: str) -> HeldBy:
    """Who held a role before roles said so: the code guessed from the words of its title
    ("practitioner", "professional", "worker" and no senior word). Only for protocols frozen
    without ``held_by``; never for a protocol file, which must say."""
    lowered = title.lower()
    practitioners = (any(w in lowered for w in _PRACTITIONER_WORDS)
                     and not any(w in lowered for w in _SENIOR_WORDS))
    return "practitioner" if practitioners else "manager"


class Held(Strict):
    """A role in a case, and who holds it."""

    held_by: HeldBy | None = Field(default=None, description="Who holds the role; empty only "
                                   "in protocols frozen before it was recorded")

    @property
    def role_name(self) -> str:
        raise NotImplementedError

    @property
    def holder_kind(self) -> HeldBy:
        """Who holds the role (for a protocol frozen without ``held_by``, what it implied)."""
        return self.held_by or implied_held_by(self.role_name)


class Role(Held):
    title: str
    examples: list[str] = Field(default_factory=list)
    # Whose agency the holder belongs to, where it is not the slot's own side (Swindon stage 1:
    # the raiser consults their own line manager, and the other agency takes no part).
    side: Party | None = None

    def agency_side(self, slot: str) -> str:
        """The side whose agency holds this role, for the slot (raising/receiving) it is in."""
        return self.side or slot

    @property
    def role_name(self) -> str:
        return self.title


class Duty(Sourced):
    """A duty that falls due on an event: written confirmation, learning referral, debrief…"""

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    kind: Literal[
        "written_confirmation",
        "learning_referral",
        "learning_dissemination",
        "debrief",
        "feedback",
        "record",
    ]
    what: str
    who: str
    to: str = ""
    timescale: Timescale | None = None
    clock: ClockStart = "resolution"
    # Learning referrals only fall due when learning points were recorded.
    only_with_learning_points: bool = False
    # The role keys its e-mail goes to, with the action agreed (Swindon s4 Stages 3-5: "Any
    # action agreed should be fed back immediately to ..."); empty: ``to`` decides.
    to_roles: list[str] = Field(default_factory=list)
    # True where the case stays open, after resolution, until the duty is done or lapses;
    # empty only in protocols frozen before it was recorded.
    awaited: bool | None = None

    @property
    def keeps_case_open(self) -> bool:
        """Whether the case waits for this duty (frozen without ``awaited``: by its kind)."""
        return self.kind in IMPLIED_AWAITED if self.awaited is None else self.awaited


class FormRef(Sourced):
    kind: FormKind
    title: str
    to: str = Field(description="Contact id the form is sent to")


class Stage(Sourced):
    """One stage of the ladder; ``raising``/``receiving`` are its two parties (see
    :attr:`Role.side` for a stage the other agency takes no part in)."""

    id: str = Field(pattern=r"^[0-9a-z]+$")
    name: str
    raising: Role
    receiving: Role
    advisers: list[str] = Field(default_factory=list)
    summary: str
    deadlines: list[DeadlineRule] = Field(default_factory=list)
    on_resolution: list[Duty] = Field(default_factory=list)
    forms: list[FormRef] = Field(default_factory=list)
    meeting: bool = False
    exceptional: bool = False

    @field_validator("deadlines")
    @classmethod
    def _one_escalation(cls, deadlines: list[DeadlineRule]) -> list[DeadlineRule]:
        ids = [d.id for d in deadlines]
        if len(ids) != len(set(ids)):
            raise ValueError("deadline ids must be unique within a stage")
        if sum(1 for d in deadlines if d.on_expiry == "escalate") > 1:
            raise ValueError("a stage can have at most one deadline that escalates")
        return deadlines

    @model_validator(mode="after")
    def _sent_forms_are_the_stages(self) -> Stage:
        kinds = {f.kind for f in self.forms}
        for d in self.deadlines:
            if d.met_by_sending is not None and d.met_by_sending not in kinds:
                raise ValueError(f"deadline '{d.id}' is met by sending '{d.met_by_sending}', "
                                 f"which is not one of the stage's forms")
        return self

    @property
    def escalation_deadline(self) -> DeadlineRule | None:
        return next((d for d in self.deadlines if d.on_expiry == "escalate"), None)

    def role(self, slot: str) -> Role:
        return self.raising if slot == "raising" else self.receiving

    @property
    def internal(self) -> bool:
        """True where both parties are the raising agency's own (the other agency is not
        involved, Swindon 002 s4 Stage 1)."""
        return all(self.role(slot).agency_side(slot) == "raising"
                   for slot in ("raising", "receiving"))


class Contact(Strict):
    name: str
    email: str = ""
    phone: str = ""


class CopyRule(Sourced):
    """Who is copied or notified, from which stage, with which form attached."""

    contact: str
    scope: Literal["every_communication", "on_entry", "on_resolution"] = Field(
        description="every e-mail from a stage on; the e-mail entering a listed stage; or the "
                    "e-mail of a resolution reached at a listed stage")
    from_stage: str | None = None
    at_stages: list[str] = Field(default_factory=list)
    attach: FormKind | None = None

    @model_validator(mode="after")
    def _where(self) -> CopyRule:
        if (self.from_stage is None) == (not self.at_stages):
            raise ValueError("give exactly one of 'from_stage' or 'at_stages'")
        return self


class RoutingVariant(Sourced, Held):
    """A different role handles some stages for one side, where that side's agency is of a
    named kind (a school, a self-employed professional…): only that side's roles change."""

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    when: str
    stages: list[str]
    role: str
    # The kind of agency a case says one side is (``raising.kind``) for the variant to apply
    # to that side; empty only in protocols frozen before it was recorded, where a case listed
    # the variant by id (``variants``) and it changed both sides.
    applies_to_kind: str | None = Field(default=None, pattern=r"^[a-z0-9_]+$")
    # The one side the document allows the kind on (Barnsley 3.7(e): the complainant agency's);
    # empty: either side.
    applies_to_side: Party | None = None
    # What the kind is called where a person chooses it ("A school").
    kind_label: str = ""

    @property
    def role_name(self) -> str:
        return self.role


class ImmediateRisk(Sourced):
    route: list[str] = Field(min_length=1, description="Who the alarm goes to, in order")
    instruction: str
    entry_stage: str | None = None
    notify_contacts: list[str] = Field(default_factory=list)
    timescales_become_guide: bool = False


NO_ROUTE_SOURCE = ("not set by the document: it names no immediate-risk route of its own; the "
                   "project's default")


def no_route(short_name: str) -> ImmediateRisk:
    """The alarm where a document names no immediate-risk route (Dudley): it goes at once to
    the case's practitioners, managers and safeguarding leads, saying the document names no
    route beyond the agency's own safeguarding procedures. The project's default."""
    return ImmediateRisk(
        route=["The case's practitioners, managers and safeguarding leads",
               "Your agency's own safeguarding procedures"],
        instruction=(f"The {short_name} protocol names no route for a child at immediate risk "
                     "beyond your agency's own safeguarding procedures: follow them now, and "
                     "tell your line manager and safeguarding lead."),
        source=NO_ROUTE_SOURCE)


class UrgentEntry(Sourced):
    stage: str
    text: str


class PolicyIssueRoute(Sourced):
    """Where a discussion that raises significant policy issues goes (York: stage 4)."""

    stage: str
    text: str
    # The first stage whose discussion can raise them (York: the senior managers', stage 3);
    # empty: any stage before ``stage`` (protocols frozen before it was recorded).
    taken_from: str | None = None


class Referral(Sourced):
    """A referral the document reserves for a reason, taken only as a decision someone records
    (who decided, and why): York's "referred directly to the Chair" when the matter is
    "unresolved within the timescale" or raises "significant policy issues" (s5 Stage 4 para
    1); Dudley's DSCB Independent Chair "in exceptional circumstances" (s4 Stage 3b)."""

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    label: str = Field(description="The decision, as a person takes it: 'Refer to the Chair'")
    reason: str = Field(description="Why the document allows it, shown with the decision")
    from_stages: list[str] = Field(min_length=1)
    to: str
    # True where "not resolved" at the stage offers this decision instead of moving the case
    # on (Dudley 3b): a decision not to refer then closes the case, recording why.
    on_not_resolved: bool = False


class BypassRule(Sourced):
    allowed: bool
    # True where the document allows skipping stages only because the matter is urgent.
    urgent_only: bool = False
    # Who must agree a bypass (Barnsley: "the professionals and managers involved").
    requires_agreement_of: list[str] = Field(default_factory=list)
    text: str


class Precondition(Sourced):
    id: str = Field(pattern=r"^[a-z0-9_]+$")
    applies_to_category: str
    requirement: str
    # The category's plain label on the raise form; empty: its id in words.
    category_label: str = ""


class Reasons(Sourced):
    """Reasons the document asks to be recorded for a decision (Barnsley 3.9)."""

    text: str


class NotAgreed(Sourced):
    """What "not agreed" after a category's first steps leads to: the protocol's own stages
    (Leeds Appendix 1 a: "The resolution process (Appendix 2) would then be initiated"), or a
    conference to be convened, with the professional reasons recorded (Barnsley 3.9)."""

    leads_to: Literal["process", "convene_conference"]
    text: str
    # Where the document asks for the reasons of the final decision: a "not agreed" is
    # refused without them, an agreement without them is recorded with a warning.
    reasons: Reasons | None = None
    # What happens to the case after that, where the document says; empty: not set by the
    # document (the case closes, the project's default).
    after: str = ""
    # First steps the document asks for only where agreement is not reached ("Where there
    # remain differences ... every effort"): an agreement without them is not warned about.
    only_before: list[str] = Field(default_factory=list)


class OutsideProcess(Sourced):
    """A kind of disagreement the document handles outside its resolution process (Leeds
    Appendix 1 b: dissent at a conference follows the West Yorkshire procedure)."""

    text: str


class Category(Sourced):
    """A kind of disagreement with its own first steps inside a case (``first_steps``, a
    stage taken before stage 1, with its steps as reminding deadlines), or handled outside
    the process (``outside``)."""

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    label: str
    first_steps: Stage | None = None
    not_agreed: NotAgreed | None = None
    outside: OutsideProcess | None = None

    @model_validator(mode="after")
    def _one_way(self) -> Category:
        if (self.first_steps is None) == (self.outside is None):
            raise ValueError(f"category '{self.id}' has either first_steps or outside")
        if (self.first_steps is None) != (self.not_agreed is None):
            raise ValueError(f"category '{self.id}': first_steps need not_agreed")
        if self.first_steps is not None and self.first_steps.escalation_deadline is not None:
            raise ValueError(f"category '{self.id}': first steps remind, never escalate")
        steps = {d.id for d in self.first_steps.deadlines} if self.first_steps else set()
        unknown = sorted(set(self.not_agreed.only_before if self.not_agreed else []) - steps)
        if unknown:
            raise ValueError(f"category '{self.id}': not_agreed.only_before names {unknown}, "
                             f"which are not first steps ({sorted(steps)})")
        return self


class OverallLimit(Sourced):
    timescale: Timescale
    clock: ClockStart = "concern_arose"
    escalate_to: str | None = None
    what: str
    # What passing the limit does: "escalate" to ``escalate_to``, or "record_breach": the
    # breach is recorded, the parties and ``breach_told`` contacts are told, and the case
    # carries on (Leeds: "Where possible ... one month"). Empty: escalate (protocols frozen
    # before it was recorded).
    when_passed: Literal["escalate", "record_breach"] | None = None
    breach_told: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _target(self) -> OverallLimit:
        if self.when_passed != "record_breach" and self.escalate_to is None:
            raise ValueError("an overall limit that escalates names 'escalate_to'")
        return self

    @property
    def records_breach(self) -> bool:
        return self.when_passed == "record_breach"

    def describe_passing(self) -> str:
        if self.records_breach:
            return "recorded as a breach; the parties are told; the case carries on"
        return f"escalate to stage {self.escalate_to}"


class Reminders(Sourced):
    """How the system nudges where a stage has no fixed time or a reminder went unanswered."""

    nudge_working_days: int = Field(default=2, ge=1)
    max_nudges: int = Field(default=3, ge=0)
    # After the ``max_nudges``: a reminder every this many working days for as long as the
    # case is open, so nothing drifts in silence (and an awaited duty never lapses). Empty:
    # the nudges stop (protocols frozen before it was recorded).
    then_every_working_days: int | None = Field(default=None, ge=1)
    then_source: str = ""


class Halting(Sourced):
    """Whether the document lets a case be halted (paused), and in its words why or why not.
    Absent: a protocol frozen before it was recorded (pause allowed, as then)."""

    allowed: bool
    text: str = Field(description="Shown with a refusal or on the pause form")


class Guidance(Sourced):
    """A rule of the document that people must follow and the system shows, but does not time."""

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    text: str


class Protocol(Strict):
    id: str = Field(pattern=r"^[a-z0-9_-]+$")
    partnership: str
    short_name: str
    document: str = Field(description="The document's title, as printed on it")
    version: str = Field(description="Its version, as it numbers it (read after 'version')")
    published: str = Field(default="", description="The date of that version, as printed; "
                           "empty in protocols frozen before it was recorded")
    digest: str = Field(default="", pattern=r"^([0-9a-f]{64})?$",
                        description="sha256 of the document's text (its file's bytes, as "
                        "`sha256sum` gives); empty in protocols frozen before it was recorded")
    source: str = Field(default="", description="Legacy: the document file's path that protocols "
                        "frozen before the citation named; kept so they load, never shown")
    required_case_fields: list[Literal["issue", "risk_to_child", "nature", "aim"]] = Field(
        default_factory=list
    )
    required_case_fields_source: str = ""
    contacts: dict[str, Contact] = Field(default_factory=dict)
    stages: list[Stage] = Field(min_length=1)
    urgent_entry: UrgentEntry | None = None
    # Where the document names a route for a child at immediate risk; None where it names none
    # (Dudley): see ``risk_route``.
    immediate_risk: ImmediateRisk | None = None
    bypass: BypassRule
    preconditions: list[Precondition] = Field(default_factory=list)
    # Kinds of disagreement with their own first steps, or outside the process (CPC).
    categories: list[Category] = Field(default_factory=list)
    overall_limit: OverallLimit | None = None
    halting: Halting | None = None
    referrals: list[Referral] = Field(default_factory=list)
    policy_issues: PolicyIssueRoute | None = None
    copies: list[CopyRule] = Field(default_factory=list)
    # Who may take each action (protocols.permissions); absent in protocols frozen before.
    permissions: list[PermissionRule] = Field(default_factory=list)
    routing_variants: list[RoutingVariant] = Field(default_factory=list)
    # Whoever is named for a role stays named for the same role at later stages (same side,
    # same ``held_by``). False only in protocols frozen before it was the rule: each stage's
    # people were named anew (a practitioner role fell back to the case's practitioner).
    holders_carried_forward: bool = False
    post_resolution: list[Duty] = Field(default_factory=list)
    feedback_to_raiser_every_stage: Guidance | None = Field(
        default=None, description="Set where the document asks that the practitioner who raised "
        "the concern hears of every stage change, outcome, escalation and resolution: they are "
        "then copied into those e-mails. Absent: not set by the document")
    reminders: Reminders
    guidance: list[Guidance] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> Protocol:
        ids = [s.id for s in self.stages]
        if len(ids) != len(set(ids)):
            raise ValueError(f"stage ids must be unique, got {ids}")
        known = set(ids)

        def need_stage(value: str | None, where: str) -> None:
            if value is not None and value not in known:
                raise ValueError(f"{where} names stage '{value}', which is not one of {ids}")

        need_stage(self.urgent_entry.stage if self.urgent_entry else None, "urgent_entry.stage")
        need_stage(self.risk_route.entry_stage, "immediate_risk.entry_stage")
        need_stage(self.policy_issues.stage if self.policy_issues else None, "policy_issues.stage")
        need_stage(self.overall_limit.escalate_to if self.overall_limit else None,
                   "overall_limit.escalate_to")
        for contact in self.overall_limit.breach_told if self.overall_limit else []:
            if contact not in self.contacts:
                raise ValueError(f"overall_limit.breach_told names unknown contact '{contact}'")
        for i, rule in enumerate(self.copies):
            need_stage(rule.from_stage, f"copies[{i}].from_stage")
            for s in rule.at_stages:
                need_stage(s, f"copies[{i}].at_stages")
            if rule.contact not in self.contacts:
                raise ValueError(f"copies[{i}].contact '{rule.contact}' is not in [contacts]")
        for ref in self.referrals:
            for s in ref.from_stages:
                need_stage(s, f"referral '{ref.id}'.from_stages")
            need_stage(ref.to, f"referral '{ref.id}'.to")
        need_stage(self.policy_issues.taken_from if self.policy_issues else None,
                   "policy_issues.taken_from")
        for i, variant in enumerate(self.routing_variants):
            for s in variant.stages:
                need_stage(s, f"routing_variants[{i}].stages")
        kinds = [v.applies_to_kind for v in self.routing_variants if v.applies_to_kind]
        if len(kinds) != len(set(kinds)):
            raise ValueError(f"routing variants name each kind of agency once, got {kinds}")
        for stage in self.stages:
            for rule in stage.deadlines:
                need_stage(rule.holders_of, f"stage {stage.id} deadline '{rule.id}'.holders_of")
        for contact in self.risk_route.notify_contacts:
            if contact not in self.contacts:
                raise ValueError(
                    f"immediate_risk.notify_contacts names unknown contact '{contact}'"
                )
        for stage in self.stages:
            for form in stage.forms:
                if form.to not in self.contacts:
                    raise ValueError(
                        f"stage {stage.id} form '{form.kind}' goes to unknown contact '{form.to}'"
                    )
        last = self.stages[-1]
        if last.escalation_deadline is not None:
            raise ValueError(f"the last stage '{last.id}' has no stage to escalate to")
        for stage in self.stages:
            rule = stage.escalation_deadline
            if rule is not None and rule.timescale.kind in ("none", "asap"):
                raise ValueError(
                    f"stage {stage.id} deadline '{rule.id}' escalates but has no timescale"
                )
        cats = [c.id for c in self.categories]
        if len(cats) != len(set(cats)) or "other" in cats:
            raise ValueError(f"category ids must be unique and not 'other', got {cats}")
        for c in self.categories:
            if c.first_steps is not None and c.first_steps.id in known:
                raise ValueError(f"category '{c.id}' first_steps id '{c.first_steps.id}' "
                                 "is already a stage id")
            if c.first_steps is not None:
                known.add(c.first_steps.id)
        if self.required_case_fields and not self.required_case_fields_source:
            raise ValueError("'required_case_fields_source' must say where the document asks")
        return self

    # -- lookups -------------------------------------------------------------------------------
    @property
    def form_kinds(self) -> list[str]:
        """The forms this protocol's stages name, in the order of their stages."""
        return list(dict.fromkeys(f.kind for stage in self.stages for f in stage.forms))

    @property
    def side_kinds(self) -> dict[str, RoutingVariant]:
        """The kinds of agency a side of a case can be said to be, with the variant each
        brings (only variants that name their kind)."""
        return {v.applies_to_kind: v for v in self.routing_variants if v.applies_to_kind}

    def stage(self, stage_id: str) -> Stage:
        for s in self.stages:
            if s.id == stage_id:
                return s
        category = self.category_of_stage(stage_id)
        if category is not None and category.first_steps is not None:
            return category.first_steps
        raise KeyError(f"protocol '{self.id}' has no stage '{stage_id}'")

    def category(self, category_id: str) -> Category | None:
        return next((c for c in self.categories if c.id == category_id), None)

    def category_of_stage(self, stage_id: str) -> Category | None:
        """The category whose first steps are this stage id (None for a ladder stage)."""
        return next((c for c in self.categories
                     if c.first_steps is not None and c.first_steps.id == stage_id), None)

    @property
    def category_ids(self) -> list[str]:
        """The categories a case of this protocol may be raised under ("other" first)."""
        ids = ["other", *(p.applies_to_category for p in self.preconditions),
               *(c.id for c in self.categories)]
        return list(dict.fromkeys(ids))

    def ladder(self, category_id: str = "") -> list[Stage]:
        """The stages a case of the category may visit: its first steps, then the stages."""
        category = self.category(category_id)
        first = [category.first_steps] if category and category.first_steps else []
        return [*first, *self.stages]

    def stage_index(self, stage_id: str) -> int:
        """The stage's place in the ladder; a category's first steps come before stage 1 (-1)."""
        if self.category_of_stage(stage_id) is not None:
            return -1
        return [s.id for s in self.stages].index(stage_id)

    def earlier_stages(self, stage_id: str) -> list[Stage]:
        """The ladder stages before this one (none before a category's first steps)."""
        return self.stages[:max(0, self.stage_index(stage_id))]

    def next_stage(self, stage_id: str) -> Stage | None:
        category = self.category_of_stage(stage_id)
        if category is not None:
            process = category.not_agreed and category.not_agreed.leads_to == "process"
            return self.stages[0] if process else None
        i = self.stage_index(stage_id)
        return self.stages[i + 1] if i + 1 < len(self.stages) else None

    @property
    def risk_route(self) -> ImmediateRisk:
        """The immediate-risk route: the document's, or the project's default where it names
        none (:func:`no_route`)."""
        return self.immediate_risk or no_route(self.short_name)

    def referrals_from(self, stage_id: str) -> list[Referral]:
        return [r for r in self.referrals if stage_id in r.from_stages]

    def referral_on_not_resolved(self, stage_id: str) -> Referral | None:
        return next((r for r in self.referrals_from(stage_id) if r.on_not_resolved), None)

    def copies_for(self, stage_id: str, scope: str | None = None) -> list[CopyRule]:
        """Copy rules in force at a stage (``from_stage`` onwards, or listed in ``at_stages``)."""
        i = self.stage_index(stage_id)
        found = []
        for rule in self.copies:
            if scope is not None and rule.scope != scope:
                continue
            if rule.from_stage is not None and i >= self.stage_index(rule.from_stage):
                found.append(rule)
            elif stage_id in rule.at_stages:
                found.append(rule)
        return found

    @property
    def edition(self) -> str:
        """``version 1.0, 17 July 2024``: the version and its date."""
        return ", ".join(part for part in (f"version {self.version}", self.published) if part)

    @property
    def citation(self) -> str:
        """How people see the document named: title, partnership, version and date (no path)."""
        return f"{self.document}, {self.partnership}, {self.edition}"

    def content_hash(self) -> str:
        """sha256 of the protocol's content. Fields added since protocols were first frozen are
        left out while empty, so a frozen protocol keeps the hash it was frozen with."""
        dumped = _without_empty_additions(self.model_dump(mode="json"))
        canonical = json.dumps(dumped, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


# Fields added after protocols were first frozen, and their value where a protocol lacks them.
ADDED_FIELDS: dict[str, object] = {"quote": "", "published": "", "digest": "", "held_by": None,
                                   "awaited": None, "met_by_sending": None, "side": None,
                                   "holders_of": None,
                                   "applies_to_kind": None, "applies_to_side": None,
                                   "kind_label": "", "holders_carried_forward": False,
                                   "permissions": [],
                                   # issue 15: limits as the documents set them
                                   "beyond_max": "", "when_passed": None, "breach_told": [],
                                   "then_every_working_days": None, "then_source": "",
                                   "halting": None, "referrals": [], "categories": [],
                                   "category_label": "", "only_before": [],
                                   "taken_from": None,
                                   "met_by_discussion": False, "remind_before": True,
                                   "to_roles": []}


def _without_empty_additions(node: object) -> object:
    if isinstance(node, dict):
        return {k: _without_empty_additions(v) for k, v in node.items()
                if not (k in ADDED_FIELDS and v == ADDED_FIELDS[k])}
    if isinstance(node, list):
        return [_without_empty_additions(v) for v in node]
    return node
