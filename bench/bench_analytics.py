"""Incident report benchmark: `GET /v1/analytics/incidents`'s queries over 100,000 incidents.

A year of incidents (20 teams, 200 users) bulk-loaded with what happens to them in realistic
proportions: 90% acknowledged (a tenth of those re-triggered and acknowledged again), 85% resolved,
those not acknowledged within 10 minutes escalated to step 1, one or two pages each (plus one per
escalation), 92% sent, 4% failed, 4% cancelled; with their timeline and escalation events, about
800,000 rows in all. Times, as the median of several runs, the report over the whole year (every
incident), over one week, and over one team's week; on Postgres (a schema of its own, dropped
afterwards) and, unless --no-sqlite, on SQLite (a temporary file) from the same rows, and checks that
both engines give the same reports.

    python bench/bench_analytics.py --url postgresql://postgres@127.0.0.1:5432/test [--incidents 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import sqlite3
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import psycopg

from adapters.sql import SqlUnitOfWork, create_engine, create_session_factory
from adapters.sql.migrate import upgrade_async
from incidentcore.analytics import IncidentReport
from incidentcore.escalation import EscalationStep, PolicySnapshot, Target, TargetType

NOW = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
YEAR = timedelta(days=365)
WEEK = timedelta(days=7)
TEAMS, USERS = 20, 200
SEVERITIES = ("critical", "high", "medium", "low", "info")
SEVERITY_WEIGHTS = (10, 30, 30, 20, 10)
STEP_DELAY = timedelta(minutes=10)
SNAPSHOT = msgspec.json.encode(
    PolicySnapshot(
        1,
        (
            EscalationStep(10, (Target(TargetType.USER, user_id=1),)),
            EscalationStep(10, (Target(TargetType.TEAM, team_id=1),)),
        ),
    )
).decode()

# (table, columns) in load order (foreign keys)
COLUMNS = {
    "teams": ("id", "name", "created_at"),
    "users": (
        "id", "email", "full_name", "password_hash", "role", "team_id", "is_active", "created_at",
        "credentials_version",
    ),
    "incidents": (
        "id", "title", "severity", "status", "team_id", "created_at", "acknowledged_at", "resolved_at",
        "escalation_policy_id", "policy_snapshot", "esc_phase",
    ),
    "timeline_events": ("id", "incident_id", "kind", "actor_id", "data", "created_at"),
    "escalation_events": (
        "id", "incident_id", "policy_id", "kind", "cycle", "step_index", "loop", "scheduled_at", "created_at",
        "notified_user_ids",
    ),
    "notifications": (
        "id", "incident_id", "user_id", "channel", "address", "subject", "body", "idempotency_key", "status",
        "attempts", "created_at", "sent_at", "urgency", "version",
    ),
}  # fmt: skip


@dataclass
class Rows:
    """Every row to load, by table, as tuples in `COLUMNS` order."""

    tables: dict[str, list[tuple[Any, ...]]] = field(default_factory=lambda: {t: [] for t in COLUMNS})

    def add(self, table: str, *values: Any) -> int:
        rows = self.tables[table]
        rows.append((len(rows) + 1, *values))
        return len(rows)

    def total(self) -> int:
        return sum(len(rows) for rows in self.tables.values())


def generate(incidents: int, seed: int = 7) -> Rows:
    rng = random.Random(seed)
    rows = Rows()
    for team in range(1, TEAMS + 1):
        rows.add("teams", f"team {team}", NOW - 2 * YEAR)
    for user in range(1, USERS + 1):
        team = (user - 1) % TEAMS + 1
        rows.add("users", f"u{user}@example.com", f"User {user}", "x", "oncall_engineer", team, True, NOW - 2 * YEAR, 0)
    for _ in range(incidents):
        created = NOW - YEAR + timedelta(microseconds=rng.randrange(int(YEAR.total_seconds() * 1e6)))
        team = rng.randrange(TEAMS) + 1
        severity = rng.choices(SEVERITIES, SEVERITY_WEIGHTS)[0]
        responder = team + TEAMS * rng.randrange(USERS // TEAMS)  # one of the team's members
        acked = rng.random() < 0.9
        ack_at = created + timedelta(seconds=rng.expovariate(1 / 300)) if acked else None
        resolved = acked and rng.random() < 0.94  # 85% of all
        resolved_at = ack_at + timedelta(seconds=rng.expovariate(1 / 3600)) if resolved and ack_at else None
        escalated = ack_at is None or ack_at - created > STEP_DELAY
        status, phase = (
            ("resolved", "resolved") if resolved else ("acknowledged", "acknowledged") if acked else ("triggered", "exhausted")
        )
        incident = rows.add(
            "incidents", f"checkout 5xx #{len(rows.tables['incidents'])}", severity, status, team, created, ack_at,
            resolved_at, 1, SNAPSHOT, phase,
        )  # fmt: skip
        rows.add("timeline_events", incident, "created", None, "{}", created)
        rows.add("escalation_events", incident, 1, "fired", 0, 0, 0, created, created, f"[{responder}]")
        pages = [(responder, created)] * rng.choice((1, 2))
        if escalated:
            step_1 = created + STEP_DELAY
            rows.add("escalation_events", incident, 1, "fired", 0, 1, 0, step_1, step_1, "[1]")
            pages.append((rng.randrange(USERS) + 1, step_1))
        if ack_at is not None:
            rows.add("timeline_events", incident, "acknowledged", responder, "{}", ack_at)
            rows.add("escalation_events", incident, 1, "acknowledged", 0, None, None, ack_at, ack_at, "[]")
            if rng.random() < 0.1:  # re-triggered after the ack timeout, acknowledged again
                again = ack_at + timedelta(minutes=30, seconds=rng.expovariate(1 / 120))
                rows.add("timeline_events", incident, "retriggered", None, "{}", ack_at + timedelta(minutes=30))
                rows.add("timeline_events", incident, "acknowledged", rng.randrange(USERS) + 1, "{}", again)
        if resolved_at is not None:
            rows.add("timeline_events", incident, "resolved", responder, "{}", resolved_at)
            rows.add("escalation_events", incident, 1, "stopped", 0, None, None, resolved_at, resolved_at, "[]")
        for user, at in pages:
            roll = rng.random()
            page_status = "sent" if roll < 0.92 else "failed" if roll < 0.96 else "cancelled"
            sent_at = at + timedelta(seconds=2) if page_status == "sent" else None
            key = f"page-{len(rows.tables['notifications']) + 1}"
            rows.add(
                "notifications", incident, user, "email", f"u{user}@example.com", "[HIGH] checkout 5xx", "body",
                key, page_status, 1, at, sent_at, 1, 1,
            )  # fmt: skip
    return rows


async def load_postgres(server_url: str, schema: str, rows: Rows) -> None:
    connection = await psycopg.AsyncConnection.connect(server_url, options=f"-csearch_path={schema}")
    async with connection, connection.transaction(), connection.cursor() as cursor:
        for table, columns in COLUMNS.items():
            async with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows.tables[table]:
                    await copy.write_row(row)
    # as autovacuum leaves a table that has been written to: statistics, and the visibility map that
    # index-only scans need
    async with await psycopg.AsyncConnection.connect(
        server_url, options=f"-csearch_path={schema}", autocommit=True
    ) as connection:
        for table in COLUMNS:
            await connection.execute(f"VACUUM ANALYZE {table}")


def load_sqlite(path: Path, rows: Rows) -> None:
    def stored(value: Any) -> Any:  # as the UtcDateTime column type stores times on SQLite
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(value, datetime) else value

    with sqlite3.connect(path) as connection:
        for table, columns in COLUMNS.items():
            marks = ", ".join("?" for _ in columns)
            connection.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                ([stored(v) for v in row] for row in rows.tables[table]),
            )
        connection.execute("ANALYZE")


WINDOWS = {
    "whole year (every incident)": (NOW - YEAR, NOW, None),
    "one week": (NOW - WEEK, NOW, None),
    "one team's week": (NOW - WEEK, NOW, 3),
}


async def time_reports(url: str, runs: int) -> tuple[dict[str, float], dict[str, IncidentReport]]:
    """Median milliseconds of each window's report, and the reports."""
    engine = create_engine(url)
    sessions = create_session_factory(engine)
    medians: dict[str, float] = {}
    reports: dict[str, IncidentReport] = {}
    try:
        for name, (since, until, team_id) in WINDOWS.items():
            samples = []
            for _ in range(runs + 1):  # the first run warms the caches and is not counted
                async with SqlUnitOfWork(sessions) as uow:
                    await uow.session.connection()  # connect outside the timing
                    started = time.perf_counter()
                    reports[name] = await uow.analytics.incident_report(since, until, team_id)
                    samples.append((time.perf_counter() - started) * 1000)
            medians[name] = statistics.median(samples[1:])
    finally:
        await engine.dispose()
    return medians, reports


def print_timings(engine: str, medians: dict[str, float], reports: dict[str, IncidentReport], runs: int) -> None:
    print(f"\n{engine}: incident report, median of {runs} runs")
    for name, ms in medians.items():
        totals = reports[name].totals
        print(f"  {name:<30}{ms:>9.1f} ms   ({totals.count:,} incidents, MTTA p50 {totals.mtta_seconds.p50} s)")


@dataclass(frozen=True)
class Schema:
    server_url: str
    name: str

    @property
    def url(self) -> str:
        separator = "&" if "?" in self.server_url else "?"
        return f"{self.server_url}{separator}options=-csearch_path%3D{self.name}"


async def main(server_url: str, incidents: int, runs: int, sqlite: bool) -> None:
    started = time.perf_counter()
    rows = generate(incidents)
    print(f"generated {incidents:,} incidents, {rows.total():,} rows in all ({time.perf_counter() - started:.0f} s)")
    schema = Schema(server_url, f"ic_bench_analytics_{os.getpid()}_{secrets.token_hex(3)}")
    async with await psycopg.AsyncConnection.connect(server_url, autocommit=True) as admin:
        await admin.execute(f'CREATE SCHEMA "{schema.name}"')
    try:
        await upgrade_async(schema.url)
        began = time.perf_counter()
        await load_postgres(server_url, schema.name, rows)
        print(f"loaded into Postgres with COPY ({time.perf_counter() - began:.0f} s)")
        postgres_medians, postgres_reports = await time_reports(schema.url, runs)
        print_timings("Postgres", postgres_medians, postgres_reports, runs)
    finally:
        async with await psycopg.AsyncConnection.connect(server_url, autocommit=True) as admin:
            await admin.execute(f'DROP SCHEMA IF EXISTS "{schema.name}" CASCADE')
    if not sqlite:
        return
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "bench.db"
        await upgrade_async(f"sqlite:///{path}")
        began = time.perf_counter()
        load_sqlite(path, rows)
        print(f"\nloaded into SQLite ({time.perf_counter() - began:.0f} s)")
        sqlite_medians, sqlite_reports = await time_reports(f"sqlite:///{path}", runs)
        print_timings("SQLite", sqlite_medians, sqlite_reports, runs)
    same = sqlite_reports == postgres_reports
    print(f"\nSQLite and Postgres reports identical: {'yes' if same else 'NO'}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default=os.environ.get("INCIDENTCORE_TEST_POSTGRES_URL"))
    parser.add_argument("--incidents", type=int, default=100_000, help="incidents loaded (default 100,000)")
    parser.add_argument("--report-runs", type=int, default=7, dest="runs", help="reports timed per window (7)")
    parser.add_argument("--no-sqlite", action="store_true", help="Postgres only")
    # `nox -s bench` hands its arguments to every bench script; ignore the other scripts' options.
    args, _ = parser.parse_known_args()
    if not args.url:
        parser.error("give --url or set INCIDENTCORE_TEST_POSTGRES_URL")
    asyncio.run(main(args.url, args.incidents, args.runs, not args.no_sqlite))
