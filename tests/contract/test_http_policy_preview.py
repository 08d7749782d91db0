"""Who gets paged when, over HTTP: the preview of a saved or unsaved policy, and the warnings a
create or update answers with."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from http_harness import *  # noqa: F403
from http_harness import Api, make_api
from test_schedule_paging_end_to_end import FakeClockProvider

from incidentcore.model import Role
from incidentcore.testing import FakeClock

README = Path(__file__).resolve().parents[2] / "README.md"


def put_preference(api: Api, user_id: int, channel: str, **fields: Any) -> None:
    body = {"enabled": True, **fields}
    path = f"/v1/notification-preferences/{user_id}/{channel}"
    response = api.client.put(path, json=body, headers=api.admin_headers)
    assert response.status_code == 200, response.text


def post(api: Api, path: str, body: dict[str, Any]) -> Any:
    response = api.client.post(path, json=body, headers=api.admin_headers)
    assert response.status_code in (200, 201), response.text
    return response.json()


def readme_example() -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """The README's "Who gets paged when" example: the bodies it sends (schedule, override, policy,
    in order), the preview request's body, and the answer it shows."""
    readme = README.read_text()
    section = readme[readme.index("\n## Who gets paged when\n") :]
    section = section[: section.find("\n## ", 1)]
    (script,) = re.findall(r"^```bash\n(.*?)^```$", section, flags=re.MULTILINE | re.DOTALL)
    (answer,) = re.findall(r"^```json\n(.*?)^```$", section, flags=re.MULTILINE | re.DOTALL)
    bodies = [json.loads(body) for body in re.findall(r"-d '(\{.*?\})'", script, flags=re.DOTALL)]
    *setup, request = bodies
    return setup, request, json.loads(answer)


def test_the_readme_preview_is_what_the_service_answers(api: Api) -> None:
    """A two-step policy over a weekly schedule with an override: the README shows the real answer."""
    team = api.create_team("payments")
    alice, bob, carol = (
        api.create_user(role, team_id=team["id"])[0]
        for role in (Role.ONCALL_ENGINEER, Role.ONCALL_ENGINEER, Role.TEAM_LEAD)
    )
    assert [team["id"], alice["id"], bob["id"], carol["id"]] == [1, 2, 3, 4]  # the ids the README uses
    put_preference(api, alice["id"], "email")
    put_preference(api, alice["id"], "sms", address="+4915112345678")
    put_preference(api, carol["id"], "sms", address="+4915187654321", min_severity="critical")
    (schedule, override, policy), request, answer = readme_example()
    assert post(api, "/v1/schedules/", schedule)["id"] == 1
    post(api, "/v1/schedules/1/overrides", override)
    assert post(api, "/v1/escalation/policies/", policy)["id"] == 1
    assert post(api, "/v1/escalation/policies/1/preview", request) == answer


def preview_of(api: Api, policy_id: int, **options: Any) -> dict[str, Any]:
    response = api.client.post(f"/v1/escalation/policies/{policy_id}/preview", json=options, headers=api.admin_headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def weekly(participants: list[int], **layer: Any) -> dict[str, Any]:
    rotation = {"name": "weekly", "start": "2026-01-05T09:00", "turn_length": {"unit": "weeks", "count": 1}}
    return {"name": "ops", "time_zone": "UTC", "layers": [{**rotation, "participants": participants, **layer}]}


AT = "2026-12-12T22:00:00Z"


def test_the_preview_says_why_each_target_reaches_nobody(api: Api) -> None:
    team, empty_team = api.create_team(), api.create_team()
    retired, _ = api.create_user(Role.TEAM_LEAD, team_id=team["id"])
    muted, _ = api.create_user(Role.ONCALL_ENGINEER, team_id=team["id"])
    put_preference(api, muted["id"], "email", enabled=False)
    ended = weekly([retired["id"]], end="2026-02-01T00:00")  # nobody on call after it ended
    schedule = post(api, "/v1/schedules/", ended)
    targets = [
        {"type": "user", "id": retired["id"]},
        {"type": "user", "id": muted["id"]},
        {"type": "team", "id": empty_team["id"]},
        {"type": "role", "role": "manager"},
        {"type": "schedule", "id": schedule["id"]},
    ]
    policy = api.create_policy(team_id=team["id"], steps=[{"delay_minutes": 5, "targets": targets}])
    assert api.client.put(f"/v1/users/{retired['id']}", json={"is_active": False}, headers=api.admin_headers).status_code == 200

    (fire,) = preview_of(api, policy["id"], at=AT, hours=1)["fires"]
    assert fire["users"] == []
    assert fire["unreachable_user_ids"] == [retired["id"], muted["id"]]
    assert [(u["user_id"], u["reason"]) for u in fire["unreachable"]] == [
        (retired["id"], "inactive"),
        (muted["id"], "no_enabled_channel"),
    ]
    assert [(t["type"], t["id"], t["role"], t["team_id"], t["reason"]) for t in fire["empty_targets"]] == [
        ("team", empty_team["id"], None, empty_team["id"], "no_active_members"),
        ("role", None, "manager", team["id"], "role_unheld"),  # judged in the policy's team
        ("schedule", schedule["id"], None, None, "nobody_on_call"),
    ]
    assert fire["empty_targets"][1]["message"] == f"nobody active holds the role manager in team {team['id']}"


def test_the_incidents_team_defaults_to_the_policys_and_severity_picks_the_channels(api: Api) -> None:
    team = api.create_team()
    lead, _ = api.create_user(Role.TEAM_LEAD, team_id=team["id"])
    put_preference(api, lead["id"], "email", min_severity="high")
    put_preference(api, lead["id"], "sms", address="+4915112345678", min_severity="critical")
    policy = api.create_policy(steps=[{"delay_minutes": 5, "targets": [{"type": "role", "role": "team_lead"}]}])

    def reached(**options: Any) -> list[Any]:
        (fire,) = preview_of(api, policy["id"], at=AT, hours=1, **options)["fires"]
        return [*fire["users"], *fire["unreachable"], *(t["reason"] for t in fire["empty_targets"])]

    assert reached() == ["no_team_for_role"]  # a policy for every team, and no team given
    assert reached(team_id=team["id"], severity="critical") == [{"user_id": lead["id"], "channels": ["email", "sms"]}]
    assert reached(team_id=team["id"]) == [{"user_id": lead["id"], "channels": ["email"]}]  # high by default
    assert reached(team_id=team["id"], severity="low") == [
        {"user_id": lead["id"], "reason": "below_minimum_severity", "message": f"user {lead['id']} is paged only for more severe incidents"}
    ]
    team_policy = api.create_policy(team_id=team["id"], steps=policy["steps"])
    answer = preview_of(api, team_policy["id"], at=AT, hours=1)
    assert answer["team_id"] == team["id"] and answer["fires"][0]["users"] == [{"user_id": lead["id"], "channels": ["email"]}]
    assert preview_of(api, team_policy["id"], at=AT, hours=1, team_id=None)["team_id"] is None


def test_an_acknowledgement_stops_the_fires_until_the_ack_timeout_restarts_them(api: Api) -> None:
    step = {"delay_minutes": 10, "targets": [{"type": "user", "id": api.admin_id}]}
    policy = api.create_policy(steps=[step] * 3, ack_timeout_minutes=60)

    def fires(**options: Any) -> list[tuple[int, int, int, str]]:
        answer = preview_of(api, policy["id"], at=AT, hours=2, **options)
        assert answer["until"] == "2026-12-13T00:00:00Z" and answer["truncated"] is False
        return [(f["cycle"], f["step_index"], f["loop"], f["scheduled_at"][11:16]) for f in answer["fires"]]

    assert fires() == [(0, 0, 0, "22:00"), (0, 1, 0, "22:10"), (0, 2, 0, "22:20")]
    # a step due as someone acknowledges has fired; 60 minutes on, the incident re-triggers at step 0
    assert fires(acknowledge_after_minutes=10) == [
        (0, 0, 0, "22:00"), (0, 1, 0, "22:10"), (1, 0, 0, "23:10"), (1, 1, 0, "23:20"), (1, 2, 0, "23:30"),
    ]  # fmt: skip
    assert fires(acknowledge_after_minutes=0) == [(0, 0, 0, "22:00"), (1, 0, 0, "23:00"), (1, 1, 0, "23:10"), (1, 2, 0, "23:20")]
    assert fires(acknowledge_after_minutes=500) == fires()  # after the horizon: never within it


def test_an_unsaved_policy_is_previewed_and_checked_as_a_create_would_check_it(api: Api) -> None:
    step = {"delay_minutes": 15, "targets": [{"type": "user", "id": api.admin_id}]}
    answer = post(api, "/v1/escalation/policies/preview", {"policy": {"name": "draft", "steps": [step, step]}, "at": AT})
    assert [(f["scheduled_at"], f["users"]) for f in answer["fires"]] == [
        (AT, [{"user_id": api.admin_id, "channels": ["email"]}]),
        ("2026-12-12T22:15:00Z", [{"user_id": api.admin_id, "channels": ["email"]}]),
    ]
    assert answer["until"] == "2026-12-13T22:00:00Z"  # 24 hours by default
    assert api.client.get("/v1/escalation/policies/", headers=api.admin_headers).json()["total"] == 0  # nothing saved


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"policy": {"name": "p", "steps": [{"delay_minutes": 5, "targets": [{"type": "user", "id": 4242}]}]}}, "policy.steps[0].targets[0].id"),
        ({"policy": {"name": "p", "steps": []}}, "policy.steps"),
        ({"policy": {"name": "p", "team_id": 4242, "steps": [{"delay_minutes": 5, "targets": [{"type": "role", "role": "cto"}]}]}}, "policy.team_id"),
        ({"team_id": 4242}, "team_id"),
        ({"hours": 0}, "hours"),
        ({"hours": 169}, "hours"),
        ({"acknowledge_after_minutes": -1}, "acknowledge_after_minutes"),
        ({"at": "2026-12-12T22:00:00"}, "at"),  # no offset: which 22:00?
        ({"at": "2199-12-31T22:00:00Z"}, "at"),  # the horizon would leave the years schedules compute over
        ({"severity": "urgent"}, "severity"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_preview_requests_name_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    step = {"delay_minutes": 5, "targets": [{"type": "role", "role": "cto"}]}
    unsaved = {"policy": {"name": "p", "steps": [step]}, **body}
    saved = api.create_policy(steps=[step])
    requests = [("/v1/escalation/policies/preview", unsaved)]
    if "policy" not in body:
        requests.append((f"/v1/escalation/policies/{saved['id']}/preview", body))
    for path, sent in requests:
        response = api.client.post(path, json=sent, headers=api.admin_headers)
        assert response.status_code == 400, response.text
        assert field in [error["field"] for error in response.json()["errors"]], response.text


def test_previewing_a_policy_that_does_not_exist_is_404(api: Api) -> None:
    response = api.client.post("/v1/escalation/policies/4242/preview", json={}, headers=api.admin_headers)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.fixture
def clock() -> FakeClock:
    # Now, so that the access tokens the app issues are valid by the wall clock PyJWT checks them on.
    return FakeClock(datetime.now(UTC).replace(second=0, microsecond=0))


@pytest.fixture
def clocked_api(http_backend: str, request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[Api]:
    yield from make_api(http_backend, request, tmp_path, FakeClockProvider(clock))


def test_create_and_update_warn_of_a_weekend_with_nobody_on_call_and_a_user_with_no_channel(
    clocked_api: Api, clock: FakeClock
) -> None:
    api, now = clocked_api, clock.now()
    team = api.create_team()
    engineer, _ = api.create_user(Role.ONCALL_ENGINEER, team_id=team["id"])
    muted, _ = api.create_user(Role.TEAM_LEAD, team_id=team["id"])
    put_preference(api, muted["id"], "email", enabled=False)
    weekdays = {"days": ["mon", "tue", "wed", "thu", "fri"], "start_time": "00:00", "end_time": "00:00"}
    schedule = post(api, "/v1/schedules/", weekly([engineer["id"]], start="2020-01-06T00:00", restrictions=[weekdays]))
    on_call = {"delay_minutes": 10, "targets": [{"type": "schedule", "id": schedule["id"]}]}
    admin = {"type": "user", "id": api.admin_id}
    steps = [on_call, {"delay_minutes": 10, "targets": [{"type": "role", "role": "team_lead"}, admin]}]
    created = post(api, "/v1/escalation/policies/", {"name": "ops", "team_id": team["id"], "steps": steps})

    days_to_saturday = (5 - now.weekday()) % 7
    weekend = now if now.weekday() >= 5 else datetime.combine(now.date() + timedelta(days=days_to_saturday), datetime.min.time(), UTC)
    assert created["warnings"] == [
        {
            "code": "step_reaches_nobody",
            "message": f"step 1 would reach nobody if it fired at {weekend:%Y-%m-%d %H:%M} UTC: nobody active is on call on schedule {schedule['id']}",
            "step_index": 0,
            "at": weekend.isoformat().replace("+00:00", "Z"),
            "user_id": None,
        },
        {
            "code": "user_has_no_channel",
            "message": f"step 2: user {muted['id']} has no enabled channel",
            "step_index": 1,
            "at": None,
            "user_id": muted["id"],
        },
    ]
    # Fixed: someone covers the weekend, and the muted lead is paged no more. Seen on the update.
    cover = {"name": "weekend", "start": "2020-01-04T00:00", "turn_length": {"unit": "weeks", "count": 1},
             "participants": [api.admin_id], "restrictions": [{**weekdays, "days": ["sat", "sun"]}]}  # fmt: skip
    fixed = weekly([engineer["id"]], start="2020-01-06T00:00", restrictions=[weekdays])
    response = api.client.put(f"/v1/schedules/{schedule['id']}", json={"layers": [*fixed["layers"], cover]}, headers=api.admin_headers)
    assert response.status_code == 200, response.text
    path = f"/v1/escalation/policies/{created['id']}"
    updated = api.client.put(path, json={"steps": [on_call, {"delay_minutes": 10, "targets": [admin]}]}, headers=api.admin_headers)
    assert updated.status_code == 200 and updated.json()["warnings"] == []
    assert "warnings" not in api.client.get(path, headers=api.admin_headers).json()
