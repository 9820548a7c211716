"""The `resolutions` command line: one entry point, one clear line on error."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from protocols.loader import ProtocolError
from protocols.settings import SettingsError

Handler = Callable[[argparse.Namespace], int]


def one_line(message: str) -> str:
    """An error message as one line: control and line-separator characters a person typed
    (a newline, a carriage return, U+2028…) are shown escaped instead of breaking the line."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in message)


class Parser(argparse.ArgumentParser):
    """argparse, but its error stays one line even when the bad argument holds a newline."""

    def error(self, message: str):  # type: ignore[override]
        super().error(one_line(message))


def build_parser() -> argparse.ArgumentParser:
    from starter import plan_cmd, protocols_cmds

    parser = Parser(
        prog="resolutions",
        description="Run professional-disagreement protocols as durable workflows.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("plan", help="a protocol's timetable if every stage used its full time")
    p.add_argument("--protocol", required=True, help="york, dudley, swindon, leeds or barnsley")
    p.add_argument("--arose", help="when the concern arose (ISO 8601; London time if no offset)")
    p.add_argument("--start-stage", help="stage to start at (e.g. 3 for an urgent York case)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(handler=plan_cmd.cmd_plan)

    p = sub.add_parser("protocols", help="list the protocols, or show one")
    psub = p.add_subparsers(dest="action")
    show = psub.add_parser("show", help="print one protocol's rules readably")
    show.add_argument("name")
    protocols_cmds.add_verify(psub)
    p.set_defaults(handler=plan_cmd.cmd_protocols)

    for register in _extra_commands():
        register(sub)
    return parser


def _extra_commands() -> list[Callable[[argparse._SubParsersAction], None]]:
    """Command groups that live in their own modules (cases, mail, audit…)."""
    registrars = []
    for module_name in ("starter.case_cmds", "starter.mail_cmds", "starter.audit_cmds",
                        "starter.admin_cmds", "starter.web.cli"):
        try:
            module = __import__(module_name, fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        registrars.append(module.register)
    return registrars


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except (ProtocolError, SettingsError, ValueError) as exc:
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - one clear line for people, never a traceback
        from starter.errors import explain

        print(f"error: {one_line(explain(exc))}", file=sys.stderr)
        return 1


def run() -> None:
    """Console entry point. Leaves with ``os._exit`` once output is flushed: the Temporal SDK's
    runtime threads can otherwise touch Python during interpreter shutdown and abort the
    process (SIGABRT) after the command has already succeeded or printed its error."""
    import os

    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
