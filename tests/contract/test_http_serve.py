"""`incidentcore create-admin` and `incidentcore serve` as a user runs them: real processes, a temp SQLite file."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

# real server processes; each wait inside has its own deadline
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

CLI = [sys.executable, "-c", "import sys; from entrypoints.cli import main; sys.exit(main())"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environment(tmp_path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ("SECRET_KEY", "ENVIRONMENT")}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'incidentcore.db'}",
        BCRYPT_ROUNDS="4",
        WORKER_INTERVAL_SECONDS="0.5",
        PYTHONUNBUFFERED="1",
    )
    return env


def wait_until_healthy(base_url: str, server: subprocess.Popen[str], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"serve exited early with {server.returncode}")
        try:
            if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("serve did not become healthy in time")


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_applies_migrations_and_a_created_admin_logs_in(tmp_path: Path, workers: int) -> None:
    env = environment(tmp_path)
    created = subprocess.run(
        [*CLI, "create-admin", "--email", "root@example.com", "--password", "admin password"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )
    assert created.returncode == 0, created.stderr
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [*CLI, "serve", "--port", str(port), "--workers", str(workers)],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        wait_until_healthy(base_url, server)
        tokens = []
        for _ in range(4):  # with several workers, tokens from one process work in the others
            login = httpx.post(
                f"{base_url}/v1/auth/login/access-token",
                data={"username": "root@example.com", "password": "admin password"},
                timeout=10,
            )
            assert login.status_code == 200, login.text
            tokens.append(login.json()["access_token"])
        for token in tokens:
            me = httpx.get(f"{base_url}/v1/users/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
            assert me.status_code == 200
            assert me.json()["role"] == "admin"
        headers = {"Authorization": f"Bearer {tokens[0]}"}
        incident = httpx.post(f"{base_url}/v1/incidents/", json={"title": "Disk full"}, headers=headers, timeout=10)
        assert incident.status_code == 201
        path = f"{base_url}/v1/incidents/{incident.json()['id']}"
        assert httpx.post(f"{path}/acknowledge", headers=headers, timeout=10).json()["status"] == "acknowledged"
        assert httpx.post(f"{path}/resolve", headers=headers, timeout=10).json()["status"] == "resolved"
        docs = httpx.get(f"{base_url}/docs", timeout=10)
        assert docs.status_code == 200
        assert "server" not in docs.headers  # no banner for scanners
        assert docs.headers["x-content-type-options"] == "nosniff"
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert f"http://localhost:{port}/docs" in output


def test_production_refuses_to_start_without_a_strong_secret_key(tmp_path: Path) -> None:
    env = {**environment(tmp_path), "ENVIRONMENT": "production", "SECRET_KEY": "short"}
    result = subprocess.run(
        [*CLI, "serve", "--port", str(free_port())],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 2
    assert "SECRET_KEY" in result.stderr


def test_behind_a_local_proxy_clients_are_told_apart_by_x_forwarded_for(tmp_path: Path) -> None:
    env = environment(tmp_path)
    env.pop("FORWARDED_ALLOW_IPS", None)  # the default trusts a proxy on this machine (127.0.0.1)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [*CLI, "serve", "--port", str(port)],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )

    def wrong_login(account: int, client: str) -> int:
        return httpx.post(
            f"{base_url}/v1/auth/login/access-token",
            data={"username": f"user{account}@example.com", "password": "wrong password"},
            headers={"X-Forwarded-For": client},
            timeout=10,
        ).status_code

    try:
        wait_until_healthy(base_url, server)
        for account in range(30):  # one client, many accounts: its per-client limit of 30
            assert wrong_login(account, "203.0.113.1") == 401
        assert wrong_login(30, "203.0.113.1") == 429
        assert wrong_login(31, "203.0.113.2") == 401  # another client behind the same proxy
    finally:
        server.terminate()
        server.communicate(timeout=30)
