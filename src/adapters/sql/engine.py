"""Async engines for SQLite (aiosqlite, the embedded default) and Postgres (psycopg 3), one code path."""

from __future__ import annotations

import asyncio
import json
import os
import time
import weakref
from typing import Any

import msgspec
from sqlalchemy import event, exc
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util import await_only

DEFAULT_DATABASE_URL = "sqlite:///./incidentcore.db"
DATABASE_URL_ENV = "DATABASE_URL"

SQLITE_BUSY_TIMEOUT_MS = 5000
# A pooled Postgres connection unused for this long is pinged before it is handed out: after a
# restart or a failover, a quiet pool is full of dead connections. A busy pool reuses its connections
# within milliseconds and is not pinged (a ping is one more round trip per request); should the server
# go away under it, the first statement to fail makes SQLAlchemy invalidate the whole pool.
PING_AFTER_IDLE_SECONDS = 1.0

_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
}


def normalise_database_url(url: str | URL) -> str:
    """`sqlite:///path` -> `sqlite+aiosqlite:///path`; `postgres(ql)://` -> `postgresql+psycopg://`.

    URLs that already name a driver are left as they are.
    """
    parsed = make_url(url)
    driver = _ASYNC_DRIVERS.get(parsed.drivername, parsed.drivername)
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def database_url_from_env() -> str:
    """DATABASE_URL from the process environment only: for alembic's own command line (migrations/env.py)
    and code handed no URL. The entrypoints read it through `Settings`, which also reads `.env`."""
    return os.environ.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL


def redacted(url: str | URL) -> str:
    """The URL with its password masked, for logs and messages."""
    return make_url(url).render_as_string(hide_password=True)


def create_engine(
    url: str | URL | None = None, *, enforce_foreign_keys: bool = True, **options: Any
) -> AsyncEngine:
    """An async engine for `url` (default: DATABASE_URL, else `./incidentcore.db`).

    SQLite connections get WAL (readers do not block the writer), foreign keys enforced, and a busy
    timeout; every SQLite transaction starts with BEGIN IMMEDIATE, taking the write lock up front.
    That is what makes claims safe there (one writer at a time), and it turns a read-then-write race
    into a wait instead of a "database is locked" error. `enforce_foreign_keys=False` is for
    migrations, which may rebuild tables (SQLite cannot toggle the pragma inside a transaction).
    """
    normalised = make_url(normalise_database_url(url if url is not None else database_url_from_env()))
    # Bound parameters (password hashes, integration keys, reset tokens) never appear in the text of
    # a database error, so logging one (a 500 logs its exception) cannot leak them.
    options.setdefault("hide_parameters", True)
    options.setdefault("json_deserializer", decode_json)
    engine = create_async_engine(normalised, **options)
    _refuse_writes_when_reading_only(engine)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, enforce_foreign_keys=enforce_foreign_keys)
    elif not options.get("pool_pre_ping"):
        _ping_idle_connections(engine)
    return engine


READS_ONLY = "incidentcore_reads_only"
"""An execution option: the connection's unit of work only reads (see `reading_engine`)."""


class WriteWhileReadingOnly(RuntimeError):
    """A statement other than a read on a connection whose unit of work promised only to read: a bug."""


def reading_engine(engine: AsyncEngine) -> AsyncEngine:
    """`engine` for units of work that only read (a GET), sharing its pool.

    On Postgres its connections run in autocommit: no BEGIN and no ROLLBACK, two of a read's four
    round trips. Each statement then sees what was committed when it began, as it does in a READ
    COMMITTED transaction. On SQLite its transactions are deferred BEGINs: they still take their turn
    in the process's queue (readers side by side on aiosqlite's threads cost more CPU than they gain),
    but never wait for the write lock another process (a worker) holds: in WAL mode a reader works on
    a snapshot beside the writer. Either way any statement but a read is refused
    (WriteWhileReadingOnly), so a write can never land half done."""
    reading = _READING.get(engine.sync_engine)
    if reading is None:
        options: dict[str, Any] = {READS_ONLY: True}
        if engine.dialect.name == "postgresql":
            options["isolation_level"] = "AUTOCOMMIT"
        reading = _READING[engine.sync_engine] = engine.execution_options(**options)
    return reading


_READING: weakref.WeakKeyDictionary[Any, AsyncEngine] = weakref.WeakKeyDictionary()
# By the statement's first word. BEGIN: SQLite's deferred BEGIN, sent by the "begin" listener. WITH:
# the analytics' read-only CTE (no statement of ours writes through a CTE). SET and RESET: a setting
# of the connection (the analytics' jit), not data.
_READS = ("SELECT", "WITH", "SHOW", "BEGIN", "SET ", "RESET ")


def _refuse_writes_when_reading_only(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def refuse_writes(connection: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        reading_only = connection.get_execution_options().get(READS_ONLY)
        if reading_only and not statement.lstrip()[:6].upper().startswith(_READS):  # no whole-text copy
            raise WriteWhileReadingOnly(f"a unit of work that only reads sent: {statement[:80]}")


def decode_json(document: str | bytes) -> Any:
    """How JSON columns are read: by msgspec (four times json.loads' speed, the same values; a list
    page reads every incident's documents), and by json.loads what msgspec refuses but it accepts
    (numbers beyond a float, NaN, Infinity), should a row hold one."""
    try:
        return msgspec.json.decode(document)
    except msgspec.DecodeError:
        return json.loads(document)


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for units of work. `expire_on_commit=False`: nothing is lazily reloaded after a commit."""
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def _ping_idle_connections(engine: AsyncEngine) -> None:
    # SQLAlchemy's "disconnect handling, pessimistic, custom" recipe: a DisconnectionError raised at
    # checkout makes the pool drop the connection and hand out a fresh one.
    @event.listens_for(engine.sync_engine, "connect")
    def connected(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkin")
    def checked_in(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def checked_out(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is not None and time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            if engine.dialect.is_disconnect(error, dbapi_connection, None):
                raise exc.DisconnectionError(str(error)) from error
            raise


class DatabaseBusy(Exception):
    """The embedded database's write lock was not free within the busy timeout: the process is taking
    more writes than SQLite can; a client should retry shortly (HTTP answers 503)."""


def _configure_sqlite(engine: AsyncEngine, *, enforce_foreign_keys: bool) -> None:
    # The pattern of SQLAlchemy's "Transactions with SQLite and the sqlite3 driver": the driver's own
    # transaction handling is switched off and SQLAlchemy emits BEGIN itself.
    @event.listens_for(engine.sync_engine, "connect")
    def configure_connection(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute(f"PRAGMA foreign_keys={'ON' if enforce_foreign_keys else 'OFF'}")
        finally:
            cursor.close()

    # Every transaction takes SQLite's one write lock (BEGIN IMMEDIATE). Left to SQLite, waiting
    # transactions poll for it with growing sleeps, and under load some starve past the busy timeout
    # while later ones get in. In this process they queue for it instead, first come first served (an
    # asyncio.Lock per event loop); SQLite's busy timeout still arbitrates between processes.
    queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()

    async def queue_for_write_lock(queue: asyncio.Lock) -> None:
        try:
            async with asyncio.timeout(SQLITE_BUSY_TIMEOUT_MS / 1000):
                await queue.acquire()
        except TimeoutError:
            raise DatabaseBusy(f"the database stayed busy for {SQLITE_BUSY_TIMEOUT_MS} ms") from None

    @event.listens_for(engine.sync_engine, "begin")
    def begin_immediate(connection: Connection) -> None:
        loop = asyncio.get_running_loop()  # an async engine: always reached through its greenlet bridge
        queue = queues.get(loop)
        if queue is None:
            queue = queues[loop] = asyncio.Lock()
        await_only(queue_for_write_lock(queue))
        connection.info[_WRITE_QUEUE] = queue
        # A reader's turn is a deferred BEGIN: a snapshot beside whichever process writes (WAL).
        begin = "BEGIN" if connection.get_execution_options().get(READS_ONLY) else "BEGIN IMMEDIATE"
        try:
            connection.exec_driver_sql(begin)
        except BaseException:
            _leave_write_queue(connection.info)
            raise

    @event.listens_for(engine.sync_engine, "commit")
    @event.listens_for(engine.sync_engine, "rollback")
    def transaction_ending(connection: Connection) -> None:
        # Just before the COMMIT or ROLLBACK: the next in line's BEGIN IMMEDIATE waits the moment
        # it takes in SQLite's busy handler.
        _leave_write_queue(connection.info)

    @event.listens_for(engine.sync_engine, "checkin")
    def returned(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        _leave_write_queue(record.info)  # a transaction that ended without either (an invalidation)


_WRITE_QUEUE = "sqlite_write_queue"


def _leave_write_queue(info: dict[Any, Any]) -> None:
    queue = info.pop(_WRITE_QUEUE, None)
    if queue is not None:
        queue.release()
