"""`resolutions operators add | list | remove`, and who is acting for every command that
changes a case: the person of the operator token (:mod:`starter.operators`), never a typed
name."""

from __future__ import annotations

import argparse
import sys

from infra.settings import load_settings
from protocols.messages import Actor
from starter.cli.output import table


def add_acting_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments every command that changes a case takes."""
    p.add_argument("--token-file", help="a file holding your operator token (default: the "
                   "RESOLUTIONS_OPERATOR_TOKEN variable)")
    p.add_argument("--by", help="deprecated: who you are comes from your operator token; if "
                   "given, it must be the token's name")
    p.add_argument("--on-behalf-of", default="", metavar="ROLE",
                   help="business unit only: the role you act for, e.g. 2.raising")
    p.add_argument("--behalf-reason", default="", metavar="TEXT",
                   help="business unit only: why you act for them")


def acting(args: argparse.Namespace, case_id: str) -> Actor:
    """The person the operator token names, as the ``by`` of the command's message."""
    from starter import operators
    from starter.web.roles import holds, load_roles, protocol_of

    settings = load_settings()
    operator = operators.identify(settings, operators.read_token(args.token_file))
    if args.by and args.by.strip().casefold() != operator.name.strip().casefold():
        raise ValueError(f"--by '{args.by}' is not the person of your operator token "
                         f"({operator.name}); leave --by out, who you are comes from the token")
    if (args.on_behalf_of or args.behalf_reason) and not operator.business_unit:
        raise ValueError("only a business-unit operator acts on someone's behalf")
    if operator.business_unit and not holds(load_roles(settings), operator.email,
                                            "business_unit", protocol_of(case_id)):
        raise ValueError(f"{operator.email} does not hold the business-unit role for this "
                         "partnership in the roles file, so this token cannot act on its cases")
    return operator.actor(on_behalf_of=args.on_behalf_of, reason=args.behalf_reason)


def cmd_add(args: argparse.Namespace) -> int:
    from protocols.permissions import BUSINESS_UNIT
    from starter import operators

    role_key = BUSINESS_UNIT if args.business_unit else (args.role_key or "")
    token = operators.add(load_settings(), operators.Operator(
        name=args.name, email=args.email or "", role_key=role_key, agency=args.agency or "",
        title=args.title or ""))
    print(token)
    print(f"Operator token for {args.name} ({role_key}). It is shown once and only its HMAC is "
          f"kept: give it to them privately; they set {operators.TOKEN_ENV} to it (or keep it "
          "in a 0600 file for --token-file).", file=sys.stderr)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from starter import operators

    rows = [[o.name, o.email, o.role_key, o.created] for o in operators.listed(load_settings())]
    print(table(["name", "e-mail", "acts as", "created"], rows) if rows else "No operators.")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from starter import operators

    gone = operators.remove(load_settings(), args.who)
    print(f"{gone} token(s) withdrawn.")
    return 0 if gone else 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("operators", help="operator tokens: who acts through this command")
    osub = p.add_subparsers(dest="operators_action", required=True)
    a = osub.add_parser("add", help="make a token for a person (printed once)")
    a.add_argument("--name", required=True)
    a.add_argument("--email")
    who = a.add_mutually_exclusive_group(required=True)
    who.add_argument("--role-key", help="the role they act in, e.g. 2.raising")
    who.add_argument("--business-unit", action="store_true",
                     help="the partnership's business unit (its address must hold the role "
                          "in the roles file)")
    a.add_argument("--agency")
    a.add_argument("--title", help="job title, e.g. 'Line manager'")
    a.set_defaults(handler=cmd_add)
    ls = osub.add_parser("list", help="who holds a token (never the tokens)")
    ls.set_defaults(handler=cmd_list)
    r = osub.add_parser("remove", help="withdraw every token of a person")
    r.add_argument("who", metavar="EMAIL_OR_NAME")
    r.set_defaults(handler=cmd_remove)
