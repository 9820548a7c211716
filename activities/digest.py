"""The ``send_digests`` activity: list each partnership's open cases through Temporal's
visibility, keep those that need the business unit (:func:`protocols.digest.flags_of`), and
e-mail the business unit (the partnership's main contact) one digest with its dashboard link.

Only what is held in clear is written: case ids, stages, statuses, flags and dates.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

import aiosmtplib
from temporalio import activity
from temporalio.client import Client

from infra.contacts import contact_address, main_contact
from infra.links import Grant, Links
from infra.settings import Settings
from infra.smtp import connection_options
from protocols.calendar import LONDON
from protocols.digest import (
    DIGEST_ACTIVITY,
    FLAG_WORDS,
    DigestCase,
    DigestInput,
    DigestResult,
    DigestSent,
    flags_of,
)
from protocols.loader import available_protocols, load_protocol
from protocols.messages import CaseState
from protocols.schema import Protocol

SMTP_TIMEOUT = 30.0


class DigestActivities:
    """The daily digest, sent through the deployment's SMTP server."""

    def __init__(self, client: Client, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    @activity.defn(name=DIGEST_ACTIVITY)
    async def send_digests(self, inp: DigestInput) -> DigestResult:
        now = datetime.now(UTC)
        result = DigestResult()
        for name in inp.protocols or available_protocols():
            protocol = load_protocol(name)
            sent = DigestSent(protocol=name, cases=await self.needing(protocol, now))
            sent.to = contact_address(protocol, main_contact(protocol) or "", self.settings)
            if not sent.cases:
                sent.skipped = "no cases need attention"
            elif not sent.to:
                sent.skipped = "the partnership has no address for its business unit"
                activity.logger.warning("digest %s: %d case(s), no address", name,
                                        len(sent.cases))
            else:
                sent.message_id = await self.send(protocol, sent, now)
            result.sent.append(sent)
        return result

    async def needing(self, protocol: Protocol, now: datetime) -> list[DigestCase]:
        """The partnership's open cases that need the business unit, overdue first."""
        query = (f"WorkflowType = 'DisagreementWorkflow' AND ExecutionStatus = 'Running' "
                 f"AND CaseProtocol = '{protocol.id}'")
        ids = [wf.id async for wf in self.client.list_workflows(query, limit=5000)]
        gate = asyncio.Semaphore(8)

        async def one(wid: str) -> DigestCase | None:
            async with gate:
                activity.heartbeat(wid)
                state = await self.client.get_workflow_handle(wid).query(
                    "state", result_type=CaseState)
            flags = flags_of(state, now)
            if not flags or state.status in ("closed", "withdrawn"):
                return None
            due = [d.due for d in state.deadlines if d.live and d.due is not None]
            return DigestCase(workflow_id=wid, stage=state.stage, status=state.status,
                              flags=flags, next_deadline=min(due) if due else None,
                              stage_entered_at=state.stage_entered_at)

        found = [c for c in await asyncio.gather(*(one(i) for i in ids)) if c]
        return sorted(found, key=lambda c: ("overdue" not in c.flags, c.next_deadline or now,
                                            c.workflow_id))

    def dashboard_link(self, protocol: Protocol, to: str) -> str:
        links = Links(self.settings)
        contact = protocol.contacts[main_contact(protocol) or ""]
        return links.url(Grant(name=contact.name, email=to, role="business_unit",
                               protocol=protocol.id, expires=links.expiry())) + "/cases"

    async def send(self, protocol: Protocol, sent: DigestSent, now: datetime) -> str:
        day = now.astimezone(LONDON).date().isoformat()
        domain = (parseaddr(self.settings.mail_from)[1].partition("@")[2]
                  or "resolutions.invalid")
        mid = f"<digest-{protocol.id}-{day}@{domain}>"
        msg = EmailMessage()
        n = len(sent.cases)
        msg["Subject"] = (f"[{protocol.short_name}] Daily digest {day}: {n} case"
                          f"{'' if n == 1 else 's'} need{'s' if n == 1 else ''} attention")
        msg["From"] = self.settings.mail_from
        msg["To"] = sent.to
        msg["Date"] = format_datetime(now)
        msg["Message-ID"] = mid
        msg["X-Resolutions-Event"] = "daily_digest"
        lines = [f"{protocol.partnership}: the open cases that need the business unit today "
                 f"({day}), overdue first.", ""]
        for c in sent.cases:
            flags = ", ".join(FLAG_WORDS.get(f, f) for f in c.flags)
            due = (c.next_deadline.astimezone(LONDON).strftime("%a %d %b %Y %H:%M")
                   if c.next_deadline else "none")
            days = (now - c.stage_entered_at).days if c.stage_entered_at else 0
            lines.append(f"- {c.workflow_id}: stage {c.stage}, {c.status}; {flags}; "
                         f"{days} day{'s' if days != 1 else ''} at this stage; next deadline "
                         f"{due} (London)")
        lines += ["", "The dashboard (your personal link; do not forward it):",
                  self.dashboard_link(protocol, sent.to), "",
                  "This digest is sent every morning while any case needs attention."]
        msg.set_content("\n".join(lines))
        sender = parseaddr(self.settings.mail_from)[1] or self.settings.mail_from
        smtp = aiosmtplib.SMTP(**connection_options(self.settings), timeout=SMTP_TIMEOUT)
        async with smtp:
            await smtp.send_message(msg, sender=sender, recipients=[sent.to])
        activity.logger.info("digest %s sent: %d case(s)", protocol.id, n)
        return mid
