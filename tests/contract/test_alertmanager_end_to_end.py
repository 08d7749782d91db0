"""The real Prometheus Alertmanager pages through a real `incidentcore serve`, both ways at once.

Every alert goes to two receivers: `webhook_configs` to /v1/alerts/alertmanager (the integration key
as `http_config.authorization` credentials, so a Bearer token) and `pagerduty_configs` to /v2/enqueue
(another integration's key as the routing key). Alerts are posted to Alertmanager's own API. Each
opens one incident per receiver, with the right title and severity; the same alert again updates
those incidents instead of opening more; an alert posted with `endsAt` in the past resolves them; and
the team's escalation policy pages for each through the worker, to a local webhook.

Needs the Alertmanager binary (Debian: `apt-get install prometheus-alertmanager`). Without it the
tests are skipped, unless INCIDENTCORE_REQUIRE_ALERTMANAGER is set (CI), which makes them fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from capture_server import CapturedRequest, CaptureServer

# real server processes; each wait inside has its own deadline
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

REQUIRE_ENV = "INCIDENTCORE_REQUIRE_ALERTMANAGER"
BINARIES = ("prometheus-alertmanager", "alertmanager")  # Debian's name, then upstream's
EMAIL, PASSWORD = "admin@example.com", "correct horse battery"
T = TypeVar("T")


@pytest.fixture
def alertmanager_binary() -> str:
    found = next((path for name in BINARIES if (path := shutil.which(name))), None)
    if found is None:
        missing = "the Alertmanager binary is not installed (apt-get install -y prometheus-alertmanager)"
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"{missing}, and {REQUIRE_ENV} requires these tests to run")
        pytest.skip(missing)
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def eventually(what: str, check: Callable[[], T | None], seconds: float = 30) -> T:
    """`check()`'s first truthy result, polled until the deadline."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def wait_until_up(url: str, process: subprocess.Popen[bytes], name: str) -> None:
    def up() -> bool:
        assert process.poll() is None, f"{name} exited with {process.returncode}"
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    eventually(f"{name} to come up", up)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def incidentcore(tmp_path: Path) -> Iterator[str]:
    """`incidentcore serve` on a fresh SQLite file, its worker ticking every second."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'incidentcore.db'}",
        "ENVIRONMENT": "test",
        "SECRET_KEY": "alertmanager-test-secret-key-long-enough-0123456789",
        "BCRYPT_ROUNDS": "4",
        "WORKER_INTERVAL_SECONDS": "1",
    }
    cli = [sys.executable, "-m", "entrypoints.cli"]
    subprocess.run([*cli, "create-admin", "--email", EMAIL, "--password", PASSWORD], env=env, check=True)
    port = free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*cli, "serve", "--port", str(port)], env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(f"{base}/health", process, "incidentcore serve")
            yield base
        finally:
            stop(process)
    assert "Traceback" not in log_path.read_text()


# The receivers as the README configures them.
ALERTMANAGER_CONFIG = """
route:
  receiver: webhook
  group_by: [alertname, instance]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 2s
  routes:
    - receiver: webhook
      continue: true
    - receiver: pagerduty
receivers:
  - name: webhook
    webhook_configs:
      - url: {base}/v1/alerts/alertmanager
        http_config:
          authorization:
            credentials: {webhook_key}
  - name: pagerduty
    pagerduty_configs:
      - url: {base}/v2/enqueue
        routing_key: {routing_key}
        severity: '{{{{ if .CommonLabels.severity }}}}{{{{ .CommonLabels.severity }}}}{{{{ else }}}}error{{{{ end }}}}'
        description: '{{{{ .CommonAnnotations.summary }}}}'
"""


def start_alertmanager(binary: str, tmp_path: Path, config: str) -> tuple[str, subprocess.Popen[bytes]]:
    (tmp_path / "alertmanager.yml").write_text(config)
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp_path / 'alertmanager.yml'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            f"--storage.path={tmp_path / 'alertmanager-data'}",
        ],
        stdout=(tmp_path / "alertmanager.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/-/ready", process, "Alertmanager")
    except BaseException:
        stop(process)
        raise
    return base, process


def prometheus_alert(name: str, instance: str, severity: str, summary: str, *, ended: bool = False) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "labels": {"alertname": name, "instance": instance, "severity": severity},
        "annotations": {"summary": summary, "description": f"{summary} (from Prometheus)"},
        "generatorURL": f"http://prometheus.example.com/graph?alert={name}",
    }
    if ended:  # as Prometheus reports an alert that stopped firing
        now = datetime.now(UTC)
        alert["startsAt"] = (now - timedelta(minutes=10)).isoformat()
        alert["endsAt"] = (now - timedelta(minutes=1)).isoformat()
    return alert


HIGH_ERRORS = ("HighErrorRate", "web-01", "critical", "Checkout 5xx above 5%")
DISK_FULL = ("DiskFull", "db-01", "warning", "Disk 95% full on db-01")


def test_alertmanager_opens_updates_resolves_and_pages_through_both_receivers(
    alertmanager_binary: str, incidentcore: str, tmp_path: Path
) -> None:
    with CaptureServer() as pager, httpx.Client(base_url=incidentcore, timeout=10) as api:
        token = api.post("/v1/auth/login/access-token", data={"username": EMAIL, "password": PASSWORD})
        api.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        me = api.get("/v1/users/me").json()
        team = api.post("/v1/teams/", json={"name": "checkout"}).json()
        webhook = api.post("/v1/integrations/", json={"name": "alertmanager", "team_id": team["id"]}).json()
        pagerduty = api.post("/v1/integrations/", json={"name": "via pagerduty", "team_id": team["id"]}).json()
        preference = {"enabled": True, "address": f"{pager.url}/oncall"}
        assert api.put("/v1/notification-preferences/me/webhook", json=preference).status_code == 200
        step = {"delay_minutes": 10, "targets": [{"type": "user", "id": me["id"]}]}
        policy = {"name": "checkout", "team_id": team["id"], "steps": [step]}
        assert api.post("/v1/escalation/policies/", json=policy).status_code == 201

        config = ALERTMANAGER_CONFIG.format(
            base=incidentcore, webhook_key=webhook["key"], routing_key=pagerduty["key"]
        )
        alertmanager, process = start_alertmanager(alertmanager_binary, tmp_path, config)
        try:
            run_the_scenario(api, alertmanager, pager, webhook, pagerduty)
        finally:
            stop(process)


def incidents_by_source(api: httpx.Client) -> dict[tuple[str, str], dict[str, Any]]:
    """(source, title) -> incident, for every incident (one each, or the test fails)."""
    listed = api.get("/v1/incidents/", params={"limit": 500}).json()["items"]
    found = {(i["source"], i["title"]): i for i in listed}
    assert len(found) == len(listed), f"two incidents for one alert and receiver: {listed}"
    return found


def run_the_scenario(
    api: httpx.Client, alertmanager: str, pager: CaptureServer, webhook: dict[str, Any], pagerduty: dict[str, Any]
) -> None:
    def post_alerts(*alerts: dict[str, Any]) -> None:
        response = httpx.post(f"{alertmanager}/api/v2/alerts", json=list(alerts), timeout=10)
        assert response.status_code == 200, response.text

    post_alerts(prometheus_alert(*HIGH_ERRORS), prometheus_alert(*DISK_FULL))
    opened = eventually("an incident per alert and receiver", lambda: len(incidents_by_source(api)) == 4)
    assert opened
    incidents = incidents_by_source(api)
    for source, integration in (("alertmanager", webhook), ("events", pagerduty)):
        errors = incidents[(source, HIGH_ERRORS[3])]
        disk = incidents[(source, DISK_FULL[3])]
        assert (errors["severity"], disk["severity"]) == ("critical", "medium"), source
        assert errors["status"] == disk["status"] == "triggered"
        assert errors["team_id"] == integration["team_id"]
    assert incidents[("alertmanager", HIGH_ERRORS[3])]["description"] == f"{HIGH_ERRORS[3]} (from Prometheus)"
    assert incidents[("alertmanager", HIGH_ERRORS[3])]["dedup_key"] != incidents[("events", HIGH_ERRORS[3])]["dedup_key"]

    # Pages go out through the team's policy, one per incident, from the worker.
    def a_page_per_incident() -> list[CapturedRequest] | None:
        got = pager.snapshot()
        return got if len(got) >= 4 else None

    pages = eventually("a page per incident", a_page_per_incident)
    titles = sorted(page.json()["title"] for page in pages)
    expected = sorted(f"[{i['severity'].upper()}] Incident #{i['id']}: {i['title']}" for i in incidents.values())
    assert titles == expected
    assert {page.path for page in pages} == {"/oncall"}

    # The same alert again, and Alertmanager's own repeats: the same incidents, counting.
    post_alerts(prometheus_alert(*HIGH_ERRORS))

    def repeated() -> bool:
        now = incidents_by_source(api)
        return all(now[(source, HIGH_ERRORS[3])]["alert_count"] >= 2 for source in ("alertmanager", "events"))

    eventually("the repeated alert to be counted", repeated)
    assert len(incidents_by_source(api)) == 4

    # Prometheus reports the alert ended: both receivers resolve their incident; the other stays.
    post_alerts(prometheus_alert(*HIGH_ERRORS, ended=True))

    def resolved() -> bool:
        now = incidents_by_source(api)
        return all(now[(source, HIGH_ERRORS[3])]["status"] == "resolved" for source in ("alertmanager", "events"))

    eventually("both incidents of the ended alert to resolve", resolved)
    incidents = incidents_by_source(api)
    assert len(incidents) == 4
    for source in ("alertmanager", "events"):
        assert incidents[(source, DISK_FULL[3])]["status"] == "triggered"
        errors = incidents[(source, HIGH_ERRORS[3])]
        timeline = api.get(f"/v1/incidents/{errors['id']}/timeline").json()["items"]
        [resolution] = [event for event in timeline if event["kind"] == "resolved"]
        assert (resolution["actor_id"], resolution["data"]["reason"]) == (None, f"{source} alert resolved")
        kinds = [event["kind"] for event in timeline]
        assert kinds.count("alert") == errors["alert_count"]  # far below the timeline's bound
        notifications = api.get(f"/v1/incidents/{errors['id']}/notifications").json()["items"]
        assert [(n["channel"], n["status"]) for n in notifications] == [("webhook", "sent")]
    webhook_alert = next(
        event
        for event in api.get(f"/v1/incidents/{incidents[('alertmanager', HIGH_ERRORS[3])]['id']}/timeline").json()["items"]
        if event["kind"] == "alert"
    )
    kept = webhook_alert["data"]["alert"]
    assert kept["alert"]["labels"]["instance"] == "web-01"
    assert kept["alert"]["generatorURL"] == "http://prometheus.example.com/graph?alert=HighErrorRate"
    assert kept["externalURL"] and kept["groupKey"] and kept["receiver"] == "webhook"
    events_alert = next(
        event
        for event in api.get(f"/v1/incidents/{incidents[('events', HIGH_ERRORS[3])]['id']}/timeline").json()["items"]
        if event["kind"] == "alert"
    )
    assert events_alert["data"]["alert"]["client"] == "Alertmanager"
    assert events_alert["data"]["alert"]["payload"]["custom_details"]["num_firing"] == "1"
