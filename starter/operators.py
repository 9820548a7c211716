"""Operator tokens: who is acting when the `resolutions` command changes a case.

``resolutions operators add`` makes a token for one person (name, e-mail, the role key they act
in, or the partnership's business unit) and prints it once. Only an HMAC of the token is kept,
in ``<data dir>/operators.json`` (0600), under a key of its own (``<data dir>/operator_key``,
0600, never printed), so the file of operators gives nobody a token. An action command reads
the token from ``RESOLUTIONS_OPERATOR_TOKEN`` (or ``--token-file``) and acts as its person;
without one it is refused. A business-unit token works only while its address still holds the
business-unit role in the roles file (``starter.web.roles``).
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from infra.secrets import create_secret, write_secret
from infra.settings import Settings
from protocols.addresses import check_address
from protocols.messages import Actor
from protocols.permissions import BUSINESS_UNIT, ROLE_KEY

TOKEN_ENV = "RESOLUTIONS_OPERATOR_TOKEN"
PREFIX = "rop_"


class OperatorError(ValueError):
    """No usable operator token; the message says what to do."""


@dataclass(frozen=True)
class Operator:
    name: str
    email: str = ""
    role_key: str = ""  # "2.raising", or "business_unit"
    agency: str = ""
    title: str = ""
    created: str = ""

    def actor(self, *, on_behalf_of: str = "", reason: str = "") -> Actor:
        return Actor(name=self.name, email=self.email, role_key=self.role_key,
                     role=self.title, agency=self.agency,
                     on_behalf_of=on_behalf_of, reason=reason)

    @property
    def business_unit(self) -> bool:
        return self.role_key == BUSINESS_UNIT


def _paths(settings: Settings) -> tuple[Path, Path]:
    base = Path(settings.data_dir)
    return base / "operators.json", base / "operator_key"


def _digest(settings: Settings, token: str) -> str:
    _, key_path = _paths(settings)
    key = create_secret(key_path, lambda: secrets.token_urlsafe(48))
    return hmac.new(key.encode(), token.strip().encode(), hashlib.sha256).hexdigest()


def _load(settings: Settings) -> dict[str, dict[str, str]]:
    path, _ = _paths(settings)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise OperatorError(f"{path} cannot be read: {exc}") from None
    return data if isinstance(data, dict) else {}


def add(settings: Settings, operator: Operator) -> str:
    """Register ``operator``; the new token (shown once, never stored)."""
    if not operator.name.strip():
        raise OperatorError("give the operator's name (--name)")
    if operator.email:
        check_address(operator.email)
    if not operator.business_unit and not ROLE_KEY.fullmatch(operator.role_key or ""):
        raise OperatorError("say which role the operator acts in (--role-key 2.raising, "
                            "raising, receiving …) or give --business-unit")
    if operator.business_unit and not operator.email:
        raise OperatorError("a business-unit operator needs the e-mail address that holds the "
                            "business-unit role in the roles file (--email)")
    token = PREFIX + secrets.token_urlsafe(32)
    record = asdict(operator) | {"created": datetime.now(UTC).isoformat(timespec="seconds")}
    with _locked(settings):
        store = _load(settings)
        store[_digest(settings, token)] = record
        write_secret(_paths(settings)[0], json.dumps(store, indent=2, sort_keys=True))
    return token


@contextmanager
def _locked(settings: Settings) -> Iterator[None]:
    """One writer of the operators file at a time (two administrators adding at once)."""
    path = _paths(settings)[0].with_suffix(".lock")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(path, "a", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def listed(settings: Settings) -> list[Operator]:
    return [Operator(**record) for record in _load(settings).values()]


def remove(settings: Settings, email_or_name: str) -> int:
    """Void every token of the person with that e-mail address (or name); how many."""
    wanted = email_or_name.strip().casefold()
    with _locked(settings):
        store = _load(settings)
        kept = {k: v for k, v in store.items()
                if wanted not in (v.get("email", "").casefold(), v.get("name", "").casefold())}
        write_secret(_paths(settings)[0], json.dumps(kept, indent=2, sort_keys=True))
    return len(store) - len(kept)


def read_token(token_file: str | None) -> str:
    """The token from ``--token-file`` or ``RESOLUTIONS_OPERATOR_TOKEN``; '' if neither."""
    if token_file:
        try:
            return Path(token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise OperatorError(f"cannot read the token file {token_file}: "
                                f"{exc.strerror}") from None
    return os.environ.get(TOKEN_ENV, "").strip()


def identify(settings: Settings, token: str) -> Operator:
    """The operator a token belongs to, or a clear refusal."""
    if not token:
        raise OperatorError(
            "this command changes a case, so it needs your operator token: set "
            f"{TOKEN_ENV} (or give --token-file). An administrator makes one with "
            "`resolutions operators add --name … --email … --role-key …`.")
    record = _load(settings).get(_digest(settings, token))
    if record is None:
        raise OperatorError("the operator token is not known here (mistyped, or withdrawn). "
                            "Ask your administrator for a new one.")
    return Operator(**record)
