"""Persistence on SQLAlchemy 2: SQLite (aiosqlite) and Postgres (psycopg 3) from one code path."""

from adapters.sql.engine import (
    DEFAULT_DATABASE_URL,
    create_engine,
    create_session_factory,
    normalise_database_url,
)
from adapters.sql.tables import metadata
from adapters.sql.unit_of_work import SqlUnitOfWork

__all__ = [
    "DEFAULT_DATABASE_URL",
    "SqlUnitOfWork",
    "create_engine",
    "create_session_factory",
    "metadata",
    "normalise_database_url",
]
