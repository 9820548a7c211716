"""A partnership contact's address in this deployment: the settings' override, else the
protocol file's (used by the e-mail activity and by the forms the CLI prints)."""

from __future__ import annotations

import json
from pathlib import Path

from infra.settings import Settings
from infra.smtp import is_loopback
from protocols.schema import Protocol

CONFIRMED_FILE = "confirmed-contacts.json"


def main_contact(protocol: Protocol) -> str | None:
    """The contact ``partnership_addresses[<protocol id>]`` stands for: the one copied in first,
    else the one forms go to, else the first contact the protocol lists."""
    copied = [rule.contact for rule in protocol.copies]
    forms = [form.to for stage in protocol.stages for form in stage.forms]
    return next(iter([*copied, *forms, *protocol.contacts]), None)


def contact_address(protocol: Protocol, contact_id: str, settings: Settings) -> str:
    """A contact's address: ``partnership_addresses["<protocol>.<contact>"]``, then
    ``partnership_addresses["<protocol>"]`` for the main contact, then the protocol file."""
    overrides = settings.partnership_addresses
    specific = overrides.get(f"{protocol.id}.{contact_id}")
    if specific:
        return specific
    if contact_id == main_contact(protocol) and overrides.get(protocol.id):
        return overrides[protocol.id]
    contact = protocol.contacts.get(contact_id)
    return contact.email if contact else ""


def mail_stays_here(settings: Settings) -> bool:
    """Whether mail goes to the embedded SMTP sink (filed on this machine, never sent on)."""
    return settings.embedded and settings.run_smtp_sink and is_loopback(settings.smtp_host)


def confirmed_file(settings: Settings) -> Path:
    return Path(settings.data_dir) / CONFIRMED_FILE


def confirmed_addresses(settings: Settings) -> set[str]:
    """The partnership addresses the deployment confirmed: the setting and the file
    `resolutions contacts confirm` writes (lower case)."""
    found = {a.strip().lower() for a in settings.confirmed_contacts}
    try:
        data = json.loads(confirmed_file(settings).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        data = []
    if isinstance(data, list):
        found |= {str(a).strip().lower() for a in data}
    return found


def contact_confirmed(protocol: Protocol, contact_id: str, settings: Settings) -> bool:
    """Whether mail may go to a contact's address: always into the embedded sink; else only
    an address the deployment set itself or confirmed. The protocol files carry the
    partnerships' real mailboxes, so a pilot pointed at a real relay must not copy them."""
    address = contact_address(protocol, contact_id, settings)
    if not address or mail_stays_here(settings):
        return True
    overrides = {a.strip().lower() for a in settings.partnership_addresses.values()}
    return address.lower() in overrides | confirmed_addresses(settings)
