"""Fixtures for the port contract suites: every port against the in-memory reference, SQLite and Postgres.

`uow_factory` makes units of work on a clean database of the test's backend. SQLite: a copy of a
database migrated once per session. Postgres: a schema of its own for this test session, migrated
once and emptied before each test, dropped at the end, so runs never see each other's rows.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy
from entity_builders import UowFactory
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql import SqlUnitOfWork, create_engine, create_session_factory, metadata
from adapters.sql.engine import normalise_database_url
from adapters.sql.migrate import upgrade
from incidentcore.testing import MemoryStore, MemoryUnitOfWork

POSTGRES_URL_ENV = "INCIDENTCORE_TEST_POSTGRES_URL"
POSTGRES_MISSING = f"{POSTGRES_URL_ENV} is not set"

BACKENDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
SQL_BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def postgres_server_url() -> str:
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        pytest.skip(POSTGRES_MISSING)
    return url


def in_schema(server_url: str, schema: str) -> str:
    """The server URL with every connection's search_path set to `schema`."""
    separator = "&" if "?" in server_url else "?"
    return f"{server_url}{separator}options={quote(f'-csearch_path={schema}')}"


@dataclass
class PostgresSchema:
    """A schema of one's own on the test server; `url` connects into it."""

    name: str
    url: str
    admin: sqlalchemy.Engine  # sync, on the same server, for set-up and clean-up

    @classmethod
    def create(cls, server_url: str, prefix: str = "ic_test") -> PostgresSchema:
        name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
        admin = sqlalchemy.create_engine(normalise_database_url(in_schema(server_url, name)))
        with admin.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{name}"')
        return cls(name, in_schema(server_url, name), admin)

    def truncate(self) -> None:
        tables = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
        with self.admin.begin() as connection:
            connection.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")

    def drop(self) -> None:
        try:
            with self.admin.begin() as connection:
                connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')
        finally:
            self.admin.dispose()


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "incidentcore.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def migrated_postgres() -> Iterator[PostgresSchema]:
    schema = PostgresSchema.create(postgres_server_url())
    try:
        upgrade(schema.url)
        yield schema
    finally:
        schema.drop()


@pytest.fixture
def postgres_schema() -> Iterator[PostgresSchema]:
    """An empty schema for this test alone (migration tests)."""
    schema = PostgresSchema.create(postgres_server_url(), prefix="ic_migrate")
    try:
        yield schema
    finally:
        schema.drop()


def clean_database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database with no rows, for `backend` (sqlite or postgres)."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("migrated_sqlite_template")
        path = tmp_path / "incidentcore.db"
        shutil.copyfile(template, path)
        return f"sqlite:///{path}"
    schema: PostgresSchema = request.getfixturevalue("migrated_postgres")
    schema.truncate()
    return schema.url


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=SQL_BACKENDS)
def sql_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """None for the memory backend."""
    return None if backend == "memory" else clean_database_url(backend, request, tmp_path)


@pytest.fixture
def sql_database_url(sql_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return clean_database_url(sql_backend, request, tmp_path)


@pytest.fixture
async def uow_factory(database_url: str | None) -> AsyncIterator[UowFactory]:
    """Makes units of work that share one clean database (a MemoryStore for the memory backend)."""
    if database_url is None:
        store = MemoryStore()
        yield lambda: MemoryUnitOfWork(store)
        return
    engine = create_engine(database_url)
    sessions = create_session_factory(engine)
    try:
        yield lambda: SqlUnitOfWork(sessions)
    finally:
        await engine.dispose()


@pytest.fixture
async def sql_engine(sql_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(sql_database_url)
    try:
        yield engine
    finally:
        await engine.dispose()
