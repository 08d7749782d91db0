"""Worker benchmarks on Postgres.

1. Escalation tick cost: draining 1k due incidents when 100k are open, against 1k open and 1k due.
   The claim uses a partial index on `next_escalation_at`, so the goal is a ratio within 2x.
2. Pages dispatched per second to a local webhook capture server, with 1 and 4 worker processes.

Each scenario runs in a throwaway database next to INCIDENTCORE_TEST_POSTGRES_URL's (dropped after).
Usage: python bench/bench_worker.py [--open 100000] [--due 1000] [--pages 2000] [--workers 1 4]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "contract"))

import psycopg
from capture_server import CaptureServer
from paging_load import fresh_database, psycopg_url, start_workers, stop_workers

from adapters.sql import SqlUnitOfWork, create_engine, create_session_factory
from adapters.sql.migrate import upgrade_async
from adapters.sql.tables import incidents, notifications
from incidentcore.escalation import EscalationStep, Target, TargetType
from incidentcore.model import Channel, EscalationPolicy, NotificationPreference, User
from incidentcore.services import EscalationTick, Incidents, NewIncident, PagingConfig
from incidentcore.testing import CountingNudge, FakeClock

WEEK = 7 * 24 * 60
T0 = datetime(2026, 1, 1, tzinfo=UTC)
FIRST_DUE = T0 + timedelta(minutes=WEEK)  # step 1 of the template incident
FAR = T0 + timedelta(days=365)
BATCH = 100  # the scheduler's tick batch


async def seed_template(url: str, webhook: str | None, opened_at: datetime) -> int:
    """A user (webhook preference if `webhook`), a two-step weekly policy, one incident; its id."""
    await upgrade_async(url)
    engine = create_engine(url)
    sessions = create_session_factory(engine)
    try:
        async with SqlUnitOfWork(sessions) as uow:
            user = await uow.users.add(User("oncall@example.com", "On Call", "x", created_at=opened_at))
            if webhook:
                await uow.preferences.upsert(NotificationPreference(user.id, Channel.WEBHOOK, True, webhook))
            step = EscalationStep(WEEK, (Target(TargetType.USER, user_id=user.id),))
            await uow.policies.add(EscalationPolicy("bench", (step, step), created_at=opened_at))
            await uow.commit()
        use_case = Incidents(SqlUnitOfWork(sessions), FakeClock(opened_at), CountingNudge(), PagingConfig())
        return (await use_case.open(None, NewIncident("template"))).id
    finally:
        await engine.dispose()


def copy_incidents(url: str, template: int, copies: int, due_groups: int, due: int) -> None:
    """`copies` clones of the template: group k (k = 1..due_groups, `due` each) is due at minute k past
    FIRST_DUE; the rest (and the template) are open but not due for a year."""
    columns = [c.name for c in incidents.columns if c.name != "id"]
    overrides = {
        "title": "'bench ' || g",
        "next_escalation_at": "CASE WHEN g <= %(due_rows)s "
        "THEN %(first_due)s + ((g - 1) / %(due)s + 1) * interval '1 minute' - interval '30 seconds' "
        "ELSE %(far)s END",
    }
    select = ", ".join(overrides.get(c, f"t.{c}") for c in columns)
    with psycopg.connect(psycopg_url(url)) as connection:
        connection.execute(
            f"INSERT INTO incidents ({', '.join(columns)}) SELECT {select} "
            "FROM incidents t CROSS JOIN generate_series(1, %(copies)s) g WHERE t.id = %(template)s",
            {
                "copies": copies,
                "template": template,
                "due_rows": due_groups * due,
                "due": due,
                "first_due": FIRST_DUE,
                "far": FAR,
            },
        )
        connection.execute("UPDATE incidents SET next_escalation_at = %s WHERE id = %s", (FAR, template))
        connection.commit()
        connection.autocommit = True
        connection.execute("VACUUM ANALYZE incidents")


async def drain_ticks(url: str, at: datetime) -> tuple[int, float]:
    """Ticks in scheduler-sized batches until nothing is due at `at`: (incidents advanced, seconds)."""
    engine = create_engine(url)
    sessions = create_session_factory(engine)
    clock = FakeClock(at)
    try:
        async with sessions() as warm:  # open the pool's connection outside the timing
            await warm.connection()
        total, started = 0, time.perf_counter()
        while True:
            advanced = await EscalationTick(SqlUnitOfWork(sessions), clock, PagingConfig()).run(BATCH)
            total += advanced
            if advanced < BATCH:
                break
        return total, time.perf_counter() - started
    finally:
        await engine.dispose()


def tick_scenario(base_url: str, open_count: int, due: int, trials: int) -> list[float]:
    """Seconds to drain `due` due incidents among `open_count` open ones, per trial (one warm-up)."""
    groups = trials + 1
    with fresh_database(base_url, "incidentcore_bench") as url:
        template = asyncio.run(seed_template(url, None, T0))
        copy_incidents(url, template, max(open_count, groups * due) - 1, groups, due)
        timings = []
        for k in range(1, groups + 1):
            at = FIRST_DUE + timedelta(minutes=k)
            advanced, seconds = asyncio.run(drain_ticks(url, at))
            assert advanced == due, (advanced, due)
            if k > 1:
                timings.append(seconds)
        return timings


def small_scenario(base_url: str, due: int, trials: int) -> list[float]:
    """1k open, all 1k due: a fresh database per trial so nothing else is open."""
    timings = []
    for _ in range(trials + 1):
        with fresh_database(base_url, "incidentcore_bench") as url:
            template = asyncio.run(seed_template(url, None, T0))
            copy_incidents(url, template, due - 1, 1, due)
            with psycopg.connect(psycopg_url(url)) as connection:  # the template is due with the rest
                connection.execute(
                    "UPDATE incidents SET next_escalation_at = %s WHERE id = %s",
                    (FIRST_DUE + timedelta(seconds=30), template),
                )
            advanced, seconds = asyncio.run(drain_ticks(url, FIRST_DUE + timedelta(minutes=1)))
            assert advanced == due, (advanced, due)
            timings.append(seconds)
    return timings[1:]


def copy_notifications(url: str, template_incident: int, copies: int) -> None:
    columns = [c.name for c in notifications.columns if c.name != "id"]
    overrides = {
        "idempotency_key": "t.idempotency_key || ':bench:' || g",
        "status": "'pending'",
        "attempts": "0",
        "next_attempt_at": "now()",
        "sent_at": "NULL",
        "last_error": "NULL",
        "cancel_reason": "NULL",
        "version": "0",
    }
    select = ", ".join(overrides.get(c, f"t.{c}") for c in columns)
    with psycopg.connect(psycopg_url(url)) as connection:
        connection.execute(
            f"INSERT INTO notifications ({', '.join(columns)}) SELECT {select} "
            "FROM notifications t CROSS JOIN generate_series(1, %(copies)s) g WHERE t.incident_id = %(incident)s",
            {"copies": copies, "incident": template_incident},
        )


def dispatch_scenario(base_url: str, workers: int, pages: int) -> float:
    """Pages per second from `workers` worker processes to a local webhook capture server."""
    with fresh_database(base_url, "incidentcore_bench") as url, CaptureServer() as capture:
        opened = datetime.now(UTC) - timedelta(minutes=1)
        template = asyncio.run(seed_template(url, f"{capture.url}/u/oncall", opened))
        processes = start_workers(workers, url, interval=0.1)
        try:
            capture.wait_for(1, timeout=30)  # the template's page: a worker is up
            assert len(capture.requests) == 1, "the workers did not start"
            time.sleep(3)  # the other workers finish starting (imports are CPU-bound)
            started = time.perf_counter()
            copy_notifications(url, template, pages)
            received = capture.wait_for(pages + 1, timeout=300)
            elapsed = time.perf_counter() - started
            assert len(received) >= pages + 1, f"only {len(received) - 1} of {pages} pages arrived"
        finally:
            stop_workers(processes)
        return pages / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--postgres-url", default=os.environ.get("INCIDENTCORE_TEST_POSTGRES_URL"))
    parser.add_argument("--open", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=1_000)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--pages", type=int, default=2_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args()
    if not args.postgres_url:
        sys.exit(
            "set INCIDENTCORE_TEST_POSTGRES_URL (or --postgres-url): the worker benchmarks need Postgres"
        )

    print(f"escalation tick, batches of {BATCH}, {args.trials} trials after a warm-up (median):")
    large = statistics.median(tick_scenario(args.postgres_url, args.open, args.due, args.trials))
    small = statistics.median(small_scenario(args.postgres_url, args.due, args.trials))
    for label, seconds in (
        (f"{args.open:>7} open, {args.due} due", large),
        (f"{args.due:>7} open, {args.due} due", small),
    ):
        print(f"  {label}: {seconds * 1000:8.1f} ms  ({seconds / args.due * 1e6:6.0f} us per incident)")
    ratio = large / small
    print(f"  ratio: {ratio:.2f}x  (goal: within 2x) {'OK' if ratio <= 2 else 'MISSED'}")

    print(f"dispatch, {args.pages} webhook pages to a local capture server ({os.cpu_count()} CPUs here):")
    for count in args.workers:
        rate = dispatch_scenario(args.postgres_url, count, args.pages)
        print(f"  {count} worker(s): {rate:8.0f} pages/s")


if __name__ == "__main__":
    main()
