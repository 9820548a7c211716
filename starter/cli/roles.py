"""`resolutions roles add | remove | list` (the roles file) and `resolutions links rotate`.

The roles file, ``<data_dir>/roles.toml``, names who holds the partnership-wide roles (business
unit, auditor) and who may raise a disagreement. It is read on every web request, so an entry
removed here withdraws every link already sent to that address at once.
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from infra.links import rotate_link_secret
from infra.secrets import write_secret
from infra.settings import MAX_LINK_DAYS, Settings, load_settings
from protocols.addresses import check_address
from protocols.loader import load_protocol
from starter.web.roles import FILE_ROLES, load_roles, parse_roles


def roles_path(settings: Settings) -> Path:
    return Path(settings.data_dir) / "roles.toml"


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML ({exc}); fix it by hand first") from exc


def _key(email: str, role: str) -> str:
    """An address, or for raisers '@domain' (everyone at one agency's domain)."""
    address = email.strip().lower()
    if address.startswith("@") and role == "raiser":
        check_address("x" + address)
    else:
        check_address(address)
    return address


def add_role(settings: Settings, email: str, role: str, protocols: list[str]) -> str:
    """Give ``email`` ``role`` (for ``protocols``; none = every partnership); the file's path."""
    if role not in FILE_ROLES:
        raise ValueError(f"--role must be one of {', '.join(FILE_ROLES)}")
    if email.strip().startswith("@") and role != "raiser":
        raise ValueError("a whole domain (@…) may be given the raiser role only; name "
                         "business units and auditors by their own address")
    key = _key(email, role)
    names = [load_protocol(p).id for p in protocols]
    path = roles_path(settings)
    data = _read(path)
    entry: dict[str, Any] = {"role": role}
    if names:
        entry["protocols"] = names
    data[key] = entry
    _write(settings, path, data)
    return str(path)


def remove_role(settings: Settings, email: str) -> bool:
    path = roles_path(settings)
    data = _read(path)
    key = email.strip().lower()
    if key not in data:
        return False
    del data[key]
    _write(settings, path, data)
    return True


def _write(settings: Settings, path: Path, data: dict[str, Any]) -> None:
    """Check the whole file as the web app will read it, then write it (0600)."""
    text = ("# Standing roles: read on every web request (see README, Web forms).\n"
            + tomli_w.dumps(data))
    parse_roles(tomllib.loads(text), str(path))
    write_secret(path, text)


def cmd_roles(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.roles_command == "add":
        path = add_role(settings, args.email, args.role, args.protocol or [])
        scope = ", ".join(args.protocol) if args.protocol else "every partnership"
        who = args.email.strip().lower()
        address = f"NAME{who}" if who.startswith("@") else who
        print(f"{who} now holds the {args.role} role for {scope} ({path}). Make a link with "
              f"`resolutions link --{args.role.replace('_', '-')} --email {address}"
              f"{' --protocol ' + args.protocol[0] if args.protocol else ''}"
              f"{' --name ...' if args.role == 'raiser' else ''}`.")
    elif args.roles_command == "remove":
        if not remove_role(settings, args.email):
            raise ValueError(f"{args.email} has no entry in {roles_path(settings)}")
        print(f"{args.email.strip().lower()} removed: every link sent to it for that role "
              "stops working at once.")
    else:
        held = load_roles(settings)
        if not held:
            print(f"No standing roles ({roles_path(settings)} is empty or absent).")
        for email, role in sorted(held.items()):
            print(f"{email:40} {role.role:14} {', '.join(role.protocols) or 'every partnership'}")
    return 0


def cmd_links_rotate(args: argparse.Namespace) -> int:
    settings = load_settings()
    overlap = settings.link_valid_days if args.overlap_days is None else args.overlap_days
    until = rotate_link_secret(settings, overlap)
    print(f"New link secret written under {settings.data_dir}. Links sent before now open "
          f"until the end of {until.isoformat()} (UTC); new links use the new secret. Restart "
          "the worker and the web forms.")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("roles", help="who holds the business-unit, auditor and raiser roles "
                                     "(the roles file)")
    roles_sub = p.add_subparsers(dest="roles_command", required=True, metavar="ACTION")
    add = roles_sub.add_parser("add", help="give an address a standing role")
    add.add_argument("--email", required=True,
                     help="the address (for raisers also '@domain': everyone at that domain)")
    add.add_argument("--role", required=True, choices=FILE_ROLES)
    add.add_argument("--protocol", action="append",
                     help="limit to one partnership (repeatable; default: every partnership)")
    remove = roles_sub.add_parser("remove", help="withdraw an address's role (and its links)")
    remove.add_argument("--email", required=True)
    roles_sub.add_parser("list", help="print the standing roles")
    p.set_defaults(handler=cmd_roles)

    p = sub.add_parser("links", help="personal links: rotate the secret they are sealed with")
    links_sub = p.add_subparsers(dest="links_command", required=True, metavar="ACTION")
    rotate = links_sub.add_parser(
        "rotate", help="new link secret; links already sent keep opening for an overlap")
    rotate.add_argument("--overlap-days", type=int,
                        help=f"days links sealed with the old secret keep opening (0–"
                             f"{MAX_LINK_DAYS}; default: settings link_valid_days)")
    p.set_defaults(handler=cmd_links_rotate)
