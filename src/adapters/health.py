"""Is the database reachable? Answered with `SELECT 1`, bounded in time."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

logger = logging.getLogger("incidentcore.health")


class DatabaseHealth(Protocol):
    async def ping(self) -> bool:
        """True when the database answers; never raises."""
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
