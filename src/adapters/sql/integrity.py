"""Constraint violations reported by the database, turned into domain Conflicts with a clear message.

Postgres names the violated constraint; SQLite names the columns of a unique constraint (or the index,
for an expression index) and nothing at all for a foreign key, so the caller supplies a message per
constraint name and a fallback for the violations the engine does not name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import UniqueConstraint
from sqlalchemy.exc import IntegrityError

from adapters.sql.tables import metadata
from incidentcore.errors import Conflict


class ViolationKind(StrEnum):
    UNIQUE = "unique"
    FOREIGN_KEY = "foreign_key"
    OTHER = "other"  # NOT NULL, CHECK: a bug in the caller, not a conflict with stored state


@dataclass(frozen=True)
class Violation:
    kind: ViolationKind
    constraint: str | None  # the constraint or index name, when the engine tells


_POSTGRES_KINDS = {"23505": ViolationKind.UNIQUE, "23503": ViolationKind.FOREIGN_KEY}
_SQLITE_KINDS = {
    "SQLITE_CONSTRAINT_UNIQUE": ViolationKind.UNIQUE,
    "SQLITE_CONSTRAINT_PRIMARYKEY": ViolationKind.UNIQUE,
    "SQLITE_CONSTRAINT_FOREIGNKEY": ViolationKind.FOREIGN_KEY,
}
_SQLITE_UNIQUE_INDEX = re.compile(r"UNIQUE constraint failed: index '(?P<name>[^']+)'")
_SQLITE_UNIQUE_COLUMNS = re.compile(r"UNIQUE constraint failed: (?P<columns>.+)$")


def violation_of(error: IntegrityError) -> Violation:
    original = error.orig
    sqlstate = getattr(original, "sqlstate", None)
    if sqlstate is not None:  # psycopg
        diag = getattr(original, "diag", None)
        name = getattr(diag, "constraint_name", None)
        return Violation(_POSTGRES_KINDS.get(sqlstate, ViolationKind.OTHER), name)
    kind = _SQLITE_KINDS.get(getattr(original, "sqlite_errorname", ""), ViolationKind.OTHER)
    message = str(original)
    if kind is ViolationKind.UNIQUE:
        if match := _SQLITE_UNIQUE_INDEX.search(message):
            return Violation(kind, match["name"])
        if match := _SQLITE_UNIQUE_COLUMNS.search(message):
            return Violation(kind, _unique_constraint_on(match["columns"]))
    return Violation(kind, None)


def _unique_constraint_on(columns_text: str) -> str | None:
    """The name of the unique constraint or index over SQLite's "table.a, table.b" column list."""
    qualified = [part.strip().split(".", 1) for part in columns_text.split(",")]
    if any(len(part) != 2 for part in qualified):
        return None
    table_names = {table for table, _ in qualified}
    if len(table_names) != 1 or (table := metadata.tables.get(table_names.pop())) is None:
        return None
    wanted = [column for _, column in qualified]
    for index in table.indexes:
        if index.unique and [c.name for c in index.columns] == wanted:
            return str(index.name)
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint) and [c.name for c in constraint.columns] == wanted:
            return str(constraint.name)
    return None


@contextmanager
def conflicts(
    messages: Mapping[str, str], *, unique: str | None = None, foreign_key: str | None = None
) -> Iterator[None]:
    """Turns the constraint violations a write can cause into Conflicts.

    `messages` by constraint name; `unique` and `foreign_key` for a violation of that kind the engine
    did not name (or not in `messages`). Other violations propagate: they are bugs, not conflicts.
    """
    try:
        yield
    except IntegrityError as error:
        violation = violation_of(error)
        message = messages.get(violation.constraint or "")
        if message is None:
            message = {ViolationKind.UNIQUE: unique, ViolationKind.FOREIGN_KEY: foreign_key}.get(
                violation.kind
            )
        if message is None:
            raise
        raise Conflict(message) from error
