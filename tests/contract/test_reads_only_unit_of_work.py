"""A unit of work that promised only to read (every GET and HEAD): it reads what was committed,
without a transaction on Postgres and beside another process's writer on SQLite, and it refuses any
write and any commit, so nothing can land half done."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from entity_builders import T0, UowFactory, new_team, stored_team
from http_harness import make_api
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql import SqlUnitOfWork, create_engine, create_session_factory
from adapters.sql import engine as engine_module
from adapters.sql.engine import WriteWhileReadingOnly
from incidentcore.ports import Page

pytestmark = pytest.mark.anyio


async def test_it_reads_what_was_committed_and_cannot_commit(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        team = await stored_team(uow, "payments")
        await uow.commit()
    async with uow_factory() as uow:
        uow.reads_only()
        assert await uow.teams.get(team.id) == team
        assert [t.name for t in (await uow.teams.list(Page(limit=10))).items] == ["payments"]
        with pytest.raises(RuntimeError, match="only reads"):
            await uow.commit()


async def test_the_promise_comes_before_the_first_statement(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        await uow.teams.list(Page(limit=1))
        with pytest.raises(RuntimeError, match="before the unit of work's first statement"):
            uow.reads_only()


async def test_a_write_is_refused_before_it_reaches_the_database(sql_engine: AsyncEngine) -> None:
    sessions = create_session_factory(sql_engine)
    async with SqlUnitOfWork(sessions) as uow:
        kept = await uow.teams.add(new_team("kept"))
        await uow.commit()
    async with SqlUnitOfWork(sessions) as uow:
        uow.reads_only()
        with pytest.raises(WriteWhileReadingOnly):
            await uow.teams.add(new_team("never"))  # an INSERT (run direct on Postgres)
        with pytest.raises(WriteWhileReadingOnly):
            await uow.teams.delete(kept.id)  # a DELETE through SQLAlchemy
    async with SqlUnitOfWork(sessions) as uow:
        assert [t.name for t in (await uow.teams.list(Page(limit=10))).items] == ["kept"]


@pytest.mark.parametrize("sql_backend", ["postgres"], indirect=True)
async def test_on_postgres_reads_run_outside_a_transaction_and_the_connection_goes_back_transactional(
    sql_database_url: str,
) -> None:
    engine = create_engine(sql_database_url, pool_size=1, max_overflow=0)  # one connection, reused
    sessions = create_session_factory(engine)

    async def status(uow: SqlUnitOfWork) -> psycopg.pq.TransactionStatus:
        raw = await (await uow.connection()).get_raw_connection()
        driver = raw.driver_connection
        assert isinstance(driver, psycopg.AsyncConnection)
        return driver.info.transaction_status

    try:
        async with SqlUnitOfWork(sessions) as reader:
            jit_before = (await reader.session.execute(text("SHOW jit"))).scalar_one()
        async with SqlUnitOfWork(sessions) as reader:
            reader.reads_only()
            await reader.teams.list(Page(limit=1))
            assert await status(reader) == psycopg.pq.TransactionStatus.IDLE  # no BEGIN was sent
            # The report turns JIT off for itself (SET, as SET LOCAL does not last outside a
            # transaction) and back on after, for the next user of the pooled connection.
            await reader.analytics.incident_report(T0, T0 + timedelta(days=1), None)
            assert (await reader.session.execute(text("SHOW jit"))).scalar_one() == jit_before
        async with SqlUnitOfWork(sessions) as writer:  # the same connection, in a transaction again
            await writer.teams.add(new_team("rolled back"))
            assert await status(writer) == psycopg.pq.TransactionStatus.INTRANS
        async with SqlUnitOfWork(sessions) as uow:
            assert (await uow.teams.list(Page(limit=10))).total == 0
    finally:
        await engine.dispose()


@pytest.mark.parametrize("sql_backend", ["sqlite"], indirect=True)
async def test_on_sqlite_a_reader_does_not_wait_for_another_processs_write_and_sees_the_last_commit(
    sql_database_url: str, sql_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT_MS", 200)
    sessions = create_session_factory(sql_engine)
    async with SqlUnitOfWork(sessions) as uow:
        await uow.teams.add(new_team("committed"))
        await uow.commit()
    other_process = sqlite3.connect(sql_database_url.removeprefix("sqlite:///"), isolation_level=None)
    other_process.execute("BEGIN IMMEDIATE")  # the write lock, held
    other_process.execute("INSERT INTO teams (name, created_at) VALUES ('uncommitted', '2026-01-01 00:00:00')")
    try:
        async with asyncio.timeout(2), SqlUnitOfWork(sessions) as reader:
            reader.reads_only()
            assert [t.name for t in (await reader.teams.list(Page(limit=10))).items] == ["committed"]
    finally:
        other_process.execute("ROLLBACK")
        other_process.close()


def test_a_get_reads_while_another_process_holds_the_sqlite_write_lock(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API's GETs only read: one is answered while a write would wait (and end in a 503)."""
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT_MS", 300)
    for api in make_api("sqlite", request, tmp_path):
        incident = api.create_incident()
        database = api.settings.database_url.removeprefix("sqlite:///")
        other_process = sqlite3.connect(database, isolation_level=None)
        other_process.execute("BEGIN IMMEDIATE")
        try:
            read = api.client.get(f"/v1/incidents/{incident['id']}", headers=api.admin_headers)
            write = api.client.post("/v1/incidents/", json={"title": "waits"}, headers=api.admin_headers)
        finally:
            other_process.execute("ROLLBACK")
            other_process.close()
        assert read.status_code == 200, read.text
        assert read.json()["title"] == incident["title"]
        assert write.status_code == 503
