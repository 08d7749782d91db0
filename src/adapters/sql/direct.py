"""The hot fixed statements, run on the unit of work's own psycopg connection.

On Postgres, SQLAlchemy's async execution of one statement costs about twice the CPU of the same
statement sent by psycopg itself (its greenlet bridge, execution context and result objects; see the
README's Performance section). Every request runs a few statements of fixed shape (a row by one
column, INSERT ... RETURNING id, the fenced incident UPDATE), so those are compiled once by SQLAlchemy
for the engine's dialect, with the column types' own bind and result processors, and run on the
psycopg connection under the session's transaction: the same SQL, the same conversions, the same
transaction, seen by SQLAlchemy's cursor-execute event listeners. A database error is raised as
SQLAlchemy's own (an IntegrityError stays one), so the callers' conflict handling is unchanged, and a
lost connection is invalidated as SQLAlchemy would. Other engines and every other statement go
through SQLAlchemy.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import exc
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, Executable, ReturnsRows

Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Outcome:
    """The rows a statement returned, as mappings of column name to value, and how many it matched."""

    rows: list[dict[str, Any]]
    rowcount: int


class DirectStatement:
    """One statement compiled for one dialect: its SQL text, how each parameter is converted on the
    way in, and each returned column on the way out."""

    def __init__(self, statement: Executable, dialect: Dialect, column_keys: Sequence[str] | None = None) -> None:
        keys = list(column_keys) if column_keys else None
        compiled = cast(SQLCompiler, cast(ClauseElement, statement).compile(dialect=dialect, column_keys=keys))
        if dialect.paramstyle != "pyformat" or compiled.positional:
            raise ValueError(f"direct statements need named parameters, not {dialect.paramstyle}")
        if compiled.escaped_bind_names or compiled.insert_prefetch or compiled.update_prefetch:
            # Names the driver cannot take as they are, or Python-side column defaults: SQLAlchemy's
            # execution context handles those; these statements never need them.
            raise ValueError("a direct statement must have plain parameter names and no Python defaults")
        self.sql = compiled.string
        self._compiled = compiled
        self._bind_processors: dict[str, Processor] = {}
        if compiled.literal_execute_params or compiled.post_compile_params:
            raise ValueError("a direct statement must not expand parameters at execution (IN lists)")
        for bind, name in compiled.bind_names.items():  # the names as rendered (anonymous ones too)
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                self._bind_processors[name] = processor
        self._columns: list[tuple[str, Processor | None]] = []
        if isinstance(statement, ReturnsRows):
            for column in statement.exported_columns:
                processor = column.type.dialect_impl(dialect).result_processor(dialect, None)
                self._columns.append((column.key, processor))
        self.returns_rows = bool(self._columns)

    def parameters(self, given: Mapping[str, Any]) -> dict[str, Any]:
        values = dict(self._compiled.construct_params(dict(given), escape_names=False))
        for name, processor in self._bind_processors.items():
            values[name] = processor(values[name])
        return values

    def row(self, values: Sequence[Any]) -> dict[str, Any]:
        row: dict[str, Any] = {}
        for (key, processor), value in zip(self._columns, values, strict=True):
            row[key] = processor(value) if processor is not None else value
        return row


_compiled: weakref.WeakKeyDictionary[Dialect, dict[Any, DirectStatement]] = weakref.WeakKeyDictionary()
# The statements are built once (module constants or caches), so a handful per dialect; the bound only
# keeps a statement wrongly built per call from growing this without end.
COMPILED_KEPT = 256


def compiled_for(
    dialect: Dialect, key: Any, build: Callable[[], Executable], column_keys: Sequence[str] | None = None
) -> DirectStatement:
    """The statement `build()` makes, compiled once per dialect and `key`."""
    statements = _compiled.setdefault(dialect, {})
    statement = statements.get(key)
    if statement is None:
        if len(statements) >= COMPILED_KEPT:
            del statements[next(iter(statements))]  # the oldest first
        statement = statements[key] = DirectStatement(build(), dialect, column_keys)
    return statement


async def run(connection: AsyncConnection, statement: DirectStatement, given: Mapping[str, Any]) -> Outcome:
    """Runs `statement` once on the driver connection under `connection`, in its transaction."""
    return await _send(connection, statement, [statement.parameters(given)])


async def run_many(
    connection: AsyncConnection, statement: DirectStatement, given: Sequence[Mapping[str, Any]]
) -> Outcome:
    """Runs `statement` once per parameter set in one round trip (psycopg's pipelined executemany);
    the rows each returned, in the order of `given`."""
    return await _send(connection, statement, [statement.parameters(each) for each in given])


async def _send(
    connection: AsyncConnection, statement: DirectStatement, parameters: list[dict[str, Any]]
) -> Outcome:
    sync_connection = connection.sync_connection
    if sync_connection is not None and not (sync_connection.closed or sync_connection.invalidated):
        raw = sync_connection.connection  # checked out and valid: no I/O, so no greenlet to pass through
    else:
        raw = await connection.get_raw_connection()  # reconnects an invalidated connection
    driver = raw.driver_connection
    assert driver is not None, "a connection checked out of the pool has its driver's connection"
    dialect = connection.dialect
    many = len(parameters) != 1
    sent: Any = parameters if many else parameters[0]
    cursor = driver.cursor()
    # Listeners of SQLAlchemy's cursor events (statement logs, the query-budget tests) see these too.
    events = sync_connection.dispatch if sync_connection is not None else None
    if events is not None and events.before_cursor_execute:
        events.before_cursor_execute(sync_connection, cursor, statement.sql, sent, None, many)
    rows: list[Any] = []
    try:
        if many:
            await cursor.executemany(statement.sql, parameters, returning=statement.returns_rows)
            while statement.returns_rows:
                rows.extend(await cursor.fetchall())
                if not cursor.nextset():
                    break
        else:
            await cursor.execute(statement.sql, sent)
            if statement.returns_rows:  # known from the statement: `cursor.description` builds every column
                rows = await cursor.fetchall()
    except dialect.loaded_dbapi.Error as error:
        invalidated = dialect.is_disconnect(error, driver, None)
        if invalidated:
            # What SQLAlchemy does when its own statement finds the server gone: every pooled
            # connection older than this one is dropped too, then this one.
            connection.sync_engine.pool._invalidate(raw, error, _checkin=False)
            await connection.invalidate(error)
        raise exc.DBAPIError.instance(
            statement.sql,
            sent,
            error,
            dialect.loaded_dbapi.Error,
            hide_parameters=True,
            connection_invalidated=invalidated,
            dialect=dialect,
        ) from error
    if events is not None and events.after_cursor_execute:
        events.after_cursor_execute(sync_connection, cursor, statement.sql, sent, None, many)
    return Outcome([statement.row(row) for row in rows], cursor.rowcount)
