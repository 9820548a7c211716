"""The `resolutions` command line: one entry point, one clear line on error.

One module per group of commands, each with a ``register(sub)``: :mod:`.plan` (plan,
protocols), :mod:`.cases` (raise, the manager actions, status, list, timeline), :mod:`.mail`
(mail, form), :mod:`.audit` (audit …, report), :mod:`.admin` (worker, setup-cluster, keys,
purge, hold), :mod:`.web` (web, link)
and :mod:`.roles` (roles, links rotate); :mod:`.output` draws tables, colours and progress.
Arguments are parsed before the Temporal SDK is imported, so help and mistakes come at once:
:mod:`.commands` names every command's module, so only the module of the command typed is
imported (none for ``resolutions --help``).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

from starter.cli.commands import COMMANDS, MODULES, module_of

Handler = Callable[[argparse.Namespace], int]


def lazy(name: str) -> ModuleType:
    """Module ``name``, imported on its first use: command modules name what their handlers
    need (the Temporal SDK, the audit readers) without loading it while arguments are parsed."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.loader is not None, name
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module


def one_line(message: str) -> str:
    """An error message as one line: control and line-separator characters a person typed
    (a newline, a carriage return, U+2028…) are shown escaped instead of breaking the line."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in message)


class Parser(argparse.ArgumentParser):
    """argparse, but its error stays one line even when the bad argument holds a newline."""

    def error(self, message: str):  # type: ignore[override]
        super().error(one_line(message))


def build_parser(command: str | None = None, full: bool = True) -> argparse.ArgumentParser:
    """The parser. With ``full``, every command's module registers its commands; otherwise
    only the module of ``command`` does and the others are listed by name and help alone."""
    import importlib

    parser = Parser(
        prog="resolutions",
        description="Run professional-disagreement protocols as durable workflows.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = module_of(command) if command else None
    for module in MODULES:
        if full or module == chosen:
            importlib.import_module(f"starter.cli.{module}").register(sub)
            continue
        for name, entry in COMMANDS.items():
            if entry.module == module:
                stub = sub.add_parser(name, help=entry.help, aliases=list(entry.aliases),
                                      add_help=False)
                stub.set_defaults(handler=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    first = words[0] if words and not words[0].startswith("-") else None
    args = build_parser(first, full=False).parse_args(words)
    if args.handler is None:  # a command reached some other way: parse again with them all
        args = build_parser().parse_args(words)
    handler: Handler = args.handler
    from infra.settings import SettingsError
    from protocols.loader import ProtocolError

    try:
        return handler(args)
    except (ProtocolError, SettingsError, ValueError) as exc:
        _error(str(exc))
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (`resolutions mail | head`): not an error
        _quiet_stdout()
        return 0
    except Exception as exc:  # noqa: BLE001 - one clear line for people, never a traceback
        from starter.errors import explain

        _error(explain(exc))
        return 1


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so the final flush does not hit the closed pipe again."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _error(message: str) -> None:
    """'error: …' on stderr; a message of several lines (a refusal with what to do) keeps its
    lines, each made safe; instants in London time."""
    from starter.cli.output import error
    from starter.wording import londonise

    first, *rest = londonise(message).split("\n")
    error(one_line(first))
    for line in rest:
        print(one_line(line), file=sys.stderr)


def run() -> None:
    """Console entry point. Leaves with ``os._exit`` once output is flushed: the Temporal SDK's
    runtime threads can otherwise touch Python during interpreter shutdown and abort the
    process (SIGABRT) after the command has already succeeded or printed its error."""
    import os

    from infra.secrets import owner_only_from_now

    owner_only_from_now()  # purge log, exported histories, printed forms: owner only
    code = main()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_stdout()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
