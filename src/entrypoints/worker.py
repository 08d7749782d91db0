"""The escalation worker as a process of its own (`incidentcore worker`), or inside the HTTP app.

Run as many `incidentcore worker` processes as needed against one Postgres: due escalations, missed
heartbeats and pages are claimed with SKIP LOCKED. SIGTERM or Ctrl-C stops after the batch in hand, waiting at most
SHUTDOWN_GRACE_SECONDS for the pages being sent; a second signal, or the end of the grace, cancels
them: their claims are given back to the queue, due at once (or, if the database cannot be reached,
re-sent once their lease runs out). The worker serves its metrics on WORKER_METRICS_PORT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from dishka import AsyncContainer

from adapters.metrics import WORKER_TICK_DURATION
from adapters.nudge import AsyncioNudge
from adapters.scheduler import Scheduler
from entrypoints.settings import Settings, configure_logging
from incidentcore.services import EscalationTick, HeartbeatCheck, NotificationDispatch

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from entrypoints.cli import Subcommands

logger = logging.getLogger("incidentcore.worker")


class ContainerBatches:
    """The scheduler's batches, each in a dishka REQUEST scope of its own (a fresh unit of work)."""

    def __init__(self, container: AsyncContainer) -> None:
        self.container = container

    async def tick(self, batch: int) -> int:
        with WORKER_TICK_DURATION.time():
            async with self.container() as scope:
                return await (await scope.get(EscalationTick)).run(batch)

    async def heartbeats(self, batch: int) -> int:
        async with self.container() as scope:
            return await (await scope.get(HeartbeatCheck)).run(batch)

    async def dispatch(self, batch: int, claimed: Callable[[int], None] | None = None) -> int:
        async with self.container() as scope:
            return await (await scope.get(NotificationDispatch)).run(batch, claimed=claimed)


async def scheduler_for(container: AsyncContainer, interval: float = 5.0, **options: Any) -> Scheduler:
    """The worker loop over `container`'s use cases, woken by its nudge."""
    nudge = await container.get(AsyncioNudge)
    return Scheduler(ContainerBatches(container), nudge, interval, **options)


@contextlib.asynccontextmanager
async def run_worker_alongside(container: AsyncContainer, settings: Settings) -> AsyncIterator[None]:
    """A lifespan for the HTTP app: the worker runs while the app serves (WORKER_ENABLED)."""
    scheduler = await scheduler_for(container, settings.worker_interval_seconds)
    scheduler.start()
    logger.info("worker started in the API process (every %.1f s)", settings.worker_interval_seconds)
    try:
        yield
    finally:
        logger.info("worker stopping: the pages being sent get up to %g s", settings.shutdown_grace_seconds)
        await scheduler.stop(settings.shutdown_grace_seconds)


async def work(settings: Settings, container: AsyncContainer | None = None) -> None:
    """Runs the worker until SIGTERM/SIGINT; builds (and closes) its container unless given one."""
    from entrypoints.di import build_container

    owned = container is None
    container = container or build_container(settings)
    scheduler = await scheduler_for(container, settings.worker_interval_seconds)
    main = asyncio.current_task()
    loop = asyncio.get_running_loop()
    deadline: list[asyncio.TimerHandle] = []

    def on_signal() -> None:
        if scheduler.stopping and main is not None:
            main.cancel()
        else:
            grace = settings.shutdown_grace_seconds
            logger.info("stopping after the batch in hand, within %g s (signal again to stop now)", grace)
            scheduler.request_stop()
            if main is not None:
                deadline.append(loop.call_later(grace, main.cancel))

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal)
    logger.info("worker started (every %.1f s)", settings.worker_interval_seconds)
    try:
        await scheduler.run()
    finally:
        for handle in deadline:
            handle.cancel()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        if owned:
            await container.close()
    logger.info("worker stopped")


def add_worker_command(commands: Subcommands) -> None:
    worker = commands.add_parser(
        "worker",
        help="run the escalation worker and notification dispatcher",
        description="Fires due escalation steps and sends pending pages every WORKER_INTERVAL_SECONDS "
        "until SIGTERM. Any number of workers may share one Postgres database.",
    )
    worker.add_argument("--interval", type=float, help="seconds between rounds (default: $WORKER_INTERVAL_SECONDS)")
    worker.set_defaults(run=run_worker)


def run_worker(args: argparse.Namespace) -> int:
    settings = Settings.from_environment()
    if args.interval is not None:
        if not 0.05 <= args.interval <= 3600:
            raise SystemExit("--interval must be between 0.05 and 3600 seconds")
        settings = replace(settings, worker_interval_seconds=args.interval)
    configure_logging(settings.log_level, settings.log_format)
    metrics_server = serve_worker_metrics(settings)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            asyncio.run(work(settings))
    finally:
        if metrics_server is not None:
            metrics_server.shutdown()
    return 0


def serve_worker_metrics(settings: Settings) -> WSGIServer | None:
    """This process's metrics over HTTP (prometheus_client's own server, in a thread), unless disabled.
    The escalation lag and the outbox are the database's, answered by the API's /metrics."""
    if not settings.metrics_enabled or not settings.worker_metrics_port:
        return None
    from prometheus_client import start_http_server

    server, _ = start_http_server(settings.worker_metrics_port, settings.worker_metrics_host)
    logger.info("worker metrics on http://%s:%d/metrics", settings.worker_metrics_host, settings.worker_metrics_port)
    return server
