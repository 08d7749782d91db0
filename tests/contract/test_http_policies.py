"""Escalation policies over HTTP."""

from __future__ import annotations

import pytest
from http_harness import *  # noqa: F403
from http_harness import Api

POLICY_FIELDS = {
    "id", "name", "description", "team_id", "severities", "steps", "repeat", "ack_timeout_minutes", "is_active", "created_at",
}


def test_policy_round_trip_with_every_target_type(api: Api) -> None:
    team = api.create_team()
    body = {
        "name": "payments primary",
        "description": "Page the on-call, then the leads",
        "team_id": team["id"],
        "severities": ["critical", "high"],
        "steps": [
            {"delay_minutes": 0, "targets": [{"type": "user", "id": api.admin_id}]},
            {"delay_minutes": 10, "targets": [{"type": "team", "id": team["id"]}, {"type": "team", "team_id": team["id"]}]},
            {"delay_minutes": 15, "targets": [{"type": "role", "role": "team_lead"}, {"type": "role", "role": "manager", "team_id": team["id"]}]},
        ],
        "repeat": 2,
        "ack_timeout_minutes": 60,
    }
    response = api.client.post("/v1/escalation/policies/", json=body, headers=api.admin_headers)
    assert response.status_code == 201, response.text
    policy = response.json()
    warnings = policy.pop("warnings")  # create and update answers only: the team has nobody in it yet
    assert [(w["code"], w["step_index"]) for w in warnings] == [("step_reaches_nobody", 1), ("step_reaches_nobody", 2)]
    assert set(policy) == POLICY_FIELDS
    assert policy["is_active"] is True and policy["severities"] == ["critical", "high"]
    assert policy["steps"] == [
        {"delay_minutes": 0, "targets": [{"type": "user", "id": api.admin_id, "role": None, "team_id": None}]},
        {
            "delay_minutes": 10,
            "targets": [
                {"type": "team", "id": team["id"], "role": None, "team_id": team["id"]},
                {"type": "team", "id": team["id"], "role": None, "team_id": team["id"]},
            ],
        },
        {
            "delay_minutes": 15,
            "targets": [
                {"type": "role", "id": None, "role": "team_lead", "team_id": None},
                {"type": "role", "id": None, "role": "manager", "team_id": team["id"]},
            ],
        },
    ]
    assert api.client.get(f"/v1/escalation/policies/{policy['id']}", headers=api.admin_headers).json() == policy
    listed = api.client.get("/v1/escalation/policies/", headers=api.admin_headers).json()
    assert listed["items"] == [policy] and listed["total"] == 1


def test_update_is_partial_and_validated(api: Api) -> None:
    policy = api.create_policy()
    path = f"/v1/escalation/policies/{policy['id']}"
    response = api.client.put(path, json={"is_active": False, "severities": []}, headers=api.admin_headers)
    assert response.status_code == 200
    assert response.json() == {**policy, "is_active": False}
    steps = [{"delay_minutes": 3, "targets": [{"type": "role", "role": "cto"}]}]
    assert api.client.put(path, json={"steps": steps}, headers=api.admin_headers).json()["steps"][0]["delay_minutes"] == 3
    response = api.client.put(path, json={"steps": []}, headers=api.admin_headers)
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "steps"
    # the edit is checked with the rest of the policy: repeating a loop of zero delays pages all at once
    instant = [{"delay_minutes": 0, "targets": [{"type": "role", "role": "cto"}]}]
    assert api.client.put(path, json={"steps": instant}, headers=api.admin_headers).status_code == 200
    response = api.client.put(path, json={"repeat": 2}, headers=api.admin_headers)
    assert response.status_code == 400 and [e["field"] for e in response.json()["errors"]] == ["repeat"]
    assert "add up to at least 1" in response.json()["errors"][0]["message"]
    assert api.client.put(path, json={"name": None}, headers=api.admin_headers).status_code == 400
    assert api.client.put("/v1/escalation/policies/4242", json={"repeat": 1}, headers=api.admin_headers).status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"steps": [{"delay_minutes": 5, "targets": [{"type": "user"}]}]}, "steps[0].targets[0].id"),
        ({"steps": [{"delay_minutes": 5, "targets": [{"type": "team"}]}]}, "steps[0].targets[0].id"),
        ({"steps": [{"delay_minutes": 5, "targets": [{"type": "role", "role": "boss"}]}]}, "steps[0].targets[0].role"),
        ({"steps": [{"delay_minutes": 5, "targets": [{"type": "robot", "id": 1}]}]}, "steps[0].targets[0].type"),
        ({"steps": [{"delay_minutes": -1, "targets": [{"type": "role", "role": "cto"}]}]}, "steps[0].delay_minutes"),
        ({"steps": [{"delay_minutes": 5, "targets": []}]}, "steps[0].targets"),
        ({"steps": [{"delay_minutes": 5, "targets": [{"type": "user", "id": 4242}]}]}, "steps[0].targets[0].id"),
        ({"severities": ["urgent"]}, "severities[0]"),
        ({"repeat": 10}, "repeat"),
        ({"steps": [{"delay_minutes": 0, "targets": [{"type": "role", "role": "cto"}]}], "repeat": 1}, "repeat"),
        ({"team_id": 4242}, "team_id"),
        ({"name": ""}, "name"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_create_rejects_bad_policies_naming_the_field(
    api: Api, change: dict[str, object], field: str
) -> None:
    body = {"name": "p", "steps": [{"delay_minutes": 5, "targets": [{"type": "role", "role": "cto"}]}], **change}
    response = api.client.post("/v1/escalation/policies/", json=body, headers=api.admin_headers)
    assert response.status_code == 400, response.text
    assert field in [error["field"] for error in response.json()["errors"]]


def test_delete_policy(api: Api) -> None:
    policy = api.create_policy()
    path = f"/v1/escalation/policies/{policy['id']}"
    assert api.client.delete(path, headers=api.admin_headers).status_code == 204
    assert api.client.get(path, headers=api.admin_headers).status_code == 404
    assert api.client.delete(path, headers=api.admin_headers).status_code == 404


def test_edits_reach_only_later_incidents(api: Api) -> None:
    policy = api.create_policy()
    before = api.create_incident()
    api.client.put(f"/v1/escalation/policies/{policy['id']}", json={"is_active": False}, headers=api.admin_headers)
    after = api.create_incident()
    assert before["escalation_policy_id"] == policy["id"]
    assert after["escalation_policy_id"] is None
