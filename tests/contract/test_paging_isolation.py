"""A broken endpoint cannot hold up the pager.

The real worker loop, dispatcher, Apprise notifier and database (every backend): 100 critical pages
are queued to an endpoint that accepts connections and never answers, all older than the page that
matters. A critical page to a healthy endpoint still goes out within two worker intervals, and the
hanging endpoint never holds more than its share of sends.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from capture_server import CaptureServer, HangingServer
from http_harness import *  # noqa: F403
from http_harness import Api, make_api

from adapters.scheduler import Scheduler
from entrypoints.worker import scheduler_for
from incidentcore.model import Channel, Notification, Severity
from incidentcore.ports import UnitOfWork

INTERVAL = 0.5
SEND_TIMEOUT = 5
PER_HOST = 2


@pytest.fixture
def worker_api(http_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    overrides = {
        "NOTIFICATION_SEND_TIMEOUT_SECONDS": str(SEND_TIMEOUT),
        "NOTIFICATION_LEASE_SECONDS": str(2 * SEND_TIMEOUT),
        "NOTIFICATION_MAX_SENDS_PER_HOST": str(PER_HOST),
    }
    yield from make_api(http_backend, request, tmp_path, settings_overrides=overrides)


def queue(api: Api, pages: list[Notification]) -> None:
    async def add() -> None:
        async with api.container() as scope:
            uow = await scope.get(UnitOfWork)
            async with uow:
                await uow.notifications.add_new(pages)
                await uow.commit()

    api.run(add)


def critical_page(key: str, address: str, at: datetime) -> Notification:
    return Notification(
        None, Channel.WEBHOOK, address, "[CRITICAL] checkout down", "Acknowledge: ...", key, at,
        urgency=Severity.CRITICAL.urgency,
    )  # fmt: skip


def wait_until(check: Callable[[], bool], within: float) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_a_critical_page_goes_out_while_100_pages_hang_on_another_endpoint(worker_api: Api) -> None:
    api = worker_api
    long_ago = datetime.now(UTC) - timedelta(minutes=10)
    with HangingServer() as hanging, CaptureServer() as healthy:
        queue(api, [critical_page(f"hang-{n}", f"{hanging.url}/hook/{n}", long_ago) for n in range(100)])
        async def start() -> Scheduler:
            scheduler = await scheduler_for(api.container, INTERVAL)
            scheduler.start()
            return scheduler

        scheduler = api.run(start)
        try:
            wait_until(lambda: hanging.connections >= PER_HOST, within=5)
            time.sleep(3 * INTERVAL)  # the hanging sends are in flight; the loop has gone back to sleep

            # Another host (sends are limited per host, and both servers listen on 127.0.0.1).
            healthy_url = f"http://localhost:{healthy.port}/pager"
            queue(api, [critical_page("healthy", healthy_url, datetime.now(UTC))])
            queued_at = time.monotonic()
            (delivered,) = healthy.wait_for(1, timeout=10 * INTERVAL)
            waited = delivered.received_at - queued_at
            assert waited <= 2 * INTERVAL, f"the critical page waited {waited:.2f} s"
            assert delivered.path == "/pager"
            assert hanging.most_open <= PER_HOST
        finally:
            api.run(scheduler.stop, 1.0)
