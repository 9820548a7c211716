"""`resolutions raise | status | list | timeline` and one command per manager action of
:mod:`protocols.actions` (`record-outcome`, `bypass`, `pause`, `resume`, `agree-timescale`,
`assign`, `confirm-in-writing`, `report-immediate-risk`, `withdraw`, `record-discussion`,
`mark-step-done`), each spelled from the
action's id and answering to its old names too (`outcome`, `confirm`, `risk`, …)."""

from __future__ import annotations

import argparse
import asyncio
import json
import tomllib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from infra.settings import load_settings
from protocols.actions import MANAGER_ACTIONS
from protocols.loader import available_protocols, protocol_choices
from protocols.messages import CONTACT_METHODS, ActionResult, Actor, CaseState
from protocols.naming import slots_to_name
from starter import deadline_words
from starter.cli import lazy
from starter.cli.operators import acting, add_acting_arguments
from starter.cli.output import table
from starter.operators import read_token
from starter.timefmt import london, parse_moment, utc_now
from starter.wording import event_kind, event_text, londonise

cases = lazy("starter.cases")


def _run(coro_factory: Callable[[Any], Awaitable[int]]) -> int:
    async def go() -> int:
        from infra.connection import connect

        client = await connect(load_settings())
        return await coro_factory(client)

    return asyncio.run(go())


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("case_id", metavar="ID", help="case id, e.g. york-2026-0042")
    add_acting_arguments(p)
    p.add_argument("--signal", action="store_true",
                   help="send without waiting for an answer (an invalid one is recorded as "
                        "refused on the case)")


# -- raise -------------------------------------------------------------------------------------
def _person(args: argparse.Namespace, side: str) -> dict[str, str]:
    out = {}
    for field in ("name", "role", "agency", "email", "phone"):
        value = getattr(args, f"{side}_{field}")
        if value is not None:
            out[field] = value
    return out


def _holder(text: str) -> tuple[str, dict[str, str]]:
    """'2.raising=Jane Smith <jane@x.org>' → ('2.raising', {...})."""
    if "=" not in text:
        raise ValueError(f"--holder '{text}' should look like 2.raising=Jane Smith <jane@x.org>")
    key, rest = text.split("=", 1)
    person: dict[str, str] = {}
    if "<" in rest and rest.rstrip().endswith(">"):
        name, email = rest.rsplit("<", 1)
        person = {"name": name.strip(), "email": email.strip().rstrip(">")}
    else:
        person = {"name": rest.strip()}
    return key.strip(), person


def _read_case_file(path: str) -> dict[str, Any]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read case file {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text) if p.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"case file {path} is not valid {p.suffix[1:].upper()}: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"case file {path} must hold one object of case fields")
    return data


def cmd_raise(args: argparse.Namespace) -> int:
    data: dict[str, Any] = _read_case_file(args.file) if args.file else {}
    protocol = args.protocol or data.pop("protocol", None)
    urgency = args.urgency or data.pop("urgency", "standard")
    data.pop("protocol", None)
    data.pop("urgency", None)
    if not protocol:
        raise ValueError(f"say which protocol: --protocol {'|'.join(available_protocols())}")
    for key, value in {"reference": args.reference, "issue": args.issue,
                       "risk_to_child": args.risk, "nature": args.nature, "aim": args.aim,
                       "category": args.category}.items():
        if value is not None:
            data[key] = value
    if args.arose:
        data["arose"] = parse_moment(args.arose, "--arose").isoformat()
    for side in ("raising", "receiving"):
        person = {**data.get(side, {}), **_person(args, side)}
        data[side] = person
    child = dict(data.get("child", {}))
    if args.child_name:
        child["name"] = args.child_name
    if args.child_dob:
        child["date_of_birth"] = args.child_dob
    if args.child_address:
        child["address"] = args.child_address
    if child:
        data["child"] = child
    if args.variant:
        data["variants"] = args.variant
    for side in ("raising", "receiving"):
        kind = getattr(args, f"{side}_kind")
        if kind is not None:
            data[side]["kind"] = kind
    if args.conference_dissent_exhausted:
        data["conference_dissent_exhausted"] = True
    holders = dict(data.get("holders", {}))
    for text in args.holder or []:
        key, person = _holder(text)
        holders[key] = person
    if holders:
        data["holders"] = holders
    if "reference" not in data:
        raise ValueError("give a case reference with --reference (e.g. 2026-0042)")
    raiser = data.get("raising", {})
    # Who raised it: the operator token's person where one is set, else the raising
    # practitioner the case names (never a typed name).
    if read_token(args.token_file):
        actor = acting(args, f"{protocol}-{data['reference']}")
    else:
        if args.by:
            raise ValueError("--by needs your operator token (RESOLUTIONS_OPERATOR_TOKEN); "
                             "without one the case is raised in the raising practitioner's "
                             "name")
        actor = Actor(name=raiser.get("name") or "unknown", role=raiser.get("role", ""),
                      agency=raiser.get("agency", ""), email=raiser.get("email", ""),
                      role_key="raising")
    inp = cases.build_case_input(protocol, data, urgency, actor)
    try:
        cases.check_named(inp)
    except ValueError as exc:
        raise ValueError(_naming_help(inp, exc)) from None
    if inp.case.arose is not None and not args.confirm_backdated:
        from starter.backdating import preview

        backdated = preview(inp.protocol, inp.case.arose, inp.urgency, utc_now(),
                            load_settings())
        if backdated is not None:
            raise ValueError("\n".join([*backdated.lines(), "Nothing was raised. Check "
                                         "--arose, or raise it so with --confirm-backdated."]))

    async def go(client) -> int:
        settings = load_settings()
        handle = await cases.raise_case(client, settings, inp)
        state = await _wait_for_stage(client, handle.id)
        print(f"Raised case {handle.id} under the {inp.protocol.partnership} protocol.")
        if state:
            _print_state(state, brief=True)
        later = [s for s in slots_to_name(inp.protocol, inp.case, inp.urgency)
                 if not s.required and s.key not in inp.case.holders]
        if later:
            print("  not named yet (name them when known with `resolutions assign "
                  f"{handle.id} --role KEY --name … --email …`):")
            for s in later:
                print(f"    - stage {s.stage_id}: {s.title} (--role {s.key})")
        return 0

    return _run(go)


def _naming_help(inp: Any, exc: ValueError) -> str:
    """The refusal in one go: each missing person of the starting stage with the --holder
    that names them, then every other problem."""
    fields: dict[str, str] = getattr(exc, "fields", {}) or {}
    missing = [s for s in slots_to_name(inp.protocol, inp.case, inp.urgency)
               if f"holders.{s.key}.name" in fields or f"holders.{s.key}.email" in fields]
    others = [v for k, v in fields.items() if not k.startswith("holders.")]
    if not missing:
        return "\n".join(others or [str(exc)])
    first = missing[0]
    return "\n".join([f"the case starts at stage {first.stage_id} ({first.stage_name}), so "
                      "these people act first: name each with an email address",
                      *(f"  --holder '{s.key}=NAME <EMAIL>'   ‘{s.title}’" for s in missing),
                      *others])


async def _wait_for_stage(client, workflow_id: str) -> CaseState | None:
    """Give the worker a moment to enter the first stage so we can show its deadlines (the
    stage's event is written once its deadlines are known)."""
    for _ in range(50):
        timeline = await cases.get_timeline(client, workflow_id)
        if any(e.kind == "stage_entered" for e in timeline):
            return await cases.get_state(client, workflow_id)
        await asyncio.sleep(0.1)
    return None


# -- actions -----------------------------------------------------------------------------------
def _action(name: str, build: Callable[[argparse.Namespace], dict[str, Any]]):
    def handler(args: argparse.Namespace) -> int:
        data = build(args)
        data["by"] = acting(args, args.case_id).model_dump()
        message = cases.parse_action(name, data)

        async def go(client) -> int:
            nonlocal message
            if name in CHOSEN:
                message = cases.parse_action(name, await _chosen(client, args.case_id, name,
                                                                 data))
            result = await cases.act(client, args.case_id, name, message, as_signal=args.signal)
            if result is None:
                print(f"Sent to {args.case_id}. Check `resolutions status {args.case_id}` to see "
                      "whether it was accepted.")
                return 0
            _print_result(result)
            return 0

        return _run(go)

    return handler


# Actions whose values must be valid choices where the case stands (protocols.choices), or
# that name a deadline as `status` shows it (starter.deadline_words).
CHOSEN = ("record_outcome", "agree_timescale", "bypass", "assign", "mark_step_done")


async def _chosen(client, case_id: str, name: str, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` checked against the choices valid now: every wrong one refused in one message
    listing the valid ones; a step named by number or plain name given by its key."""
    from protocols.choices import wrong

    state = await cases.get_state(client, case_id)
    if name == "mark_step_done":
        return {**data, "deadline": deadline_words.step_key(state, data["deadline"])}
    inp = await cases.get_case_input(client, case_id)  # the rules the case was raised with
    problems = wrong(name, data, inp.protocol, inp.case, state, cli=True)
    if problems:
        raise ValueError(" ".join(problems.values()))
    return data


def _print_result(result: ActionResult) -> None:
    print(londonise(result.message))
    print()
    _print_state(result.position, brief=True)  # type: ignore[arg-type]


def _outcome(args) -> dict[str, Any]:
    return {"stage": args.stage, "resolved": args.resolved, "summary": args.summary,
            "agreed_actions": args.agreed_actions or "",
            "outstanding_matters": args.outstanding or "",
            "learning_points": args.learning or [], "policy_issue": args.policy_issue,
            "contact_method": args.contact_method, "reasons": args.reasons or ""}


def _bypass(args) -> dict[str, Any]:
    return {"to_stage": args.to_stage, "reason": args.reason, "urgent": args.urgent,
            "agreed_by": args.agreed_by or [], "agreement_of": args.agreement_of or []}


def _agree(args) -> dict[str, Any]:
    # 0 is a number given (refused below with the rule's words), not a flag left out.
    given = [x for x in (args.working_days, args.hours, args.until or None,
                         args.same_day or None) if x is not None]
    if len(given) != 1:
        raise ValueError("give exactly one of --working-days N, --hours N, --until DATE or "
                         "--same-working-day")
    if args.working_days is not None:
        timescale: dict[str, Any] = {"kind": "working_days", "amount": args.working_days}
    elif args.hours is not None:
        timescale = {"kind": "hours", "amount": args.hours}
    elif args.until:
        timescale = {"kind": "until", "until": parse_moment(args.until, "--until").isoformat()}
    else:
        timescale = {"kind": "same_working_day"}
    # Its bounds are the protocol's rule, refused by the workflow (protocols.agreed_bounds).
    return {"stage": args.stage, "deadline": args.deadline or "", "timescale": timescale,
            "reason": args.reason or "", "agreed_by": args.agreed_by or []}


def _assign(args) -> dict[str, Any]:
    person = {"name": args.name, "email": args.email or "", "role": args.role_title or "",
              "agency": args.agency or "", "phone": args.phone or ""}
    return {"role": args.role, "person": person, "reason": args.reason or ""}


def _outcome_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stage", required=True)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--resolved", dest="resolved", action="store_true")
    g.add_argument("--not-resolved", dest="resolved", action="store_false")
    p.add_argument("--summary", required=True)
    p.add_argument("--agreed-actions")
    p.add_argument("--outstanding", help="how outstanding matters will be pursued")
    p.add_argument("--learning", action="append", help="a learning point (repeatable)")
    p.add_argument("--policy-issue", action="store_true",
                   help="the discussion raised significant policy issues")
    p.add_argument("--contact-method", choices=list(CONTACT_METHODS),
                   help="how the two sides spoke at this stage")
    p.add_argument("--reasons", help="the professional reasons for the final decision, where "
                   "a category's first steps ask for them (Barnsley 3.9)")


def _bypass_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--to-stage", required=True)
    p.add_argument("--reason", required=True)
    p.add_argument("--urgent", action="store_true", help="the matter is urgent")
    p.add_argument("--agreed-by", action="append", help="name of someone who agreed")
    p.add_argument("--agreement-of", action="append", choices=["professionals", "managers"])


def _reason_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--reason", required=True)


def _resume_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--note", default="")


def _agree_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stage", required=True)
    p.add_argument("--deadline", help="which deadline (default: the stage's main one)")
    p.add_argument("--working-days", type=int)
    p.add_argument("--hours", type=int)
    p.add_argument("--until", help="an agreed date and time (ISO 8601)")
    p.add_argument("--same-working-day", dest="same_day", action="store_true")
    p.add_argument("--reason")
    p.add_argument("--agreed-by", action="append")


def _assign_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--role", required=True, help="raising, receiving, or e.g. 2.receiving")
    p.add_argument("--name", required=True)
    p.add_argument("--email")
    p.add_argument("--role-title")
    p.add_argument("--agency")
    p.add_argument("--phone")
    p.add_argument("--reason")


def _confirm_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--duty", default="")
    p.add_argument("--summary", default="")


def _risk_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--description", required=True)


def _discussion_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--at", help="when it took place, London time (default: now; not later)")
    p.add_argument("--stage", default="", help="the stage it belongs to (default: current)")
    p.add_argument("--with", dest="with_name", required=True, help="who you spoke with")
    p.add_argument("--with-title", default="", help="their title")
    p.add_argument("--with-agency", default="", help="their agency")
    p.add_argument("--how", required=True, choices=list(CONTACT_METHODS),
                   help="how you spoke")
    p.add_argument("--said", required=True, help="what was said")
    p.add_argument("--agreed", default="", help="what was agreed")
    p.add_argument("--approved-by", default="", help="who approved this record")


def _discussion(args) -> dict[str, Any]:
    return {"at": parse_moment(args.at, "--at").isoformat() if args.at else None,
            "stage": args.stage, "with_name": args.with_name, "with_title": args.with_title,
            "with_agency": args.with_agency, "method": args.how, "said": args.said,
            "agreed": args.agreed, "approved_by": args.approved_by}


def _refer_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--referral", help="which referral (shown by `status` and `protocols "
                   "show`); needed only where a stage has more than one")
    p.add_argument("--not-refer", action="store_true",
                   help="decide not to refer, where 'not resolved' offered the decision: "
                   "the case closes, recording why")
    p.add_argument("--reason", required=True, help="why")
    p.add_argument("--decided-by", action="append", help="who decided (repeatable)")


def _close_unconfirmed_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--reason", default="", help="why the case closes without the written "
                   "confirmation (required: recorded on the case and in its report)")
    p.add_argument("--decided-by", action="append", help="who decided (repeatable)")


def _step_done_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--deadline", required=True,
                   help="the step: its number as `status` shows it, its plain name, or its key")
    p.add_argument("--done-by", action="append", help="who did it (repeatable; default: you)")
    p.add_argument("--note", default="")


Builder = Callable[[argparse.Namespace], dict[str, Any]]
# Each manager action's own arguments, and how they become its message.
ACTION_ARGUMENTS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Builder]] = {
    "record_outcome": (_outcome_args, _outcome),
    "bypass": (_bypass_args, _bypass),
    "pause": (_reason_args, lambda a: {"reason": a.reason}),
    "resume": (_resume_args, lambda a: {"note": a.note}),
    "agree_timescale": (_agree_args, _agree),
    "assign": (_assign_args, _assign),
    "confirm_in_writing": (_confirm_args, lambda a: {"duty": a.duty, "summary": a.summary}),
    "report_immediate_risk": (_risk_args, lambda a: {"description": a.description}),
    "withdraw": (_reason_args, lambda a: {"reason": a.reason}),
    "record_discussion": (_discussion_args, _discussion),
    "mark_step_done": (_step_done_args, lambda a: {"deadline": a.deadline,
                                                   "done_by": a.done_by or [],
                                                   "note": a.note}),
    "refer": (_refer_args, lambda a: {"referral": a.referral or "", "refer": not a.not_refer,
                                      "reason": a.reason, "decided_by": a.decided_by or []}),
    "close_unconfirmed": (_close_unconfirmed_args,
                          lambda a: {"reason": a.reason, "decided_by": a.decided_by or []}),
}
assert set(ACTION_ARGUMENTS) == {a.id for a in MANAGER_ACTIONS}, "a command per manager action"


# -- reading -----------------------------------------------------------------------------------
def _print_state(state: CaseState, brief: bool = False, ended: Any = None) -> None:
    print(f"Case {state.workflow_id} ({state.partnership})")
    if ended is not None:  # starter.endings.Ending: the run was ended outside the protocol
        print(f"  {ended.label.upper()}: {ended.sentence()}")
    status = f"{ended.label} (its record stopped while {state.status})" if ended else state.status
    print(f"  status: {status}   urgency: {state.urgency}"
          f"{'   IMMEDIATE RISK' if state.immediate_risk else ''}")
    print(f"  stage {state.stage}: {state.stage_name} (since {london(state.stage_entered_at)})")
    if state.paused_reason:
        print(f"  paused: {state.paused_reason}")
    if state.flags:
        print("  needs attention:")
        for line in state.flags:
            print(f"    ! {line}")
    shown = deadline_words.lines(state)
    if shown:
        print("  deadlines (London time):")
        for line in shown:
            print(f"    {line}")
    if state.expected_next:
        print("  next:")
        for line in state.expected_next:
            print(f"    - {line}")
    if not brief and state.not_notified:
        print("  not notified (address missing):")
        for line in state.not_notified:
            print(f"    - {line}")
    lines = getattr(state, "unreached", [])
    keys = getattr(state, "unreached_roles", [])
    for i, line in enumerate(lines):
        key = keys[i] if len(keys) == len(lines) else "KEY"
        print(f"  warning: not told, so cannot act: {line}. Name them with an address: "
              f"`resolutions assign {state.workflow_id} --role {key} --name … --email …`")
    if state.closed_at:
        print(f"  closed {london(state.closed_at)}: {state.closing_summary}")
    if not brief and state.discussions:
        print("  discussions and contacts:")
        for t in state.discussions:
            print(f"    - stage {t.stage} {london(t.at)}, {CONTACT_METHODS[t.method].lower()} "
                  f"with {t.with_whom()}: {t.said}"
                  + (f" (approved by {t.approved_by})" if t.approved_by else ""))
    if not brief and state.outcomes:
        print("  outcomes:")
        for o in state.outcomes:
            print(f"    - stage {o.stage} {'resolved' if o.resolved else 'not resolved'} "
                  f"{london(o.at)} by {o.by.name}: {o.summary}"
                  + (f" (reasons: {o.reasons})" if o.reasons else ""))


def cmd_status(args: argparse.Namespace) -> int:
    async def go(client) -> int:
        from starter.endings import ending

        # Both at once: the query's error (an unknown case…) is the one shown.
        state, ended = await asyncio.gather(
            cases.get_state(client, args.case_id),
            ending(client, cases.normalise_id(args.case_id)), return_exceptions=True)
        for result in (state, ended):
            if isinstance(result, BaseException):
                raise result
        if args.json:
            data = state.model_dump(mode="json")
            if ended:
                data["ended_abnormally"] = {"how": ended.label, "at": ended.at.isoformat()
                                            if ended.at else None}
            print(json.dumps(data, indent=2))
        else:
            _print_state(state, ended=ended)
        return 0

    return _run(go)


def cmd_timeline(args: argparse.Namespace) -> int:
    async def go(client) -> int:
        events = await cases.get_timeline(client, args.case_id)
        if args.json:
            print(json.dumps([e.model_dump(mode="json") for e in events], indent=2))
            return 0
        shown = [e for e in events if args.all or e.kind != "notification_sent"]
        print(table(["when (London)", "stage", "event", "by", "what"],
                    [[london(e.at), e.stage, event_kind(e.kind), e.actor, event_text(e.summary)]
                     for e in shown], 1000))
        return 0

    return _run(go)


def cmd_list(args: argparse.Namespace) -> int:
    query = cases.list_query(args.protocol, args.overdue, args.all)

    async def go(client) -> int:
        rows = await cases.list_cases(client, query)
        if args.json:
            print(json.dumps([{**r.__dict__, "next_deadline": r.next_deadline.isoformat()
                               if r.next_deadline else None,
                               "started": r.started.isoformat() if r.started else None}
                              for r in rows], indent=2))
            return 0
        if not rows:
            print("No cases match.")
            return 0
        print(table(["case", "stage", "status", "next deadline", "overdue", "agencies"],
                    [[r.workflow_id, r.stage, r.status, london(r.next_deadline),
                      "YES" if r.overdue else "", f"{r.raising_agency} → {r.receiving_agency}"]
                     for r in rows]))
        return 0

    return _run(go)


# -- registration ------------------------------------------------------------------------------
def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("raise", help="raise a disagreement (starts its workflow)")
    p.add_argument("--file", help="case file (JSON or TOML) with the case fields")
    p.add_argument("--protocol", help=protocol_choices())
    p.add_argument("--reference", help="case reference, e.g. 2026-0042 (never a name)")
    p.add_argument("--urgency", choices=["standard", "urgent", "immediate-risk"])
    p.add_argument("--arose", help="when the concern arose (default: now)")
    p.add_argument("--confirm-backdated", action="store_true",
                   help="raise a case whose --arose means deadlines have already passed "
                        "(without it, the command shows which and stops)")
    for side in ("raising", "receiving"):
        for field in ("name", "role", "agency", "email", "phone"):
            p.add_argument(f"--{side}-{field}")
        p.add_argument(f"--{side}-kind", help=f"the kind of agency the {side} side is, where "
                       "the protocol routes it differently (e.g. school, self_employed, "
                       "no_line_manager, vcf, designated_lead): only that side's roles change")
    p.add_argument("--issue", help="the issue you are concerned about")
    p.add_argument("--risk", help="the risk to the child")
    p.add_argument("--nature", help="the nature of the disagreement")
    p.add_argument("--aim", help="what you aim to achieve")
    p.add_argument("--category", help="what the disagreement is about: 'other' (the default) "
                   "or one the protocol offers (`resolutions protocols show NAME` lists them), "
                   "e.g. conference_request (Leeds, Barnsley), "
                   "child_protection_conference_decision (Swindon)")
    p.add_argument("--conference-dissent-exhausted", action="store_true")
    p.add_argument("--variant", action="append",
                   help="legacy: a routing variant by id (now say the side: --raising-kind)")
    p.add_argument("--holder", action="append",
                   help="who holds a role: '2.raising=Jane Smith <jane@x.org>' (repeatable)")
    p.add_argument("--child-name")
    p.add_argument("--child-dob", help="YYYY-MM-DD")
    p.add_argument("--child-address")
    p.add_argument("--by", help="deprecated: with an operator token, its name")
    p.add_argument("--token-file", help="a file holding your operator token")
    p.set_defaults(handler=cmd_raise, on_behalf_of="", behalf_reason="")

    for action in MANAGER_ACTIONS:
        add_arguments, build = ACTION_ARGUMENTS[action.id]
        p = sub.add_parser(action.spelling, aliases=list(action.alias_spellings),
                           help=action.label[0].lower() + action.label[1:])
        _add_common(p)
        add_arguments(p)
        p.set_defaults(handler=_action(action.id, build))

    p = sub.add_parser("status", help="a case's stage, deadlines and who acts next")
    p.add_argument("case_id", metavar="ID")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_status)

    p = sub.add_parser("timeline", help="everything that happened on a case")
    p.add_argument("case_id", metavar="ID")
    p.add_argument("--json", action="store_true")
    p.add_argument("--all", action="store_true", help="include every e-mail sent")
    p.set_defaults(handler=cmd_timeline)

    p = sub.add_parser("list", help="open cases")
    p.add_argument("--protocol")
    p.add_argument("--overdue", action="store_true")
    p.add_argument("--all", action="store_true", help="include closed cases")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_list)
