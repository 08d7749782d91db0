"""Alert ingestion throughput, through the HTTP app (decoders, the use case, the database).

For PagerDuty Events API v2 and Alertmanager webhook bodies: alerts per second when each alert is new
(it opens an incident and pages its team's on-call through the policy's first step) and when it
repeats (it finds the open incident, counts the alert, and past ALERT_TIMELINE_MAX writes no
timeline event). Alertmanager also in groups of 10 alerts per call.

Runs on a fresh SQLite file, or on Postgres (a schema of its own, dropped afterwards) when
INCIDENTCORE_TEST_POSTGRES_URL or --url is set:

    python bench/bench_ingest.py [--alerts 1000] [--url postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import sqlalchemy
from dishka import AsyncContainer

from adapters.sql.engine import normalise_database_url, redacted
from adapters.sql.migrate import upgrade
from entrypoints.di import build_container
from entrypoints.http import create_app
from entrypoints.settings import Settings
from incidentcore.services import Accounts

ADMIN, PASSWORD = "bench@example.com", "bench password"
GROUP = 10


@contextmanager
def database(server_url: str | None) -> Iterator[str]:
    """A migrated, empty database: a SQLite file, or a Postgres schema dropped afterwards."""
    if not server_url:
        with tempfile.TemporaryDirectory() as directory:
            url = f"sqlite:///{Path(directory) / 'bench.db'}"
            upgrade(url)
            yield url
        return
    schema = f"ic_bench_ingest_{os.getpid()}_{secrets.token_hex(3)}"
    separator = "&" if "?" in server_url else "?"
    url = f"{server_url}{separator}options={quote(f'-csearch_path={schema}')}"
    admin = sqlalchemy.create_engine(normalise_database_url(server_url))
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        upgrade(url)
        yield url
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


def events_body(key: str, dedup_key: str) -> dict[str, Any]:
    payload = {
        "summary": f"Disk full on {dedup_key}",
        "source": dedup_key,
        "severity": "error",
        "custom_details": {"free": "1%", "mount": "/var/lib/postgresql"},
    }
    return {"routing_key": key, "event_action": "trigger", "dedup_key": dedup_key, "payload": payload}


def alertmanager_body(*fingerprints: str) -> dict[str, Any]:
    alerts = [
        {
            "status": "firing",
            "labels": {"alertname": "HighErrorRate", "instance": f, "severity": "critical"},
            "annotations": {"summary": f"5xx above 5% on {f}", "description": "rate(http_5xx[5m]) > 0.05"},
            "startsAt": "2026-11-27T06:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example.com/graph",
            "fingerprint": f,
        }
        for f in fingerprints
    ]
    return {"version": "4", "status": "firing", "receiver": "bench", "groupKey": "{}:{}", "alerts": alerts}


async def rate(client: httpx.AsyncClient, calls: list[tuple[str, dict[str, Any]]], alerts_per_call: int) -> float:
    """Alerts per second, one call after another (as one tool sends them)."""
    started = time.perf_counter()
    for path, arguments in calls:
        response = await client.post(path, **arguments)
        assert response.status_code in (200, 202), response.text
    return len(calls) * alerts_per_call / (time.perf_counter() - started)


async def run(url: str, alerts: int) -> list[tuple[str, str, float]]:
    settings = Settings.from_mapping(
        {
            "ENVIRONMENT": "test",
            "DATABASE_URL": url,
            "SECRET_KEY": secrets.token_urlsafe(48),
            "BCRYPT_ROUNDS": "4",
            "WORKER_ENABLED": "false",
        }
    )
    container = build_container(settings)
    # In process, on this event loop: the figures are the app's, not a test client's thread hops.
    # Seen as any ASGI callable: httpx and Litestar spell the ASGI message types differently (encode/httpx#3111).
    app: Callable[..., Coroutine[Any, Any, None]] = create_app(settings, container)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            return await measure(client, container, alerts)
    finally:
        await container.close()


async def measure(client: httpx.AsyncClient, container: AsyncContainer, alerts: int) -> list[tuple[str, str, float]]:
    async with container() as scope:
        await (await scope.get(Accounts)).ensure_admin(ADMIN, PASSWORD)
    token = await client.post("/v1/auth/login/access-token", data={"username": ADMIN, "password": PASSWORD})
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    me = (await client.get("/v1/users/me", headers=headers)).json()
    team = (await client.post("/v1/teams/", json={"name": "bench"}, headers=headers)).json()
    step = {"delay_minutes": 5, "targets": [{"type": "user", "id": me["id"]}]}
    policy = {"name": "bench", "team_id": team["id"], "steps": [step]}
    assert (await client.post("/v1/escalation/policies/", json=policy, headers=headers)).status_code == 201

    async def key() -> str:
        body = {"name": f"bench-{secrets.token_hex(3)}", "team_id": team["id"]}
        return str((await client.post("/v1/integrations/", json=body, headers=headers)).json()["key"])

    def events(routing_key: str, dedup: Callable[[int], str]) -> list[tuple[str, dict[str, Any]]]:
        return [("/v2/enqueue", {"json": events_body(routing_key, dedup(n))}) for n in range(alerts)]

    def alertmanager(integration_key: str, group: Callable[[int], list[str]], calls: int) -> list[tuple[str, dict[str, Any]]]:
        auth = {"Authorization": f"Bearer {integration_key}"}
        return [
            ("/v1/alerts/alertmanager", {"json": alertmanager_body(*group(n)), "headers": auth}) for n in range(calls)
        ]

    events_key, am_key, grouped_key = await key(), await key(), await key()
    grouped = alertmanager(grouped_key, lambda n: [f"g{n:08x}{i:06x}" for i in range(GROUP)], alerts // GROUP)
    return [
        ("events v2", "new", await rate(client, events(events_key, lambda n: f"host-{n}"), 1)),
        ("events v2", "repeat", await rate(client, events(events_key, lambda n: "host-0"), 1)),
        ("alertmanager", "new", await rate(client, alertmanager(am_key, lambda n: [f"fp{n:014x}"], alerts), 1)),
        ("alertmanager", "repeat", await rate(client, alertmanager(am_key, lambda n: ["fp" + "0" * 14], alerts), 1)),
        ("alertmanager", f"new, {GROUP} per call", await rate(client, grouped, GROUP)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("INCIDENTCORE_TEST_POSTGRES_URL"))
    parser.add_argument("--alerts", type=int, default=1000, help="alerts per measurement (default 1000)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with database(args.url) as url:
        engine = "Postgres" if args.url else "SQLite"
        print(f"Alert ingestion through the HTTP app on {engine} ({redacted(url)}), {args.alerts} alerts each")
        print(f"{'source':<14}{'alerts':<22}{'alerts/s':>10}")
        for source, kind, per_second in asyncio.run(run(url, args.alerts)):
            print(f"{source:<14}{kind:<22}{per_second:>10.0f}")


if __name__ == "__main__":
    main()
