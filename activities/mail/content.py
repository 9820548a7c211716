"""What an e-mail says: its subject, and its plain-text and HTML bodies.

Bodies are Jinja2 templates, with a partnership's own wording checked first under
``templates/email/<protocol id>/``. Subjects are built from the protocol and the case reference
only, so they never carry a child's (or anyone's) name.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

from activities.mail.addressing import feedback_rule
from protocols.caserecord import (
    due_text,
    form_title,
    holder,
    london,
    role_holder,
    role_title,
    stage_rows,
    steps_taken,
)
from protocols.forms import template_environment
from protocols.messages import DeadlineState, NotificationRequest
from protocols.schema import Duty, Stage

TEMPLATE_DIR = Path(__file__).parent.parent / "templates"
DUTY_EVENTS = ("learning_referral", "learning_dissemination", "debrief", "feedback", "record",
               "written_confirmation")


def one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def short(moment: datetime) -> str:
    """'Wed 18 Mar 17:00' (London time), for subjects."""
    return london(moment, "%a %d %b %H:%M")


def tag(req: NotificationRequest) -> str:
    """'[York] Case 2026-0042': the partnership and the case reference, no personal data."""
    return f"[{req.protocol.short_name}] Case {req.state.reference}"


# -- reading the request --------------------------------------------------------------------
def _stage(req: NotificationRequest) -> Stage | None:
    try:
        return req.protocol.stage(req.stage or req.state.stage)
    except KeyError:
        return None


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


def _duty(req: NotificationRequest, duty_id: str) -> Duty | None:
    duties = [*req.protocol.post_resolution, *(d for s in req.protocol.stages
                                               for d in s.on_resolution)]
    return next((d for d in duties if d.id == duty_id), None)


def calendar_deadlines(req: NotificationRequest) -> list[DeadlineState]:
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


# -- the subject ----------------------------------------------------------------------------
def _action(d: DeadlineState | None) -> str:
    if d is not None and d.status == "awaiting_agreement" and d.due is None:
        return "agree a timescale with your opposite number"
    when = ""
    if d is not None and d.due is not None:
        when = f" by {short(d.due)}"
    elif d is not None and d.timescale_kind == "asap":
        when = " as soon as possible"
    return f"contact your opposite number{when}"


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
    # A category's first steps (Leeds Appendix 1, Barnsley 3.8) are not a numbered stage.
    place = ("the first steps" if req.protocol.category_of_stage(sid) is not None
             else f"stage {sid}")
    d = _deadline(req)
    what = d.what if d else ""
    due = f" by {short(d.due)}" if d is not None and d.due else ""
    duty = _duty(req, req.extra.get("duty", ""))
    nudge = req.extra.get("nudge", "")
    action = _action(_lead_deadline(req, stage))
    phrases: dict[str, str] = {
        "case_raised": f"disagreement raised at {place}"
                       + (" (backdated: deadlines already passed)" if req.extra.get("backdated")
                          else "") + f" — {action}",
        "stage_entered": f"{place} entered — {action}",
        "reminder": f"reminder — {what}{due}",
        "deadline_passed": f"deadline passed — {what}",
        "duty_overdue": f"overdue — {what}",
        "nudge": (f"reminder {nudge + ' ' if nudge.isdigit() else ''}— "
                  + (f"agree a timescale for: {what}" if d is not None
                     and d.status == "awaiting_agreement" else f"{what}{due}")),
        "outcome_recorded": f"{place} outcome recorded — "
                            + ("resolved" if req.extra.get("resolved") == "true"
                               else "not resolved"),
        "resolved": f"resolved at {place}"
                    + ("; case closed" if req.extra.get("closes") else ""),
        "confirmed_in_writing": "outcome confirmed in writing"
                                + ("; case closed" if req.extra.get("closes") else ""),
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
    return one_line(f"{'URGENT ' if req.event == 'immediate_risk' else ''}{tag(req)}: {phrase}")


# -- the bodies -----------------------------------------------------------------------------
HELD = " (not sent: address not confirmed)"


def build_context(req: NotificationRequest, missing: list[str],
                  held: list[str] | None = None) -> dict[str, Any]:
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
        source = req.protocol.risk_route.source
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
        "immediate": req.protocol.risk_route,
        "forms": [form_title(k, req.protocol) for k in req.attach_forms],
        "calendars": [d.what for d in calendar_deadlines(req)],
        "missing": [m for m in missing if not m.endswith(HELD)],
        # Partnership contacts not sent to (address not confirmed): the raising side sends
        # the form or this message to them itself.
        "held": held or [],
        "feedback": feedback_rule(req),
        "due_text": due_text,
        "london": london,
    }


def render_bodies(req: NotificationRequest, context: dict[str, Any],
                  template_dir: Path | None = None) -> tuple[str, str]:
    """Plain text and HTML bodies; the partnership's own templates are preferred."""
    dirs = (template_dir, TEMPLATE_DIR) if template_dir else (TEMPLATE_DIR,)
    env = template_environment(*dirs)
    names = [req.event, "duty"] if req.event in DUTY_EVENTS else [req.event]
    bodies = []
    for ext in ("txt", "html"):
        candidates = [f"email/{folder}{name}.{ext}" for name in names
                      for folder in (f"{req.protocol.id}/", "")] + [f"email/generic.{ext}"]
        bodies.append(env.select_template(candidates).render(context))
    text = re.sub(r"\n{3,}", "\n\n", bodies[0]).strip() + "\n"
    return text, bodies[1]
