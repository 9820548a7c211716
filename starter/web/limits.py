"""Rate limits in the web forms: per personal link and per case (issue 14).

The workflow caps accepted actions per case for every client (``CaseLimits``, checked by its
validators). The web app adds, before it asks Temporal anything, a cap per personal link on
actions (``RESOLUTIONS_WEB_LINK_ACTIONS_PER_MINUTE``, default 15) and on page reads (ten times
that), and the case's own cap on actions sent through any link, so one link, or many links
to one case, cannot flood a case or the worker. Moving windows from the ``limits`` library,
in memory: one web process is one limiter (several processes each keep their own, and the
workflow's cap still holds across them). Links are keyed by a hash, never kept in clear.
"""

from __future__ import annotations

import hashlib

from fastapi import Request
from limits import RateLimitItem, RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from infra.settings import Settings
from starter.web.rendering import PageError

READS_PER_ACTION = 10  # a page read is cheap; reads per link are ten times its actions


class WebLimits:
    """Moving-window counters per link and per case, for one web process."""

    def __init__(self, settings: Settings) -> None:
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        per_link = settings.web_link_actions_per_minute
        self.link_actions = RateLimitItemPerMinute(per_link)
        self.link_reads = RateLimitItemPerMinute(per_link * READS_PER_ACTION)
        self.case_actions = RateLimitItemPerMinute(settings.case_actions_per_minute)

    def _hit(self, item: RateLimitItem, *key: str) -> bool:
        return self.limiter.hit(item, *key)

    def check_read(self, token: str) -> None:
        if not self._hit(self.link_reads, "read", _key(token)):
            raise _refused(f"this link has opened {self.link_reads.amount} pages in the last "
                           "minute")

    def check_action(self, token: str, workflow_id: str) -> None:
        if not self._hit(self.link_actions, "act", _key(token)):
            raise _refused(f"this link has sent {self.link_actions.amount} changes in the "
                           "last minute")
        if not self._hit(self.case_actions, "case", workflow_id):
            raise _refused(f"this case has been sent {self.case_actions.amount} changes in "
                           "the last minute")


    def check_raise(self, token: str) -> None:
        """Raising counts as a change made through the raiser's link (each starts a case and
        sends e-mail), so one link cannot flood the service with cases."""
        if not self._hit(self.link_actions, "act", _key(token)):
            raise _refused(f"this link has sent {self.link_actions.amount} changes in the "
                           "last minute")


def _key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def _refused(why: str) -> PageError:
    return PageError(429, "Too many requests: wait a minute",
                     f"Nothing was recorded: {why}, the most this service accepts, to keep "
                     "the case safe for everyone on it.",
                     hint="Wait a minute and try again. If something is urgent, contact the "
                          "partnership's business unit.")


def web_limits(request: Request) -> WebLimits:
    """The app's limiter, made on first use from its settings."""
    state = request.app.state
    found = getattr(state, "limits", None)
    if found is None:
        found = state.limits = WebLimits(state.web.settings)
    return found
