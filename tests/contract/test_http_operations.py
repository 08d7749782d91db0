"""Operating the service over HTTP: /metrics after a real scenario (checked by promtool), the escalation
lag while no worker runs, the metrics token, liveness and readiness, request ids.

The metrics are process-wide (prometheus_client's registry), so each test compares a scrape with the
one it took before acting: deltas, not totals.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from capture_server import CaptureServer, closed_port
from dishka import Provider, Scope, provide
from http_harness import *  # noqa: F403
from http_harness import Api, make_api, settings_for
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families
from test_http_alertmanager import am_alert, notification

from adapters.scheduler import Scheduler
from adapters.sql.migrate import alembic_config, downgrade
from entrypoints.http import create_app
from entrypoints.worker import scheduler_for
from incidentcore.model import Role
from incidentcore.ports import Clock
from incidentcore.testing import FakeClock

PROMTOOL_REQUIRED_ENV = "INCIDENTCORE_REQUIRE_PROMTOOL"
INTERVAL = 0.2
Labels = dict[str, str]


class FakeClockProvider(Provider):
    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock

    @provide(scope=Scope.APP)
    def fake_clock(self) -> Clock:
        return self.clock


@pytest.fixture
def clock() -> FakeClock:
    # Now, so that the access tokens the app issues are valid by the wall clock PyJWT checks them on.
    return FakeClock(datetime.now(UTC).replace(second=0, microsecond=0))


@pytest.fixture
def clocked_api(http_backend: str, request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[Api]:
    # One attempt per page, so that a page to a dead endpoint fails for good within the scenario.
    overrides = {"NOTIFICATION_MAX_ATTEMPTS": "1"}
    yield from make_api(http_backend, request, tmp_path, FakeClockProvider(clock), settings_overrides=overrides)


def promtool() -> str | None:
    found = shutil.which("promtool")
    if found is None and os.environ.get(PROMTOOL_REQUIRED_ENV):
        pytest.fail(f"promtool is not installed ({PROMTOOL_REQUIRED_ENV} is set); apt-get install prometheus")
    return found


class Scrape:
    """One /metrics answer, parsed."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value

    def value(self, name: str, **labels: str) -> float:
        """The sample's value; 0 for a labelled series not seen yet."""
        return self.samples.get((name, tuple(sorted(labels.items()))), 0.0)

    def has(self, name: str) -> bool:
        return any(key[0] == name for key in self.samples)


def scrape(api: Api, headers: dict[str, str] | None = None) -> Scrape:
    response = api.client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return Scrape(response.text)


def wait_for_pages(api: Api, incident_id: int, statuses: list[str]) -> None:
    """Until the incident's pages have these statuses (in order): the fake clock may then move on."""
    deadline = time.monotonic() + 15
    while True:
        path = f"/v1/incidents/{incident_id}/notifications"
        rows = api.client.get(path, headers=api.admin_headers).json()["items"]
        if [row["status"] for row in rows] == statuses:
            return
        assert time.monotonic() < deadline, f"pages of incident {incident_id}: {rows}, wanted {statuses}"
        time.sleep(INTERVAL / 4)


def elastic(action_group: str) -> dict[str, object]:
    return {
        "rule": {"id": "r-1", "name": "High error rate", "url": "https://kibana.example.com/r/1"},
        "alert": {"id": "svc-a", "actionGroup": action_group, "actionGroupName": "Threshold met"},
        "context": {"reason": "error rate 12% > 5%"},
    }


def test_a_scrape_after_paging_counts_what_happened_and_passes_promtool(
    clocked_api: Api, clock: FakeClock, tmp_path: Path
) -> None:
    api, admin = clocked_api, clocked_api.admin_headers
    checker = promtool()
    team = api.create_team("payments")
    bob, _ = api.create_user(Role.ONCALL_ENGINEER, team_id=team["id"])
    before = scrape(api)
    with CaptureServer() as pager:
        paths = {api.admin_id: f"{pager.url}/admin", bob["id"]: f"http://127.0.0.1:{closed_port()}/bob"}
        for user_id, address in paths.items():
            preference = {"enabled": True, "address": address}
            assert api.client.put(f"/v1/notification-preferences/{user_id}/webhook", json=preference, headers=admin).status_code == 200
        steps = [
            {"delay_minutes": 5, "targets": [{"type": "user", "id": api.admin_id}]},
            {"delay_minutes": 5, "targets": [{"type": "user", "id": bob["id"]}]},
        ]
        api.create_policy(team_id=team["id"], steps=steps, repeat=0)
        integration = api.create_integration(team["id"])
        key = {"X-Integration-Key": integration["key"]}

        async def start() -> Scheduler:
            scheduler = await scheduler_for(api.container, INTERVAL)
            scheduler.start()
            return scheduler

        scheduler = api.run(start)
        try:
            # Opened by hand, paged (sent), escalated to bob (his endpoint is down: failed), resolved.
            opened = api.create_incident(title="checkout is down", severity="critical", team_id=team["id"])
            wait_for_pages(api, opened["id"], ["sent"])
            clock.advance(minutes=5)
            wait_for_pages(api, opened["id"], ["sent", "failed"])
            resolve = f"/v1/incidents/{opened['id']}/resolve"
            assert api.client.post(resolve, headers=admin).status_code == 200
            # Opened by an alert, paged, resolved by the alert's recovery.
            alerted = api.client.post("/v1/alerts/elastic", json=elastic("threshold_met"), headers=key).json()
            wait_for_pages(api, alerted["incident_id"], ["sent"])
            recovered = api.client.post("/v1/alerts/elastic", json=elastic("recovered"), headers=key).json()
            assert recovered["action"] == "resolved"
        finally:
            api.run(scheduler.stop, 2.0)
    refused = api.client.post("/v1/auth/login/access-token", data={"username": "admin@example.com", "password": "wrong"})
    assert refused.status_code == 401

    # No worker runs from here: a page written now waits, and acknowledging withdraws it.
    acknowledged = api.create_incident(title="disk full", severity="critical", team_id=team["id"])
    assert api.client.post(f"/v1/incidents/{acknowledged['id']}/acknowledge", headers=admin).status_code == 200
    waiting = api.create_incident(title="slow queries", severity="low", team_id=team["id"])
    # One Alertmanager delivery of two alerts: each is counted.
    group = notification(am_alert("f-1"), am_alert("f-2"))
    delivered = api.client.post("/v1/alerts/alertmanager", json=group, headers=key)
    assert [item["action"] for item in delivered.json()["items"]] == ["created", "created"]
    after = scrape(api)

    def moved(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    team_label = str(team["id"])
    assert moved("incidentcore_incidents_opened_total", team=team_label, severity="critical", source="manual") == 2
    assert moved("incidentcore_incidents_opened_total", team=team_label, severity="low", source="manual") == 1
    assert moved("incidentcore_incidents_opened_total", team=team_label, severity="high", source="elastic") == 1
    assert moved("incidentcore_alerts_received_total", source="elastic", action="created") == 1
    assert moved("incidentcore_alerts_received_total", source="elastic", action="resolved") == 1
    assert moved("incidentcore_alerts_received_total", source="alertmanager", action="created") == 2
    assert moved("incidentcore_pages_total", channel="webhook", status="sent") == 2
    assert moved("incidentcore_pages_total", channel="webhook", status="failed") == 1
    assert moved("incidentcore_pages_total", channel="webhook", status="cancelled") == 1
    assert moved("incidentcore_page_delivery_seconds_count", channel="webhook") == 2
    assert moved("incidentcore_login_failures_total", reason="invalid_credentials") == 1
    assert moved("incidentcore_worker_tick_duration_seconds_count") >= 2
    route = "/v1/incidents/{incident_id}/resolve"  # the template, never /v1/incidents/1/resolve
    assert moved("incidentcore_http_requests_total", route=route, method="POST", status="200") == 1
    assert moved("incidentcore_http_request_duration_seconds_count", route=route, method="POST") == 1
    assert moved("incidentcore_http_requests_total", route="/v1/alerts/elastic", method="POST", status="202") == 2
    assert moved("incidentcore_http_requests_total", route="/v1/auth/login/access-token", method="POST", status="401") == 1
    assert f"/v1/incidents/{opened['id']}" not in after.text
    # the low incident's page and the two alerted incidents' step-0 pages
    assert after.value("incidentcore_outbox_pages", status="pending") == 3
    assert after.value("incidentcore_outbox_pages", status="sending") == 0
    assert after.value("incidentcore_escalation_lag_seconds") == 0  # nothing is due yet

    # The worker stays stopped past the waiting incident's next step: the lag grows with the clock.
    clock.advance(minutes=7)
    assert scrape(api).value("incidentcore_escalation_lag_seconds") == 120
    clock.advance(minutes=3)
    final = scrape(api)
    assert final.value("incidentcore_escalation_lag_seconds") == 300
    assert waiting["next_escalation_at"] is not None

    if checker is None:
        pytest.skip(f"promtool is not installed (set {PROMTOOL_REQUIRED_ENV} to require it)")
    checked = subprocess.run([checker, "check", "metrics"], input=final.text.encode(), capture_output=True, check=False)
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()


def test_metrics_answer_only_to_the_token_when_one_is_set(
    http_backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    token = "metrics-token-0123456789abcdef"
    for api in make_api(http_backend, request, tmp_path, settings_overrides={"METRICS_TOKEN": token}):
        for headers in (None, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {token}"}, api.admin_headers):
            refused = api.client.get("/metrics", headers=headers)
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"] == "Bearer"
            assert refused.headers["content-type"].startswith("application/problem+json")
        assert scrape(api, {"Authorization": f"Bearer {token}"}).has("incidentcore_escalation_lag_seconds")


def test_metrics_can_be_turned_off(http_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    for api in make_api(http_backend, request, tmp_path, settings_overrides={"METRICS_ENABLED": "false"}):
        assert api.client.get("/metrics").status_code == 404


def test_metrics_is_not_in_the_api_document(api: Api) -> None:
    assert "/metrics" not in api.client.get("/v1/openapi.json").json()["paths"]


def test_http_metrics_name_route_templates_and_bound_methods(api: Api) -> None:
    before = scrape(api)
    incident = api.create_incident()
    assert api.client.get(f"/v1/incidents/{incident['id']}", headers=api.admin_headers).status_code == 200
    assert api.client.get("/v1/no-such-thing/42").status_code == 404
    assert api.client.request("BREW", "/v1/incidents/").status_code in (400, 405)
    after = scrape(api)
    assert after.value("incidentcore_http_requests_total", route="/v1/incidents/{incident_id}", method="GET", status="200") - before.value(
        "incidentcore_http_requests_total", route="/v1/incidents/{incident_id}", method="GET", status="200"
    ) == 1
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    assert after.value("incidentcore_http_requests_total", **unmatched) - before.value("incidentcore_http_requests_total", **unmatched) == 1
    assert "/v1/no-such-thing" not in after.text
    assert "BREW" not in after.text  # an unknown method is "other": clients cannot make series


# --- health ---------------------------------------------------------------------------------------


def test_live_and_ready(api: Api) -> None:
    live = api.client.get("/health/live")
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    ready = api.client.get("/health/ready")
    assert (ready.status_code, ready.json()) == (200, {"status": "ok", "reason": None})
    assert api.client.get("/health").json() == {"status": "ok", "database": "ok"}  # unchanged


def test_not_ready_while_the_database_is_unreachable_yet_alive(tmp_path: Path) -> None:
    settings = settings_for(f"sqlite:///{tmp_path}/missing-directory/incidentcore.db")
    with TestClient(create_app(settings)) as client:
        ready = client.get("/health/ready")
        assert client.get("/health/live").status_code == 200
    assert ready.status_code == 503
    assert ready.json() == {"status": "error", "reason": "the database does not answer"}


def test_not_ready_while_migrations_are_behind(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'incidentcore.db'}"
    from adapters.sql.migrate import upgrade

    upgrade(url)
    downgrade(url, "-1")
    with TestClient(create_app(settings_for(url))) as client:
        ready = client.get("/health/ready")
        assert client.get("/health/live").status_code == 200
    assert ready.status_code == 503
    reason = ready.json()["reason"]
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    assert f"not {head}" in reason and "incidentcore migrate" in reason
    upgrade(url)
    with TestClient(create_app(settings_for(url))) as client:
        assert client.get("/health/ready").status_code == 200


# --- request ids ----------------------------------------------------------------------------------


def test_every_answer_has_a_request_id_the_proxys_when_sane(api: Api) -> None:
    own = api.client.get("/health/live")
    generated = own.headers["x-request-id"]
    assert len(generated) == 32 and generated != api.client.get("/health/live").headers["x-request-id"]
    given = "4bf92f35-77b3-4da6-a3ce-929d0e0e4736"
    assert api.client.get("/v1/nothing", headers={"X-Request-ID": given}).headers["x-request-id"] == given
    for hostile in ("a" * 129, "has space", "line\nbreak", ""):
        answer = api.client.get("/health/live", headers={"X-Request-ID": hostile})
        assert answer.headers["x-request-id"] != hostile
        assert len(answer.headers["x-request-id"]) == 32
    assert len(api.client.get("/health/live").headers.get_list("x-request-id")) == 1



def test_the_readmes_alert_rules_pass_promtool(tmp_path: Path) -> None:
    checker = promtool()
    if checker is None:
        pytest.skip(f"promtool is not installed (set {PROMTOOL_REQUIRED_ENV} to require it)")
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    operating = readme.split("## Operating", 1)[1]
    rules = operating.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert "incidentcore_escalation_lag_seconds" in rules and 'status="failed"' in rules
    (tmp_path / "rules.yml").write_text(rules)
    checked = subprocess.run([checker, "check", "rules", str(tmp_path / "rules.yml")], capture_output=True, check=False)
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()
    assert b"SUCCESS: 4 rules found" in checked.stdout
