"""The one e-mail address check, wherever an address is accepted (CLI, web forms, case files,
hand-over, settings).

An address must be a syntactically valid mailbox (``email-validator``, without looking the
domain up: no network is needed) and hold nothing that has a meaning in a mail header or a
``mailto:`` link: ``? & = , ; % # : < > ( ) [ ] " '``, spaces, backslashes or control characters, so
an address cannot add recipients, a subject or a body to a link or a message.
"""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email

# Characters that are legal in a quoted or exotic local part, but that a header or a mailto:
# URL would read as syntax.
UNSAFE = re.compile(r"""[?&=,;%<>"'\\\s()\[\]:#]|[\x00-\x1f\x7f]""")


def check_address(value: str) -> str:
    """``value`` if it is a plain, safe e-mail address; ``ValueError`` saying why if not.

    Returned unchanged (not normalised), so what a person typed is what the case records.
    """
    unsafe = UNSAFE.search(value)
    if unsafe:
        shown = repr(unsafe.group())[1:-1]
        raise ValueError(f"'{value}' is not an e-mail address we can send to: it contains "
                         f"'{shown}', which is not allowed in an address")
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"'{value}' is not an e-mail address: {exc}") from None
    return value


def parse_domains(value: str) -> list[str]:
    """The deployment's agency mail domains (``RESOLUTIONS_MAIL_DOMAINS``, comma-separated),
    lower-cased; ``ValueError`` naming the first one that is not a domain."""
    domains = [d.strip().lower().lstrip("@") for d in value.split(",") if d.strip()]
    for domain in domains:
        try:
            validate_email(f"x@{domain}", check_deliverability=False)
        except EmailNotValidError:
            raise ValueError(f"'{domain}' is not a mail domain (e.g. york.gov.uk)") from None
    return domains


def check_domain(address: str, domains: list[str]) -> str:
    """``address`` if ``domains`` is empty or its domain is one of them (or below one);
    ``ValueError`` saying which domains are allowed if not."""
    if not domains or not address:
        return address
    host = address.rsplit("@", 1)[-1].lower()
    if any(host == d or host.endswith("." + d) for d in domains):
        return address
    raise ValueError(f"'{address}' is not at one of this partnership's agencies' mail domains "
                     f"({', '.join(domains)}); ask the business unit if the address is right")
