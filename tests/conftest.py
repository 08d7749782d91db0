"""Shared test setup: the async backend, and Postgres availability rules."""

from __future__ import annotations

import os

import pytest

POSTGRES_URL_ENV = "INCIDENTCORE_TEST_POSTGRES_URL"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def postgres_url() -> str | None:
    return os.environ.get(POSTGRES_URL_ENV) or None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("INCIDENTCORE_REQUIRE_POSTGRES") and not postgres_url():
        raise pytest.UsageError(f"{POSTGRES_URL_ENV} must be set: this run requires the Postgres suites")
