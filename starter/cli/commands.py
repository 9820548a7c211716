"""Which module registers each command, with its one-line help and other names: enough to
print `resolutions --help` and to pick the one module a command needs, without importing any
of them (they load pydantic, the protocols and, when run, the Temporal SDK).

``tests/unit/test_cli_commands.py`` checks this table against what the modules register.
"""

from __future__ import annotations

from typing import NamedTuple


class Command(NamedTuple):
    module: str  # under starter.cli
    help: str
    aliases: tuple[str, ...] = ()


COMMANDS: dict[str, Command] = {
    "plan": Command("plan", "a protocol's timetable if every stage used its full time"),
    "protocols": Command("plan", "list the protocols, or show one"),
    "raise": Command("cases", "raise a disagreement (starts its workflow)"),
    "record-outcome": Command("cases", "record the outcome of a stage", ("outcome",)),
    "bypass": Command("cases", "move the case on to a later stage (bypass)"),
    "pause": Command("cases", "pause the case"),
    "resume": Command("cases", "resume the case"),
    "agree-timescale": Command("cases", "agree or extend a timescale", ("timescale",)),
    "assign": Command("cases", "hand a role to someone else", ("hand-over",)),
    "confirm-in-writing": Command("cases", "confirm the outcome in writing", ("confirm",)),
    "report-immediate-risk": Command("cases", "report immediate risk to the child",
                                     ("risk", "immediate-risk")),
    "withdraw": Command("cases", "withdraw the disagreement"),
    "record-discussion": Command("cases", "record a discussion or contact", ("discussion",)),
    "mark-step-done": Command("cases", "mark a step of the stage as done", ("step-done",)),
    "refer": Command("cases", "decide on a referral the protocol reserves"),
    "close-unconfirmed": Command("cases", "close without written confirmation"),
    "status": Command("cases", "a case's stage, deadlines and who acts next"),
    "timeline": Command("cases", "everything that happened on a case"),
    "list": Command("cases", "open cases"),
    "mail": Command("mail", "e-mails filed by the embedded SMTP sink"),
    "form": Command("mail", "a partnership form filled from a case's record (HTML)"),
    "audit": Command("audit", "export, replay and read cases from their histories"),
    "report": Command("audit", "the partnership's monitoring report"),
    "purge": Command("admin", "remove closed cases past retention (not legal holds)"),
    "hold": Command("admin", "place a case on legal hold (or --lift it)"),
    "worker": Command("admin", "run the worker (and embedded services, web forms)"),
    "setup-cluster": Command("admin", "register the custom search attributes and create the "
                                               "daily digest schedule"),
    "keys": Command("admin", "encryption keys"),
    "web": Command("web", "serve the web forms (the worker also serves them)"),
    "link": Command("web", "print a personal link to a case page, a partnership's list, or "
                           "the raising form"),
    "roles": Command("roles", "who holds the business-unit, auditor and raiser roles "
                              "(the roles file)"),
    "links": Command("roles", "personal links: rotate the secret they are sealed with"),
    "operators": Command("operators", "operator tokens: who acts through this command"),
    "contacts": Command("contacts", "partnership addresses: which mail may go to"),
}

MODULES: tuple[str, ...] = tuple(dict.fromkeys(c.module for c in COMMANDS.values()))


def module_of(word: str) -> str | None:
    """The module that registers the command (or one of its other names) ``word``."""
    for name, command in COMMANDS.items():
        if word == name or word in command.aliases:
            return command.module
    return None
