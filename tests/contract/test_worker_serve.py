"""A real `incidentcore serve` (SQLite, in-process worker) pages a local webhook.

Trigger -> the page arrives within one worker interval (the trigger nudges the worker);
escalate -> the next step is paged at once; acknowledge -> the escalation stops. The escalation
events, notifications and timeline endpoints tell the same story. SIGTERM stops it cleanly.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from capture_server import CaptureServer

# real server processes; each wait inside has its own deadline
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

INTERVAL = 2.0
EMAIL, PASSWORD = "admin@example.com", "correct horse battery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'incidentcore.db'}",
        "ENVIRONMENT": "test",
        "SECRET_KEY": "serve-test-secret-key-long-enough-0123456789",
        "BCRYPT_ROUNDS": "4",
        "WORKER_INTERVAL_SECONDS": str(INTERVAL),
        "LOG_LEVEL": "INFO",
    }
    cli = [sys.executable, "-m", "entrypoints.cli"]
    subprocess.run([*cli, "create-admin", "--email", EMAIL, "--password", PASSWORD], env=env, check=True)
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [*cli, "serve", "--port", str(port)], env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "serve did not come up"
            time.sleep(0.1)
        yield base, process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()


def test_serve_pages_a_webhook_escalates_and_stops_on_ack(
    server: tuple[str, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    base, process = server
    with CaptureServer() as capture, httpx.Client(base_url=base, timeout=10) as api:
        token = api.post("/v1/auth/login/access-token", data={"username": EMAIL, "password": PASSWORD})
        api.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        me = api.get("/v1/users/me").json()
        preference = {"enabled": True, "address": f"{capture.url}/pager?team=ops"}
        assert api.put("/v1/notification-preferences/me/webhook", json=preference).status_code == 200
        steps = [{"delay_minutes": 5, "targets": [{"type": "user", "id": me["id"]}]} for _ in range(3)]
        policy = {"name": "primary", "steps": steps, "repeat": 1}
        assert api.post("/v1/escalation/policies/", json=policy).status_code == 201

        opened = time.monotonic()
        incident = api.post(
            "/v1/incidents/", json={"title": "checkout is down", "severity": "critical"}
        ).json()
        (first,) = capture.wait_for(1, timeout=INTERVAL + 5)
        assert first.received_at - opened < INTERVAL  # nudged: no need to wait for the interval
        assert first.path == "/pager?team=ops"
        assert first.json()["title"] == f"[CRITICAL] Incident #{incident['id']}: checkout is down"
        created = datetime.fromisoformat(incident["created_at"].replace("Z", "+00:00"))
        scheduled = datetime.fromisoformat(incident["next_escalation_at"].replace("Z", "+00:00"))
        assert scheduled - created == timedelta(minutes=5)  # step 1 waits its delay

        url = f"/v1/incidents/{incident['id']}"
        escalated = api.post(f"{url}/escalate")
        assert escalated.status_code == 200 and escalated.json()["escalation_level"] == 1
        second = capture.wait_for(2, timeout=INTERVAL + 5)[1]
        assert "Escalation step 2 (paged by hand)" in second.json()["message"]

        assert api.post(f"{url}/acknowledge").json()["next_escalation_at"] is None
        time.sleep(INTERVAL + 0.5)
        assert len(capture.snapshot()) == 2

        events = items(api.get(f"{url}/escalation-events"))
        assert [(e["kind"], e["step_index"]) for e in events] == [
            ("fired", 0),
            ("manual", 1),
            ("acknowledged", None),
        ]
        assert events[0]["notified_user_ids"] == [me["id"]]
        pages = items(api.get(f"{url}/notifications"))
        assert [(p["channel"], p["status"], p["attempts"]) for p in pages] == [("webhook", "sent", 1)] * 2
        kinds = [e["kind"] for e in items(api.get(f"{url}/timeline"))]
        assert kinds.count("notified") == 2 and "acknowledged" in kinds
        assert api.post(f"{url}/resolve").status_code == 200
        assert api.post(f"{url}/escalate").status_code == 409

    process.send_signal(signal.SIGTERM)
    assert process.wait(20) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once shut down
    log = (tmp_path / "serve.log").read_text()
    assert "worker started in the API process" in log
    assert "Application shutdown complete" in log  # the lifespan, worker included, ended cleanly
    assert "Traceback" not in log


def items(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    body = response.json()
    found: list[dict[str, Any]] = body["items"] if isinstance(body, dict) else body
    return found
