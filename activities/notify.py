"""The ``send_notification`` activity: who to tell, what to say, and sending it by SMTP.

Addressees arrive as role keys ("raising", "2.receiving", "contact:lscp", "actor") and are
resolved against the case's current holders and the protocol's contacts; anyone without an
address is reported back as ``missing`` (the workflow records them as not notified). Bodies are
Jinja2 templates (plain text + HTML), with a partnership's own wording checked first under
``templates/email/<protocol id>/``. Subjects are built from the protocol and the case reference
only, so they never carry a child's (or anyone's) name. The Message-ID is derived from the
workflow id and event key, so a retried activity sends a recognisably identical message.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from typing import Any

import aiosmtplib
from temporalio import activity

from activities.forms import (
    environment,
    form_filename,
    form_title,
    holder,
    london,
    practitioner_role,
    render_form,
    role_holder,
    role_title,
    stage_rows,
    steps_taken,
)
from activities.ics import CalendarEvent, deadline_uid, render_calendar
from activities.progress import SendProgress
from infra.settings import Settings
from infra.smtp import connection_options
from protocols.loader import ProtocolError, load_protocol
from protocols.messages import (
    CaseInput,
    DeadlineState,
    NotificationRequest,
    NotificationResult,
    Person,
)
from protocols.schema import Duty, Protocol, Stage

LinkBuilder = Callable[[str, Person, str], str]
MAIL_DOMAIN = "professional-resolutions"
SMTP_TIMEOUT = 30.0
DUTY_EVENTS = ("learning_referral", "learning_dissemination", "debrief", "feedback", "record",
               "written_confirmation")


# -- identifiers ----------------------------------------------------------------------------------
def message_id(workflow_id: str, event_key: str) -> str:
    """``<32 hex@professional-resolutions>``: the same for every retry of one event."""
    digest = hashlib.sha256(f"{workflow_id}\x1f{event_key}".encode()).hexdigest()[:32]
    return f"<{digest}@{MAIL_DOMAIN}>"


def thread_id(workflow_id: str) -> str:
    """A Message-ID every e-mail of a case refers to, so mail clients thread them together."""
    digest = hashlib.sha256(f"{workflow_id}\x1fcase".encode()).hexdigest()[:32]
    return f"<{digest}@{MAIL_DOMAIN}>"


# -- addressing -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Recipient:
    """One resolved addressee: the role key it came from and the person (or contact) behind it."""

    key: str
    person: Person

    @property
    def address(self) -> str:
        return self.person.email


@dataclass
class Addressees:
    to: list[Recipient] = field(default_factory=list)
    cc: list[Recipient] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def everyone(self) -> list[Recipient]:
        return [*self.to, *self.cc]


def main_contact(protocol: Protocol) -> str | None:
    """The contact ``partnership_addresses[<protocol id>]`` stands for: the one copied in first,
    else the one forms go to, else the first contact the protocol lists."""
    copied = [rule.contact for rule in protocol.copies]
    forms = [form.to for stage in protocol.stages for form in stage.forms]
    return next(iter([*copied, *forms, *protocol.contacts]), None)


def contact_address(protocol: Protocol, contact_id: str, settings: Settings) -> str:
    """A contact's address: ``partnership_addresses["<protocol>.<contact>"]``, then
    ``partnership_addresses["<protocol>"]`` for the main contact, then the protocol file."""
    overrides = settings.partnership_addresses
    specific = overrides.get(f"{protocol.id}.{contact_id}")
    if specific:
        return specific
    if contact_id == main_contact(protocol) and overrides.get(protocol.id):
        return overrides[protocol.id]
    contact = protocol.contacts.get(contact_id)
    return contact.email if contact else ""


class _Resolver:
    """Turns one request's role keys into recipients, collecting the roles nobody can reach."""

    def __init__(self, req: NotificationRequest, settings: Settings) -> None:
        self.req, self.settings = req, settings
        self.missing: list[str] = []

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
        person = holder(self.req.state, self.req.case, key)
        if person is not None and person.email:
            return Recipient(key, person)
        try:
            stage: Stage | None = self.req.protocol.stage(stage_id)
        except KeyError:
            stage = None
        title = (role_title(self.req.protocol, self.req.case, stage, side) if stage
                 else f"{side.capitalize()} role")
        if person is None and stage is not None and practitioner_role(title):
            # The practitioners themselves hold this stage's role: no one is missing.
            return self._practitioner(side)
        named = f" ({person.name})" if person is not None and person.name else ""
        self._miss(f"{title} for stage {stage_id}{named}")
        return self._practitioner(side, report=False)


def resolve_addressees(req: NotificationRequest, settings: Settings) -> Addressees:
    """Resolve To and Cc role keys to unique addresses; report the roles nobody can reach."""
    resolve = _Resolver(req, settings)
    seen: set[str] = set()
    result = Addressees()
    for keys, bucket in ((req.to, result.to), (req.cc, result.cc)):
        for key in keys:
            recipient = resolve(key)
            if recipient is None or recipient.address.lower() in seen:
                continue
            seen.add(recipient.address.lower())
            bucket.append(recipient)
    if not result.to and result.cc:
        result.to, result.cc = result.cc, []
    result.missing = resolve.missing
    return result


# -- content --------------------------------------------------------------------------------------
def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _short(moment: datetime) -> str:
    return london(moment, "%a %d %b %H:%M")


def due_text(d: DeadlineState) -> str:
    """'by Wed 18 Mar 2026 17:00 (London time)', or what stands in for a fixed time."""
    if d.due is not None:
        return f"by {london(d.due)} (London time)"
    if d.status == "awaiting_agreement":
        return "timescale to be agreed between you and recorded"
    if d.timescale == "as soon as possible":
        return "as soon as possible"
    return "no fixed time: act without delay"


def _deadline(req: NotificationRequest) -> DeadlineState | None:
    return next((d for d in req.state.deadlines if d.key == req.deadline_key), None)


def _stage_deadlines(req: NotificationRequest, stage_id: str | None) -> list[DeadlineState]:
    return [d for d in req.state.deadlines if d.kind == "stage" and d.stage == stage_id and d.live]


def _lead_deadline(req: NotificationRequest, stage: Stage | None) -> DeadlineState | None:
    live = _stage_deadlines(req, stage.id if stage else None)
    escalation = stage.escalation_deadline if stage else None
    if escalation is not None:
        for d in live:
            if d.rule == escalation.id:
                return d
    dated = [d for d in live if d.due is not None]
    return min(dated, key=lambda d: d.due) if dated else next(iter(live), None)  # type: ignore[arg-type, return-value]


def _action(d: DeadlineState | None) -> str:
    if d is None:
        return "contact your opposite number"
    if d.due is not None:
        return f"contact your opposite number by {_short(d.due)}"
    if d.status == "awaiting_agreement":
        return "agree a timescale with your opposite number"
    if d.timescale == "as soon as possible":
        return "contact your opposite number as soon as possible"
    return "contact your opposite number"


def _duty(req: NotificationRequest, duty_id: str) -> Duty | None:
    duties = [*req.protocol.post_resolution, *(d for s in req.protocol.stages
                                               for d in s.on_resolution)]
    return next((d for d in duties if d.id == duty_id), None)


def _role_label(req: NotificationRequest, key: str) -> str:
    stage_id, _, side = key.rpartition(".")
    if stage_id and side in ("raising", "receiving"):
        try:
            stage = req.protocol.stage(stage_id)
        except KeyError:
            return key
        return f"{role_title(req.protocol, req.case, stage, side)}, stage {stage_id}"
    if key in ("raising", "receiving"):
        return f"practitioner ({key} agency)"
    return "a role in this case"


def subject_for(req: NotificationRequest) -> str:
    """The subject: partnership tag, case reference and what happened; never personal data.

    Built only from the protocol's own text, deadlines and the case reference, never from
    anything a person typed, so no name or address can reach a subject line.
    """
    stage = _stage(req)
    sid = stage.id if stage else (req.stage or req.state.stage)
    d = _deadline(req)
    what = d.what if d else ""
    due = f" by {_short(d.due)}" if d is not None and d.due else ""
    duty = _duty(req, req.extra.get("duty", ""))
    nudge = req.extra.get("nudge", "")
    action = _action(_lead_deadline(req, stage))
    phrases: dict[str, str] = {
        "case_raised": f"disagreement raised at stage {sid} — {action}",
        "stage_entered": f"stage {sid} entered — {action}",
        "reminder": f"reminder — {what}{due}",
        "deadline_passed": f"deadline passed — {what}",
        "duty_overdue": f"overdue — {what}",
        "nudge": (f"reminder {nudge + ' ' if nudge.isdigit() else ''}— "
                  + (f"agree a timescale for: {what}" if d is not None
                     and d.status == "awaiting_agreement" else f"{what}{due}")),
        "outcome_recorded": f"stage {sid} outcome recorded — "
                            + ("resolved" if req.extra.get("resolved") == "true"
                               else "not resolved"),
        "resolved": f"resolved at stage {sid}",
        "confirmed_in_writing": "outcome confirmed in writing",
        "paused": "paused — the clocks have stopped",
        "resumed": "resumed — the clocks are running again",
        "timescale_agreed": f"timescale agreed — {what}{due}",
        "timescale_extended": f"timescale extended — {what}{due}",
        "role_assigned": f"you now hold a role: {_role_label(req, req.extra.get('role', ''))}",
        "immediate_risk": "IMMEDIATE RISK to a child reported — act now",
        "closed": "case closed",
    }
    if req.event in DUTY_EVENTS:
        phrase = f"after resolution — {duty.what if duty else req.event.replace('_', ' ')}"
    else:
        phrase = phrases.get(req.event, req.event.replace("_", " "))
    tag = f"[{req.protocol.short_name}] Case {req.state.reference}"
    return _one_line(f"{'URGENT ' if req.event == 'immediate_risk' else ''}{tag}: {phrase}")


def _stage(req: NotificationRequest) -> Stage | None:
    try:
        return req.protocol.stage(req.stage or req.state.stage)
    except KeyError:
        return None


def _calendars(req: NotificationRequest) -> list[DeadlineState]:
    """Deadlines to attach as .ics: the named one, or every dated deadline of a new stage."""
    chosen = []
    named = _deadline(req)
    if named is not None and named.due is not None:
        chosen.append(named)
    if req.event in ("stage_entered", "case_raised"):
        chosen += [d for d in _stage_deadlines(req, req.stage or req.state.stage) if d.due]
        if req.event == "case_raised":
            chosen += [d for d in req.state.deadlines if d.kind == "overall" and d.live and d.due]
    return list({d.key: d for d in chosen}.values())


def _ics_filename(d: DeadlineState) -> str:
    return "deadline-" + re.sub(r"[^A-Za-z0-9_-]+", "-", d.key).strip("-") + ".ics"


def build_context(req: NotificationRequest, missing: list[str]) -> dict[str, Any]:
    """Everything the e-mail templates may use (the link is added per recipient group)."""
    stage = _stage(req)
    ladder = stage_rows(req.protocol, req.case, req.state, req.timeline)
    side = {s: (role_title(req.protocol, req.case, stage, s) if stage else s,
                role_holder(req.protocol, req.case, req.state, stage, s) if stage else None)
            for s in ("raising", "receiving")}
    deadline = _deadline(req)
    duty = _duty(req, req.extra.get("duty", ""))
    if deadline is not None:
        source = deadline.source
    elif duty is not None:
        source = duty.source
    elif req.event == "immediate_risk":
        source = req.protocol.immediate_risk.source
    else:
        source = stage.source if stage else req.protocol.source
    return {
        "req": req, "event": req.event, "extra": req.extra, "actor": req.actor,
        "protocol": req.protocol, "tag": req.protocol.short_name,
        "reference": req.state.reference, "case": req.case, "child": req.case.child,
        "state": req.state, "stage": stage,
        "raising_title": side["raising"][0], "raising": side["raising"][1],
        "receiving_title": side["receiving"][0], "receiving": side["receiving"][1],
        "practitioners": [holder(req.state, req.case, s) for s in ("raising", "receiving")],
        "deadline": deadline,
        "deadlines": _stage_deadlines(req, stage.id if stage else None),
        "tried": steps_taken([r for r in ladder if r.outcome and r.outcome != "In progress"]),
        "source": source,
        "duty": duty,
        "role_label": _role_label(req, req.extra.get("role", "")),
        "immediate": req.protocol.immediate_risk,
        "forms": [form_title(k, req.protocol) for k in req.attach_forms],
        "calendars": [d.what for d in _calendars(req)],
        "missing": missing,
        "due_text": due_text,
        "london": london,
    }


def render_bodies(req: NotificationRequest, context: dict[str, Any],
                  template_dir: Path | None = None) -> tuple[str, str]:
    """Plain text and HTML bodies; the partnership's own templates are preferred."""
    env = environment(template_dir)
    names = [req.event, "duty"] if req.event in DUTY_EVENTS else [req.event]
    bodies = []
    for ext in ("txt", "html"):
        candidates = [f"email/{folder}{name}.{ext}" for name in names
                      for folder in (f"{req.protocol.id}/", "")] + [f"email/generic.{ext}"]
        bodies.append(env.select_template(candidates).render(context))
    text = re.sub(r"\n{3,}", "\n\n", bodies[0]).strip() + "\n"
    return text, bodies[1]


# -- the message ----------------------------------------------------------------------------------
def _address(person: Person) -> str:
    return formataddr((_one_line(person.name), person.email), charset="utf-8")


def build_message(req: NotificationRequest, settings: Settings, people: Addressees,
                  subject: str, bodies: tuple[str, str],
                  attachments: list[tuple[str, str, bytes]]) -> Message:
    """An RFC 5322 message: stable Message-ID, text + HTML, forms and calendars attached.

    Built with the standard library's classic MIME classes: the modern ``EmailMessage`` parses
    every header it is given, which profiling showed to be most of a worker's CPU under load.
    """
    body = MIMEMultipart("alternative")
    body.attach(MIMEText(bodies[0], "plain", "utf-8"))
    body.attach(MIMEText(bodies[1], "html", "utf-8"))
    if attachments:
        msg: Message = MIMEMultipart("mixed")
        msg.attach(body)
        for filename, mime, data in attachments:
            subtype = mime.split("/")[1]
            part = MIMEText(data.decode("utf-8"), subtype, "utf-8")
            if subtype == "calendar":
                part.set_param("method", "PUBLISH")
            part.add_header("Content-Disposition", "attachment", filename=filename)
            msg.attach(part)
    else:
        msg = body
    msg["Subject"] = Header(subject, "utf-8")
    msg["From"] = settings.mail_from
    msg["To"] = ", ".join(_address(r.person) for r in people.to)
    if people.cc:
        msg["Cc"] = ", ".join(_address(r.person) for r in people.cc)
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = message_id(req.workflow_id, req.event_key)
    msg["References"] = thread_id(req.workflow_id)
    # Machine-readable, personal-data-free headers for mail filters, the SMTP sink and tests.
    msg["X-Resolutions-Case"] = req.workflow_id
    msg["X-Resolutions-Event"] = req.event
    msg["X-Resolutions-Event-Key"] = req.event_key
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    if req.event == "immediate_risk":
        msg["Importance"] = "High"
        msg["X-Priority"] = "1 (Highest)"
    return msg


def build_attachments(req: NotificationRequest, link: str,
                      template_dir: Path | None = None) -> list[tuple[str, str, bytes]]:
    """(filename, MIME type, bytes) for each form and each deadline's calendar entry.

    The same for every recipient: ``link`` is the plain case page, never a personal link, so a
    calendar entry or forwarded form carries no one's access token.
    """
    files = [(form_filename(kind, req.state.reference), "text/html",
              render_form(kind, req, template_dir).encode("utf-8"))
             for kind in dict.fromkeys(req.attach_forms)]
    tag = f"[{req.protocol.short_name}] Case {req.state.reference}"
    now = datetime.now(UTC)
    for d in _calendars(req):
        assert d.due is not None
        changes = sum(1 for e in req.timeline if e.details.get("deadline") == d.key
                      and e.kind in ("timescale_agreed", "timescale_extended"))
        stage = f"stage {d.stage}: " if d.stage else ""
        event = CalendarEvent(
            uid=deadline_uid(req.workflow_id, d.key), start=d.due, sequence=changes,
            summary=_one_line(f"{tag}: {stage}{d.what} (due)"),
            description=f"{d.who}: {d.what}.\nTimescale: {d.timescale}.\nRule: {d.source}.\n"
                        f"Case page: {link}",
            url=link)
        files.append((_ics_filename(d), "text/calendar", render_calendar([event], now)
                      .encode("utf-8")))
    return files


# -- the activity ---------------------------------------------------------------------------------
class NotificationActivities:
    """E-mail for case events, sent through the deployment's SMTP server."""

    def __init__(self, settings: Settings, link_builder: LinkBuilder | None = None,
                 template_dir: Path | None = None) -> None:
        self.settings = settings
        self.link_builder = link_builder
        self.template_dir = template_dir
        self._protocols: dict[str, Protocol] = {}

    def link_for(self, workflow_id: str, recipient: Recipient | None) -> str:
        """The recipient's personal link to the case page, or the plain case page."""
        if self.link_builder is not None and recipient is not None:
            return self.link_builder(workflow_id, recipient.person, recipient.key)
        return f"{self.settings.public_url.rstrip('/')}/cases/{workflow_id}"

    async def with_protocol(self, req: NotificationRequest) -> NotificationRequest:
        """Fill in the case's own protocol: the file of that id if its content hash matches,
        else (the file changed since the case began) the protocol frozen into the case."""
        if req.protocol is not None:
            return req
        protocol = self._protocols.get(req.protocol_hash)
        if protocol is None:
            try:
                candidate = load_protocol(req.protocol_id)
            except ProtocolError:
                candidate = None
            if candidate is not None and candidate.content_hash() == req.protocol_hash:
                protocol = candidate
            else:
                handle = activity.client().get_workflow_handle(req.workflow_id)
                protocol = (await handle.query("case_input", result_type=CaseInput)).protocol
            self._protocols[req.protocol_hash] = protocol
        return req.model_copy(update={"protocol": protocol})

    @activity.defn(name="send_notification")
    async def send_notification(self, req: NotificationRequest) -> NotificationResult:
        """Resolve, render and send one event's e-mail; SMTP errors raise so Temporal retries."""
        progress = SendProgress()
        beating = asyncio.create_task(progress.beat_until_cancelled())
        try:
            return await self._send_notification(req, progress)
        finally:
            beating.cancel()

    async def _send_notification(self, req: NotificationRequest,
                                 progress: SendProgress) -> NotificationResult:
        req = await self.with_protocol(req)
        mid = message_id(req.workflow_id, req.event_key)
        subject = subject_for(req)
        people = resolve_addressees(req, self.settings)
        if not people.everyone:
            activity.logger.warning("notification %s (%s): nobody has an address; %d missing",
                                    req.event, mid, len(people.missing))
            return NotificationResult(message_id=mid, missing=people.missing, subject=subject)
        batches = await asyncio.to_thread(self._compose, req, people, subject)
        await self._deliver(batches, progress)
        activity.logger.info("notification %s sent: message %s, %d recipient(s), %d missing",
                             req.event, mid, len(people.everyone), len(people.missing))
        return NotificationResult(message_id=mid, sent_to=[r.address for r in people.everyone],
                                  missing=people.missing, subject=subject)

    def _compose(self, req: NotificationRequest, people: Addressees,
                 subject: str) -> list[tuple[Message, list[str]]]:
        """Render and build the messages (CPU work, run in a thread so the worker's event loop
        keeps serving workflow tasks). One per distinct personal link: links are never shown
        to anyone else; attachments are rendered once and shared."""
        context = build_context(req, people.missing)
        plain_page = f"{self.settings.public_url.rstrip('/')}/cases/{req.workflow_id}"
        files = build_attachments(req, plain_page, self.template_dir)
        groups: dict[str, list[Recipient]] = {}
        for recipient in people.everyone:
            groups.setdefault(self.link_for(req.workflow_id, recipient), []).append(recipient)
        batches = []
        for link, members in groups.items():
            bodies = render_bodies(req, {**context, "link": link}, self.template_dir)
            message = build_message(req, self.settings, people, subject, bodies, files)
            batches.append((message, [r.address for r in members]))
        return batches

    async def _deliver(self, batches: list[tuple[Message, list[str]]],
                       progress: SendProgress) -> None:
        s = self.settings
        sender = parseaddr(s.mail_from)[1] or s.mail_from
        smtp = aiosmtplib.SMTP(**connection_options(s), timeout=SMTP_TIMEOUT)  # infra.smtp
        # A retry (after a refusal, or a worker that died mid-send) sends only to the recipients
        # no earlier attempt handed to the relay: see activities/progress.py.
        pending = [(m, left) for m, r in batches
                   if (left := progress.pending(str(m["Message-ID"]), r))]
        if not pending:
            return
        async with smtp:
            for n, (message, recipients) in enumerate(pending, start=1):
                progress.check()
                refused, _ = await smtp.send_message(message, sender=sender,
                                                     recipients=recipients)
                progress.accepted(str(message["Message-ID"]),
                                  [r for r in recipients if r not in refused])
                if refused:
                    await progress.record()
                    codes = sorted({str(r.code) for r in refused.values()})
                    raise aiosmtplib.SMTPResponseException(
                        int(codes[0]), f"{len(refused)} of {len(recipients)} recipient(s) "
                                       f"refused (codes {', '.join(codes)})")
                if n < len(pending):  # the last batch is recorded by the activity's completion
                    at = await progress.record()
                    activity.logger.debug("e-mail %s: %d recipient(s) recorded as sent at %.6f",
                                          message["Message-ID"], len(progress.done), at)
