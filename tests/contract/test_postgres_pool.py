"""The Postgres pool after its server connections die (a restart, a failover): a connection that sat
idle is pinged and replaced before anyone uses it; a busy one is not pinged, and the one statement
that finds it dead makes the pool drop every connection it held."""

from __future__ import annotations

import pytest
from entity_builders import stored_user
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, PendingRollbackError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from adapters.sql import SqlUnitOfWork, create_session_factory
from adapters.sql import engine as engine_module

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


@pytest.fixture
def sql_backend() -> str:
    return "postgres"


async def backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def terminate(engine: AsyncEngine, pid: int) -> None:
    """Ends the server side of a pooled connection from another, unpooled one."""
    admin = create_async_engine(engine.url, poolclass=NullPool)
    try:
        async with admin.connect() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await admin.dispose()


async def test_an_idle_connection_whose_server_went_away_is_replaced_before_use(
    sql_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = await backend_pid(sql_engine)
    await terminate(sql_engine, dead)
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 0.0)  # as if it sat idle a while

    assert await backend_pid(sql_engine) != dead  # no error reaches the caller


async def test_a_busy_connection_is_not_pinged_and_one_failure_renews_the_whole_pool(
    sql_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 3600.0)
    async with sql_engine.connect() as first, sql_engine.connect() as second:
        pids = [
            (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            for connection in (first, second)
        ]
    for pid in pids:
        await terminate(sql_engine, pid)

    with pytest.raises(DBAPIError) as failure:
        await backend_pid(sql_engine)  # not pinged: the statement finds the connection dead
    assert failure.value.connection_invalidated

    async with sql_engine.connect() as first, sql_engine.connect() as second:  # both replaced
        for connection in (first, second):
            pid = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            assert pid not in pids


async def test_a_direct_statement_that_finds_its_server_gone_renews_the_pool_like_sqlalchemy(
    sql_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `users.get` runs on psycopg directly (adapters.sql.direct), not through SQLAlchemy's execution.
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 3600.0)
    sessions = create_session_factory(sql_engine)
    async with SqlUnitOfWork(sessions) as uow:
        user = await stored_user(uow)
        await uow.commit()
    async with SqlUnitOfWork(sessions) as uow:
        assert uow.runs_direct_statements
        pid = (await uow.session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        await terminate(sql_engine, pid)
        with pytest.raises(DBAPIError) as failure:
            await uow.users.get(user.id)
        assert failure.value.connection_invalidated
        with pytest.raises(PendingRollbackError):  # as through SQLAlchemy: no reconnecting mid-transaction
            await uow.users.get(user.id)
    async with SqlUnitOfWork(sessions) as uow:
        found = await uow.users.get(user.id)
        assert found is not None
        assert found.email == user.email
        assert (await uow.session.execute(text("SELECT pg_backend_pid()"))).scalar_one() != pid
