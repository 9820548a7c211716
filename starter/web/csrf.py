"""CSRF protection: a per-session token in a signed cookie, repeated in every POST form.

The cookie holds a random session id and its HMAC; the form's hidden field holds a second
HMAC of that id. A POST is refused unless both are present and match.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SESSION_COOKIE = "resolutions_session"
FIELD = "csrf_token"


class CsrfError(Exception):
    """The form cannot be trusted; the message says what to do."""


class Csrf:
    def __init__(self, key: bytes) -> None:
        self.key = key

    def _mac(self, purpose: str, sid: str) -> str:
        return hmac.new(self.key, f"{purpose}:{sid}".encode(), hashlib.sha256).hexdigest()

    def new_session(self) -> str:
        return secrets.token_urlsafe(24)

    def cookie_value(self, sid: str) -> str:
        return f"{sid}.{self._mac('cookie', sid)}"

    def session_from(self, cookie: str | None) -> str | None:
        """The session id in a cookie, if the cookie is ours and unaltered."""
        if not cookie or cookie.count(".") != 1 or len(cookie) > 200:
            return None
        sid, mac = cookie.split(".")
        return sid if _same(mac, self._mac("cookie", sid)) else None

    def token(self, sid: str) -> str:
        return self._mac("form", sid)

    def check(self, cookie_sid: str | None, submitted: str | None) -> None:
        if not cookie_sid:
            raise CsrfError("Your browser did not send the cookie this service needs to check "
                            "that the form came from this page. Allow cookies for this site, "
                            "go back, reload the page and try again.")
        if not submitted or not _same(submitted, self.token(cookie_sid)):
            raise CsrfError("The form was out of date or did not come from this service, so "
                            "nothing was recorded. Go back, reload the page and try again.")


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison that never fails on non-ASCII input."""
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8"))
