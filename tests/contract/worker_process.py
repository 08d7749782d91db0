"""`incidentcore worker` with a short send lease, for the multi-process tests and the benchmark.

The production lease (60 s) would make a test of crash recovery wait a minute; everything else is
the real worker: settings from the environment, the production container, SIGTERM to stop.
Run: `python tests/contract/worker_process.py` with DATABASE_URL and WORKER_TEST_LEASE_SECONDS set.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from datetime import timedelta

from dishka import Provider, Scope, provide

from entrypoints.di import build_container
from entrypoints.settings import Settings, configure_logging
from entrypoints.worker import work
from incidentcore.ports import Clock, DestinationPolicy, Notifier, RetryPolicy, UnitOfWork
from incidentcore.services import NotificationDispatch, SendSlots


class ShortLease(Provider):
    def __init__(self, lease: timedelta, concurrency: int) -> None:
        super().__init__()
        self.lease = lease
        self.concurrency = concurrency

    @provide(scope=Scope.APP)
    def slots(self, settings: Settings) -> SendSlots:
        return SendSlots(self.concurrency, settings.notification_max_sends_per_host)

    @provide(scope=Scope.REQUEST)
    def dispatch(
        self,
        uow: UnitOfWork,
        clock: Clock,
        notifier: Notifier,
        retry: RetryPolicy,
        slots: SendSlots,
        destinations: DestinationPolicy,
    ) -> NotificationDispatch:
        return NotificationDispatch(
            uow,
            clock,
            notifier,
            retry,
            lease=self.lease,
            slots=slots,
            destinations=destinations,
            send_timeout=self.lease / 2,  # as the settings require of the real lease
        )


def main() -> None:
    settings = Settings.from_environment(env_file=None)
    configure_logging(settings.log_level)
    lease = timedelta(seconds=float(os.environ.get("WORKER_TEST_LEASE_SECONDS", "60")))
    concurrency = int(os.environ.get("WORKER_TEST_CONCURRENCY", "10"))
    container = build_container(settings, ShortLease(lease, concurrency))

    async def run() -> None:
        try:
            await work(settings, container)
        finally:
            await container.close()

    with contextlib.suppress(asyncio.CancelledError):
        asyncio.run(run())


if __name__ == "__main__":
    main()
