"""Fixtures and helpers for the HTTP suites (`from http_harness import *` in each test_http_* module).

The `api` fixture serves the real app through Litestar's TestClient on every available backend:
SQLite through the SQL adapters (migrated once, copied per test), Postgres too when
INCIDENTCORE_TEST_POSTGRES_URL is set, and the in-memory adapters when the SQL adapters are absent.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from dishka import AsyncContainer, Provider, Scope, provide
from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore
from litestar.testing import TestClient

from adapters.health import DatabaseHealth
from conftest import clean_database_url
from entrypoints.di import build_container
from entrypoints.http import create_app
from entrypoints.settings import Settings
from incidentcore.model import Role
from incidentcore.ports import UnitOfWork
from incidentcore.services import Accounts

POSTGRES_URL_ENV = "INCIDENTCORE_TEST_POSTGRES_URL"
SECRET_KEY = "test-secret-key-that-is-long-enough-for-hs256-0123456789"
ADMIN_EMAIL = "admin@example.com"
PASSWORD = "correct horse battery"
MAX_BODY_BYTES = 65_536

# Every operation of API.md, spelled as API.md spells it.
API_ENDPOINTS = [
    ("GET", "/health"),
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("GET", "/"),
    ("POST", "/v1/auth/signup"),
    ("POST", "/v1/auth/login/access-token"),
    ("POST", "/v1/auth/login/test-token"),
    ("POST", "/v1/auth/password-recovery/{email}"),
    ("POST", "/v1/auth/reset-password/"),
    ("GET", "/v1/teams/"),
    ("POST", "/v1/teams/"),
    ("GET", "/v1/teams/{team_id}"),
    ("PUT", "/v1/teams/{team_id}"),
    ("DELETE", "/v1/teams/{team_id}"),
    ("GET", "/v1/users/me"),
    ("PUT", "/v1/users/me"),
    ("GET", "/v1/users/"),
    ("POST", "/v1/users/"),
    ("GET", "/v1/users/{user_id}"),
    ("PUT", "/v1/users/{user_id}"),
    ("DELETE", "/v1/users/{user_id}"),
    ("GET", "/v1/incidents/"),
    ("POST", "/v1/incidents/"),
    ("GET", "/v1/incidents/{incident_id}"),
    ("PUT", "/v1/incidents/{incident_id}"),
    ("POST", "/v1/incidents/{incident_id}/acknowledge"),
    ("POST", "/v1/incidents/{incident_id}/resolve"),
    ("POST", "/v1/incidents/{incident_id}/snooze"),
    ("POST", "/v1/incidents/{incident_id}/assign"),
    ("POST", "/v1/incidents/{incident_id}/escalate"),
    ("POST", "/v1/incidents/{incident_id}/comments"),
    ("GET", "/v1/incidents/{incident_id}/comments"),
    ("GET", "/v1/incidents/{incident_id}/timeline"),
    ("GET", "/v1/incidents/{incident_id}/escalation-events"),
    ("GET", "/v1/incidents/{incident_id}/notifications"),
    ("GET", "/v1/escalation/policies/"),
    ("POST", "/v1/escalation/policies/"),
    ("GET", "/v1/escalation/policies/{policy_id}"),
    ("PUT", "/v1/escalation/policies/{policy_id}"),
    ("DELETE", "/v1/escalation/policies/{policy_id}"),
    ("POST", "/v1/escalation/policies/{policy_id}/preview"),
    ("POST", "/v1/escalation/policies/preview"),
    ("GET", "/v1/notification-preferences/me"),
    ("PUT", "/v1/notification-preferences/me/{channel}"),
    ("GET", "/v1/notification-preferences/{user_id}"),
    ("PUT", "/v1/notification-preferences/{user_id}/{channel}"),
    ("GET", "/v1/integrations/"),
    ("POST", "/v1/integrations/"),
    ("DELETE", "/v1/integrations/{integration_id}"),
    ("POST", "/v1/alerts/elastic"),
    ("GET", "/v1/schedules/"),
    ("POST", "/v1/schedules/"),
    ("GET", "/v1/schedules/{schedule_id}"),
    ("PUT", "/v1/schedules/{schedule_id}"),
    ("DELETE", "/v1/schedules/{schedule_id}"),
    ("GET", "/v1/schedules/{schedule_id}/overrides"),
    ("POST", "/v1/schedules/{schedule_id}/overrides"),
    ("DELETE", "/v1/schedules/{schedule_id}/overrides/{override_id}"),
    ("GET", "/v1/schedules/{schedule_id}/oncall"),
    ("GET", "/v1/schedules/{schedule_id}/shifts"),
    ("GET", "/v1/oncall"),
    ("POST", "/v1/calendar-feeds"),
    ("GET", "/v1/calendar-feeds"),
    ("DELETE", "/v1/calendar-feeds/{feed_id}"),
    ("GET", "/v1/calendar-feeds/feed.ics"),
    ("POST", "/v1/alerts/events"),
    ("POST", "/v2/enqueue"),
    ("POST", "/v1/alerts/alertmanager"),
    ("GET", "/v1/maintenance-windows/"),
    ("POST", "/v1/maintenance-windows/"),
    ("GET", "/v1/maintenance-windows/{window_id}"),
    ("PUT", "/v1/maintenance-windows/{window_id}"),
    ("DELETE", "/v1/maintenance-windows/{window_id}"),
    ("GET", "/v1/maintenance-windows/{window_id}/suppressed-alerts"),
    ("GET", "/v1/heartbeats/"),
    ("POST", "/v1/heartbeats/"),
    ("GET", "/v1/heartbeats/{heartbeat_id}"),
    ("PUT", "/v1/heartbeats/{heartbeat_id}"),
    ("DELETE", "/v1/heartbeats/{heartbeat_id}"),
    ("GET", "/v1/heartbeats/ping"),
    ("POST", "/v1/heartbeats/ping"),
    ("GET", "/v1/analytics/incidents"),
]
# Reachable without a bearer token (API.md "Auth").
PUBLIC_ENDPOINTS = {
    ("GET", "/health"),
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("GET", "/"),
    ("POST", "/v1/auth/signup"),
    ("POST", "/v1/auth/login/access-token"),
    ("POST", "/v1/auth/password-recovery/{email}"),
    ("POST", "/v1/auth/reset-password/"),
    ("POST", "/v1/alerts/elastic"),
    ("GET", "/v1/calendar-feeds/feed.ics"),  # the URL holds the feed's secret
    ("POST", "/v1/alerts/events"),
    ("POST", "/v2/enqueue"),
    ("POST", "/v1/alerts/alertmanager"),
    ("GET", "/v1/heartbeats/ping"),  # the URL holds the heartbeat's secret
    ("POST", "/v1/heartbeats/ping"),
}

__all__ = [
    "ADMIN_EMAIL",
    "API_ENDPOINTS",
    "MAX_BODY_BYTES",
    "PASSWORD",
    "PUBLIC_ENDPOINTS",
    "Api",
    "api",
    "backends",
    "http_backend",
    "make_api",
    "settings_for",
]


def sql_adapters_available() -> bool:
    try:
        from adapters.sql import SqlUnitOfWork  # noqa: F401
    except ImportError:
        return False
    return True


def backends() -> list[Any]:
    forced = os.environ.get("INCIDENTCORE_TEST_HTTP_BACKENDS")  # e.g. "memory" for a quick local run
    if forced:
        return [pytest.param(b, marks=pytest.mark.postgres) if b == "postgres" else b for b in forced.split(",")]
    if not sql_adapters_available():
        return ["memory"]
    params: list[Any] = ["sqlite"]
    if os.environ.get(POSTGRES_URL_ENV):
        params.append(pytest.param("postgres", marks=pytest.mark.postgres))
    return params


class AlwaysHealthy(DatabaseHealth):
    async def ping(self) -> bool:
        return True

    async def not_ready(self) -> str | None:
        return None


class MemoryPersistenceProvider(Provider):
    def __init__(self) -> None:
        super().__init__()
        from incidentcore.testing import MemoryStore

        self.store = MemoryStore()

    @provide(scope=Scope.REQUEST)
    def unit_of_work(self) -> UnitOfWork:
        from incidentcore.testing import MemoryUnitOfWork

        return MemoryUnitOfWork(self.store)

    @provide(scope=Scope.APP)
    def database_health(self) -> DatabaseHealth:
        return AlwaysHealthy()

    @provide(scope=Scope.APP)
    def web_session_store(self) -> Store:
        return MemoryStore()


@dataclass
class Api:
    """The app under test and shortcuts for the calls most tests start with."""

    client: TestClient[Any]
    container: AsyncContainer
    settings: Settings
    backend: str
    _emails: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    admin_headers: dict[str, str] = field(default_factory=dict)
    admin_id: int = 0

    def run(self, function: Callable[..., Any], *args: Any) -> Any:
        """Runs an async function on the app's event loop (the one its engine and container live on)."""
        portal = self.client.blocking_portal
        assert portal is not None
        return portal.call(function, *args)

    def use_case(self, kind: type[Any], call: Callable[[Any], Any]) -> Any:
        async def within_scope() -> Any:
            async with self.container() as scope:
                return await call(await scope.get(kind))

        return self.run(within_scope)

    def send_all(self, requests: Sequence[tuple[str, str, str, dict[str, Any]]]) -> list[httpx.Response]:
        """(client address, method, path, httpx arguments) requests, all at once on the app's event
        loop, each as if from its address (the TestClient's own is "testclient")."""

        async def send(address: str, method: str, path: str, arguments: dict[str, Any]) -> httpx.Response:
            transport = httpx.ASGITransport(app=self.client.app, client=(address, 50000))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                return await client.request(method, path, **arguments)

        async def send_all() -> list[httpx.Response]:
            return list(await asyncio.gather(*(send(*request) for request in requests)))

        return list(self.run(send_all))

    def send_from(self, address: str, method: str, path: str, **arguments: Any) -> httpx.Response:
        return self.send_all([(address, method, path, arguments)])[0]

    def login(self, email: str, password: str = PASSWORD) -> dict[str, str]:
        response = self.client.post("/v1/auth/login/access-token", data={"username": email, "password": password})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def new_email(self, prefix: str = "user") -> str:
        return f"{prefix}{next(self._emails)}@example.com"

    def create_user(
        self, role: Role | str = Role.USER, team_id: int | None = None, email: str | None = None
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """An active user with `role` (created by the admin) and their auth headers."""
        email = email or self.new_email(str(Role(role).value))
        body = {
            "email": email,
            "password": PASSWORD,
            "full_name": f"{Role(role).value} user",
            "role": Role(role).value,
            "team_id": team_id,
        }
        response = self.client.post("/v1/users/", json=body, headers=self.admin_headers)
        return created(response), self.login(email)

    def create_team(self, name: str | None = None) -> dict[str, Any]:
        response = self.client.post(
            "/v1/teams/", json={"name": name or f"team-{next(self._emails)}"}, headers=self.admin_headers
        )
        return created(response)

    def create_incident(self, headers: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
        body = {"title": "Checkout is down", **fields}
        response = self.client.post("/v1/incidents/", json=body, headers=headers or self.admin_headers)
        return created(response)

    def create_policy(self, **fields: Any) -> dict[str, Any]:
        body = {
            "name": f"policy-{next(self._emails)}",
            "steps": [{"delay_minutes": 5, "targets": [{"type": "user", "id": self.admin_id}]}],
            **fields,
        }
        response = self.client.post("/v1/escalation/policies/", json=body, headers=self.admin_headers)
        return created(response)

    def create_integration(self, team_id: int, name: str = "kibana") -> dict[str, Any]:
        response = self.client.post(
            "/v1/integrations/", json={"name": name, "team_id": team_id}, headers=self.admin_headers
        )
        return created(response)


def created(response: httpx.Response) -> dict[str, Any]:
    """The JSON object a create call answered with its 201."""
    assert response.status_code == 201, response.text
    body = response.json()
    assert isinstance(body, dict)
    return body


def settings_for(database_url: str, **overrides: str) -> Settings:
    values = {
        "ENVIRONMENT": "test",
        "BCRYPT_ROUNDS": "4",
        "SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": database_url,
        "MAX_BODY_BYTES": str(MAX_BODY_BYTES),
        "WORKER_ENABLED": "false",
        # The suites open many incidents as one admin; the limits have tests of their own.
        "MANUAL_PAGES_PER_USER": "1000000",
        "MANUAL_ESCALATIONS_PER_INCIDENT": "1000000",
        **overrides,
    }
    return Settings.from_mapping(values)


def make_api(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    *extra: Provider,
    settings_overrides: dict[str, str] | None = None,
) -> Iterator[Api]:
    """Serves a fresh app on `backend`; `extra` providers override the production ones."""
    persistence: Provider | None = None
    if backend == "memory":
        url = "sqlite:///unused.db"
        persistence = MemoryPersistenceProvider()
    else:
        url = clean_database_url(backend, request, tmp_path)
    settings = settings_for(url, **(settings_overrides or {}))
    container = build_container(settings, *extra, persistence=persistence)
    app = create_app(settings, container)
    with TestClient(app, raise_server_exceptions=False) as client:
        api = Api(client, container, settings, backend)
        admin = api.use_case(Accounts, lambda accounts: accounts.ensure_admin(ADMIN_EMAIL, PASSWORD))
        api.admin_id = admin.id
        api.admin_headers = api.login(ADMIN_EMAIL)
        try:
            yield api
        finally:
            api.run(container.close)


@pytest.fixture(params=backends())
def http_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def api(http_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    yield from make_api(http_backend, request, tmp_path)
