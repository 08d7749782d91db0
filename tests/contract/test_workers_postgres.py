"""Several worker processes on one Postgres: every due page delivered exactly once, and a worker
killed with SIGKILL mid-run loses nothing (at most one duplicate per send it had in flight).

Each test gets a fresh database; workers are separate processes running the real worker (with a
short send lease, see worker_process.py) and deliver by webhook to a local capture server.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from capture_server import CaptureServer

POSTGRES_URL = os.environ.get("INCIDENTCORE_TEST_POSTGRES_URL")

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.timeout(300),  # several worker processes; each wait inside has its own deadline
    pytest.mark.skipif(not POSTGRES_URL, reason="INCIDENTCORE_TEST_POSTGRES_URL is not set"),
]

if POSTGRES_URL:  # the helpers import psycopg and the SQL adapters
    import psycopg
    from paging_load import (
        DUE_STEPS,
        Workload,
        fresh_database,
        outbox_counts,
        page_key,
        psycopg_url,
        seed,
        start_workers,
        stop_workers,
    )

INCIDENTS = 200  # 4 due pages each: 800 webhook POSTs
# The send timeout is half the lease. With no crash to recover from, a lease long enough that no send
# times out on a loaded machine (a timed-out send that did arrive is retried: at-least-once).
LEASE_SECONDS = 10.0
# Short, so that the killed worker's sends are taken over quickly; long enough not to time out.
CRASH_LEASE_SECONDS = 4.0
CONCURRENCY = 10  # sends in flight per worker, and pages claimed per dispatch batch


@pytest.fixture
def database() -> Iterator[str]:
    assert POSTGRES_URL
    with fresh_database(POSTGRES_URL) as url:
        yield url


@pytest.fixture
def capture() -> Iterator[CaptureServer]:
    with CaptureServer() as server:
        yield server


def wait_until_delivered(url: str, capture: CaptureServer, workload: Workload, within: float) -> None:
    """Until every expected page arrived and the outbox holds nothing unsent."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        keys = {page_key(r) for r in capture.snapshot()}
        counts = outbox_counts(url)
        if keys >= workload.expected and not {"pending", "sending", "retrying"} & counts.keys():
            time.sleep(3 * 0.2)  # a few more worker rounds: a duplicate would show up now
            return
        time.sleep(0.1)
    missing = len(workload.expected - {page_key(r) for r in capture.snapshot()})
    raise AssertionError(f"{missing} pages never arrived; outbox: {outbox_counts(url)}")


def fired_steps(url: str) -> Counter[tuple[int, int]]:
    with psycopg.connect(psycopg_url(url)) as connection:
        rows = connection.execute(
            "SELECT incident_id, step_index FROM escalation_events WHERE kind = 'fired'"
        ).fetchall()
    return Counter((incident, step) for incident, step in rows)


def assert_each_step_fired_once(url: str, workload: Workload) -> None:
    fired = fired_steps(url)
    assert set(fired) == {(i, step) for i in workload.incident_ids for step in range(DUE_STEPS)}
    assert set(fired.values()) == {1}


def test_many_workers_deliver_every_due_page_exactly_once(database: str, capture: CaptureServer) -> None:
    workload = asyncio.run(seed(database, INCIDENTS, capture.url, datetime.now(UTC)))
    workers = start_workers(3, database, lease_seconds=LEASE_SECONDS, concurrency=CONCURRENCY)
    try:
        wait_until_delivered(database, capture, workload, within=40)
    finally:
        codes = stop_workers(workers)
    assert codes == [0, 0, 0]  # SIGTERM is a graceful stop

    received = Counter(page_key(r) for r in capture.snapshot())
    assert set(received) == workload.expected  # nothing missing, and step 3 (not yet due) never sent
    assert set(received.values()) == {1}  # nothing twice
    assert outbox_counts(database) == {"sent": len(workload.expected)}
    assert_each_step_fired_once(database, workload)


def test_a_worker_killed_mid_run_loses_nothing(database: str, capture: CaptureServer) -> None:
    workload = asyncio.run(seed(database, INCIDENTS, capture.url, datetime.now(UTC)))
    capture.delay = 0.05  # keeps sends in flight when the kill lands
    workers = start_workers(3, database, lease_seconds=CRASH_LEASE_SECONDS, concurrency=CONCURRENCY)
    victim, survivors = workers[0], workers[1:]
    try:
        deadline = time.monotonic() + 30
        while len(capture.requests) < len(workload.expected) // 4:
            assert time.monotonic() < deadline, "the workers delivered too little to test a crash"
            time.sleep(0.01)
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        delivered_at_kill = len(capture.requests)
        assert delivered_at_kill < len(workload.expected), "the kill landed after the run"
        wait_until_delivered(database, capture, workload, within=40)
    finally:
        codes = stop_workers(survivors)
        if victim.poll() is None:
            victim.kill()
    assert codes == [0, 0]

    received = Counter(page_key(r) for r in capture.snapshot())
    assert set(received) == workload.expected  # the victim's claims were all taken over
    duplicated = {key for key, count in received.items() if count > 1}
    assert all(received[key] == 2 for key in duplicated)  # at most one duplicate per page
    with psycopg.connect(psycopg_url(database)) as connection:
        resent = connection.execute("SELECT count(*) FROM notifications WHERE attempts > 1").fetchone()
    assert resent is not None
    # A duplicate needs a send the victim had in flight, whose lease then ran out: a second attempt.
    # Results are committed as each send returns, so only sends still in flight can repeat.
    assert len(duplicated) <= resent[0] <= CONCURRENCY  # what the victim had claimed, unrecorded
    assert outbox_counts(database) == {"sent": len(workload.expected)}
    assert_each_step_fired_once(database, workload)
