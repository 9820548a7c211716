"""`resolutions audit export | replay | timeline | log` and `resolutions report`.

All of them read histories (decision 8, "audit is replay") and decode them with the same data
converter and encryption codec as the worker (:func:`infra.connection.build_converter`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from infra.settings import Settings, load_settings
from protocols.loader import load_protocol
from starter.cli import lazy

if TYPE_CHECKING:
    from temporalio.client import Client, WorkflowHistory
    from temporalio.converter import DataConverter

agency_log = lazy("starter.audit.agency_log")
history = lazy("starter.audit.history")
report = lazy("starter.audit.report")
report_render = lazy("starter.audit.report_render")
story = lazy("starter.audit.story")
story_render = lazy("starter.audit.story_render")
gather = lazy("starter.audit.gather")
replay = lazy("starter.audit.replay")
processes = lazy("starter.audit.processes")


class _Context:
    """Settings, the converter, and a client made only when a command needs the server."""

    def __init__(self) -> None:
        self.settings: Settings = load_settings()
        from infra.connection import build_converter

        self.converter: DataConverter = build_converter(self.settings)
        self._client: Client | None = None

    async def client(self) -> Client:
        if self._client is None:
            from infra.connection import connect

            self._client = await connect(self.settings, self.converter)
        return self._client


def _run(go: Callable[[_Context], Awaitable[int]]) -> int:
    return asyncio.run(go(_Context()))


def _date(text: str | None, what: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{what} '{text}' is not a date like 2026-04-01") from None


def _period(args: argparse.Namespace) -> tuple[date | None, date | None]:
    start, end = _date(args.date_from, "--from"), _date(args.date_to, "--to")
    if start and end and end < start:
        raise ValueError("--to is before --from")
    return start, end


def _write(path: str, text: str, what: str, *, quiet_stdout: bool = False) -> None:
    """Write ``text`` to ``path`` and say so; on stderr when stdout carries JSON."""
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot write {path}: {exc.strerror}") from None
    print(f"Wrote {what} to {path}", file=sys.stderr if quiet_stdout else sys.stdout)


async def _history(ctx: _Context, target: str) -> WorkflowHistory:
    """A history from a file (named for its case) or from the server by case id."""
    if history.looks_like_file(target):
        return await history.named_for_case(history.read_history_file(target), ctx.converter)
    return await history.fetch(await ctx.client(), target)


# -- export ------------------------------------------------------------------------------------
def cmd_export(args: argparse.Namespace) -> int:
    async def go(ctx: _Context) -> int:
        # The latest run carries the case's whole record; a case that continued as new has
        # its earlier runs written beside it (<out>.run-1.json, …), first first.
        chain = await history.runs(await ctx.client(), args.case_id)
        found = chain[-1]
        text = history.export_json(found)
        if not args.out:
            sys.stdout.write(text + "\n")
            return 0
        out = Path(args.out)
        for n, earlier in enumerate(chain[:-1], start=1):
            _write(str(out.with_suffix(f".run-{n}{out.suffix}")),
                   history.export_json(earlier) + "\n",
                   f"run {n} of {len(chain)}: {len(earlier.events)} events")
        runs = f" (run {len(chain)} of {len(chain)})" if len(chain) > 1 else ""
        _write(args.out, text + "\n", f"{len(found.events)} events of {args.case_id}{runs} "
                                       "(payloads encrypted as stored)")
        return 0

    return _run(go)


# -- replay ------------------------------------------------------------------------------------
def cmd_replay(args: argparse.Namespace) -> int:
    if not args.all and not args.targets:
        raise ValueError("give a case id, history files, or --all")
    if args.all and args.targets:
        raise ValueError("give either --all or case ids / files, not both")
    if args.query and not args.all:
        raise ValueError("--query goes with --all")
    if args.processes is not None and not args.all:
        raise ValueError("--processes goes with --all")
    if args.processes is not None and args.processes < 1:
        raise ValueError("--processes is a number of processes, 1 or more")

    async def go(ctx: _Context) -> int:
        if args.all:
            client = await ctx.client()
            query = history.visibility_query(closed_only=True, extra=args.query)
            found = await processes.executions(client, query)
            parts = processes.processes_for(len(found), args.processes)
            if parts > 1 and len(found) > 1:
                # One process per core for hundreds of cases (starter.audit.processes).
                outcomes = await processes.replay_in_processes(found, parts)
                return replay.report_outcomes(outcomes)
            return await replay.replay_and_report(history.list_histories(client, query),
                                           ctx.converter, total=len(found))
        return await replay.replay_and_report(_targets(ctx, args.targets), ctx.converter,
                                       total=len(args.targets))

    return _run(go)


async def _targets(ctx: _Context, targets: list[str]) -> AsyncIterator[WorkflowHistory]:
    for target in targets:
        if history.looks_like_file(target):
            found = history.read_history_file(target)
            from temporalio.client import WorkflowHistory

            yield WorkflowHistory(target, found.events)  # reported under the file's name
        else:  # every run of the case, first first (continue-as-new)
            for run in await history.runs(await ctx.client(), target):
                yield run


# -- timeline ----------------------------------------------------------------------------------
def cmd_timeline(args: argparse.Namespace) -> int:
    """Exit status 1 when the record could not be fully verified (a check failed)."""

    async def go(ctx: _Context) -> int:
        found = await _history(ctx, args.target)
        from starter.audit.rebuild import Rebuilder

        case = await Rebuilder(ctx.converter).rebuild(found)
        told = story.build_story(case)
        if args.html:
            _write(args.html, story_render.render_html(told), f"the timeline of {case.workflow_id}")
        elif args.json:
            sys.stdout.write(story_render.render_json(told))
        else:
            sys.stdout.write(story_render.render_text(told))
        return 0 if all(c.ok for c in case.checks) else 1

    return _run(go)


# -- log ---------------------------------------------------------------------------------------
def cmd_log(args: argparse.Namespace) -> int:
    start, end = _period(args)
    protocol = load_protocol(args.protocol).id if args.protocol else None

    async def go(ctx: _Context) -> int:
        query = gather.case_query(start, end, raised_window=False, protocol=protocol)
        cases = await gather.gather_cases(await ctx.client(), ctx.converter, query)
        if args.protocol:
            cases = [c for c in cases if c.state.protocol == args.protocol]
        rows = agency_log.agency_log(cases, args.agency, start, end)
        text = agency_log.log_csv(rows) if args.csv else agency_log.log_text(rows, args.agency)
        if args.out:
            _write(args.out, text, f"{len(rows)} log rows")
        else:
            sys.stdout.write(text)
        return 0

    return _run(go)


# -- report ------------------------------------------------------------------------------------
def cmd_report(args: argparse.Namespace) -> int:
    start, end = _period(args)
    protocol = load_protocol(args.protocol).id if args.protocol else None

    async def go(ctx: _Context) -> int:
        query = gather.case_query(start, end, protocol=protocol)
        cases = await gather.gather_cases(await ctx.client(), ctx.converter, query)
        built = report.build_report(cases, protocol=args.protocol, start=start, end=end)
        if args.html:
            _write(args.html, report_render.render_html(built), "the report",
                   quiet_stdout=args.json)
        if args.json:
            sys.stdout.write(report_render.render_json(built))
        elif not args.html:
            sys.stdout.write(report_render.render_text(built))
        return 0

    return _run(go)


# -- registration ------------------------------------------------------------------------------
def _add_period(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="date_from", metavar="DATE", help="first day (YYYY-MM-DD)")
    p.add_argument("--to", dest="date_to", metavar="DATE", help="last day, inclusive")


def register(sub: argparse._SubParsersAction) -> None:
    audit = sub.add_parser("audit", help="export, replay and read cases from their histories")
    asub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")

    p = asub.add_parser("export", help="a case's full history as Temporal JSON (encrypted)")
    p.add_argument("case_id", metavar="ID")
    p.add_argument("--out", metavar="FILE", help="write to FILE instead of standard output")
    p.set_defaults(handler=cmd_export)

    p = asub.add_parser("replay", help="replay histories against today's workflow code")
    p.add_argument("targets", nargs="*", metavar="ID|FILE", help="case ids or history files")
    p.add_argument("--all", action="store_true", help="every closed case on the server")
    p.add_argument("--query", metavar="Q", help="with --all: an extra visibility filter")
    p.add_argument("--processes", type=int, metavar="N",
                   help="with --all: replay in N processes at once (default: one per core "
                        "once there are 200 or more closed cases for each)")
    p.set_defaults(handler=cmd_replay)

    p = asub.add_parser("timeline", help="a case's story rebuilt from its history alone",
                        description="A case's story rebuilt from its history alone. Exits 1 "
                                    "if any cross-check of the record fails.")
    p.add_argument("target", metavar="ID|FILE")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--json", action="store_true")
    g.add_argument("--html", metavar="FILE", help="an HTML page with a time chart")
    p.set_defaults(handler=cmd_timeline)

    p = asub.add_parser("log", help="an agency's log of its disagreements (Swindon s3 para 8)")
    p.add_argument("--agency", required=True, help="agency name as given on the cases")
    _add_period(p)
    p.add_argument("--protocol", help="only this protocol's cases")
    p.add_argument("--csv", action="store_true")
    p.add_argument("--out", metavar="FILE")
    p.set_defaults(handler=cmd_log)

    p = sub.add_parser("report", help="the partnership's monitoring report")
    p.add_argument("--protocol")
    _add_period(p)
    p.add_argument("--html", metavar="FILE", help="an HTML page with charts")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_report)
