"""Which recipients an e-mail attempt has already handed to the relay, kept on the Temporal
server so that a retry, on this worker or any other host, sends only to the rest.

SMTP has no idempotency key, so the record is the activity's own heartbeat details: the server
keeps the last details an attempt sent and gives them to the next attempt
(``activity.info().heartbeat_details``). The SDK throttles heartbeats (to 80% of the heartbeat
timeout), so after each accepted batch the same details are also written with a direct,
acknowledged ``RecordActivityTaskHeartbeat`` call; only once the server has answered does the
attempt start the next batch. That answer is also a fence: an attempt the server has already
given up on (timed out, so another attempt may be running) is told "not found" and stops
before sending anything more. The last batch is recorded by the activity's completion itself.

What no design closes: the relay's ``250`` for DATA and the server's record of it are two
moments. A worker that dies between them leaves a recipient unrecorded, and the retry sends that
one message again, with the same Message-ID (see the README, "How e-mail is retried").
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterable

from temporalio import activity
from temporalio.client import AsyncActivityCancelledError, AsyncActivityHandle
from temporalio.service import RPCError, RPCStatusCode

BEAT_EVERY = 2.0  # seconds; a fifth of the workflow's 10 s heartbeat timeout
# Errors meaning "the server did not answer" rather than "the server refused": the SDK client
# already retried them for about 10 s; a record is retried until the server is back (the SDK
# cancels the attempt at its start-to-close timeout if it never comes back).
PATIENT = (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED)


def recipient_key(message_id: str, address: str) -> str:
    """A personal-data-free key for "this message went to this address"."""
    return hashlib.sha256(f"{message_id}\x1f{address.lower()}".encode()).hexdigest()[:20]


class AttemptSuperseded(RuntimeError):
    """The server no longer accepts this attempt's heartbeats: another attempt owns the e-mail."""


class SendProgress:
    """The recipients handed to the relay so far, by this attempt and the attempts before it."""

    def __init__(self) -> None:
        details = activity.info().heartbeat_details
        earlier = details[0] if details and isinstance(details[0], list) else []
        self.done: set[str] = {str(k) for k in earlier}
        self.resumed = len(self.done)
        self._lock = asyncio.Lock()
        self._handle = _direct_handle()
        self._lost: BaseException | None = None

    def pending(self, message_id: str, recipients: Iterable[str]) -> list[str]:
        return [r for r in recipients if recipient_key(message_id, r) not in self.done]

    def check(self) -> None:
        """Raise if the server has moved on from this attempt (never send on a lost attempt)."""
        if self._lost is not None:
            raise AttemptSuperseded(f"e-mail attempt no longer current: {self._lost}")

    def accepted(self, message_id: str, recipients: Iterable[str]) -> None:
        self.done.update(recipient_key(message_id, r) for r in recipients)

    async def record(self) -> float:
        """Write ``done`` to the server and wait for its answer; return when it answered."""
        async with self._lock:
            self.check()
            snapshot = sorted(self.done)
            activity.heartbeat(snapshot)  # the SDK's own beats carry the same details
            while self._handle is not None:
                try:
                    await self._handle.heartbeat(snapshot)
                    break
                except RPCError as err:
                    if err.status in PATIENT:  # the server is away, so it cannot time us out:
                        await asyncio.sleep(1.0)  # wait for it rather than re-send later
                        continue
                    self._lost = err
                    raise AttemptSuperseded(f"e-mail attempt no longer current: {err}") from err
                except AsyncActivityCancelledError as err:
                    self._lost = err
                    raise AttemptSuperseded(f"e-mail attempt no longer current: {err}") from err
            return time.time()

    async def beat_until_cancelled(self) -> None:
        """Keep the attempt alive while it renders or waits on the relay.

        The first beat waits one interval: most e-mails are sent well within it and cost no
        heartbeat at all (Temporal counts the heartbeat timeout from the attempt's start)."""
        while self._lost is None:
            await asyncio.sleep(BEAT_EVERY)
            try:
                await self.record()
            except AttemptSuperseded:
                return


def _direct_handle() -> AsyncActivityHandle | None:
    """A handle for acknowledged heartbeats; none outside a worker (``ActivityEnvironment``),
    where there is no server to record on and the SDK heartbeat is all there is."""
    try:
        client = activity.client()
    except RuntimeError:
        return None
    return client.get_async_activity_handle(task_token=activity.info().task_token)
