"""Personal links: who may open which page, for how long.

A link is ``<public_url>/t/<token>``. The token carries a grant: the person (name, e-mail, job
title, agency), the role key they hold in the case (``2.raising``), the access role
(practitioner, manager, business_unit, auditor, raiser), the case (workflow id) or partnership
it is for, and its expiry. It is **sealed**: AES-GCM with a key derived from the deployment's
link secret, so a link copied into a proxy log or browser history shows nobody's name or
address, and any change to it is detected. The nonce is derived from the grant (an HMAC of
it), so one grant always gives one token: a day's e-mails to one person share their link, and a
retried e-mail carries the same one.

Links sent before sealing were ``<payload>.<signature>`` (base64url JSON with an HMAC-SHA256);
those are read until ``legacy_links_until`` (then refused as retired), and never made any more.

The secret can be rotated: links are made with the current secret only, and opened with it or
with a previous one until that one's ``until`` date (``RESOLUTIONS_LINK_PREVIOUS_SECRETS``, or
the file ``resolutions links rotate`` keeps beside the generated secret).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from infra.secrets import create_secret, write_secret
from infra.settings import MAX_LINK_DAYS, MIN_LINK_DAYS, MIN_SECRET_BYTES, SHORT_SECRET, Settings
from protocols.messages import Actor, Person

AccessRole = Literal["practitioner", "manager", "business_unit", "auditor", "raiser"]
ACCESS_ROLES: tuple[str, ...] = ("practitioner", "manager", "business_unit", "auditor", "raiser")
CASE_ROLES = ("practitioner", "manager")
DAY = 86400


class LinkError(Exception):
    """A link that cannot be used: ``kind`` is 'invalid' (tampered, unknown), 'expired', or
    'retired' (a signed-only link from before sealing, past its sunset)."""

    def __init__(self, kind: Literal["invalid", "expired", "retired"], message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Grant:
    """What a verified link lets its holder do, and who they are."""

    name: str
    email: str
    role: str  # an AccessRole
    role_key: str = ""  # the role in the case: "raising", "2.receiving", "contact:…"
    workflow_id: str = ""  # the one case the link opens ("" = not bound to a case)
    # The case's first run id: a reference is never reused for another case, but should a
    # workflow id ever be started afresh (say, after a purge), this link still opens only
    # the case it was sent for. "" on links made before runs were bound.
    run_id: str = ""
    protocol: str = ""  # the partnership a list or raising link is for ("" = any)
    title: str = ""  # job title, e.g. "Line manager"
    agency: str = ""
    expires: int = 0  # Unix time

    @property
    def can_act(self) -> bool:
        return self.role in CASE_ROLES and bool(self.workflow_id)

    def actor(self) -> Actor:
        """The ``by`` of every action sent with this link: from the token, never a form."""
        return Actor(name=self.name, role=self.title or self.role_key, agency=self.agency,
                     email=self.email)

    def role_label(self) -> str:
        labels = {"practitioner": "practitioner", "manager": "manager",
                  "business_unit": "partnership business unit", "auditor": "auditor",
                  "raiser": "raising a disagreement"}
        return labels.get(self.role, self.role)


_KEYS = {"name": "n", "email": "e", "role": "r", "role_key": "k", "workflow_id": "w",
         "run_id": "u", "protocol": "p", "title": "t", "agency": "a", "expires": "x"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def derive_key(secret: bytes, purpose: str) -> bytes:
    """A separate key per use (links, CSRF, flash messages) from the one secret."""
    return hmac.new(secret, f"professional-resolutions/{purpose}".encode(), hashlib.sha256).digest()


def _grant_json(grant: Grant) -> bytes:
    data = {short: value for name, short in _KEYS.items()
            if (value := asdict(grant)[name]) not in ("", None)}
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def _checked_grant(raw: bytes, now: float | None) -> Grant:
    """The grant in a token's (authenticated) body, refused if malformed or expired."""
    invalid = LinkError("invalid", "This link is not valid.")
    try:
        data = json.loads(raw)
        fields = {name: data[short] for name, short in _KEYS.items() if short in data}
        grant = Grant(**fields)
    except (ValueError, TypeError, KeyError):
        raise invalid from None
    if grant.role not in ACCESS_ROLES or not grant.name or not isinstance(grant.expires, int):
        raise invalid
    if grant.expires <= (time.time() if now is None else now):
        raise LinkError("expired", "This link has expired.")
    return grant


SEAL_CONTEXT = b"professional-resolutions link v2"


def seal(key: bytes, grant: Grant) -> str:
    """An encrypted, tamper-evident token for ``grant`` (``key``: 32 bytes)."""
    body = _grant_json(grant)
    nonce_key = derive_key(key, "link-nonce")  # never the cipher key itself in the HMAC
    nonce = hmac.new(nonce_key, body, hashlib.sha256).digest()[:12]
    return _b64(nonce + AESGCM(key).encrypt(nonce, body, SEAL_CONTEXT))


def unseal(key: bytes, token: str, now: float | None = None) -> Grant:
    """The grant a sealed token carries; :class:`LinkError` if altered, foreign or expired."""
    invalid = LinkError("invalid", "This link is not valid.")
    if not isinstance(token, str) or not 40 <= len(token) <= 2000 or "." in token:
        raise invalid
    try:
        raw = _unb64(token)
        body = AESGCM(key).decrypt(raw[:12], raw[12:], SEAL_CONTEXT)
    except (ValueError, InvalidTag):
        raise invalid from None
    if _b64(raw) != token:  # one spelling per link: junk characters, padding or spare bits
        raise invalid       # would otherwise give one link endless keys past its rate limits
    return _checked_grant(body, now)


def sign(key: bytes, grant: Grant) -> str:
    """The earlier, signed-only token (readable payload); kept to test that old links work."""
    payload = _b64(_grant_json(grant))
    mac = hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest()
    return f"{payload}.{_b64(mac)}"


def verify(key: bytes, token: str, now: float | None = None) -> Grant:
    """The grant a signed-only token carries; :class:`LinkError` if altered or expired."""
    invalid = LinkError("invalid", "This link is not valid.")
    if not isinstance(token, str) or len(token) > 2000 or token.count(".") != 1:
        raise invalid
    payload, mac = token.split(".")
    expected = _b64(hmac.new(key, payload.encode("ascii", "replace"), hashlib.sha256).digest())
    if not hmac.compare_digest(mac.encode("ascii", "replace"), expected.encode("ascii")):
        raise invalid
    try:
        raw = _unb64(payload)
    except ValueError:
        raise invalid from None
    return _checked_grant(raw, now)


# -- the secret -------------------------------------------------------------------------------
PREVIOUS_FILE = "link_secrets_previous.json"


def link_secret(settings: Settings) -> bytes:
    """``settings.link_secret``, or a secret generated once into ``<data_dir>/link_secret``."""
    if settings.link_secret:
        secret = settings.link_secret.encode("utf-8")
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"RESOLUTIONS_LINK_SECRET {SHORT_SECRET}")
        return secret
    path = Path(settings.data_dir) / "link_secret"
    text = create_secret(path, _new_secret).strip()
    if len(text) < MIN_SECRET_BYTES:
        raise ValueError(f"{path} holds no usable link secret; delete it to make a new one")
    return text.encode("ascii")


def _new_secret() -> str:
    return secrets.token_urlsafe(48) + "\n"


def _end_of(day: str) -> float:
    """The Unix time at which a date (UTC) ends."""
    start = datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC)
    return (start + timedelta(days=1)).timestamp()


def _previous_file(settings: Settings) -> list[dict[str, str]]:
    path = Path(settings.data_dir) / PREVIOUS_FILE
    if not path.is_file():
        return []
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        for entry in entries:
            _end_of(entry["until"])
            if len(entry["secret"].encode("utf-8")) < MIN_SECRET_BYTES:
                raise ValueError
    except (ValueError, TypeError, KeyError, AttributeError):
        raise ValueError(f"{path} cannot be read as previous link secrets; restore it from "
                         "a backup, or delete it to stop honouring links made before the "
                         "last rotation") from None
    return entries


def previous_secrets(settings: Settings, now: float | None = None) -> list[tuple[bytes, float]]:
    """Previous link secrets still honoured now, each with the moment it stops being."""
    now = time.time() if now is None else now
    entries = [*settings.link_previous_secrets, *_previous_file(settings)]
    out = [(e["secret"].encode("utf-8"), _end_of(e["until"])) for e in entries]
    return [(secret, until) for secret, until in out if until > now]


def rotate_link_secret(settings: Settings, overlap_days: int) -> date:
    """Make a new generated link secret; the old one keeps opening links for ``overlap_days``.

    The old secret is written to the previous-secrets file (0600) before the new one replaces
    it, so no moment exists when links already sent stop opening. Returns the last day the old
    secret is honoured. Refused when the secret comes from RESOLUTIONS_LINK_SECRET.
    """
    if settings.link_secret:
        raise ValueError("the link secret comes from RESOLUTIONS_LINK_SECRET: set the new "
                         "secret there and move the old one into RESOLUTIONS_LINK_PREVIOUS_"
                         'SECRETS as [{"secret": "<old>", "until": "YYYY-MM-DD"}]')
    if not 0 <= overlap_days <= MAX_LINK_DAYS:
        raise ValueError(f"--overlap-days must be between 0 and {MAX_LINK_DAYS}")
    old = link_secret(settings).decode("ascii")
    until = (datetime.now(UTC) + timedelta(days=overlap_days)).date()
    now = time.time()
    kept = [e for e in _previous_file(settings) if _end_of(e["until"]) > now]
    kept.append({"secret": old, "until": until.isoformat()})
    data_dir = Path(settings.data_dir)
    write_secret(data_dir / PREVIOUS_FILE, json.dumps(kept, indent=1) + "\n")
    write_secret(data_dir / "link_secret", _new_secret())
    return until


class Links:
    """Makes and checks personal links with one deployment's secret (and opens links made with
    a previous secret until its date)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        secret = link_secret(settings)
        self.key = derive_key(secret, "links")  # signed-only links sent before sealing
        self.seal_key = derive_key(secret, "links-sealed")
        self.previous = [(derive_key(old, "links"), derive_key(old, "links-sealed"), until)
                         for old, until in previous_secrets(settings)]
        self.legacy_until = _end_of(settings.legacy_links_until.isoformat())

    def expiry(self, days: int | None = None) -> int:
        """Expiry rounded up to a whole UTC day, so a day's e-mails share one link."""
        days = self.settings.link_valid_days if days is None else days
        if not MIN_LINK_DAYS <= days <= MAX_LINK_DAYS:
            raise ValueError(f"a link works for {MIN_LINK_DAYS} to {MAX_LINK_DAYS} days, "
                             f"not {days}")
        return int(math.ceil((time.time() + days * DAY) / DAY) * DAY)

    def token(self, grant: Grant) -> str:
        return seal(self.seal_key, grant)

    def url(self, grant: Grant) -> str:
        return f"{self.settings.public_url.rstrip('/')}/t/{self.token(grant)}"

    def read(self, token: str, now: float | None = None) -> Grant:
        """The grant a link carries, opened with the current secret or a still-honoured
        previous one; :class:`LinkError` if altered, foreign, expired or retired."""
        now = time.time() if now is None else now
        legacy = isinstance(token, str) and "." in token
        if legacy and now >= self.legacy_until:
            raise LinkError("retired", "Links of this older kind are no longer accepted.")
        keys = [(self.key, self.seal_key)] + [(k, s) for k, s, until in self.previous
                                              if until > now]
        failure = LinkError("invalid", "This link is not valid.")
        for key, seal_key in keys:
            try:
                return verify(key, token, now) if legacy else unseal(seal_key, token, now)
            except LinkError as exc:
                if exc.kind != "invalid":
                    raise
                failure = exc
        raise failure

    def for_case(self, workflow_id: str, person: Person, role_key: str,
                 role: str | None = None, days: int | None = None, run_id: str = "",
                 held_by: str | None = None) -> Grant:
        return Grant(name=person.name or person.email or "Unnamed", email=person.email,
                     role=role or role_for_key(role_key, held_by), role_key=role_key,
                     workflow_id=workflow_id, run_id=run_id,
                     title=person.role, agency=person.agency, expires=self.expiry(days))


def role_for_key(role_key: str, held_by: str | None = None) -> str:
    """The access role an e-mail recipient gets from the case role it is addressed as.

    ``held_by`` is who holds the stage's role by the protocol, for the case
    (:func:`protocols.caserecord.key_held_by`): the practitioners get practitioner access,
    every other holder manager access. The e-mail activity and ``resolutions link`` always
    pass it; only a grant made with no protocol at hand falls back on the rule links followed
    before roles said who holds them (a stage "1" role is a practitioner's).
    """
    if role_key.startswith("contact:"):
        return "business_unit"  # the partnership's own address: read-only, this case only
    if role_key in ("raising", "receiving"):
        return "practitioner"
    if held_by is not None:
        return "practitioner" if held_by == "practitioner" else "manager"
    return "practitioner" if role_key.startswith("1.") else "manager"


def link_builder_from_settings(settings: Settings) -> Callable[..., str]:
    """What the notification activity calls for each recipient's personal link."""
    links = Links(settings)

    def build(workflow_id: str, person: Person, role_key: str,
              held_by: str | None = None) -> str:
        return links.url(links.for_case(workflow_id, person, role_key, held_by=held_by,
                                        run_id=_sending_run(workflow_id)))

    return build


# The first run of the case whose e-mail is being sent, set by ``send_case_email`` from its
# input: a case that continued as new sends from a later run, but its links stay bound to the
# first (Temporal's first_execution_run_id), which every run of the case shares.
SENDING_RUN: ContextVar[str] = ContextVar("resolutions_sending_run", default="")


def _sending_run(workflow_id: str) -> str:
    """The first run of the case whose e-mail is being sent (inside the notification activity).

    From ``SENDING_RUN`` where the activity set it; else (``send_notification``, whose cases
    never continued as new) the run that sends, which is then the first.
    Outside an activity (or for another workflow id) there is none to bind: ''.
    """
    from temporalio import activity

    if not activity.in_activity():
        return ""
    if SENDING_RUN.get():
        return SENDING_RUN.get()
    info = activity.info()
    return info.workflow_run_id or "" if info.workflow_id == workflow_id else ""
