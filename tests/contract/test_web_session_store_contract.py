"""The web UI's session store on SQLite and Postgres, held to what Litestar's own MemoryStore does."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.tables import web_sessions
from adapters.sql.web_sessions import SqlSessionStore

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(sql_engine: AsyncEngine, clock: Clock) -> SqlSessionStore:
    return SqlSessionStore(sql_engine, now=clock)


async def test_what_is_set_is_got_until_deleted(store: SqlSessionStore) -> None:
    assert await store.get("a") is None
    await store.set("a", b'{"user_id": 1}', expires_in=60)
    await store.set("b", "text is kept as bytes")
    assert await store.get("a") == b'{"user_id": 1}'
    assert await store.get("b") == b"text is kept as bytes"
    assert await store.exists("a")
    await store.set("a", b"replaced", expires_in=timedelta(minutes=5))
    assert await store.get("a") == b"replaced"
    await store.delete("a")
    await store.delete("never there")
    assert await store.get("a") is None
    assert not await store.exists("a")
    await store.delete_all()
    assert await store.get("b") is None


async def test_an_entry_lapses_at_its_expiry_and_can_be_renewed(store: SqlSessionStore, clock: Clock) -> None:
    await store.set("a", b"x", expires_in=60)
    await store.set("forever", b"y")
    assert await store.expires_in("a") == 60
    assert await store.expires_in("forever") is None
    clock.at = T0 + timedelta(seconds=30)
    assert await store.get("a", renew_for=60) == b"x"  # now lapses at T0 + 90 s
    clock.at = T0 + timedelta(seconds=80)
    assert await store.expires_in("a") == 10
    assert await store.get("a") == b"x"
    clock.at = T0 + timedelta(seconds=90)
    assert await store.get("a") is None
    assert await store.expires_in("a") is None
    assert await store.get("forever") == b"y"


async def test_only_hashes_of_the_keys_are_stored_and_lapsed_rows_are_cleared(
    store: SqlSessionStore, sql_engine: AsyncEngine, clock: Clock
) -> None:
    session_id = "a-session-id-worth-stealing"
    await store.set(session_id, b"x", expires_in=60)
    clock.at = T0 + timedelta(hours=1)
    await store.set("later", b"y", expires_in=60)  # a new session clears the lapsed ones
    async with sql_engine.connect() as connection:
        keys = (await connection.execute(select(web_sessions.c.key_hash))).scalars().all()
    assert len(keys) == 1
    assert session_id not in keys[0]
    assert len(keys[0]) == 64


@pytest.mark.parametrize("make", [MemoryStore, lambda: None], ids=["litestar-memory", "sql"])
async def test_it_answers_as_litestars_memory_store_does(
    make: Callable[[], Store | None], store: SqlSessionStore
) -> None:
    tested: Store = make() or store
    await tested.set("k", "v", expires_in=100)
    assert (await tested.get("k"), await tested.exists("k"), await tested.exists("other")) == (b"v", True, False)
    assert 99 <= (await tested.expires_in("k") or 0) <= 100
    await tested.delete("k")
    assert (await tested.get("k"), await tested.expires_in("k")) == (None, None)
