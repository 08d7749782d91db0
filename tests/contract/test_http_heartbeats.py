"""Heartbeat monitors over HTTP: managing them, pinging by GET and POST without a bearer token, the
incident a miss opens and the ping that resolves it (on a fake clock), and what is refused."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from http_harness import *  # noqa: F403
from http_harness import Api, make_api
from test_schedule_paging_end_to_end import FakeClockProvider

from incidentcore.model import Role
from incidentcore.services import HeartbeatCheck
from incidentcore.testing import FakeClock

PATH = "/v1/heartbeats/"


@pytest.fixture
def clock() -> FakeClock:
    # Now, so that the access tokens the app issues are valid by the wall clock PyJWT checks them on.
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def clocked_api(http_backend: str, request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[Api]:
    yield from make_api(http_backend, request, tmp_path, FakeClockProvider(clock))


def create(api: Api, team_id: int, headers: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
    body = {"name": "nightly backup", "team_id": team_id, "interval_minutes": 60, "grace_minutes": 10, **fields}
    response = api.client.post(PATH, json=body, headers=headers or api.admin_headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def ping_path(ping_url: str) -> str:
    """The ping URL without the public host: path and query, as a client sends them."""
    parts = urlsplit(ping_url)
    return f"{parts.path}?{parts.query}"


def run_worker_check(api: Api) -> int:
    done: int = api.use_case(HeartbeatCheck, lambda check: check.run())
    return done


def test_create_read_list_edit_and_delete(api: Api) -> None:
    team, other = api.create_team(), api.create_team()
    created = create(api, team["id"])
    assert created["ping_url"].startswith(f"{api.settings.public_url}/v1/heartbeats/ping?key=")
    expected = {
        "id": created["id"], "name": "nightly backup", "team_id": team["id"], "interval_minutes": 60,
        "grace_minutes": 10, "last_ping_at": None, "status": "waiting", "incident_id": None,
    }  # fmt: skip
    assert {k: v for k, v in created.items() if k not in ("created_at", "ping_url")} == expected
    second = create(api, other["id"], name="hourly export", grace_minutes=0)

    shown = api.client.get(f"{PATH}{created['id']}", headers=api.admin_headers).json()
    assert shown["ping_url"] is None  # shown once
    assert {k: v for k, v in shown.items() if k not in ("created_at", "ping_url")} == expected
    listed = api.client.get(PATH, headers=api.admin_headers).json()
    assert ([h["id"] for h in listed["items"]], listed["total"]) == ([created["id"], second["id"]], 2)
    assert all(h["ping_url"] is None for h in listed["items"])
    of_other = api.client.get(PATH, params={"team_id": other["id"]}, headers=api.admin_headers).json()
    assert [h["id"] for h in of_other["items"]] == [second["id"]]

    edited = api.client.put(f"{PATH}{created['id']}", json={"name": "backup", "interval_minutes": 1440}, headers=api.admin_headers)
    assert edited.status_code == 200, edited.text
    assert (edited.json()["name"], edited.json()["interval_minutes"], edited.json()["grace_minutes"]) == ("backup", 1440, 10)
    assert edited.json()["ping_url"] is None

    assert api.client.delete(f"{PATH}{created['id']}", headers=api.admin_headers).status_code == 204
    assert api.client.get(f"{PATH}{created['id']}", headers=api.admin_headers).status_code == 404
    assert api.client.delete(f"{PATH}{created['id']}", headers=api.admin_headers).status_code == 404
    assert api.client.put(f"{PATH}{created['id']}", json={}, headers=api.admin_headers).status_code == 404


def test_ping_by_get_and_post_without_a_bearer_token(api: Api) -> None:
    team = api.create_team()
    created = create(api, team["id"])
    path = ping_path(created["ping_url"])
    by_get = api.client.get(path)
    assert by_get.status_code == 200, by_get.text
    assert (by_get.json()["id"], by_get.json()["status"]) == (created["id"], "up")
    by_post = api.client.post(path)  # curl -fsS -X POST <ping_url>
    assert by_post.status_code == 200, by_post.text
    with_a_body = api.client.post(path, content=b"backup finished in 42 s", headers={"content-type": "text/plain"})
    assert with_a_body.status_code == 200, with_a_body.text
    shown = api.client.get(f"{PATH}{created['id']}", headers=api.admin_headers).json()
    assert shown["status"] == "up" and shown["last_ping_at"] is not None


def test_an_unknown_missing_or_rotated_secret_pings_nothing(api: Api) -> None:
    team = api.create_team()
    created = create(api, team["id"])
    for method in ("GET", "POST"):
        unknown = api.client.request(method, "/v1/heartbeats/ping", params={"key": "not-a-secret"})
        assert unknown.status_code == 404
        assert unknown.headers["content-type"].startswith("application/problem+json")
        assert api.client.request(method, "/v1/heartbeats/ping").status_code == 400
    rotated = api.client.put(f"{PATH}{created['id']}", json={"rotate_ping_url": True}, headers=api.admin_headers)
    assert rotated.status_code == 200, rotated.text
    new_url = rotated.json()["ping_url"]
    assert new_url and new_url != created["ping_url"]
    assert api.client.post(ping_path(created["ping_url"])).status_code == 404
    assert api.client.post(ping_path(new_url)).status_code == 200
    assert api.client.delete(f"{PATH}{created['id']}", headers=api.admin_headers).status_code == 204
    assert api.client.post(ping_path(new_url)).status_code == 404


def test_a_missed_heartbeat_opens_an_incident_that_the_next_ping_resolves(clocked_api: Api, clock: FakeClock) -> None:
    api = clocked_api
    team = api.create_team()
    api.create_policy(team_id=team["id"])
    created_at = clock.now()
    created = create(api, team["id"], interval_minutes=5, grace_minutes=1)
    clock.set(created_at + timedelta(minutes=6, seconds=-1))
    assert run_worker_check(api) == 0
    clock.set(created_at + timedelta(minutes=6))
    assert run_worker_check(api) == 1
    assert run_worker_check(api) == 0  # one incident per miss
    down = api.client.get(f"{PATH}{created['id']}", headers=api.admin_headers).json()
    assert down["status"] == "down" and down["incident_id"] is not None
    incident = api.client.get(f"/v1/incidents/{down['incident_id']}", headers=api.admin_headers).json()
    assert (incident["source"], incident["team_id"], incident["severity"], incident["status"]) == (
        "heartbeat", team["id"], "high", "triggered",
    )  # fmt: skip
    assert incident["title"] == "Heartbeat nightly backup missed"
    assert incident["escalation_policy_id"] is not None

    clock.advance(minutes=2)
    assert api.client.post(ping_path(created["ping_url"])).json()["status"] == "up"
    resolved = api.client.get(f"/v1/incidents/{down['incident_id']}", headers=api.admin_headers).json()
    assert resolved["status"] == "resolved"
    up = api.client.get(f"{PATH}{created['id']}", headers=api.admin_headers).json()
    assert (up["status"], up["incident_id"]) == ("up", None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"interval_minutes": 0}, "interval_minutes"),
        ({"interval_minutes": 31 * 24 * 60 + 1}, "interval_minutes"),
        ({"grace_minutes": -1}, "grace_minutes"),
        ({"grace_minutes": 7 * 24 * 60 + 1}, "grace_minutes"),
        ({"interval_minutes": "60"}, "interval_minutes"),
        ({"name": ""}, "name"),
        ({"name": "a\u0007b"}, "name"),
        ({"team_id": 999_999}, "team_id"),
        ({"extra": 1}, "extra"),
    ],
)
def test_bad_input_is_a_400_and_changes_nothing(api: Api, body: dict[str, Any], field: str) -> None:
    team = api.create_team()
    valid = {"name": "backup", "team_id": team["id"], "interval_minutes": 60}
    response = api.client.post(PATH, json={**valid, **body}, headers=api.admin_headers)
    assert response.status_code == 400, response.text
    assert field in response.text
    created = create(api, team["id"])
    edited = api.client.put(f"{PATH}{created['id']}", json=body, headers=api.admin_headers)
    assert edited.status_code == 400, edited.text
    assert api.client.get(PATH, headers=api.admin_headers).json()["total"] == 1
    unchanged = api.client.get(f"{PATH}{created['id']}", headers=api.admin_headers).json()
    assert (unchanged["name"], unchanged["interval_minutes"], unchanged["grace_minutes"]) == ("nightly backup", 60, 10)


def test_team_leads_manage_their_teams_heartbeats_and_no_others(api: Api) -> None:
    team, other = api.create_team(), api.create_team()
    _, lead = api.create_user(Role.TEAM_LEAD, team_id=team["id"])
    _, member = api.create_user(Role.ONCALL_ENGINEER, team_id=team["id"])
    _, outsider = api.create_user(Role.MANAGER, team_id=other["id"])
    mine = create(api, team["id"], headers=lead)
    body = {"name": "x", "team_id": team["id"], "interval_minutes": 5}
    for headers in (member, outsider):
        assert api.client.post(PATH, json=body, headers=headers).status_code == 403
        assert api.client.put(f"{PATH}{mine['id']}", json={"name": "y"}, headers=headers).status_code == 403
        assert api.client.delete(f"{PATH}{mine['id']}", headers=headers).status_code == 403
        assert api.client.get(f"{PATH}{mine['id']}", headers=headers).status_code == 200  # anyone reads
    moved = api.client.put(f"{PATH}{mine['id']}", json={"team_id": other["id"]}, headers=lead)
    assert moved.status_code == 403  # the right in the new team too
    assert api.client.get(f"{PATH}{mine['id']}", headers=lead).json()["team_id"] == team["id"]
    assert api.client.post(PATH, json=body).status_code == 401
    assert api.client.delete(f"{PATH}{mine['id']}", headers=lead).status_code == 204


def test_a_team_with_heartbeats_cannot_be_deleted(api: Api) -> None:
    team = api.create_team()
    create(api, team["id"])
    response = api.client.delete(f"/v1/teams/{team['id']}", headers=api.admin_headers)
    assert response.status_code == 409
    assert "heartbeats" in response.json()["detail"]
