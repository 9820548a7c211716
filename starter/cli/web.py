"""`resolutions web` (serve the forms) and `resolutions link` (print a personal link)."""

from __future__ import annotations

import argparse
import asyncio
import signal

from pydantic import ValidationError

from infra.links import CASE_ROLES, Grant, Links, role_for_key
from infra.settings import MAX_LINK_DAYS, MIN_LINK_DAYS, load_settings
from protocols.caserecord import key_held_by
from protocols.loader import available_protocols, load_protocol
from protocols.messages import FROM_PEOPLE, Person
from starter.web.roles import ROLES_ENV, holds, load_roles


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("web", help="serve the web forms (the worker also serves them)")
    p.add_argument("--host", help="address to listen on (default: settings web_host)")
    p.add_argument("--port", type=int, help="port (default: settings web_port)")
    p.set_defaults(handler=cmd_web)

    p = sub.add_parser(
        "link", help="print a personal link to a case page, a partnership's list, or the "
                     "raising form",
        description="Examples: `resolutions link york-2026-0042 --name 'Mo Manager' --email "
                    "mo@csc.example --role-key 2.raising --role manager`; `resolutions link "
                    "--business-unit --protocol york --email cyscp@york.gov.uk`; `resolutions "
                    "link --auditor --email audit@example.org`; `resolutions link --raiser "
                    "--name 'Rae Raiser' --email rae@school.example`.")
    p.add_argument("case_id", nargs="?", metavar="ID", help="case id, e.g. york-2026-0042")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--business-unit", action="store_true",
                      help="the list of a partnership's open and overdue cases (read-only)")
    kind.add_argument("--auditor", action="store_true", help="read-only access to every case")
    kind.add_argument("--raiser", action="store_true", help="the form to raise a disagreement")
    p.add_argument("--name", help="the person's name (recorded on anything they do)")
    p.add_argument("--email", required=True, help="the person's e-mail address")
    p.add_argument("--title", default="", help="job title, e.g. 'Line manager'")
    p.add_argument("--agency", default="", help="their agency")
    p.add_argument("--role-key", default="raising",
                   help="their role in the case: raising, receiving, or e.g. 2.raising")
    p.add_argument("--role", choices=CASE_ROLES,
                   help="practitioner or manager (default: from --role-key)")
    p.add_argument("--protocol", help="partnership (needed with --business-unit; optional "
                                      "with --auditor and --raiser to limit the link)")
    p.add_argument("--days", type=int, help="days the link works (default: settings "
                                            "link_valid_days)")
    p.set_defaults(handler=cmd_link)


def grant_from_args(args: argparse.Namespace, links: Links) -> Grant:
    """The grant a `resolutions link` command asks for, checked against the roles file."""
    settings = links.settings
    if args.days is not None and not MIN_LINK_DAYS <= args.days <= MAX_LINK_DAYS:
        raise ValueError(f"--days must be between {MIN_LINK_DAYS} and {MAX_LINK_DAYS}")
    try:
        person = Person.model_validate(
            {"name": args.name or "", "email": args.email, "role": args.title,
             "agency": args.agency}, context=FROM_PEOPLE)
    except ValidationError as exc:
        names = {"name": "--name", "email": "--email", "role": "--title", "agency": "--agency"}
        raise ValueError("; ".join(
            f"{names.get(str(e['loc'][0]), e['loc'][0])}: "
            f"{e['msg'].removeprefix('Value error, ')}" for e in exc.errors())) from None
    name = person.name or person.email
    protocol = ""
    if args.protocol:
        protocol = load_protocol(args.protocol).id
    expires = links.expiry(args.days)
    if args.business_unit or args.auditor or args.raiser:
        role = ("business_unit" if args.business_unit else
                "auditor" if args.auditor else "raiser")
        if args.business_unit and not protocol:
            raise ValueError("say which partnership's list: --protocol "
                             + "|".join(available_protocols()))
        if args.raiser and not args.name:
            raise ValueError("give the raiser's name with --name (it is recorded on the case)")
        if not holds(load_roles(settings), person.email, role, protocol):
            where = f"{settings.data_dir}/roles.toml or {ROLES_ENV}"
            scope = f" --protocol {protocol}" if protocol else ""
            raise ValueError(f"{person.email} does not hold the {role} role"
                             f"{' for ' + protocol if protocol else ''} in {where}; give it "
                             f"with: resolutions roles add --email {person.email} --role "
                             f"{role}{scope}")
    if args.business_unit or args.auditor:
        return Grant(name=name, email=person.email, role=role, protocol=protocol,
                     title=person.role, agency=person.agency, expires=expires)
    if args.raiser:
        return Grant(name=name, email=person.email, role="raiser", protocol=protocol,
                     title=person.role, agency=person.agency, expires=expires)
    if not args.case_id:
        raise ValueError("give a case id (e.g. york-2026-0042), or --business-unit, --auditor "
                         "or --raiser")
    if not args.name:
        raise ValueError("give the person's name with --name (it is recorded on the case)")
    wid = args.case_id.strip().lower()
    protocol_id, _, reference = wid.partition("-")
    from starter.cases import workflow_id_for

    if not reference:
        raise ValueError(f"'{args.case_id}' is not a case id like york-2026-0042")
    case_protocol = load_protocol(protocol_id)
    if workflow_id_for(case_protocol.id, reference) != wid:
        raise ValueError(f"'{args.case_id}' is not a case id like york-2026-0042")
    held = key_held_by(case_protocol, args.role_key)
    return links.for_case(wid, person, args.role_key, role=args.role or
                          role_for_key(args.role_key, held), days=args.days)


def cmd_link(args: argparse.Namespace) -> int:
    links = Links(load_settings())
    grant = grant_from_args(args, links)
    print(links.url(grant))
    return 0


def cmd_web(args: argparse.Namespace) -> int:
    """Serve the forms alone (the worker runs elsewhere), until Ctrl-C."""
    from infra.connection import connect
    from starter.web.server import start_web_server

    overrides = {"web_host": args.host, "web_port": args.port}
    settings = load_settings(**overrides)
    if settings.web_port == 0:
        raise ValueError("web_port is 0 (web forms turned off); give --port")

    async def go() -> int:
        stop_event = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop_event.set)
        client = await connect(settings)
        stop = await start_web_server(settings, client)
        print(f"Web forms on {settings.public_url} (listening on {settings.web_host}:"
              f"{settings.web_port}). Press Ctrl-C to stop.", flush=True)
        try:
            await stop_event.wait()
        finally:
            await stop()
        return 0

    return asyncio.run(go())
