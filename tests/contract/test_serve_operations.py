"""`incidentcore serve` operated as a real process: metrics summed over `--workers 2`, JSON logs with
request ids, and SIGTERM while pages are in flight to a slow endpoint (none lost, none sent twice)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from capture_server import CaptureServer
from prometheus_client.parser import text_string_to_metric_families

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

EMAIL, PASSWORD = "admin@example.com", "correct horse battery"
CLI = [sys.executable, "-m", "entrypoints.cli"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Serve:
    """One `incidentcore serve` process on a database of the test's own; its output in `log`."""

    env: dict[str, str]
    log: Path
    base: str = ""
    process: subprocess.Popen[bytes] | None = None

    def start(self, *arguments: str) -> Serve:
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*CLI, "serve", "--port", str(port), *arguments],
                env=self.env,
                cwd=self.log.parent,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.base}/health/ready").status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            assert self.process.poll() is None and time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.1)

    def stop(self, timeout: float = 30) -> tuple[int, float]:
        """SIGTERM; the exit status and how long it took."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(timeout)
        return status, time.monotonic() - started

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    @contextlib.contextmanager
    def client(self) -> Iterator[httpx.Client]:
        """A client logged in as the admin."""
        with httpx.Client(base_url=self.base, timeout=10) as client:
            token = client.post("/v1/auth/login/access-token", data={"username": EMAIL, "password": PASSWORD})
            assert token.status_code == 200, token.text
            client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
            yield client


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'incidentcore.db'}",
        "ENVIRONMENT": "test",
        "SECRET_KEY": "serve-test-secret-key-long-enough-0123456789",
        "BCRYPT_ROUNDS": "4",
        "LOG_LEVEL": "INFO",
        "TMPDIR": str(tmp_path),  # where serve makes its metrics directory, for the test to look into
    }
    subprocess.run([*CLI, "create-admin", "--email", EMAIL, "--password", PASSWORD], env=env, check=True)
    server = Serve(env, tmp_path / "serve.log")
    try:
        yield server
    finally:
        server.kill()


def metric(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def test_metrics_of_two_worker_processes_add_up_in_one_scrape(serve: Serve, tmp_path: Path) -> None:
    serve.env["WORKER_ENABLED"] = "false"
    serve.start("--workers", "2")
    (directory,) = tmp_path.glob("incidentcore-metrics-*")
    live = {"route": "/health/live", "method": "GET", "status": "200"}
    sent = 0

    def probe(_: int) -> None:
        with httpx.Client(base_url=serve.base) as fresh:  # a connection each: either process may take it
            assert fresh.get("/health/live").status_code == 200

    with ThreadPoolExecutor(8) as pool:
        while len(list(directory.glob("counter_*.db"))) < 2:  # one file per process that counted
            list(pool.map(probe, range(40)))
            sent += 40
            assert sent <= 2000, "every request went to one process"
    scrapes = []
    for _ in range(6):  # whichever process answers, the sum is the same
        with httpx.Client(base_url=serve.base) as fresh:
            scrapes.append(fresh.get("/metrics").text)
    assert {metric(text, "incidentcore_http_requests_total", **live) for text in scrapes} == {sent}
    assert "incidentcore_escalation_lag_seconds 0.0" in scrapes[0]
    status, _ = serve.stop()
    assert status in (0, -signal.SIGTERM)
    assert not directory.exists()  # serve cleans up after itself


def test_json_logs_one_object_a_line_with_the_request_id_on_the_access_and_error_lines(
    serve: Serve, tmp_path: Path
) -> None:
    serve.env["LOG_FORMAT"] = "json"
    serve.env["WORKER_ENABLED"] = "false"
    serve.start()
    given = "proxy-id-4bf92f35-77b3"
    with serve.client() as api:
        ok = api.get("/v1/incidents/", headers={"X-Request-ID": given})
        assert (ok.status_code, ok.headers["x-request-id"]) == (200, given)
        alert = api.post("/v1/alerts/elastic", params={"key": "s3cret-integration-key"}, json={})
        assert alert.status_code in (400, 401)
        with sqlite3.connect(tmp_path / "incidentcore.db") as database:
            database.execute("DROP TABLE integrations")  # what a broken database does to a request
        failed = api.get("/v1/integrations/")
        assert failed.status_code == 500
        failed_id = failed.json()["request_id"]
        assert failed.headers["x-request-id"] == failed_id
    serve.stop()

    lines = [json.loads(line) for line in serve.log.read_text().splitlines() if line.strip()]
    for line in lines:
        assert {"time", "level", "logger", "message"} <= line.keys(), line
    assert any(line["logger"].startswith("uvicorn") for line in lines)  # the server's own lines too
    access = [line for line in lines if line["logger"] == "incidentcore.access"]
    (mine,) = [line for line in access if line.get("request_id") == given]
    assert (mine["route"], mine["status"], mine["method"], mine["path"]) == ("/v1/incidents", 200, "GET", "/v1/incidents/")
    assert mine["duration_ms"] >= 0
    (error,) = [line for line in lines if line["level"] == "ERROR" and line["logger"] == "incidentcore.http"]
    assert error["request_id"] == failed_id
    assert "Traceback" in error["exc_info"]
    (failed_access,) = [line for line in access if line.get("request_id") == failed_id]
    assert (failed_access["status"], failed_access["route"]) == (500, "/v1/integrations")
    (webhook,) = [line for line in access if line["route"] == "/v1/alerts/elastic"]
    assert webhook["path"] == "/v1/alerts/elastic?key=[redacted]"
    assert "s3cret-integration-key" not in serve.log.read_text()


def pages(api: httpx.Client, incident_id: int) -> list[dict[str, Any]]:
    answer = api.get(f"/v1/incidents/{incident_id}/notifications")
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()["items"]
    return rows


def test_sigterm_while_pages_are_in_flight_loses_none_and_sends_none_twice(serve: Serve) -> None:
    serve.env.update({"WORKER_INTERVAL_SECONDS": "0.5", "SHUTDOWN_GRACE_SECONDS": "15"})
    serve.start()
    with CaptureServer() as pager, serve.client() as api:
        pager.delay = 2.0  # a slow endpoint: sends stay in flight (at most 2 at once to one host)
        team = api.post("/v1/teams/", json={"name": "ops"}).json()
        people = []
        for n in range(6):
            body = {"email": f"oncall{n}@example.com", "password": PASSWORD, "full_name": f"On call {n}", "team_id": team["id"]}
            person = api.post("/v1/users/", json=body).json()
            preference = {"enabled": True, "address": f"{pager.url}/person/{person['id']}"}
            assert api.put(f"/v1/notification-preferences/{person['id']}/webhook", json=preference).status_code == 200
            people.append(person)
        policy = {"name": "ops", "team_id": team["id"], "steps": [{"delay_minutes": 30, "targets": [{"type": "team", "id": team["id"]}]}]}
        assert api.post("/v1/escalation/policies/", json=policy).status_code == 201
        incident = api.post("/v1/incidents/", json={"title": "checkout is down", "team_id": team["id"]}).json()
        deadline = time.monotonic() + 10
        while not any(page["status"] == "sending" for page in pages(api, incident["id"])):
            assert time.monotonic() < deadline, pages(api, incident["id"])
            time.sleep(0.05)

        status, took = serve.stop()
        assert status in (0, -signal.SIGTERM)
        assert took < 15  # the sends in flight finished; nothing waited out the grace
        assert 1 <= len(pager.snapshot()) < 6  # the ones in flight were delivered, the rest waited
        log = serve.log.read_text()
        assert "Application shutdown complete" in log and "Traceback" not in log

        serve.start()  # a new process (a rolling deploy's next one) sends what is left
        with serve.client() as again:
            deadline = time.monotonic() + 30
            while {page["status"] for page in pages(again, incident["id"])} != {"sent"}:
                assert time.monotonic() < deadline, pages(again, incident["id"])
                time.sleep(0.2)
            final = pages(again, incident["id"])
        serve.stop()
    delivered = sorted(request.path for request in pager.snapshot())
    assert delivered == sorted(f"/person/{person['id']}" for person in people)  # each exactly once
    assert [page["attempts"] for page in final] == [1] * 6


def test_the_standalone_worker_serves_its_own_metrics_and_stops_on_sigterm(serve: Serve) -> None:
    port = free_port()
    env = {**serve.env, "WORKER_METRICS_PORT": str(port), "WORKER_INTERVAL_SECONDS": "0.2"}
    with serve.log.open("ab") as log:
        worker = subprocess.Popen([*CLI, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
                if metric(text, "incidentcore_worker_tick_duration_seconds_count") >= 2:
                    break
            except httpx.TransportError:
                pass
            assert worker.poll() is None and time.monotonic() < deadline, serve.log.read_text()
            time.sleep(0.1)
        assert "process_resident_memory_bytes" in text  # the process's own, beside ours
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(20) == 0
        assert "worker stopped" in serve.log.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
