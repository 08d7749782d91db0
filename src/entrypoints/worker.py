"""The escalation worker as a process of its own (`incidentcore worker`), or inside the HTTP app.

Run as many `incidentcore worker` processes as needed against one Postgres: due escalations and
pages are claimed with SKIP LOCKED. SIGTERM or Ctrl-C stops after the batch in hand; a second
signal cancels it (claims then roll back, or are re-sent once their lease runs out).
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

from adapters.nudge import AsyncioNudge
from adapters.scheduler import Scheduler
from entrypoints.settings import Settings, configure_logging
from incidentcore.services import EscalationTick, NotificationDispatch

if TYPE_CHECKING:
    from entrypoints.cli import Subcommands

logger = logging.getLogger("incidentcore.worker")


class ContainerBatches:
    """The scheduler's batches, each in a dishka REQUEST scope of its own (a fresh unit of work)."""

    def __init__(self, container: AsyncContainer) -> None:
        self.container = container

    async def tick(self, batch: int) -> int:
        async with self.container() as scope:
            return await (await scope.get(EscalationTick)).run(batch)

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
        await scheduler.stop()


async def work(settings: Settings, container: AsyncContainer | None = None) -> None:
    """Runs the worker until SIGTERM/SIGINT; builds (and closes) its container unless given one."""
    from entrypoints.di import build_container

    owned = container is None
    container = container or build_container(settings)
    scheduler = await scheduler_for(container, settings.worker_interval_seconds)
    main = asyncio.current_task()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if scheduler.stopping and main is not None:
            main.cancel()
        else:
            logger.info("stopping after the batch in hand (signal again to abandon it)")
            scheduler.request_stop()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal)
    logger.info("worker started (every %.1f s)", settings.worker_interval_seconds)
    try:
        await scheduler.run()
    finally:
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
    configure_logging(settings.log_level)
    with contextlib.suppress(asyncio.CancelledError):
        asyncio.run(work(settings))
    return 0
