"""The SQL engines: URL normalisation, SQLite connection set-up, UTC timestamps, integrity in the database."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy
from entity_builders import T0, stored_team
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import insert, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql import SqlUnitOfWork, create_session_factory
from adapters.sql.engine import (
    DEFAULT_DATABASE_URL,
    database_url_from_env,
    decode_json,
    normalise_database_url,
)
from adapters.sql.tables import incidents, integrations, notifications, teams, users
from incidentcore.model import Team

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("sqlite:///./incidentcore.db", "sqlite+aiosqlite:///./incidentcore.db"),
        ("sqlite:////var/lib/ic.db", "sqlite+aiosqlite:////var/lib/ic.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql://u:p%40ss@db:5432/ic", "postgresql+psycopg://u:p%40ss@db:5432/ic"),
        ("postgres://u@db/ic?sslmode=require", "postgresql+psycopg://u@db/ic?sslmode=require"),
        ("postgresql+psycopg://u@db/ic", "postgresql+psycopg://u@db/ic"),
    ],
)
def test_database_urls_are_normalised_to_the_async_drivers(given: str, normalised: str) -> None:
    assert normalise_database_url(given) == normalised


def test_the_default_database_is_a_local_sqlite_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert database_url_from_env() == DEFAULT_DATABASE_URL == "sqlite:///./incidentcore.db"
    monkeypatch.setenv("DATABASE_URL", "postgresql://db/ic")
    assert database_url_from_env() == "postgresql://db/ic"


@pytest.mark.parametrize("sql_backend", ["sqlite"], indirect=True)
async def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(sql_engine: AsyncEngine) -> None:
    async with sql_engine.connect() as connection:
        pragmas = {
            name: (await connection.exec_driver_sql(f"PRAGMA {name}")).scalar()
            for name in ("journal_mode", "foreign_keys", "busy_timeout")
        }
    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 5000}


async def test_timestamps_come_back_timezone_aware_in_utc(sql_engine: AsyncEngine) -> None:
    in_tokyo = datetime(2026, 1, 1, 18, 0, tzinfo=timezone(timedelta(hours=9)))
    async with SqlUnitOfWork(create_session_factory(sql_engine)) as uow:
        team = await uow.teams.add(Team("payments", created_at=in_tokyo))
        await uow.commit()
        stored = await uow.teams.get(team.id)
    assert stored is not None
    assert stored.created_at == in_tokyo
    assert stored.created_at is not None
    assert stored.created_at.tzinfo is UTC
    assert stored.created_at.hour == 9


async def test_naive_timestamps_are_refused(sql_engine: AsyncEngine) -> None:
    async with sql_engine.begin() as connection:
        with pytest.raises(StatementError, match="naive datetime"):
            await connection.execute(insert(teams).values(name="t", created_at=datetime(2026, 1, 1)))


async def test_timestamps_compare_in_time_order_across_offsets(sql_engine: AsyncEngine) -> None:
    async with sql_engine.begin() as connection:
        for name, moment in [
            ("utc", T0),
            ("later-in-new-york", T0.astimezone(timezone(timedelta(hours=-5)))),
        ]:
            await connection.execute(
                insert(teams).values(name=name, created_at=moment + timedelta(seconds=1))
            )
        found = (
            (await connection.execute(select(teams.c.name).where(teams.c.created_at > T0))).scalars().all()
        )
    assert sorted(found) == ["later-in-new-york", "utc"]


def raw_incident(**values: Any) -> dict[str, Any]:
    row = {
        "title": "t",
        "severity": "high",
        "status": "triggered",
        "created_at": T0,
        "policy_snapshot": {"policy_id": None, "steps": []},
    }
    return row | values


@pytest.mark.parametrize(
    ("table", "values"),
    [
        (incidents, raw_incident(status="exploded")),
        (incidents, raw_incident(severity="apocalyptic")),
        (incidents, raw_incident(esc_phase="sleeping")),
        (incidents, raw_incident(team_id=12345)),
        (
            users,
            {"email": "a@b.c", "full_name": "A", "password_hash": "h", "role": "king", "is_active": True},
        ),
        (
            notifications,
            {
                "channel": "pigeon",
                "subject": "s",
                "body": "b",
                "idempotency_key": "k",
                "status": "pending",
                "attempts": 0,
                "created_at": T0,
            },
        ),
    ],
)
async def test_the_database_itself_rejects_invalid_rows(
    sql_engine: AsyncEngine, table: sqlalchemy.Table, values: dict[str, Any]
) -> None:
    async with sql_engine.connect() as connection:
        with pytest.raises(IntegrityError):
            await connection.execute(insert(table).values(values))


async def test_the_database_itself_keeps_emails_unique_whatever_their_case(sql_engine: AsyncEngine) -> None:
    user = {"full_name": "A", "password_hash": "h", "role": "user", "is_active": True}
    async with sql_engine.connect() as connection:
        await connection.execute(insert(users).values(email="Ann@Example.com", **user))
        with pytest.raises(IntegrityError):
            await connection.execute(insert(users).values(email="ann@example.COM", **user))


async def test_the_database_itself_keeps_one_open_incident_per_dedup_key(sql_engine: AsyncEngine) -> None:
    async with SqlUnitOfWork(create_session_factory(sql_engine)) as uow:
        team = await stored_team(uow)
        await uow.commit()
    async with sql_engine.connect() as connection:
        integration_id = (
            await connection.execute(
                insert(integrations).values(name="k", team_id=team.id, key="s").returning(integrations.c.id)
            )
        ).scalar_one()
        dedup = {"integration_id": integration_id, "dedup_key": "r:a"}
        await connection.execute(insert(incidents).values(raw_incident(status="resolved", **dedup)))
        await connection.execute(insert(incidents).values(raw_incident(**dedup)))
        with pytest.raises(IntegrityError):
            await connection.execute(insert(incidents).values(raw_incident(status="acknowledged", **dedup)))


async def test_database_errors_never_show_the_bound_values(sql_engine: AsyncEngine) -> None:
    """A 500 logs its exception: the text of a database error must not carry password hashes or keys."""
    secret_hash = "$2b$12$secret-hash-that-must-not-be-logged"
    user = {"full_name": "A", "password_hash": secret_hash, "role": "user", "is_active": True}
    async with sql_engine.connect() as connection:
        await connection.execute(insert(users).values(email="ann@example.com", **user))
        with pytest.raises(IntegrityError) as duplicate:
            await connection.execute(insert(users).values(email="ANN@example.com", **user))
        with pytest.raises(DBAPIError) as invalid:
            await connection.execute(insert(integrations).values(name="k", team_id=424242, key="integration-key-secret"))
    for error in (duplicate.value, invalid.value):
        assert error.hide_parameters
        text = f"{error}\n{error!r}"
        assert "hidden due to hide_parameters" in text
        assert secret_hash not in text and "integration-key-secret" not in text



JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_json_columns_decode_to_what_json_loads_gives(value: Any) -> None:
    document = json.dumps(value)
    assert decode_json(document) == json.loads(document)
    assert decode_json(document.encode()) == json.loads(document)


def test_json_msgspec_refuses_is_still_read_as_json_loads_reads_it() -> None:
    decoded = decode_json('{"big": 1e400, "nan": NaN, "minus": -Infinity, "n": 1}')
    assert decoded["big"] == math.inf and decoded["minus"] == -math.inf and decoded["n"] == 1
    assert math.isnan(decoded["nan"])


@pytest.mark.parametrize("sql_backend", ["postgres"], indirect=True)
async def test_postgres_jsonb_reads_back_as_json_loads_reads_its_text(sql_engine: AsyncEngine) -> None:
    document_text = '{"big": 1e400, "tiny": 1e-400, "ids": [1, 2.5]}'
    query = f"SELECT doc, doc::text FROM (SELECT '{document_text}'::jsonb AS doc) AS d"
    async with sql_engine.connect() as connection:
        document, as_text = (await connection.execute(text(query))).one()
    assert document == json.loads(as_text)
    assert document["big"] == 10**400 and document["ids"] == [1, 2.5]
