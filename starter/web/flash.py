"""One-time messages carried across a redirect in a short-lived signed cookie."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

FLASH_COOKIE = "resolutions_flash"
MAX_AGE = 300


def pack(key: bytes, data: dict[str, Any]) -> str:
    body = base64.urlsafe_b64encode(
        json.dumps({**data, "_at": int(time.time())}, separators=(",", ":")).encode()
    ).decode("ascii")
    mac = hmac.new(key, body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


def unpack(key: bytes, value: str | None) -> dict[str, Any] | None:
    """The message, if the cookie is ours, unaltered and recent; else None."""
    if not value or value.count(".") != 1:
        return None
    body, mac = value.split(".")
    expected = hmac.new(key, body.encode("utf-8", "replace"), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac.encode("utf-8", "replace"), expected.encode()):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(body.encode()))
    except ValueError:
        return None
    if not isinstance(data, dict) or int(data.get("_at", 0)) < time.time() - MAX_AGE:
        return None
    return data
