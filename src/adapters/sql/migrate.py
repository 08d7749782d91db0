"""Applying the alembic migrations from code (the `incidentcore migrate` command, `serve` at start-up).

The scripts are found without relying on the working directory: inside the package when installed
from a wheel (`adapters/sql/migrations`), else at the checkout's root (`migrations/`), else wherever
INCIDENTCORE_MIGRATIONS points.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection

from adapters.sql.engine import create_engine, database_url_from_env, normalise_database_url

Migration = Callable[[Config], None]

MIGRATIONS_ENV = "INCIDENTCORE_MIGRATIONS"
# Postgres advisory lock key taken for the length of a migration ("incident" in ASCII): processes that
# migrate at once (several `serve`/`migrate` starting together) run one after the other, and those
# that come later find the schema up to date. SQLite needs none: BEGIN IMMEDIATE serializes them.
MIGRATION_LOCK_KEY = 0x696E636964656E74
_PACKAGED = Path(__file__).resolve().parent / "migrations"
_CHECKOUT = Path(__file__).resolve().parents[3] / "migrations"  # src/adapters/sql/migrate.py -> repo root


def migrations_directory() -> Path:
    override = os.environ.get(MIGRATIONS_ENV)
    candidates = [Path(override)] if override else [_PACKAGED, _CHECKOUT]
    for candidate in candidates:
        if (candidate / "env.py").is_file():
            return candidate
    searched = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"no alembic migrations found (looked in {searched}; set {MIGRATIONS_ENV})")


def alembic_config(url: str | None = None) -> Config:
    """An alembic Config for `url` (default DATABASE_URL), independent of any alembic.ini."""
    config = Config()
    config.set_main_option("script_location", str(migrations_directory()))
    # `%` is interpolation syntax in alembic's config parser; URLs may contain it (escaped passwords).
    normalised = normalise_database_url(url or database_url_from_env())
    config.set_main_option("sqlalchemy.url", normalised.replace("%", "%%"))
    return config


async def upgrade_async(url: str | None = None, revision: str = "head") -> None:
    """Applies migrations up to `revision`, in one transaction (DDL is transactional on both engines)."""
    await _run(url, lambda config: command.upgrade(config, revision))


async def downgrade_async(url: str | None, revision: str) -> None:
    await _run(url, lambda config: command.downgrade(config, revision))


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Blocking form of `upgrade_async`, for code that is not running an event loop (the CLI)."""
    asyncio.run(upgrade_async(url, revision))


def downgrade(url: str | None, revision: str) -> None:
    asyncio.run(downgrade_async(url, revision))


async def _run(url: str | None, migrate: Migration) -> None:
    config = alembic_config(url)
    # Foreign keys off on SQLite while tables may be rebuilt; env.py checks them before committing.
    engine = create_engine(config.get_main_option("sqlalchemy.url"), enforce_foreign_keys=False)
    try:
        async with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Transaction-scoped: released by the commit or rollback that ends the migration.
                await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            await connection.run_sync(_with_connection, config, migrate)
    finally:
        await engine.dispose()


def _with_connection(connection: Connection, config: Config, migrate: Migration) -> None:
    config.attributes["connection"] = connection  # env.py migrates on this connection
    migrate(config)
