"""Is the service able to serve? The database answers (`SELECT 1`), and its schema is the one this code
expects (alembic's revision in the database is the scripts' head). Each answer is bounded in time."""

from __future__ import annotations

import asyncio
import logging
from functools import cache
from typing import Protocol

from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.migrate import migrations_directory

logger = logging.getLogger("incidentcore.health")

DATABASE_UNREACHABLE = "the database does not answer"


class DatabaseHealth(Protocol):
    async def ping(self) -> bool:
        """True when the database answers; never raises."""
        ...

    async def not_ready(self) -> str | None:
        """Why requests cannot be served now (the database is unreachable, or its migrations are not
        at the head this code expects), or None when they can; never raises."""
        ...


class SqlDatabaseHealth(DatabaseHealth):
    def __init__(self, engine: AsyncEngine, timeout_seconds: float = 3.0) -> None:
        self.engine = engine
        self.timeout_seconds = timeout_seconds

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(self.timeout_seconds), self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception:  # any failure means "not healthy"; the reason goes to the log
            logger.warning("database health check failed", exc_info=True)
            return False
        return True

    async def not_ready(self) -> str | None:
        try:
            async with asyncio.timeout(self.timeout_seconds), self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
                try:
                    # alembic's own table, read directly (its MigrationContext logs on every probe)
                    versions = await connection.execute(text("SELECT version_num FROM alembic_version"))
                    current = frozenset(str(version) for version in versions.scalars())
                except DBAPIError:  # no version table: never migrated
                    current = frozenset()
        except Exception:
            logger.warning("readiness check: the database does not answer", exc_info=True)
            return DATABASE_UNREACHABLE
        expected = script_heads()
        if current != expected:
            found = ", ".join(sorted(current)) or "none"
            return f"the database schema is at revision {found}, not {', '.join(sorted(expected))}: run `incidentcore migrate`"
        return None


@cache
def script_heads() -> frozenset[str]:
    """The head revision(s) of the migration scripts this code ships (read once)."""
    scripts = ScriptDirectory(str(migrations_directory()))
    return frozenset(scripts.get_heads())
