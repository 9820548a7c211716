"""What keeps a case alive whatever its own users send (issue 14).

- :class:`ActionRate`: at most so many accepted actions per minute and per 24 hours on one case
  (``CaseInput.limits``), checked by the workflow's validators, so the CLI, the web forms and
  any other client get the same refusal, before anything is written to the history.
- :class:`Switch`: a ``workflow.patched`` marker asked only when new behaviour would change
  what the workflow does, with one id per question until the first that answers True, so a
  saved history replays as it ran and a running case takes the new behaviour up at once.

Deterministic: the instants are the workflow's own (``workflow.now()`` when an action was
accepted), never a clock.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

from temporalio import workflow

from protocols.messages import CaseLimits

MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)


class ActionRate:
    """The instants of the actions a case accepted in the last 24 hours."""

    def __init__(self, limits: CaseLimits, recent: list[datetime] | None = None) -> None:
        self.limits = limits
        self._times: deque[datetime] = deque(sorted(recent or []))

    def _prune(self, now: datetime) -> None:
        while self._times and self._times[0] <= now - DAY:
            self._times.popleft()

    def record(self, now: datetime) -> None:
        self._prune(now)
        self._times.append(now)

    def recent(self, now: datetime) -> list[datetime]:
        self._prune(now)
        return list(self._times)

    def refusal(self, now: datetime) -> str:
        """Why one more action now would be refused ('' if it would not)."""
        self._prune(now)
        last_minute = sum(1 for t in self._times if t > now - MINUTE)
        if last_minute >= self.limits.per_minute:
            return (f"This case has taken {last_minute} actions in the last minute, the most "
                    f"this service accepts on one case; nothing was recorded. Try again in a "
                    f"minute.")
        if len(self._times) >= self.limits.per_day:
            again = self._times[0] + DAY
            return (f"This case has taken {len(self._times)} actions in the last 24 hours, "
                    f"the most this service accepts on one case; nothing was recorded. It "
                    f"accepts actions again from {again:%d %b %H:%M} UTC; if this is urgent, "
                    f"contact the partnership's business unit.")
        return ""


class Switch:
    """Asks ``workflow.patched(f"{name}.{n}")`` with a fresh ``n`` until one answers True."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.asks = 0
        self.on = False

    def __call__(self) -> bool:
        if not self.on:
            self.asks += 1
            self.on = workflow.patched(f"{self.name}.{self.asks}")
        return self.on
