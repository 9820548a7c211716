"""The one place a Temporal client is built: worker, CLI, web forms and replayer all use it.

Embedded mode (no cluster configured) talks to the dev server the worker starts on this machine.
Otherwise Temporal's own environment configuration decides: a profile in ``temporal.toml``
(``TEMPORAL_CONFIG_FILE`` / ``TEMPORAL_PROFILE``) or ``TEMPORAL_ADDRESS``,
``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``, ``TEMPORAL_TLS_*``. Every payload is encrypted
with the payload codec before it leaves the process.
"""

from __future__ import annotations

from typing import Any

from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.envconfig import ClientConfig

from infra.codec import EncryptionCodec, KeyRing, data_converter
from infra.settings import Settings


def build_codec(settings: Settings) -> EncryptionCodec:
    return EncryptionCodec(KeyRing.from_settings(settings))


def build_converter(settings: Settings) -> DataConverter:
    return data_converter(build_codec(settings))


def connect_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``Client.connect`` (without the data converter)."""
    if settings.embedded:
        return {
            "target_host": f"127.0.0.1:{settings.dev_server_port}",
            "namespace": settings.temporal_namespace,
        }
    options: dict[str, Any] = dict(
        ClientConfig.load_client_connect_config(profile=settings.temporal_profile or None)
    )
    if settings.temporal_address:
        options["target_host"] = settings.temporal_address
    options.setdefault("target_host", "localhost:7233")
    if settings.temporal_namespace != "default" or "namespace" not in options:
        options["namespace"] = settings.temporal_namespace
    return options


async def connect(settings: Settings, converter: DataConverter | None = None) -> Client:
    options = connect_options(settings)
    try:
        return await Client.connect(
            **options, data_converter=converter or build_converter(settings)
        )
    except RuntimeError as exc:  # the core SDK reports connection failures as RuntimeError
        where = options.get("target_host")
        hint = " Is the worker running (./dev start)?" if settings.embedded else ""
        raise ConnectionError(f"cannot reach Temporal at {where}: {exc}.{hint}") from exc
