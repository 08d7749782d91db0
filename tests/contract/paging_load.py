"""A paging workload on a throwaway Postgres database, for the multi-worker tests and bench/.

`seed` opens incidents through the real use cases with a clock set in the past, so some of each
incident's steps are already due when real-time workers start: every page is a webhook POST to a
capture server, named by (incident, step, user).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
from capture_server import CapturedRequest
from sqlalchemy.engine import make_url

from adapters.sql import SqlUnitOfWork, create_engine, create_session_factory
from adapters.sql.migrate import upgrade_async
from incidentcore.escalation import EscalationStep, Target, TargetType
from incidentcore.model import Channel, EscalationPolicy, NotificationPreference, Team, User
from incidentcore.services import Incidents, NewIncident, PagingConfig
from incidentcore.testing import CountingNudge, FakeClock

WORKER_SCRIPT = Path(__file__).with_name("worker_process.py")
PageKey = tuple[int, int, str]  # (incident id, step index, user)

# Step delays in minutes, and who each step pages. Triggered 10 minutes ago, steps 0-2 are due
# (at -10, -8 and -6 minutes) and step 3 is not (at +54): it must never be sent.
STEPS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (2, ("alice",)),
    (2, ("bob", "bea")),  # as a team target
    (60, ("carol",)),
    (1, ("dave",)),
)
DUE_STEPS = 3
TRIGGERED_AGO = timedelta(minutes=10)


def psycopg_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.contextmanager
def fresh_database(base_url: str, prefix: str = "incidentcore_workers") -> Iterator[str]:
    """A new, migrated database next to `base_url`'s; dropped afterwards."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = psycopg_url(base_url)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Workload:
    incident_ids: list[int]
    expected: set[PageKey]  # every due page, once


async def seed(url: str, incidents: int, webhook_base: str, now: datetime) -> Workload:
    """Migrates `url`, then opens `incidents` incidents triggered TRIGGERED_AGO before `now`."""
    await upgrade_async(url)
    engine = create_engine(url)
    sessions = create_session_factory(engine)
    try:
        async with SqlUnitOfWork(sessions) as uow:
            team = await uow.teams.add(Team("responders", created_at=now))
            users: dict[str, User] = {}
            for _, names in STEPS:
                for name in names:
                    in_team = team.id if len(names) > 1 else None
                    user = await uow.users.add(
                        User(f"{name}@example.com", name.title(), "x", team_id=in_team, created_at=now)
                    )
                    users[name] = user
                    address = f"{webhook_base}/u/{name}"
                    await uow.preferences.upsert(
                        NotificationPreference(user.id, Channel.WEBHOOK, True, address)
                    )
            steps = tuple(
                EscalationStep(
                    delay,
                    (Target(TargetType.TEAM, team_id=team.id),)
                    if len(names) > 1
                    else (Target(TargetType.USER, user_id=users[names[0]].id),),
                )
                for delay, names in STEPS
            )
            await uow.policies.add(EscalationPolicy("load", steps, created_at=now))
            await uow.commit()
        clock = FakeClock(now - TRIGGERED_AGO)
        ids = []
        for i in range(incidents):
            use_case = Incidents(SqlUnitOfWork(sessions), clock, CountingNudge(), PagingConfig())
            ids.append((await use_case.open(None, NewIncident(f"load {i}"))).id)
    finally:
        await engine.dispose()
    expected = {(i, step, name) for i in ids for step in range(DUE_STEPS) for name in STEPS[step][1]}
    return Workload(ids, expected)


TITLE = re.compile(r"Incident #(\d+):")
STEP = re.compile(r"Escalation step (\d+)")


def page_key(request: CapturedRequest) -> PageKey:
    body = request.json()
    incident = TITLE.search(body["title"])
    step = STEP.search(body["message"])
    assert incident and step, body
    return int(incident.group(1)), int(step.group(1)) - 1, request.path.rsplit("/", 1)[-1]


def start_workers(
    count: int, url: str, *, interval: float = 0.2, lease_seconds: float = 60, concurrency: int = 10
) -> list[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "ENVIRONMENT": "test",
        "SECRET_KEY": "worker-test-secret-key-long-enough-0123456789",
        "WORKER_INTERVAL_SECONDS": str(interval),
        "WORKER_TEST_LEASE_SECONDS": str(lease_seconds),
        "WORKER_TEST_CONCURRENCY": str(concurrency),
        # The capture server stands in for many destinations: no per-host limit below the concurrency.
        "NOTIFICATION_MAX_SENDS_PER_HOST": str(concurrency),
        "LOG_LEVEL": "WARNING",
    }
    return [
        subprocess.Popen([sys.executable, str(WORKER_SCRIPT)], env=env, stderr=subprocess.PIPE)
        for _ in range(count)
    ]


def stop_workers(workers: list[subprocess.Popen[bytes]], timeout: float = 15) -> list[int]:
    """SIGTERM (graceful: the batch in hand finishes), then the exit codes; kills any straggler."""
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    codes = []
    for worker in workers:
        try:
            codes.append(worker.wait(timeout))
        except subprocess.TimeoutExpired:
            worker.kill()
            codes.append(worker.wait())
    return codes


def outbox_counts(url: str) -> dict[str, int]:
    with psycopg.connect(psycopg_url(url)) as connection:
        rows = connection.execute("SELECT status, count(*) FROM notifications GROUP BY status").fetchall()
    return {status: count for status, count in rows}
