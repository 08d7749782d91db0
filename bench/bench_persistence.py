"""Persistence benchmark on Postgres.

1. Incident repository vs raw psycopg doing the same statements (same rows, same transactions):
   inserts, fetches by id, and newest-first pages; reported as throughput and the repository/raw ratio.
2. The worker's due-escalation claim (`claim_due`) with 100k open incidents of which 1k are due, against
   1k open of which 1k are due: with the partial index the cost follows the number due, not the number open.

Runs in a schema of its own (dropped afterwards) on INCIDENTCORE_TEST_POSTGRES_URL or --url:

    python bench/bench_persistence.py --url postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import psycopg
from psycopg.types.json import Jsonb

from adapters.sql import SqlUnitOfWork, create_engine, create_session_factory
from adapters.sql.mapping import incident_values
from adapters.sql.migrate import upgrade_async
from incidentcore.escalation import EscalationStep, PolicySnapshot, Target, TargetType
from incidentcore.model import Incident, IncidentStatus, Severity
from incidentcore.ports import IncidentFilter, Page

NOW = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
BATCH = 100  # rows per transaction, as a worker or a busy API would commit them
SNAPSHOT = PolicySnapshot(
    policy_id=1,
    steps=(
        EscalationStep(5, (Target(TargetType.USER, user_id=1),)),
        EscalationStep(15, (Target(TargetType.TEAM, team_id=1), Target(TargetType.ROLE, role="team_lead"))),
    ),
    repeat=2,
    ack_timeout_minutes=30,
)


def new_incident(n: int) -> Incident:
    incident = Incident(
        title=f"checkout 5xx rate above threshold #{n}",
        description="error rate 12% > 5% on /pay",
        created_at=NOW + timedelta(milliseconds=n),
        severity=Severity.CRITICAL if n % 3 == 0 else Severity.HIGH,
        source="elastic",
        dedup_key=f"rule-1:svc-{n}",
    )
    incident.trigger(SNAPSHOT, NOW + timedelta(milliseconds=n), None)
    return incident


@dataclass(frozen=True)
class BenchDatabase:
    """A schema of its own on the server: reached by SQLAlchemy through `url`, by psycopg through `connect`."""

    server_url: str
    schema: str

    @property
    def url(self) -> str:
        separator = "&" if "?" in self.server_url else "?"
        return f"{self.server_url}{separator}options=-csearch_path%3D{self.schema}"

    async def connect(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(self.server_url, options=f"-csearch_path={self.schema}")


@dataclass
class Timing:
    operations: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.operations / self.seconds


async def timed(operations: int, run: Callable[[], Awaitable[None]]) -> Timing:
    started = time.perf_counter()
    await run()
    return Timing(operations, time.perf_counter() - started)


def batches(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class RawPsycopg:
    """The same statements the repository sends, written by hand on one psycopg connection."""

    def __init__(self, connection: psycopg.AsyncConnection[Any]) -> None:
        self.connection = connection

    async def insert(self, incidents: Sequence[Incident]) -> None:
        for batch in batches(incidents, BATCH):
            async with self.connection.transaction(), self.connection.cursor() as cursor:
                for incident in batch:
                    # as the column types store them: enums as their values, the snapshot as JSON
                    values = msgspec.to_builtins(incident_values(incident), builtin_types=(datetime,))
                    values["policy_snapshot"] = Jsonb(values["policy_snapshot"])
                    columns = ", ".join(values)
                    placeholders = ", ".join(f"%({name})s" for name in values)
                    await cursor.execute(
                        f"INSERT INTO incidents ({columns}) VALUES ({placeholders}) RETURNING id",
                        values,
                    )
                    incident.id = (await cursor.fetchone())[0]  # type: ignore[index]

    async def fetch(self, ids: Sequence[int]) -> None:
        for batch in batches(ids, BATCH):
            async with self.connection.transaction(), self.connection.cursor() as cursor:
                for incident_id in batch:
                    await cursor.execute("SELECT * FROM incidents WHERE id = %s", (incident_id,))
                    await cursor.fetchone()

    async def list_pages(self, pages: int) -> None:
        async with self.connection.transaction(), self.connection.cursor() as cursor:
            for _ in range(pages):
                await cursor.execute(
                    "SELECT * FROM incidents WHERE status = %s ORDER BY created_at DESC, id DESC LIMIT 50",
                    (IncidentStatus.TRIGGERED.value,),
                )
                await cursor.fetchall()
                await cursor.execute("SELECT count(*) FROM incidents WHERE status = %s", ("triggered",))
                await cursor.fetchone()


class Repository:
    def __init__(self, uow: Callable[[], SqlUnitOfWork]) -> None:
        self.uow = uow

    async def insert(self, incidents: Sequence[Incident]) -> None:
        for batch in batches(incidents, BATCH):
            async with self.uow() as uow:
                for incident in batch:
                    await uow.incidents.add(incident)
                await uow.commit()

    async def fetch(self, ids: Sequence[int]) -> None:
        for batch in batches(ids, BATCH):
            async with self.uow() as uow:
                for incident_id in batch:
                    await uow.incidents.get(incident_id)
                await uow.commit()

    async def list_pages(self, pages: int) -> None:
        async with self.uow() as uow:
            for _ in range(pages):
                await uow.incidents.list(IncidentFilter(status=IncidentStatus.TRIGGERED), Page(limit=50))
            await uow.commit()


async def compare_with_raw(database: BenchDatabase, rows: int, pages: int) -> None:
    engine = create_engine(database.url)
    sessions = create_session_factory(engine)
    raw_connection = await database.connect()
    repository, raw = Repository(lambda: SqlUnitOfWork(sessions)), RawPsycopg(raw_connection)
    try:
        # warm both paths (connections, statement caches), then start from empty tables
        await repository.insert([new_incident(n) for n in range(BATCH)])
        await raw.insert([new_incident(n) for n in range(BATCH)])
        await _truncate(raw_connection)

        results: dict[str, tuple[Timing, Timing]] = {}
        mine, theirs = [new_incident(n) for n in range(rows)], [new_incident(n) for n in range(rows)]
        results["insert (1 row/stmt)"] = (
            await timed(rows, lambda: repository.insert(mine)),
            await timed(rows, lambda: raw.insert(theirs)),
        )
        ids = [incident.id for incident in mine]
        results["fetch by id"] = (
            await timed(rows, lambda: repository.fetch(ids)),
            await timed(rows, lambda: raw.fetch(ids)),
        )
        results["page of 50 + count"] = (
            await timed(pages, lambda: repository.list_pages(pages)),
            await timed(pages, lambda: raw.list_pages(pages)),
        )
        print(f"\nIncident repository vs raw psycopg ({rows} rows, {BATCH} per transaction)")
        print(f"{'operation':<22}{'repository/s':>14}{'psycopg/s':>12}{'ratio':>8}")
        for name, (ours, baseline) in results.items():
            ratio = ours.per_second / baseline.per_second
            print(f"{name:<22}{ours.per_second:>14,.0f}{baseline.per_second:>12,.0f}{ratio:>8.2f}")
    finally:
        await raw_connection.close()
        await engine.dispose()


async def claim_latency(
    database: BenchDatabase, open_count: int, due_count: int, repeats: int
) -> dict[int, float]:
    """Median milliseconds of one claim_due of 100 and of 1000 rows (rolled back, so always due)."""
    async with await database.connect() as connection:
        await _truncate(connection)
        await _bulk_load_open_incidents(connection, open_count, due_count)
        plan = await _claim_plan(connection)
    engine = create_engine(database.url)
    sessions = create_session_factory(engine)
    medians: dict[int, float] = {}
    try:
        for limit in (100, 1000):
            samples = []
            for _ in range(repeats):
                async with SqlUnitOfWork(sessions) as uow:
                    await uow.session.connection()  # begin outside the timing
                    started = time.perf_counter()
                    claimed = await uow.incidents.claim_due(NOW, limit)
                    samples.append((time.perf_counter() - started) * 1000)
                assert len(claimed) == min(limit, due_count), len(claimed)
            medians[limit] = statistics.median(samples)
    finally:
        await engine.dispose()
    print(f"  {open_count:>7,} open, {due_count:,} due: plan: {plan}")
    return medians


async def _bulk_load_open_incidents(
    connection: psycopg.AsyncConnection[Any], open_count: int, due: int
) -> None:
    snapshot = msgspec.json.encode(new_incident(0).policy).decode()
    columns = (
        "title, severity, status, created_at, escalation_policy_id, policy_snapshot, esc_phase, esc_cycle, "
        "esc_next_step, esc_loop, next_escalation_at, escalation_level, version"
    )
    async with connection.transaction(), connection.cursor() as cursor:
        async with cursor.copy(f"COPY incidents ({columns}) FROM STDIN") as copy:
            for n in range(open_count):
                # the due ones are spread through the table, not clustered at its start
                is_due = n % (open_count // due) == 0 if due else False
                next_at = NOW - timedelta(seconds=n) if is_due else NOW + timedelta(days=1, seconds=n)
                await copy.write_row(
                    (
                        f"incident {n}",
                        "high",
                        "triggered",
                        NOW - timedelta(hours=1),
                        1,
                        snapshot,
                        "active",
                        0,
                        1,
                        0,
                        next_at,
                        0,
                        1,
                    )
                )
        await cursor.execute("ANALYZE incidents")


async def _claim_plan(connection: psycopg.AsyncConnection[Any]) -> str:
    async with connection.cursor() as cursor:
        await cursor.execute(
            "EXPLAIN SELECT * FROM incidents WHERE next_escalation_at <= %s AND status != 'resolved' "
            "ORDER BY next_escalation_at, id LIMIT 100 FOR UPDATE SKIP LOCKED",
            (NOW,),
        )
        lines: list[str] = [row[0] for row in await cursor.fetchall()]
    return next((line.strip() for line in lines if "Scan" in line), lines[0]).split("  (")[0]


async def _truncate(connection: psycopg.AsyncConnection[Any]) -> None:
    async with connection.transaction():
        await connection.execute("TRUNCATE incidents RESTART IDENTITY CASCADE")


async def main(server_url: str, rows: int, pages: int, open_count: int, due: int, repeats: int) -> None:
    database = BenchDatabase(server_url, f"ic_bench_{os.getpid()}_{secrets.token_hex(3)}")
    async with await psycopg.AsyncConnection.connect(server_url, autocommit=True) as admin:
        await admin.execute(f'CREATE SCHEMA "{database.schema}"')
    try:
        await upgrade_async(database.url)
        started = time.perf_counter()
        await compare_with_raw(database, rows, pages)
        print(f"\nDue-escalation claim, median of {repeats} (ms)")
        large = await claim_latency(database, open_count, due, repeats)
        small = await claim_latency(database, due, due, repeats)
        print(f"{'claim limit':<14}{f'{open_count:,} open':>14}{f'{due:,} open':>12}{'ratio':>8}")
        for limit in large:
            print(f"{limit:<14}{large[limit]:>14.2f}{small[limit]:>12.2f}{large[limit] / small[limit]:>8.2f}")
        print(f"\n(total {time.perf_counter() - started:.0f} s)")
    finally:
        async with await psycopg.AsyncConnection.connect(server_url, autocommit=True) as admin:
            await admin.execute(f'DROP SCHEMA IF EXISTS "{database.schema}" CASCADE')


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default=os.environ.get("INCIDENTCORE_TEST_POSTGRES_URL"))
    parser.add_argument(
        "--rows", type=int, default=5000, help="incidents inserted and fetched (default 5000)"
    )
    parser.add_argument("--pages", type=int, default=500, help="pages listed (default 500)")
    parser.add_argument("--open", type=int, default=100_000, dest="open_count", help="open incidents (100k)")
    parser.add_argument("--due", type=int, default=1000, help="of which due (1k)")
    parser.add_argument("--repeats", type=int, default=30, help="claims timed per case (default 30)")
    args = parser.parse_args()
    if not args.url:
        parser.error("give --url or set INCIDENTCORE_TEST_POSTGRES_URL")
    asyncio.run(main(args.url, args.rows, args.pages, args.open_count, args.due, args.repeats))
