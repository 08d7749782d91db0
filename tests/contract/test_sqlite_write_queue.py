"""SQLite's one write lock: the transactions of one process queue for it in arrival order instead of
polling SQLite's busy handler (where some starve past the busy timeout under load), and a lock not
free within the busy timeout is a 503 to retry, never a 500."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from entity_builders import new_team
from http_harness import settings_for
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql import SqlUnitOfWork, create_engine, create_session_factory
from adapters.sql import engine as engine_module
from adapters.sql.engine import DatabaseBusy
from conftest import clean_database_url
from entrypoints.http import create_app
from incidentcore.ports import Page

pytestmark = pytest.mark.anyio


@pytest.fixture
def sql_backend() -> str:
    return "sqlite"


async def open_pooled_connections(engine: AsyncEngine, count: int) -> None:
    opened = asyncio.Event()
    ready = 0

    async def hold() -> None:
        nonlocal ready
        async with engine.connect():
            ready += 1
            if ready == count:
                opened.set()
            await opened.wait()

    async with asyncio.TaskGroup() as group:
        for _ in range(count):
            group.create_task(hold())


async def test_transactions_take_the_write_lock_in_the_order_they_asked(sql_database_url: str) -> None:
    engine = create_engine(sql_database_url, pool_size=12)
    sessions = create_session_factory(engine)
    served: list[int] = []

    async def write(n: int) -> None:
        async with SqlUnitOfWork(sessions) as uow:
            await uow.teams.add(new_team(f"team {n}"))  # BEGIN IMMEDIATE: in line from here
            served.append(n)
            await asyncio.sleep(0.01)  # holding the lock while the others wait
            await uow.commit()

    try:
        await open_pooled_connections(engine, 12)  # checkouts then wait for nothing: arrival order holds
        async with asyncio.TaskGroup() as group:
            for n in range(12):
                group.create_task(write(n))
        assert served == list(range(12))
        async with SqlUnitOfWork(sessions) as uow:
            assert (await uow.teams.list(Page(limit=20))).total == 12
    finally:
        await engine.dispose()


async def test_a_lock_not_free_within_the_busy_timeout_is_database_busy_and_changes_nothing(
    sql_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT_MS", 200)
    sessions = create_session_factory(sql_engine)
    async with SqlUnitOfWork(sessions) as holder:
        await holder.teams.add(new_team("held"))

        async def waiter() -> None:
            async with SqlUnitOfWork(sessions) as uow:
                await uow.teams.add(new_team("never"))
                await uow.commit()

        with pytest.raises(DatabaseBusy):
            await waiter()
        await holder.commit()
    async with SqlUnitOfWork(sessions) as uow:  # the queue is free again
        await uow.teams.add(new_team("after"))
        await uow.commit()
        names = {team.name for team in (await uow.teams.list(Page(limit=10))).items}
    assert names == {"held", "after"}


def test_a_database_another_process_holds_answers_503_with_retry_after(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT_MS", 200)  # SQLite's own busy timeout too
    url = clean_database_url("sqlite", request, tmp_path)
    other_process = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    with TestClient(create_app(settings_for(url))) as client:
        other_process.execute("BEGIN IMMEDIATE")
        busy = client.get("/v1/heartbeats/ping", params={"key": "no-such-key"})
        other_process.execute("ROLLBACK")
        after = client.get("/v1/heartbeats/ping", params={"key": "no-such-key"})
    other_process.close()
    assert busy.status_code == 503
    assert busy.headers["Retry-After"] == "1"
    assert busy.headers["Content-Type"].startswith("application/problem+json")
    assert busy.json()["type"] == "urn:incidentcore:problem:database-busy"
    assert busy.json()["detail"] == "The database is busy with other writes; retry in a moment."
    assert after.status_code == 404
