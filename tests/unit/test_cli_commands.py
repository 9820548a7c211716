"""The CLI's command table (starter.cli.commands) names what each module really registers, so
`resolutions --help` lists every command and each command word loads the module that has it."""

from __future__ import annotations

import argparse
import importlib

from starter.cli import build_parser
from starter.cli.commands import COMMANDS, MODULES


def _registered(module: str) -> dict[str, tuple[str | None, tuple[str, ...]]]:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    importlib.import_module(f"starter.cli.{module}").register(sub)
    out = {}
    for action in sub._choices_actions:
        aliases = tuple(n for n, p in sub.choices.items()
                        if p is sub.choices[action.dest] and n != action.dest)
        out[action.dest] = (action.help, aliases)
    return out


def test_table_matches_each_module():
    for module in MODULES:
        table = {name: (c.help, c.aliases) for name, c in COMMANDS.items() if c.module == module}
        assert _registered(module) == table, module


def test_partial_parser_lists_every_command_and_parses_the_chosen_one():
    full = build_parser()
    partial = build_parser("status", full=False)
    assert partial.format_help() == full.format_help()
    args = partial.parse_args(["status", "york-2026-0001", "--json"])
    assert args.handler is not None and args.case_id == "york-2026-0001"
