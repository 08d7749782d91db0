"""Notification preferences, integrations and the Elastic alert webhook over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from http_harness import *  # noqa: F403
from http_harness import Api


def test_my_preferences(api: Api) -> None:
    user, headers = api.create_user()
    empty = {"items": [], "total": 0, "limit": 50, "offset": 0}
    assert api.client.get("/v1/notification-preferences/me", headers=headers).json() == empty
    body = {"enabled": True, "address": "https://hooks.example.com/page", "min_severity": "high"}
    response = api.client.put("/v1/notification-preferences/me/webhook", json=body, headers=headers)
    assert response.status_code == 200
    assert response.json() == {"user_id": user["id"], "channel": "webhook", **body}
    email = api.client.put("/v1/notification-preferences/me/email", json={"enabled": False}, headers=headers).json()
    assert email == {"user_id": user["id"], "channel": "email", "enabled": False, "address": None, "min_severity": None}
    listed = api.client.get("/v1/notification-preferences/me", headers=headers).json()
    assert {p["channel"] for p in listed["items"]} == {"webhook", "email"}
    assert (listed["total"], listed["limit"], listed["offset"]) == (2, 50, 0)


def test_preference_lists_are_paged_like_every_list(api: Api) -> None:
    user, headers = api.create_user()
    for channel in ("email", "sms", "slack"):
        body: dict[str, object] = {"enabled": True}
        if channel == "sms":
            body["address"] = "+15551234567"
        if channel == "slack":
            body["address"] = "https://hooks.slack.com/services/T000/B000/XXXX"
        response = api.client.put(f"/v1/notification-preferences/me/{channel}", json=body, headers=headers)
        assert response.status_code == 200, response.text
    everything = api.client.get("/v1/notification-preferences/me", headers=headers).json()["items"]
    for path, caller in (
        ("/v1/notification-preferences/me", headers),
        (f"/v1/notification-preferences/{user['id']}", api.admin_headers),
    ):
        second = api.client.get(path, params={"limit": 1, "offset": 1}, headers=caller).json()
        assert second == {"items": everything[1:2], "total": 3, "limit": 1, "offset": 1}
        beyond = api.client.get(path, params={"offset": 5}, headers=caller).json()
        assert beyond == {"items": [], "total": 3, "limit": 50, "offset": 5}
        assert api.client.get(path, params={"limit": 0}, headers=caller).status_code == 400


def test_an_address_is_stored_as_its_channel_normalises_it(api: Api) -> None:
    _, headers = api.create_user()
    body = {"enabled": True, "address": " Pager@Example.COM "}
    response = api.client.put("/v1/notification-preferences/me/email", json=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["address"] == "pager@example.com"


@pytest.mark.parametrize(
    ("channel", "body", "field"),
    [
        ("pigeon", {"enabled": True}, "channel"),
        ("webhook", {"enabled": True}, "address"),
        ("webhook", {"enabled": True, "address": "ftp://x"}, "address"),
        ("email", {"enabled": True, "address": "nope"}, "address"),
        ("email", {"enabled": True, "min_severity": "meh"}, "min_severity"),
        ("email", {"enabled": "yes"}, "enabled"),
        ("email", {}, "enabled"),
    ],
)
def test_bad_preferences_are_400_naming_the_field(
    api: Api, channel: str, body: dict[str, object], field: str
) -> None:
    response = api.client.put(f"/v1/notification-preferences/me/{channel}", json=body, headers=api.admin_headers)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == field


def test_admin_manages_other_users_preferences(api: Api) -> None:
    user, _ = api.create_user()
    path = f"/v1/notification-preferences/{user['id']}"
    response = api.client.put(f"{path}/sms", json={"enabled": True, "address": "+15551234567"}, headers=api.admin_headers)
    assert response.status_code == 200
    assert response.json()["user_id"] == user["id"]
    assert [p["channel"] for p in api.client.get(path, headers=api.admin_headers).json()["items"]] == ["sms"]
    assert api.client.get("/v1/notification-preferences/4242", headers=api.admin_headers).status_code == 404
    missing = api.client.put("/v1/notification-preferences/4242/email", json={"enabled": True}, headers=api.admin_headers)
    assert missing.status_code == 404


# --- integrations ---------------------------------------------------------------------------------


def test_integration_lifecycle(api: Api) -> None:
    team = api.create_team()
    integration = api.create_integration(team["id"])
    assert set(integration) == {"id", "name", "team_id", "key", "created_at"}
    assert len(integration["key"]) >= 32
    listed = api.client.get("/v1/integrations/", headers=api.admin_headers).json()
    assert listed["items"] == [integration]
    assert api.client.delete(f"/v1/integrations/{integration['id']}", headers=api.admin_headers).status_code == 204
    assert api.client.delete(f"/v1/integrations/{integration['id']}", headers=api.admin_headers).status_code == 404
    assert api.client.get("/v1/integrations/", headers=api.admin_headers).json()["total"] == 0


def test_integration_needs_an_existing_team(api: Api) -> None:
    for body, field in (({"name": "k", "team_id": 4242}, "team_id"), ({"name": "k"}, "team_id"), ({"team_id": 1}, "name")):
        response = api.client.post("/v1/integrations/", json=body, headers=api.admin_headers)
        assert response.status_code == 400, body
        assert response.json()["errors"][0]["field"] == field


# --- the Elastic webhook --------------------------------------------------------------------------


def elastic(
    action_group: str = "threshold_met", rule_id: str = "r-1", alert_id: str = "svc-a", **extra: object
) -> dict[str, object]:
    return {
        "rule": {"id": rule_id, "name": "High error rate", "url": "https://kibana.example.com/r/1"},
        "alert": {"id": alert_id, "actionGroup": action_group, "actionGroupName": "Threshold met"},
        "context": {"reason": "error rate 12% > 5%"},
        "date": "2026-11-27T06:00:00Z",
        **extra,
    }


@pytest.fixture
def integration(api: Api) -> dict[str, Any]:
    return api.create_integration(api.create_team()["id"])


def test_an_alert_opens_then_updates_then_resolves_an_incident(api: Api, integration: dict[str, Any]) -> None:
    key = {"X-Integration-Key": integration["key"]}
    created = api.client.post("/v1/alerts/elastic", json=elastic(), headers=key)
    assert created.status_code == 202
    assert created.json()["action"] == "created"
    incident_id = created.json()["incident_id"]
    incident = api.client.get(f"/v1/incidents/{incident_id}", headers=api.admin_headers).json()
    assert (incident["title"], incident["description"]) == ("High error rate", "error rate 12% > 5%")
    assert (incident["team_id"], incident["source"], incident["dedup_key"]) == (integration["team_id"], "elastic", "r-1:svc-a")

    repeated = api.client.post("/v1/alerts/elastic", json=elastic(extra_field={"kept": True}), headers=key)
    assert repeated.json() == {"incident_id": incident_id, "action": "updated"}
    timeline = api.client.get(f"/v1/incidents/{incident_id}/timeline", headers=api.admin_headers).json()["items"]
    assert timeline[-1]["data"]["alert"]["extra_field"] == {"kept": True}

    other = api.client.post("/v1/alerts/elastic", json=elastic(alert_id="svc-b"), params={"key": integration["key"]})
    assert other.json()["action"] == "created" and other.json()["incident_id"] != incident_id

    recovered = api.client.post("/v1/alerts/elastic", json=elastic(action_group="recovered"), headers=key)
    assert recovered.json() == {"incident_id": incident_id, "action": "resolved"}
    assert api.client.get(f"/v1/incidents/{incident_id}", headers=api.admin_headers).json()["status"] == "resolved"
    again = api.client.post("/v1/alerts/elastic", json=elastic(action_group="recovered"), headers=key)
    assert again.json() == {"incident_id": None, "action": "ignored"}


def test_an_alert_may_set_the_severity(api: Api, integration: dict[str, Any]) -> None:
    response = api.client.post(
        "/v1/alerts/elastic", json=elastic(severity="critical"), headers={"X-Integration-Key": integration["key"]}
    )
    incident = api.client.get(f"/v1/incidents/{response.json()['incident_id']}", headers=api.admin_headers).json()
    assert incident["severity"] == "critical"


def test_alerts_need_a_valid_integration_key(api: Api, integration: dict[str, Any]) -> None:
    for headers, params in (({}, {}), ({"X-Integration-Key": "wrong"}, {}), ({}, {"key": "wrong"})):
        response = api.client.post("/v1/alerts/elastic", json=elastic(), headers=headers, params=params)
        assert response.status_code == 401, (headers, params)
        assert response.headers["content-type"].startswith("application/problem+json")
    # The admin's bearer token is not an integration key.
    assert api.client.post("/v1/alerts/elastic", json=elastic(), headers=api.admin_headers).status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"rule": {"id": "r"}, "alert": {"id": "a", "actionGroup": "x"}},
        {"rule": {"id": "r", "name": "n"}, "alert": {"id": "a"}},
        {"rule": {"id": 1, "name": "n"}, "alert": {"id": "a", "actionGroup": "x"}},
        {"rule": "r", "alert": {"id": "a", "actionGroup": "x"}},
        [1, 2],
    ],
)
def test_a_body_that_is_not_the_kibana_shape_is_400(
    api: Api, integration: dict[str, Any], body: object
) -> None:
    response = api.client.post("/v1/alerts/elastic", json=body, headers={"X-Integration-Key": integration["key"]})
    assert response.status_code == 400, response.text
