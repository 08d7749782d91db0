"""Alembic environment: renders from the adapters' tables and migrates the database in DATABASE_URL.

`adapters.sql.migrate` hands in an open connection (config.attributes["connection"]); the `alembic`
command line gets an engine of its own, for the URL in alembic.ini or else DATABASE_URL.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Enum, text
from sqlalchemy.engine import Connection

from adapters.sql.engine import create_engine, database_url_from_env, normalise_database_url
from adapters.sql.tables import Document, UtcDateTime, metadata

config = context.config
target_metadata = metadata

if config.config_file_name is not None:  # the alembic command line, with alembic.ini
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    return normalise_database_url(config.get_main_option("sqlalchemy.url") or database_url_from_env())


def render_item(kind: str, item: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Revisions spell the app's column types as the plain types they store, so they never import the
    app: UTC timestamps, enums (VARCHAR; their CHECK is a constraint of its own) and JSON documents."""
    if kind != "type":
        return False
    if isinstance(item, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    if isinstance(item, Enum):
        return f"sa.String(length={item.length})"
    if isinstance(item, Document):
        autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
        return 'sa.JSON().with_variant(postgresql.JSONB(), "postgresql")'
    return False


def configure(**options: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        render_item=render_item,
        compare_type=True,
        # SQLite alters most things by copying the table: batch mode does that for us.
        render_as_batch=database_url().startswith("sqlite"),
        **options,
    )


def check_foreign_keys(connection: Connection) -> None:
    """SQLite migrates with foreign keys off (tables may be rebuilt); prove nothing broke before commit."""
    if connection.dialect.name != "sqlite":
        return
    broken = connection.execute(text("PRAGMA foreign_key_check")).fetchall()
    if broken:
        raise RuntimeError(f"migration left rows violating foreign keys: {broken[:10]}")


def migrate(connection: Connection) -> None:
    configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()
        check_foreign_keys(connection)


async def migrate_with_own_engine() -> None:
    engine = create_engine(database_url(), enforce_foreign_keys=False)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(migrate)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    configure(url=database_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()
elif (connection := config.attributes.get("connection")) is not None:
    migrate(connection)
else:
    asyncio.run(migrate_with_own_engine())
