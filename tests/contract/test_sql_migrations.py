"""Migrations: every revision upgrades and downgrades (stairway); the latest matches the tables (drift);
`incidentcore migrate` creates a working database."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import anyio
import pytest
import sqlalchemy
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from entity_builders import stored_team
from sqlalchemy.exc import SAWarning

from adapters.sql import SqlUnitOfWork, create_engine, create_session_factory, metadata
from adapters.sql.engine import normalise_database_url
from adapters.sql.migrate import (
    MIGRATIONS_ENV,
    alembic_config,
    downgrade_async,
    migrations_directory,
    upgrade_async,
)
from conftest import PostgresSchema, postgres_server_url
from entrypoints.cli import main
from incidentcore.ports import Page

pytestmark = pytest.mark.anyio


@pytest.fixture
def empty_database_url(sql_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if sql_backend == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    schema: PostgresSchema = request.getfixturevalue("postgres_schema")
    return schema.url


@pytest.fixture
def sync_engine_for(empty_database_url: str) -> Iterator[sqlalchemy.Engine]:
    """A blocking engine on the same database, for inspection."""
    url = sqlalchemy.make_url(normalise_database_url(empty_database_url))
    if url.get_backend_name() == "sqlite":
        url = url.set(drivername="sqlite")
    engine = sqlalchemy.create_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def revisions_oldest_first() -> list[tuple[str, str]]:
    """(revision, the revision below it or "base") for every revision."""
    script = ScriptDirectory.from_config(alembic_config("sqlite:///unused.db"))
    walked = list(script.walk_revisions("base", "heads"))
    return [(r.revision, str(r.down_revision or "base")) for r in reversed(walked)]


def application_tables(engine: sqlalchemy.Engine) -> set[str]:
    return set(sqlalchemy.inspect(engine).get_table_names()) - {"alembic_version"}


def test_the_history_is_linear_and_starts_at_the_initial_revision() -> None:
    revisions = revisions_oldest_first()
    assert revisions[0] == ("0001", "base")
    assert [below for _, below in revisions[1:]] == [revision for revision, _ in revisions[:-1]]


async def test_stairway_every_revision_upgrades_and_downgrades(
    empty_database_url: str, sync_engine_for: sqlalchemy.Engine
) -> None:
    for revision, below in revisions_oldest_first():
        await upgrade_async(empty_database_url, revision)
        await downgrade_async(empty_database_url, below)
        await upgrade_async(empty_database_url, revision)
    assert application_tables(sync_engine_for) == set(metadata.tables)

    await downgrade_async(empty_database_url, "base")
    assert application_tables(sync_engine_for) == set()


async def test_the_latest_revision_matches_the_tables(
    empty_database_url: str, sync_engine_for: sqlalchemy.Engine
) -> None:
    await upgrade_async(empty_database_url)
    with sync_engine_for.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        # SQLite cannot reflect the lower(email) index, so autogenerate says it skips it; the
        # schema comparison below checks that index instead.
        skipped: AbstractContextManager[object] = (
            pytest.warns((UserWarning, SAWarning), match="expression-based index")
            if connection.dialect.name == "sqlite"
            else nullcontext()
        )
        with skipped:
            differences = compare_metadata(context, metadata)
    assert differences == []


async def test_pages_withdrawn_before_0005_become_cancelled_and_back(
    empty_database_url: str, sync_engine_for: sqlalchemy.Engine
) -> None:
    """Before 0005 a withdrawn page was stored `failed` with the withdrawal as its error."""
    await upgrade_async(empty_database_url, "0004")
    pages = {
        "withdrawn": ("failed", "incident acknowledged"),
        "undeliverable": ("failed", "smtp said no"),
        "delivered": ("sent", None),
    }
    insert = sqlalchemy.text(
        "INSERT INTO notifications (channel, subject, body, idempotency_key, status, attempts, last_error, "
        "created_at, version) VALUES ('email', 's', 'b', :key, :status, 0, :error, :at, 0)"
    )
    with sync_engine_for.begin() as connection:
        for key, (status, error) in pages.items():
            connection.execute(
                insert, {"key": key, "status": status, "error": error, "at": "2026-01-01 09:00:00"}
            )

    def stored(*columns: str) -> dict[str, tuple[object, ...]]:
        with sync_engine_for.connect() as connection:
            rows = connection.exec_driver_sql(
                f"SELECT idempotency_key, {', '.join(columns)} FROM notifications"
            )
            return {key: tuple(values) for key, *values in rows}

    await upgrade_async(empty_database_url, "0005")
    assert stored("status", "last_error", "cancel_reason") == {
        "withdrawn": ("cancelled", None, "incident acknowledged"),
        "undeliverable": ("failed", "smtp said no", None),
        "delivered": ("sent", None, None),
    }
    await downgrade_async(empty_database_url, "0004")
    assert stored("status", "last_error") == pages


async def test_escalation_events_recorded_before_0005_read_as_cancelling_nobody(
    empty_database_url: str, sync_engine_for: sqlalchemy.Engine
) -> None:
    await upgrade_async(empty_database_url, "0004")
    with sync_engine_for.begin() as connection:
        connection.execute(
            sqlalchemy.text(
                "INSERT INTO incidents (id, title, severity, status, created_at, policy_snapshot)"
                " VALUES (1, 't', 'high', 'triggered', :at, :policy)"
            ),
            {"at": "2026-11-01 00:00:00", "policy": json.dumps({"policy_id": None, "steps": []})},
        )
        connection.execute(
            sqlalchemy.text(
                "INSERT INTO escalation_events (incident_id, kind, cycle, step_index, loop, scheduled_at,"
                " created_at, notified_user_ids) VALUES (1, 'fired', 0, 0, 0, :at, :at, '[7]')"
            ),
            {"at": "2026-11-01 00:00:00"},
        )
    await upgrade_async(empty_database_url)

    engine = create_engine(empty_database_url)
    try:
        async with SqlUnitOfWork(create_session_factory(engine)) as uow:
            [event] = (await uow.escalation_events.list_for_incident(1, Page())).items
    finally:
        await engine.dispose()
    assert (event.notified_user_ids, event.cancelled_user_ids, event.cancel_reason) == ([7], [], None)


def sqlite_schema(engine: sqlalchemy.Engine) -> dict[str, object]:
    """Every table's definition as a set of lines (order-free), and every index statement."""
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name != 'alembic_version'"
        ).all()
    schema: dict[str, object] = {}
    for kind, name, sql in rows:
        text = re.sub(r"\s+", " ", sql or "")
        if kind == "table":
            body = text[text.index("(") + 1 : text.rindex(")")]
            schema[name] = {part.strip().rstrip(",") for part in re.split(r", (?=[A-Za-z\"])", body)}
        else:
            schema[name] = text
    return schema


def postgres_schema_of(engine: sqlalchemy.Engine, schema: str) -> dict[str, object]:
    """Columns, constraints and indexes of `schema`, as Postgres itself spells them."""
    queries = {
        "columns": """
            SELECT table_name, column_name, data_type, is_nullable, column_default
            FROM information_schema.columns WHERE table_schema = :schema AND table_name != 'alembic_version'
        """,
        "constraints": """
            SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
            FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
            WHERE n.nspname = :schema AND c.conrelid::regclass::text != 'alembic_version'
        """,
        "indexes": """
            SELECT tablename, indexname, indexdef FROM pg_indexes
            WHERE schemaname = :schema AND tablename != 'alembic_version'
        """,
    }
    with engine.connect() as connection:
        return {
            part: {
                tuple(str(value).replace(f"{schema}.", "") for value in row)
                for row in connection.execute(sqlalchemy.text(query), {"schema": schema})
            }
            for part, query in queries.items()
        }


async def test_migrated_and_freshly_created_schemas_are_identical(
    sql_backend: str, empty_database_url: str, sync_engine_for: sqlalchemy.Engine, tmp_path: Path
) -> None:
    """Catches what autogenerate does not compare: CHECK constraints, partial index predicates."""
    await upgrade_async(empty_database_url)
    if sql_backend == "sqlite":
        created = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'created.db'}")
        try:
            metadata.create_all(created)
            assert sqlite_schema(sync_engine_for) == sqlite_schema(created)
        finally:
            created.dispose()
        return
    with sync_engine_for.connect() as connection:
        migrated_name = connection.exec_driver_sql("SELECT current_schema()").scalar()
    fresh = PostgresSchema.create(postgres_server_url(), prefix="ic_created")
    try:
        metadata.create_all(fresh.admin)
        migrated = postgres_schema_of(sync_engine_for, str(migrated_name))
        assert migrated == postgres_schema_of(fresh.admin, fresh.name)
    finally:
        fresh.drop()


async def test_elastic_dedup_keys_become_injective_and_back(
    empty_database_url: str, sync_engine_for: sqlalchemy.Engine
) -> None:
    """0002 re-keys only the keys that could be ambiguous, from the incident's first alert."""
    await upgrade_async(empty_database_url, "0001")
    alerts: dict[str, dict[str, object]] = {
        "a:b:c": {"alert": {"rule": {"id": "a:b"}, "alert": {"id": "c"}}},  # ambiguous: re-keyed
        "r:x": {"alert": {"rule": {"id": "r"}, "alert": {"id": "x"}}},  # plain: unchanged
        "t:u:v": {"alert": {"truncated": True, "bytes": 99999, "keys": []}},  # unrecoverable: unchanged
        "w\\:z": {"alert": {"rule": {"id": "w\\"}, "alert": {"id": "z"}}},  # a backslash: re-keyed
    }
    with sync_engine_for.begin() as connection:
        connection.execute(sqlalchemy.text("INSERT INTO teams (id, name) VALUES (1, 'ops')"))
        connection.execute(
            sqlalchemy.text("INSERT INTO integrations (id, name, team_id, key) VALUES (1, 'kibana', 1, 'k')")
        )
        for number, (key, data) in enumerate(alerts.items(), start=1):
            connection.execute(
                sqlalchemy.text(
                    "INSERT INTO incidents (id, title, severity, status, source, integration_id, dedup_key,"
                    " created_at, policy_snapshot) VALUES (:id, 't', 'high', 'triggered', 'elastic', 1, :key,"
                    " :at, :policy)"
                ),
                {"id": number, "key": key, "at": "2026-11-01 00:00:00", "policy": "{}"},
            )
            connection.execute(
                sqlalchemy.text(
                    "INSERT INTO timeline_events (incident_id, kind, data, created_at)"
                    " VALUES (:id, 'alert', :data, :at)"
                ),
                {"id": number, "data": json.dumps({"source": "elastic", **data}), "at": "2026-11-01 00:00:00"},
            )

    def keys() -> list[str]:
        with sync_engine_for.connect() as connection:
            return list(connection.execute(sqlalchemy.text("SELECT dedup_key FROM incidents ORDER BY id")).scalars())

    await upgrade_async(empty_database_url, "0002")
    assert keys() == ["a\\:b:c", "r:x", "t:u:v", "w\\\\:z"]
    await downgrade_async(empty_database_url, "0001")
    assert keys() == list(alerts)


async def test_0008_counts_each_incidents_alerts_from_its_timeline(
    empty_database_url: str, sync_engine_for: sqlalchemy.Engine
) -> None:
    """Before 0008 every alert was on the timeline: the count is the number of `alert` events."""
    await upgrade_async(empty_database_url, "0007")
    alert_events = {1: 3, 2: 0, 3: 1}  # incident id -> alert events (2: opened by a person)
    with sync_engine_for.begin() as connection:
        for incident_id, count in alert_events.items():
            connection.execute(
                sqlalchemy.text(
                    "INSERT INTO incidents (id, title, severity, status, created_at, policy_snapshot)"
                    " VALUES (:id, 't', 'high', 'triggered', :at, '{}')"
                ),
                {"id": incident_id, "at": "2026-11-01 00:00:00"},
            )
            for kind in ["created"] + ["alert"] * count:
                connection.execute(
                    sqlalchemy.text(
                        "INSERT INTO timeline_events (incident_id, kind, data, created_at)"
                        " VALUES (:id, :kind, '{}', :at)"
                    ),
                    {"id": incident_id, "kind": kind, "at": "2026-11-01 00:00:00"},
                )

    def counts() -> dict[int, int]:
        with sync_engine_for.connect() as connection:
            rows = connection.execute(sqlalchemy.text("SELECT id, alert_count FROM incidents ORDER BY id"))
            return {incident_id: count for incident_id, count in rows}

    await upgrade_async(empty_database_url, "0008")
    assert counts() == alert_events
    await downgrade_async(empty_database_url, "0007")
    await upgrade_async(empty_database_url, "0008")
    assert counts() == alert_events


async def test_the_migrate_command_creates_a_working_database(empty_database_url: str) -> None:
    def migrate() -> int:  # the command runs its own event loop
        return main(["migrate", "--database-url", empty_database_url])

    assert await anyio.to_thread.run_sync(migrate) == 0
    assert await anyio.to_thread.run_sync(migrate) == 0  # again: nothing to do

    engine = create_engine(empty_database_url)
    try:
        async with SqlUnitOfWork(create_session_factory(engine)) as uow:
            team = await stored_team(uow)
            await uow.commit()
            assert (await uow.teams.list(Page())).items == [team]
    finally:
        await engine.dispose()


def test_the_migrate_command_reads_database_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'from-env.db'}")
    monkeypatch.chdir(tmp_path.parent)  # the migrations are found from anywhere
    assert main(["migrate"]) == 0
    assert (tmp_path / "from-env.db").exists()
    assert "from-env.db to head" in capsys.readouterr().out


def test_the_migrate_command_reads_database_url_from_the_env_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Like serve, worker and create-admin: the environment first, then `.env` in the working directory."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    (tmp_path / ".env").write_text(f"DATABASE_URL=sqlite:///{tmp_path / 'from-dotenv.db'}\n")
    monkeypatch.chdir(tmp_path)
    assert main(["migrate"]) == 0
    assert (tmp_path / "from-dotenv.db").exists()
    assert not (tmp_path / "incidentcore.db").exists()
    assert "from-dotenv.db to head" in capsys.readouterr().out


def test_the_migrate_command_reports_a_bad_configuration(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ENVIRONMENT", "staging")
    assert main(["migrate"]) == 2
    assert "ENVIRONMENT" in capsys.readouterr().err
    assert not (tmp_path / "incidentcore.db").exists()


@pytest.mark.postgres
@pytest.mark.timeout(300)  # three migrating processes, each waited for up to 120 s
def test_concurrent_upgrades_of_a_fresh_postgres_schema_all_succeed(
    postgres_schema: PostgresSchema, sync_engine_for_schema: sqlalchemy.Engine
) -> None:
    """Several processes starting at once (`serve` replicas, a `migrate` job): one migrates, the others wait
    on the advisory lock and then find the schema at head. Without the lock one of them hits a
    UniqueViolation creating the same table or alembic_version row."""
    command = [sys.executable, "-m", "entrypoints.cli", "migrate", "--database-url", postgres_schema.url]
    processes = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)
    ]
    results = [(process.wait(timeout=120), process.communicate()) for process in processes]
    failures = [err for status, (_, err) in results if status != 0]
    assert not failures, failures[0][-2000:]
    assert application_tables(sync_engine_for_schema) == set(metadata.tables)
    with sync_engine_for_schema.connect() as connection:
        versions = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
    assert versions == [revisions_oldest_first()[-1][0]]


@pytest.fixture
def sync_engine_for_schema(postgres_schema: PostgresSchema) -> Iterator[sqlalchemy.Engine]:
    engine = sqlalchemy.create_engine(normalise_database_url(postgres_schema.url))
    try:
        yield engine
    finally:
        engine.dispose()


def test_migrations_are_found_from_the_checkout_or_an_override(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    found = migrations_directory()
    assert (found / "env.py").is_file()
    assert (found / "versions").is_dir()

    monkeypatch.setenv(MIGRATIONS_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match=MIGRATIONS_ENV):
        migrations_directory()
    monkeypatch.setenv(MIGRATIONS_ENV, str(found))
    assert migrations_directory() == found
