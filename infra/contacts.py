"""A partnership contact's address in this deployment: the settings' override, else the
protocol file's (used by the e-mail activity and by the forms the CLI prints)."""

from __future__ import annotations

from infra.settings import Settings
from protocols.schema import Protocol


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
