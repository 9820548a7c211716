"""`resolutions contacts list | confirm | unconfirm`: which partnership addresses mail may go to.

The protocol files carry the partnerships' real mailboxes. While mail goes to the embedded
SMTP sink they are used as they are; with any other SMTP server an address taken from a
protocol file is used only once confirmed here (or in ``RESOLUTIONS_CONFIRMED_CONTACTS``),
and until then its mail is held (infra.contacts).
"""

from __future__ import annotations

import argparse
import json

from infra.contacts import (
    confirmed_addresses,
    confirmed_file,
    contact_address,
    contact_confirmed,
    mail_stays_here,
)
from infra.secrets import write_secret
from infra.settings import load_settings
from protocols.addresses import check_address
from protocols.loader import available_protocols, load_protocol


def _file_addresses() -> dict[str, list[str]]:
    """Each address the protocol files name, with the contacts that use it."""
    found: dict[str, list[str]] = {}
    for name in available_protocols():
        p = load_protocol(name)
        for cid, contact in p.contacts.items():
            if contact.email:
                found.setdefault(contact.email.lower(), []).append(f"{p.short_name}: "
                                                                   f"{contact.name} ({cid})")
    return found


def cmd_list(args: argparse.Namespace) -> int:
    settings = load_settings()
    if mail_stays_here(settings):
        print("Mail goes to the embedded SMTP sink (never sent on): every partnership address "
              "is used.")
    for name in available_protocols():
        p = load_protocol(name)
        for cid, contact in p.contacts.items():
            address = contact_address(p, cid, settings)
            state = ("no address" if not address else "confirmed"
                     if contact_confirmed(p, cid, settings) else "NOT CONFIRMED: mail held")
            print(f"{p.id}.{cid}  {contact.name}  {address or '-'}  {state}")
    return 0


def cmd_confirm(args: argparse.Namespace, confirm: bool = True) -> int:
    settings = load_settings()
    known = _file_addresses()
    stored = {a for a in confirmed_addresses(settings)
              if a not in {c.lower() for c in settings.confirmed_contacts}}
    for address in args.address:
        address = address.strip().lower()
        check_address(address)
        if confirm and address not in known:
            raise ValueError(f"{address} is not an address any protocol file names; set a "
                             "partnership's own address with RESOLUTIONS_PARTNERSHIP_ADDRESSES")
        (stored.add if confirm else stored.discard)(address)
        uses = "; ".join(known.get(address, [])) or "no contact"
        print(f"{'Confirmed' if confirm else 'No longer confirmed'}: {address} ({uses})")
    write_secret(confirmed_file(settings), json.dumps(sorted(stored), indent=1) + "\n")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("contacts", help="partnership addresses: which mail may go to")
    inner = p.add_subparsers(dest="contacts_command", required=True)
    q = inner.add_parser("list", help="each protocol's contacts and whether mail may go there")
    q.set_defaults(handler=cmd_list)
    q = inner.add_parser("confirm", help="confirm a protocol file's address for this deployment")
    q.add_argument("address", nargs="+")
    q.set_defaults(handler=cmd_confirm)
    q = inner.add_parser("unconfirm", help="withdraw a confirmation (mail to it is held again)")
    q.add_argument("address", nargs="+")
    q.set_defaults(handler=lambda a: cmd_confirm(a, confirm=False))
