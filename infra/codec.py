"""Payload encryption for everything Professional Resolutions stores in Temporal.

Every payload (workflow inputs, results, signals, activity arguments, failure
details) is serialized and sealed with AES-256-GCM before it leaves the process,
so Temporal's database and event history never hold case details in clear.

Keys live in a :class:`KeyRing`: one *active* key encrypts, every other key in the
ring is kept only to decrypt older history, which makes key rotation safe.

Configuration (see :meth:`KeyRing.from_env`):

* ``RESOLUTIONS_CODEC_KEYS`` - JSON object ``{"key id": "base64 key"}``, with
  ``RESOLUTIONS_CODEC_ACTIVE_KEY`` naming the encrypting key (optional when the
  object holds a single key);
* otherwise the key file ``RESOLUTIONS_CODEC_KEY_FILE`` (default
  ``<data_dir>/keys.json``), shaped ``{"active": "id", "keys": {"id": "base64"}}``.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import os
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, PayloadCodec

from infra.secrets import create_secret, write_secret

if TYPE_CHECKING:
    from infra.settings import Settings

__all__ = [
    "ACTIVE_KEY_ENV",
    "ENCRYPTED_ENCODING",
    "KEY_FILE_ENV",
    "KEY_ID_METADATA",
    "KEYS_ENV",
    "EncryptionCodec",
    "KeyConfigError",
    "KeyRing",
    "MissingKeyError",
    "data_converter",
    "endpoint_token",
    "key_file_path",
    "key_variables",
    "new_key_id",
    "ui_endpoint",
]

KEYS_ENV = "RESOLUTIONS_CODEC_KEYS"
ACTIVE_KEY_ENV = "RESOLUTIONS_CODEC_ACTIVE_KEY"
KEY_FILE_ENV = "RESOLUTIONS_CODEC_KEY_FILE"
DEFAULT_KEY_FILE_NAME = "keys.json"

ENCRYPTED_ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"

KEY_BYTES = 32
NONCE_BYTES = 12
_TAG_BYTES = 16
_CONFIG_HINT = f"set {KEYS_ENV} or {KEY_FILE_ENV}"


class KeyConfigError(ValueError):
    """The encryption keys are missing or malformed."""


class MissingKeyError(ValueError):
    """A payload was encrypted with a key that is not in the key ring."""

    def __init__(self, key_id: str) -> None:
        """Build the error for ``key_id``."""
        super().__init__(f"cannot decrypt: key {key_id!r} is not configured ({_CONFIG_HINT})")
        self.key_id = key_id


def new_key_id(now: datetime | None = None) -> str:
    """Return a key id of the form ``k20250314T101500Z`` (UTC timestamp)."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return "k" + moment.strftime("%Y%m%dT%H%M%SZ")


def _decode_key(key_id: str, encoded: object) -> bytes:
    """Decode one base64 key, checking it is a 32-byte AES-256 key."""
    if not isinstance(encoded, str):
        raise KeyConfigError(f"key {key_id!r}: expected a base64 string")
    try:
        key = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyConfigError(f"key {key_id!r}: not valid base64") from exc
    if len(key) != KEY_BYTES:
        raise KeyConfigError(
            f"key {key_id!r}: must decode to {KEY_BYTES} bytes for AES-256, got {len(key)}"
        )
    return key


def _decode_keys(raw: object, source: str) -> dict[str, bytes]:
    """Decode a ``{"key id": "base64"}`` mapping read from ``source``."""
    if not isinstance(raw, dict) or not raw:
        raise KeyConfigError(f"{source}: expected a non-empty JSON object of key id -> base64 key")
    return {str(key_id): _decode_key(str(key_id), value) for key_id, value in raw.items()}


@dataclasses.dataclass(frozen=True)
class KeyRing:
    """Named 32-byte AES keys; ``active_key_id`` encrypts, the rest only decrypt."""

    keys: Mapping[str, bytes]
    active_key_id: str

    def __post_init__(self) -> None:
        """Validate key ids and lengths and freeze the mapping."""
        if not self.keys:
            raise KeyConfigError(f"no encryption keys configured ({_CONFIG_HINT})")
        for key_id, key in self.keys.items():
            if not key_id or not key_id.isascii() or not key_id.isprintable():
                raise KeyConfigError(f"invalid key id {key_id!r}: use printable ASCII")
            if len(key) != KEY_BYTES:
                raise KeyConfigError(
                    f"key {key_id!r}: must be {KEY_BYTES} bytes for AES-256, got {len(key)}"
                )
        if self.active_key_id not in self.keys:
            raise KeyConfigError(
                f"active key {self.active_key_id!r} is not among the configured keys "
                f"({', '.join(sorted(self.keys))})"
            )
        object.__setattr__(self, "keys", MappingProxyType(dict(self.keys)))

    def __repr__(self) -> str:
        """Show key ids only, never key material."""
        return f"KeyRing(active_key_id={self.active_key_id!r}, key_ids={sorted(self.keys)!r})"

    @property
    def active_key(self) -> bytes:
        """The key used to encrypt new payloads."""
        return self.keys[self.active_key_id]

    @classmethod
    def generate(cls, key_id: str | None = None) -> KeyRing:
        """Return a ring holding one freshly generated random key."""
        key_id = key_id or new_key_id()
        return cls({key_id: AESGCM.generate_key(bit_length=256)}, key_id)

    @classmethod
    def from_json(cls, text: str, source: str = "key file") -> KeyRing:
        """Parse the key-file format ``{"active": "id", "keys": {"id": "base64"}}``."""
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise KeyConfigError(f"{source}: not valid JSON ({exc})") from exc
        if not isinstance(raw, dict):
            raise KeyConfigError(f'{source}: expected {{"active": ..., "keys": {{...}}}}')
        keys = _decode_keys(raw.get("keys"), f"{source}: 'keys'")
        active = raw.get("active")
        if not isinstance(active, str):
            raise KeyConfigError(f"{source}: 'active' must name one of the keys")
        return cls(keys, active)

    def to_json(self) -> str:
        """Serialize to the key-file format (contains secret key material)."""
        body = {
            "active": self.active_key_id,
            "keys": {k: base64.b64encode(v).decode("ascii") for k, v in self.keys.items()},
        }
        return json.dumps(body, indent=2, sort_keys=True) + "\n"

    @classmethod
    def load(cls, path: Path) -> KeyRing:
        """Read a key file."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise KeyConfigError(f"key file {path} does not exist ({_CONFIG_HINT})") from exc
        return cls.from_json(text, source=f"key file {path}")

    def save(self, path: Path) -> None:
        """Write this ring to ``path`` atomically, readable by the owner only (0600)."""
        write_secret(Path(path), self.to_json())

    def with_new_active_key(self, key_id: str | None = None) -> KeyRing:
        """Return a copy with a new random key added and made active."""
        key_id = key_id or new_key_id()
        base, n = key_id, 1
        while key_id in self.keys:
            n += 1
            key_id = f"{base}-{n}"
        keys = {**self.keys, key_id: AESGCM.generate_key(bit_length=256)}
        return KeyRing(keys, key_id)

    @classmethod
    def rotate(cls, path: Path, key_id: str | None = None) -> KeyRing:
        """Add a new active key to the key file at ``path``, keeping old keys to decrypt.

        Backs ``resolutions keys rotate``. Returns the updated ring.
        """
        ring = cls.load(path).with_new_active_key(key_id)
        ring.save(path)
        return ring

    @classmethod
    def from_env(
        cls,
        data_dir: Path,
        create_if_missing: bool,
        environ: Mapping[str, str] | None = None,
    ) -> KeyRing:
        """Load keys from the environment or the key file.

        Order: ``RESOLUTIONS_CODEC_KEYS`` (+ ``RESOLUTIONS_CODEC_ACTIVE_KEY``), then
        ``RESOLUTIONS_CODEC_KEY_FILE``, then ``<data_dir>/keys.json``. When none
        exists and ``create_if_missing`` is true (embedded single-machine mode), a key
        is generated and written to ``<data_dir>/keys.json`` with mode 0600. An
        explicitly configured key file that is missing is always an error, so a
        mis-mounted volume cannot silently replace the keys.
        """
        if environ is None:
            from infra.settings import load_settings

            environ = key_variables(load_settings())
        env = environ
        keys_json = env.get(KEYS_ENV, "").strip()
        key_file = env.get(KEY_FILE_ENV, "").strip()
        if keys_json:
            if key_file:
                raise KeyConfigError(f"set only one of {KEYS_ENV} and {KEY_FILE_ENV}")
            return cls._from_env_json(keys_json, env.get(ACTIVE_KEY_ENV, "").strip())
        if key_file:
            return cls.load(Path(key_file))
        path = Path(data_dir) / DEFAULT_KEY_FILE_NAME
        if path.exists():
            return cls.load(path)
        if not create_if_missing:
            raise KeyConfigError(f"no encryption keys configured: {_CONFIG_HINT}, or create {path}")
        # A worker and a command starting together agree on one key.
        return cls.from_json(create_secret(path, lambda: cls.generate().to_json()),
                             source=f"key file {path}")

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        """The keys the settings name (see :meth:`from_env`); made on first embedded run."""
        return cls.from_env(settings.data_dir, create_if_missing=settings.embedded,
                            environ=key_variables(settings))

    @classmethod
    def _from_env_json(cls, keys_json: str, active: str) -> KeyRing:
        """Build a ring from the ``RESOLUTIONS_CODEC_KEYS`` JSON object."""
        try:
            raw = json.loads(keys_json)
        except json.JSONDecodeError as exc:
            raise KeyConfigError(f"{KEYS_ENV}: not valid JSON ({exc})") from exc
        keys = _decode_keys(raw, KEYS_ENV)
        if not active:
            if len(keys) != 1:
                raise KeyConfigError(
                    f"{ACTIVE_KEY_ENV} must name the encrypting key when {KEYS_ENV} "
                    f"holds several ({', '.join(sorted(keys))})"
                )
            (active,) = keys
        return cls(keys, active)


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM payload codec keyed by a :class:`KeyRing`.

    Each encoded payload has ``encoding=binary/encrypted``, ``encryption-key-id=<id>``
    and data ``nonce(12) + ciphertext+tag``; the key id is bound as associated data.
    """

    def __init__(self, keyring: KeyRing) -> None:
        """Create a codec encrypting with ``keyring.active_key_id``."""
        self._keyring = keyring
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keyring.keys.items()}

    @property
    def keyring(self) -> KeyRing:
        """The keys this codec uses."""
        return self._keyring

    @property
    def active_key_id(self) -> str:
        """Id of the key new payloads are encrypted with."""
        return self._keyring.active_key_id

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt every payload with the active key."""
        key_id = self._keyring.active_key_id
        key_id_bytes = key_id.encode("ascii")
        cipher = self._ciphers[key_id]
        encoded = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), key_id_bytes)
            encoded.append(
                Payload(
                    metadata={"encoding": ENCRYPTED_ENCODING, KEY_ID_METADATA: key_id_bytes},
                    data=nonce + sealed,
                )
            )
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt ``binary/encrypted`` payloads; pass any others through unchanged."""
        return [self._decrypt(p) for p in payloads]

    def _decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCRYPTED_ENCODING:
            return payload
        raw_id = payload.metadata.get(KEY_ID_METADATA)
        if raw_id is None:
            raise ValueError(f"cannot decrypt: encrypted payload has no {KEY_ID_METADATA!r}")
        key_id = raw_id.decode("utf-8", errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise MissingKeyError(key_id)
        data = payload.data
        if len(data) < NONCE_BYTES + _TAG_BYTES:
            raise ValueError(f"cannot decrypt with key {key_id!r}: payload is truncated")
        try:
            plain = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], raw_id)
        except InvalidTag as exc:
            raise ValueError(
                f"cannot decrypt with key {key_id!r}: authentication failed "
                "(payload tampered with or wrong key material)"
            ) from exc
        try:
            return Payload.FromString(plain)
        except DecodeError as exc:
            raise ValueError(f"decrypted payload (key {key_id!r}) is not a Payload") from exc


def key_variables(settings: Settings) -> dict[str, str]:
    """The key settings by their variable names, as :meth:`KeyRing.from_env` reads them."""
    return {KEYS_ENV: settings.codec_keys, ACTIVE_KEY_ENV: settings.codec_active_key,
            KEY_FILE_ENV: settings.codec_key_file}


def key_file_path(settings: Settings) -> Path:
    """The key file `resolutions keys rotate` changes: the configured one or the default."""
    return Path(settings.codec_key_file or Path(settings.data_dir) / DEFAULT_KEY_FILE_NAME)


# -- the codec endpoint's token ---------------------------------------------------------------
def endpoint_token(settings: Settings) -> str:
    """The codec endpoint's token: from settings, else generated once under the data dir."""
    if settings.codec_endpoint_token:
        return settings.codec_endpoint_token
    path = Path(settings.data_dir) / "codec_token"
    return create_secret(path, lambda: secrets.token_urlsafe(32)).strip()


def ui_endpoint(settings: Settings) -> str:
    """The URL to give the Temporal Web UI (its "codec endpoint" / data encoder setting)."""
    return f"{settings.public_url.rstrip('/')}/codec/t/{endpoint_token(settings)}"


def data_converter(codec: EncryptionCodec | None) -> DataConverter:
    """Pydantic-aware data converter, encrypting payloads with ``codec`` when given."""
    return dataclasses.replace(pydantic_data_converter, payload_codec=codec)
