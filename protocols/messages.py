"""Messages and records shared by the workflow, activities, CLI and web forms.

Everything a person types passes through :data:`Text` / :data:`Line`: trimmed, bounded in
length, and free of control characters, so hostile input is refused with a clear message
before it reaches a case.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from protocols.addresses import check_address
from protocols.calendar_table import CalendarTable
from protocols.deadlines import AgreedTimescale
from protocols.permissions import PermissionRule
from protocols.schema import Protocol, TimescaleKind

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _clean(value: object) -> object:
    """Trim, and refuse control characters; runs before length checks, so "   " is empty."""
    if not isinstance(value, str):
        return value
    if _CONTROL.search(value):
        raise ValueError("contains control characters; use plain text")
    return value.strip()


def _one_line(value: str) -> str:
    if "\n" in value or "\r" in value:
        raise ValueError("must be a single line")
    return value


# Unicode's bidirectional overrides and isolates turn text round on screen ("Trojan source"):
# a name typed with one reads as someone else's in the timeline, dashboard and e-mails.
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")


def _no_bidi(value: str, info: ValidationInfo) -> str:
    """From people, refuse bidirectional controls (stored messages load as they were)."""
    if info.context and info.context.get("from_people") and _BIDI.search(value):
        raise ValueError("contains invisible characters that reverse the direction of text "
                         "(Unicode bidirectional controls); type it plainly")
    return value


Text = Annotated[str, BeforeValidator(_clean), Field(max_length=5000), AfterValidator(_no_bidi)]
Line = Annotated[str, BeforeValidator(_clean), Field(max_length=200), AfterValidator(_one_line),
                 AfterValidator(_no_bidi)]
Email = Annotated[str, BeforeValidator(_clean), Field(max_length=254), AfterValidator(_one_line)]

# A reason or note (pause, resume, withdraw, bypass, hand-over, hold, a timescale's reason) is a
# sentence or two: what people type is capped at REASON_MAX characters (issue 14: 5,000-character
# reasons sent again and again filled a case's history). Messages read back from a history keep
# the older Text cap, so a running case whose messages predate this still loads.
REASON_MAX = 1000


def _short_reason(value: str, info: ValidationInfo) -> str:
    if info.context and info.context.get("from_people") and len(value) > REASON_MAX:
        raise ValueError(f"is {len(value):,} characters long; a reason may be at most "
                         f"{REASON_MAX:,} characters (record a longer account as a discussion)")
    return value


Reason = Annotated[str, BeforeValidator(_clean), Field(max_length=5000),
                   AfterValidator(_short_reason), AfterValidator(_no_bidi)]

Urgency = Literal["standard", "urgent", "immediate-risk"]
CaseStatus = Literal["open", "paused", "resolved", "closed", "withdrawn"]
REFERENCE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]{2,40}$"


class Message(BaseModel):
    """Base for everything sent to or returned by the workflow: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid")


# Validation context for what people type (the CLI, the web forms, case files): addresses get
# the full check. Messages read back from a case's history are validated without it and keep
# the older, looser check they were accepted under, so a running case never fails to load.
FROM_PEOPLE = {"from_people": True}
_LEGACY_ADDRESS = re.compile(r"[^@\s<>\"']+@[^@\s<>\"']+\.[^@\s<>\"']+")


def _check_email(value: str, info: ValidationInfo) -> str:
    """Empty (no address given) or one address: from people, a safe one
    (:func:`protocols.addresses.check_address`); from a stored case, the check it passed then."""
    if not value:
        return value
    if info.context and info.context.get("from_people"):
        return check_address(value)
    if not _LEGACY_ADDRESS.fullmatch(value):
        raise ValueError(f"'{value}' is not an e-mail address")
    return value


class Person(Message):
    """Someone who holds a role in a case (a practitioner, a manager, a Head of Service…)."""

    name: Line = ""
    role: Line = ""
    agency: Line = ""
    email: Email = ""
    phone: Line = ""

    _email = field_validator("email")(classmethod(lambda cls, v, info: _check_email(v, info)))

    def label(self) -> str:
        bits = [b for b in (self.name, self.role, self.agency) if b]
        return ", ".join(bits) or "(not named)"


class Party(Person):
    """One side of a case: its practitioner, and the kind of agency it is where the protocol
    routes that kind differently (``school``, ``self_employed``…; empty: none of them)."""

    kind: Line = ""

    @model_validator(mode="before")
    @classmethod
    def _from_person(cls, value: object) -> object:
        """A plain :class:`Person` stands for a side of no particular kind."""
        if isinstance(value, Person) and not isinstance(value, Party):
            return value.model_dump()
        return value

    def person(self) -> Person:
        """The practitioner alone, as a role holder."""
        return Person.model_validate(self.model_dump(exclude={"kind"}))


class Actor(Message):
    """Who is doing something to a case: from a personal link's grant or an operator token,
    never typed. ``role_key`` is the role they act in (``2.raising``; ``business_unit`` for the
    partnership's business unit); a business-unit operator acting for someone names whose role
    (``on_behalf_of``, a role key) and why (``reason``)."""

    name: Line = Field(min_length=1)
    role: Line = ""
    agency: Line = ""
    email: Email = ""
    role_key: Line = ""
    on_behalf_of: Line = ""
    reason: Reason = ""

    _email = field_validator("email")(classmethod(lambda cls, v, info: _check_email(v, info)))


class Child(Message):
    """Personal data: encrypted by the payload codec, never in search attributes or logs."""

    name: Line = ""
    date_of_birth: date | None = None
    address: Text = ""
    family: Text = ""


class CaseDetails(Message):
    reference: str = Field(pattern=REFERENCE_PATTERN, description="e.g. 2026-0042")
    child: Child = Field(default_factory=Child)
    raising: Party
    receiving: Party
    # Who holds which role, keyed "<stage>.raising" / "<stage>.receiving" (e.g. "2.raising").
    holders: dict[str, Person] = Field(default_factory=dict)
    issue: Text = ""
    risk_to_child: Text = ""
    nature: Text = ""
    aim: Text = ""
    category: Line = "other"
    # Legacy: routing variants a case chose by id, before each side said its kind of agency
    # (``raising.kind``); honoured only for variants of protocols frozen then (both sides).
    variants: list[Line] = Field(default_factory=list)
    conference_dissent_exhausted: bool = False
    arose: datetime | None = None
    retention_class: Literal["standard", "extended"] = "standard"
    legal_hold: bool = False

    @field_validator("reference")
    @classmethod
    def _has_digit(cls, value: str) -> str:
        if not any(ch.isdigit() for ch in value):
            raise ValueError("a case reference contains a number, e.g. 2026-0042 (never a name)")
        return value


class CaseLimits(Message):
    """What keeps a case alive whatever its own users send (issue 14), frozen when raised.

    At most ``per_minute`` actions in any minute and ``per_day`` in any 24 hours are accepted
    on one case; a run continues as new once its history holds ``continue_after_events``
    events (Temporal ends a run at 51,200 events or 50 MB, and suggests continuing earlier)."""

    per_minute: int = Field(default=20, ge=1)
    per_day: int = Field(default=300, ge=1)
    continue_after_events: int = Field(default=10_000, ge=200, le=40_000)


class CaseInput(Message):
    """The workflow's input. The protocol is frozen in: a case keeps the rules it began with."""

    protocol: Protocol
    protocol_hash: str
    case: CaseDetails
    urgency: Urgency = "standard"
    raised_by: Actor
    raised_at: datetime | None = None
    # Off where the Temporal server has no custom search attributes registered.
    search_attributes: bool = True
    # The deployment's own permission rules (RESOLUTIONS_PERMISSIONS), frozen when raised.
    permissions: list[PermissionRule] = Field(default_factory=list)
    # The deployment's agency mail domains (RESOLUTIONS_MAIL_DOMAINS), frozen when raised;
    # empty = any address.
    mail_domains: list[str] = Field(default_factory=list)
    limits: CaseLimits = Field(default_factory=CaseLimits)
    # A later run of a case that continued as new: its record so far (workflows.book).
    carried: CarriedCase | None = None


# -- manager actions ---------------------------------------------------------------------------
ContactMethod = Literal["meeting", "video", "phone", "email", "letter"]
CONTACT_METHODS: dict[str, str] = {
    "meeting": "Meeting in person", "video": "Video call", "phone": "Telephone",
    "email": "E-mail", "letter": "Letter"}


class RecordOutcome(Message):
    stage: Line
    resolved: bool
    by: Actor
    summary: Text = Field(min_length=1)
    # How the two sides spoke at this stage (Swindon's Appendix 1 asks "how were they
    # contacted"); optional, since not every protocol asks.
    contact_method: ContactMethod | None = None
    agreed_actions: Text = ""
    outstanding_matters: Text = ""
    learning_points: list[Text] = Field(default_factory=list, max_length=50)
    policy_issue: bool = False
    # The professional reasons for the final decision, where a category's first steps ask
    # for them (Barnsley 3.9); see protocols.schema.NotAgreed.reasons.
    reasons: Text = ""


class Bypass(Message):
    to_stage: Line
    reason: Reason = Field(min_length=1)
    by: Actor
    agreed_by: list[Line] = Field(default_factory=list, max_length=20)
    agreement_of: list[Line] = Field(default_factory=list, max_length=10)
    urgent: bool = False


class Pause(Message):
    reason: Reason = Field(min_length=1)
    by: Actor


class Resume(Message):
    by: Actor
    note: Reason = ""


class AgreeTimescale(Message):
    stage: Line
    deadline: Line = ""  # rule id; empty = the stage's escalation deadline
    timescale: AgreedTimescale
    reason: Reason = ""
    agreed_by: list[Line] = Field(default_factory=list, max_length=20)
    by: Actor


class Assign(Message):
    role: Line = Field(description="'raising', 'receiving' or '<stage>.raising' etc.")
    person: Person
    reason: Reason = ""
    by: Actor


class ConfirmInWriting(Message):
    duty: Line = ""  # duty id; empty = the only one awaited
    summary: Text = ""
    by: Actor


class ReportImmediateRisk(Message):
    description: Text = Field(min_length=1)
    by: Actor


class Withdraw(Message):
    reason: Reason = Field(min_length=1)
    by: Actor


class Refer(Message):
    """A decision on a referral the document reserves (protocols.schema.Referral): refer the
    case (``refer``), or, where "not resolved" offered the decision (Dudley 3b), not; with why
    and who decided."""

    referral: Line = ""  # the referral's id; empty = the only one open at this stage
    refer: bool = True
    reason: Text = Field(min_length=1)
    decided_by: list[Line] = Field(default_factory=list, max_length=20)
    by: Actor


class CloseUnconfirmed(Message):
    """Close a resolved case whose written confirmation (York, Dudley: it "will"/"must" be
    given) has not come, recording why and who decided. The reason is checked by the workflow,
    so an empty one is refused with a sentence, not a schema error."""

    reason: Reason = ""
    decided_by: list[Line] = Field(default_factory=list, max_length=20)
    by: Actor


class RecordDiscussion(Message):
    """A discussion or contact, recorded as it happened; it never moves the case. York asks
    that each inter-agency discussion is recorded contemporaneously, approved and dated (s5),
    Dudley the same (section 2), Swindon that inter-agency communication is documented (s3)."""

    at: AwareDatetime | None = None  # when it took place; empty = now; not in the future
    stage: Line = ""  # the stage it belongs to; empty = the current stage
    with_name: Line = Field(min_length=1)  # with whom: Swindon App. 1 "Name & Title"
    with_title: Line = ""
    with_agency: Line = ""
    method: ContactMethod  # "How did you contact them" (Swindon App. 1)
    said: Text = Field(min_length=1)  # what was said
    agreed: Text = ""  # what was agreed
    approved_by: Line = ""  # who approved the record (York, Dudley: "approve and date")
    by: Actor


class MarkStepDone(Message):
    """A deadline that reminds rather than escalates, recorded as met by the people it names
    (York's same-working-day line-manager discussion, Leeds 3b's Director-level raising)."""

    deadline: Line = Field(min_length=1)  # its key ("2/discuss_with_line_managers") or rule id
    done_by: list[Line] = Field(default_factory=list, max_length=20)  # empty = who records it
    note: Reason = ""
    by: Actor


class LegalHold(Message):
    """Put a case on legal hold (never purged) or lift the hold."""

    on: bool
    reason: Reason = Field(min_length=1)
    by: Actor


# -- what the workflow tells -------------------------------------------------------------------
DeadlineKind = Literal["stage", "overall", "duty"]
DeadlineStatus = Literal["pending", "awaiting_agreement", "met", "expired", "breached",
                         "cancelled", "lapsed"]


def kind_from_description(description: str) -> TimescaleKind:
    """The kind of timescale a deadline recorded before it carried one, read (once, here) from
    the words ``Timescale.describe()`` gave it ("5 working days", "48 hours", …)."""
    text = description.strip()
    if text.startswith("agreed per case"):
        return "agreed"
    if text == "as soon as possible":
        return "asap"
    if text == "same working day":
        return "same_working_day"
    if re.fullmatch(r"\d+ working days?", text):
        return "working_days"
    if text.endswith("hours"):
        return "hours"
    if re.fullmatch(r"\d+ months?", text):
        return "calendar_months"
    return "none"


class DeadlineState(Message):
    key: str
    kind: DeadlineKind
    stage: str | None
    rule: str
    what: str
    who: str
    timescale: str  # in words, for people: never branch on it (see timescale_kind)
    timescale_kind: TimescaleKind
    on_expiry: str
    source: str
    clock_start: datetime
    due: datetime | None = None
    remind_at: datetime | None = None
    reminded: bool = False
    latest_allowed: datetime | None = None
    agreed: AgreedTimescale | None = None
    status: DeadlineStatus = "pending"
    next_nudge: datetime | None = None
    nudges: int = 0
    # A timescale agreed beyond the document's "where possible" maximum (Leeds): who agreed
    # it, why, and the rule that allows it; empty otherwise.
    beyond_max: str = ""

    @model_validator(mode="before")
    @classmethod
    def _kind_of_older_deadline(cls, data: object) -> object:
        """A deadline recorded before ``timescale_kind`` existed gets it from its words."""
        if isinstance(data, dict) and "timescale_kind" not in data and "timescale" in data:
            return {**data, "timescale_kind": kind_from_description(str(data["timescale"]))}
        return data

    @property
    def live(self) -> bool:
        return self.status in ("pending", "awaiting_agreement", "expired")


class TimelineEvent(Message):
    seq: int
    at: datetime
    kind: str
    stage: str | None = None
    actor: str = "system"
    summary: str
    via: Literal["update", "signal", "timer", "system", "activity"] = "system"
    details: dict[str, str] = Field(default_factory=dict)


class Outcome(Message):
    stage: str
    resolved: bool
    at: datetime
    by: Actor
    summary: str
    agreed_actions: str = ""
    outstanding_matters: str = ""
    learning_points: list[str] = Field(default_factory=list)
    contact_method: ContactMethod | None = None
    reasons: str = ""


class Discussion(Message):
    """A recorded discussion or contact (see :class:`RecordDiscussion`)."""

    stage: str
    at: datetime  # when it took place
    recorded_at: datetime
    with_name: str
    with_title: str = ""
    with_agency: str = ""
    method: ContactMethod
    said: str
    agreed: str = ""
    approved_by: str = ""
    by: Actor

    def with_whom(self) -> str:
        """'Name, Title, Agency' of the person spoken to."""
        return ", ".join(b for b in (self.with_name, self.with_title, self.with_agency) if b)


class CaseState(Message):
    workflow_id: str
    reference: str
    protocol: str
    protocol_hash: str
    partnership: str
    status: CaseStatus
    urgency: Urgency
    stage: str
    stage_name: str
    stage_entered_at: datetime
    stages_visited: list[str]
    immediate_risk: bool = False
    paused_reason: str = ""
    deadlines: list[DeadlineState]
    expected_next: list[str]
    holders: dict[str, Person]
    outcomes: list[Outcome] = Field(default_factory=list)
    discussions: list[Discussion] = Field(default_factory=list)
    not_notified: list[str] = Field(default_factory=list)
    # Who owns a live deadline now but has no e-mail address (or nobody is named): read by
    # the case page, the CLI and the business unit (protocols.naming.unreached); with each
    # line's role key, in the same order, for the CLI's `assign --role`.
    unreached: list[str] = Field(default_factory=list)
    unreached_roles: list[str] = Field(default_factory=list)
    closed_at: datetime | None = None
    closing_summary: str = ""
    retention_class: str = "standard"
    legal_hold: bool = False
    # What needs a person's eye (workflows.limits.flags): drifting, overdue duties, breaches
    # recorded, timescales beyond the document's maximum, a pause; shown wherever the case is.
    flags: list[str] = Field(default_factory=list)
    # The referral a stage's "not resolved" offered, awaiting its decision (Dudley 3b).
    open_referral: str = ""


class ActionResult(Message):
    """What an accepted update changed, and what happens next: ``brief`` (a small summary;
    results of older workers carried the whole ``state`` instead)."""

    message: str
    state: CaseState | None = None
    brief: CaseBrief | None = None

    @property
    def position(self) -> CaseBrief | CaseState:
        """The case's position after the action, from whichever the worker sent."""
        out = self.brief or self.state
        assert out is not None, "an action result carries its brief or its state"
        return out


class CaseRecord(Message):
    """The workflow's result: the final state and the whole timeline."""

    state: CaseState
    timeline: list[TimelineEvent]


# -- activities ------------------------------------------------------------------------------
class DeadlineQuery(Message):
    key: str
    clock_start: datetime
    timescale: dict | None = None  # a schema Timescale as data
    agreed: AgreedTimescale | None = None
    working_days: int | None = None  # plain "N working days after clock_start" (nudges)
    with_reminder: bool = False


class DeadlineAnswer(Message):
    key: str
    due: datetime | None
    remind_at: datetime | None = None
    latest_allowed: datetime | None = None


class PauseShift(Message):
    key: str
    moment: datetime
    wall_clock: bool = False


class ShiftRequest(Message):
    paused_at: datetime
    resumed_at: datetime
    items: list[PauseShift]


class MailAddressing(Message):
    """What every e-mail event names: the case, the event, its addressees by role key, and
    the protocol by id and content hash (the activity loads it)."""

    workflow_id: str
    event: str
    event_key: str  # unique within the case: the Message-ID is derived from it
    stage: str | None = None
    # Addressees as role keys: "raising", "receiving", "<stage>.raising", "<stage>.receiving",
    # "actor", or "contact:<protocol contact id>".
    to: list[str]
    cc: list[str] = Field(default_factory=list)
    attach_forms: list[str] = Field(default_factory=list)
    deadline_key: str | None = None
    actor: Actor | None = None
    extra: dict[str, str] = Field(default_factory=dict)
    protocol_id: str = ""
    protocol_hash: str = ""


class NotificationRequest(MailAddressing):
    """One e-mail event with the whole record (cases from before e-mail by query); the
    activity works out addresses, renders and sends it."""

    # Older requests carried the whole protocol, which is still accepted.
    protocol: Protocol | None = None
    case: CaseDetails
    state: CaseState
    timeline: list[TimelineEvent]


class NotificationResult(Message):
    message_id: str
    sent_to: list[str] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)  # roles with no address known
    subject: str = ""


# -- e-mail by query (issue 14): the activity's input stays small ---------------------------
class MailEvent(MailAddressing):
    """One e-mail event, by reference: ids, role keys and the event, never the case record
    (``extra`` holds short values only, see :class:`MailRecord`).

    The ``send_case_email`` activity reads the rest (:class:`MailRecord`) with one query of the
    case, ``mail_record(event_key)``. The workflow keeps that record as it stood when the event
    happened until the e-mail is sent, so every attempt renders the same message.
    """

    first_run_id: str = ""  # the case's first run: what personal links are bound to


class MailRecord(Message):
    """What an e-mail is rendered from: the case, its state and timeline at the event.

    ``as_of_event`` is False when the case no longer held the event's record (an e-mail of an
    earlier run, say): the record is then the case as it stands, and says so."""

    case: CaseDetails
    state: CaseState
    timeline: list[TimelineEvent]
    extra: dict[str, str] = Field(default_factory=dict)  # the event's longer texts (a reason)
    as_of_event: bool = True


class DeadlineBrief(Message):
    """A live deadline as a person reads it: what, by whom, when, under which rule."""

    key: str
    what: str
    who: str
    timescale: str
    source: str
    status: DeadlineStatus = "pending"
    due: datetime | None = None


class CaseBrief(Message):
    """What an accepted update returns besides its sentence: the case's position and what is
    due next, small and bounded (never its outcomes, discussions or timeline)."""

    workflow_id: str
    partnership: str
    status: CaseStatus
    urgency: Urgency
    stage: str
    stage_name: str
    stage_entered_at: datetime
    immediate_risk: bool = False
    paused_reason: str = ""
    deadlines: list[DeadlineBrief] = Field(default_factory=list)  # the live ones only
    expected_next: list[str] = Field(default_factory=list)
    closed_at: datetime | None = None
    closing_summary: str = ""
    # Who owns a live deadline but cannot be e-mailed (CaseState.unreached), and what needs a
    # person's eye (CaseState.flags).
    unreached: list[str] = Field(default_factory=list)
    unreached_roles: list[str] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=list)


class CarriedCase(Message):
    """A case's record carried into its next run when it continues as new."""

    runs: list[str]  # the run ids before this one, first first
    status: CaseStatus
    stage_id: str
    stage_entered_at: datetime
    stages_visited: list[str]
    deadlines: list[DeadlineState]
    timeline: list[TimelineEvent]
    holders: dict[str, Person]
    outcomes: list[Outcome] = Field(default_factory=list)
    discussions: list[Discussion] = Field(default_factory=list)
    immediate_risk: bool = False
    paused_at: datetime | None = None
    paused_reason: str = ""
    not_notified: list[str] = Field(default_factory=list)
    legal_hold: bool = False
    bypass_agreed: dict[str, str] = Field(default_factory=dict)
    bypass_to: str = ""
    mail_seq: int = 0
    recent_actions: list[datetime] = Field(default_factory=list)
    # Issue 15: a paused Leeds case's reminders to resume, and a referral decision offered.
    resume_remind_at: datetime | None = None
    resume_reminders: int = 0
    referral_open: str = ""
    # Issue 18: the case's recorded calendar table, so a new run asks for none.
    calendar_table: CalendarTable | None = None


ActionResult.model_rebuild()
CaseInput.model_rebuild()
