"""How the worker talks to the mail server: when it encrypts, and when it checks certificates.

* A server on this machine's loopback (``127.0.0.0/8``, ``::1``, ``localhost``: the embedded
  sink, a local relay): STARTTLS whenever the server offers it (opportunistic). Loopback
  traffic never leaves the machine, so its certificate is not checked (a local relay's is
  often self-signed).
* Any other server: TLS is required and its certificate checked against the system's CA
  store (or ``RESOLUTIONS_SMTP_CA_FILE``): implicit TLS with ``RESOLUTIONS_SMTP_TLS=true``,
  else STARTTLS, and a server that does not offer STARTTLS is refused. Only
  ``RESOLUTIONS_SMTP_ALLOW_PLAINTEXT=true`` lets mail go unencrypted to such a server (it then
  still uses STARTTLS when offered).
* ``RESOLUTIONS_SMTP_STARTTLS=required`` insists on STARTTLS, with the certificate checked,
  even on loopback; ``off`` never asks.
"""

from __future__ import annotations

import ipaddress
import ssl
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from infra.settings import Settings


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine's loopback (an address in 127/8, ::1, localhost)."""
    name = host.strip().strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def plaintext_refusal(settings: Settings) -> str:
    """Why these settings would send mail unencrypted off loopback ('' if they do not)."""
    if (settings.smtp_starttls == "off" and not settings.smtp_tls
            and not settings.smtp_allow_plaintext and not is_loopback(settings.smtp_host)):
        return (f"RESOLUTIONS_SMTP_STARTTLS=off would send mail unencrypted to "
                f"{settings.smtp_host}, which is not on this machine: use STARTTLS "
                f"(auto or required) or RESOLUTIONS_SMTP_TLS=true, or set "
                f"RESOLUTIONS_SMTP_ALLOW_PLAINTEXT=true to accept plain SMTP explicitly")
    return ""


def _checked_context(settings: Settings) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=settings.smtp_ca_file or None)


def connection_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``aiosmtplib.SMTP``: server, login and the TLS rules above."""
    options: dict[str, Any] = {
        "hostname": settings.smtp_host, "port": settings.smtp_port,
        "username": settings.smtp_username or None, "password": settings.smtp_password or None,
    }
    local = is_loopback(settings.smtp_host)
    if settings.smtp_tls:
        return {**options, "use_tls": True, "start_tls": False,
                "tls_context": _checked_context(settings)}
    mode = settings.smtp_starttls
    if mode == "off":
        return {**options, "use_tls": False, "start_tls": False}
    if mode == "required" or not (local or settings.smtp_allow_plaintext):
        return {**options, "use_tls": False, "start_tls": True,
                "tls_context": _checked_context(settings)}
    # Opportunistic: aiosmtplib's start_tls=None upgrades when the server offers STARTTLS.
    if local:
        return {**options, "use_tls": False, "start_tls": None, "validate_certs": False}
    return {**options, "use_tls": False, "start_tls": None,
            "tls_context": _checked_context(settings)}
