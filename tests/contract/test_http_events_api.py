"""PagerDuty's Events API v2 at /v1/alerts/events and /v2/enqueue: triggers, acknowledgements and
resolutions by dedup key, PagerDuty's own success and error bodies, and nothing stored for a refused event."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from http_harness import *  # noqa: F403
from http_harness import MAX_BODY_BYTES, Api, make_api

PATHS = ["/v1/alerts/events", "/v2/enqueue"]
REJECTED = {"status": "invalid event", "message": "Event object is invalid"}


def trigger(routing_key: str, dedup_key: str = "disk-full-web-01", **payload: Any) -> dict[str, Any]:
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {
            "summary": "Disk full on web-01",
            "source": "web-01",
            "severity": "critical",
            "timestamp": "2015-07-17T08:42:58.315+0000",
            "component": "postgres",
            "group": "prod-datapipe",
            "class": "disk",
            "custom_details": {"free space": "1%", "ping time": "1500ms"},
            **payload,
        },
        "links": [{"href": "https://example.com/runbook", "text": "Runbook"}],
        "images": [{"src": "https://example.com/graph.png", "href": "https://example.com", "alt": "graph"}],
        "client": "Sample Monitoring Service",
        "client_url": "https://monitoring.example.com",
    }


def action(routing_key: str, event_action: str, dedup_key: str = "disk-full-web-01") -> dict[str, str]:
    return {"routing_key": routing_key, "event_action": event_action, "dedup_key": dedup_key}


@pytest.fixture
def integration(api: Api) -> dict[str, Any]:
    return api.create_integration(api.create_team()["id"], name="events")


def incidents(api: Api) -> dict[str, Any]:
    listed: dict[str, Any] = api.client.get("/v1/incidents/", headers=api.admin_headers).json()
    return listed


def incident_by_key(api: Api, dedup_key: str) -> dict[str, Any]:
    matches = [i for i in incidents(api)["items"] if i["dedup_key"] == dedup_key]
    assert len(matches) == 1, matches
    incident: dict[str, Any] = matches[0]
    return incident


def timeline(api: Api, incident_id: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.client.get(
        f"/v1/incidents/{incident_id}/timeline", headers=api.admin_headers
    ).json()["items"]
    return items


@pytest.mark.parametrize("path", PATHS)
def test_a_trigger_opens_an_incident_and_answers_as_pagerduty_does(
    api: Api, integration: dict[str, Any], path: str
) -> None:
    response = api.client.post(path, json=trigger(integration["key"]))
    assert response.status_code == 202, response.text
    assert response.json() == {"status": "success", "message": "Event processed", "dedup_key": "disk-full-web-01"}
    incident = incident_by_key(api, "disk-full-web-01")
    assert (incident["title"], incident["severity"], incident["status"]) == ("Disk full on web-01", "critical", "triggered")
    assert (incident["source"], incident["team_id"], incident["alert_count"]) == ("events", integration["team_id"], 1)
    assert incident["created_by_id"] is None
    assert incident["description"] == "Source: web-01\nComponent: postgres\nGroup: prod-datapipe\nClass: disk"
    [alert] = [e for e in timeline(api, incident["id"]) if e["kind"] == "alert"]
    kept = alert["data"]["alert"]
    assert kept["payload"]["custom_details"] == {"free space": "1%", "ping time": "1500ms"}
    assert kept["links"] == [{"href": "https://example.com/runbook", "text": "Runbook"}]
    assert kept["images"][0]["src"] == "https://example.com/graph.png"
    assert (kept["client"], kept["client_url"]) == ("Sample Monitoring Service", "https://monitoring.example.com")
    assert "routing_key" not in kept  # the integration's secret is not written into the record
    assert integration["key"] not in str(timeline(api, incident["id"]))


@pytest.mark.parametrize(
    ("severity", "expected"), [("critical", "critical"), ("error", "high"), ("warning", "medium"), ("info", "info")]
)
def test_severities_map_to_ours(api: Api, integration: dict[str, Any], severity: str, expected: str) -> None:
    api.client.post("/v2/enqueue", json=trigger(integration["key"], dedup_key=severity, severity=severity))
    assert incident_by_key(api, severity)["severity"] == expected


def test_a_repeat_updates_the_open_incident_and_acknowledge_then_resolve_act_on_it(
    api: Api, integration: dict[str, Any]
) -> None:
    key = integration["key"]
    first = api.client.post("/v2/enqueue", json=trigger(key)).json()
    again = api.client.post("/v1/alerts/events", json=trigger(key, custom_details={"free space": "0%"}))
    assert again.status_code == 202 and again.json()["dedup_key"] == first["dedup_key"]
    assert incidents(api)["total"] == 1
    incident = incident_by_key(api, "disk-full-web-01")
    assert incident["alert_count"] == 2
    alerts = [e for e in timeline(api, incident["id"]) if e["kind"] == "alert"]
    assert alerts[-1]["data"]["alert"]["payload"]["custom_details"] == {"free space": "0%"}

    acknowledged = api.client.post("/v2/enqueue", json=action(key, "acknowledge"))
    assert acknowledged.status_code == 202
    assert acknowledged.json() == {"status": "success", "message": "Event processed", "dedup_key": "disk-full-web-01"}
    incident = incident_by_key(api, "disk-full-web-01")
    assert incident["status"] == "acknowledged"
    [ack] = [e for e in timeline(api, incident["id"]) if e["kind"] == "acknowledged"]
    assert ack["actor_id"] is None  # the system, on the monitoring tool's word
    assert (ack["data"]["source"], ack["data"]["dedup_key"]) == ("events", "disk-full-web-01")
    # Acknowledging again, or a trigger while acknowledged, changes nothing but the count.
    assert api.client.post("/v2/enqueue", json=action(key, "acknowledge")).status_code == 202
    api.client.post("/v2/enqueue", json=trigger(key))
    incident = incident_by_key(api, "disk-full-web-01")
    assert (incident["status"], incident["alert_count"]) == ("acknowledged", 3)

    resolved = api.client.post("/v2/enqueue", json=action(key, "resolve"))
    assert resolved.status_code == 202
    incident = api.client.get(f"/v1/incidents/{incident['id']}", headers=api.admin_headers).json()
    assert incident["status"] == "resolved"
    [resolution] = [e for e in timeline(api, incident["id"]) if e["kind"] == "resolved"]
    assert (resolution["actor_id"], resolution["data"]["reason"]) == (None, "events alert resolved")

    # Nothing open with that key now: accepted, nothing done; a new trigger opens a new incident.
    for event_action in ("acknowledge", "resolve"):
        assert api.client.post("/v2/enqueue", json=action(key, event_action)).status_code == 202
    assert incidents(api)["total"] == 1
    api.client.post("/v2/enqueue", json=trigger(key))
    assert incidents(api)["total"] == 2


def test_a_trigger_without_a_dedup_key_gets_one_of_its_own(api: Api, integration: dict[str, Any]) -> None:
    body = trigger(integration["key"])
    del body["dedup_key"]
    keys = {api.client.post("/v2/enqueue", json=body).json()["dedup_key"] for _ in range(2)}
    assert len(keys) == 2 and all(re.fullmatch(r"[0-9a-f]{32}", key) for key in keys)
    assert incidents(api)["total"] == 2
    for key in keys:  # the key given back acts on its incident
        api.client.post("/v2/enqueue", json=action(integration["key"], "resolve", key))
        assert incident_by_key(api, key)["status"] == "resolved"


def test_a_long_summary_is_the_title_cut_short_and_the_description_in_full(
    api: Api, integration: dict[str, Any]
) -> None:
    summary = "word " * 204  # 1020 characters
    api.client.post("/v2/enqueue", json=trigger(integration["key"], summary=summary))
    incident = incident_by_key(api, "disk-full-web-01")
    assert summary.startswith(incident["title"]) and len(incident["title"]) <= 300
    assert incident["description"].startswith(summary.strip())


def test_the_routing_key_of_another_team_opens_that_teams_incident(api: Api, integration: dict[str, Any]) -> None:
    other = api.create_integration(api.create_team()["id"], name="other")
    api.client.post("/v2/enqueue", json=trigger(integration["key"]))
    api.client.post("/v2/enqueue", json=trigger(other["key"]))
    teams = {i["team_id"] for i in incidents(api)["items"]}
    assert teams == {integration["team_id"], other["team_id"]}  # one dedup key, one incident per integration


def without(body: dict[str, Any], *path: str) -> None:
    *parents, last = path
    for name in parents:
        body = body[name]
    del body[last]


def with_value(body: dict[str, Any], value: object, *path: str) -> None:
    *parents, last = path
    for name in parents:
        body = body[name]
    body[last] = value


# Each: how to spoil a good event, and the field the refusal names.
BAD_EVENTS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "unknown routing key": (lambda b: with_value(b, "not-a-key", "routing_key"), "Invalid routing key"),
    "no routing key": (lambda b: without(b, "routing_key"), "routing_key"),
    "wrong event_action": (lambda b: with_value(b, "page", "event_action"), "event_action"),
    "no summary": (lambda b: without(b, "payload", "summary"), "payload.summary"),
    "blank summary": (lambda b: with_value(b, "  ", "payload", "summary"), "payload.summary"),
    "no source": (lambda b: without(b, "payload", "source"), "payload.source"),
    "no severity": (lambda b: without(b, "payload", "severity"), "payload.severity"),
    "severity not one of the four": (lambda b: with_value(b, "high", "payload", "severity"), "payload.severity"),
    "summary over 1024 characters": (lambda b: with_value(b, "x" * 1025, "payload", "summary"), "payload.summary"),
    "no payload": (lambda b: without(b, "payload"), "payload"),
    "dedup_key over 255 characters": (lambda b: with_value(b, "k" * 256, "dedup_key"), "dedup_key"),
    "a link without href": (lambda b: with_value(b, [{"text": "x"}], "links"), "links[0].href"),
    "summary not a string": (lambda b: with_value(b, 5, "payload", "summary"), "payload.summary"),
}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("case", BAD_EVENTS, ids=list(BAD_EVENTS))
def test_an_invalid_event_is_refused_in_pagerdutys_shape_and_stores_nothing(
    api: Api, integration: dict[str, Any], path: str, case: str
) -> None:
    spoil, named = BAD_EVENTS[case]
    body = trigger(integration["key"])
    spoil(body)
    response = api.client.post(path, json=body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    answer = response.json()
    assert {k: answer[k] for k in REJECTED} == REJECTED
    assert any(named in error for error in answer["errors"]), answer
    assert incidents(api)["total"] == 0


@pytest.mark.parametrize("event_action", ["acknowledge", "resolve"])
def test_acknowledge_and_resolve_need_a_dedup_key(api: Api, integration: dict[str, Any], event_action: str) -> None:
    body = {"routing_key": integration["key"], "event_action": event_action}
    response = api.client.post("/v2/enqueue", json=body)
    assert response.status_code == 400
    assert response.json()["errors"] == [f"dedup_key: is required for event_action {event_action}"]


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        (b"{not json", {"content-type": "application/json"}, 400),
        (b"", {"content-type": "application/json"}, 400),
        (b"[1, 2]", {"content-type": "application/json"}, 400),
        (b"[" * 100 + b"]" * 100, {"content-type": "application/json"}, 400),
        (b"routing_key=x", {"content-type": "application/x-www-form-urlencoded"}, 415),
    ],
    ids=["not-json", "empty", "a-list", "too-deep", "a-form"],
)
def test_a_body_that_is_not_a_json_event_is_refused_in_pagerdutys_shape(
    api: Api, integration: dict[str, Any], content: bytes, headers: dict[str, str], status: int
) -> None:
    response = api.client.post("/v2/enqueue", content=content, headers=headers)
    assert response.status_code == status, response.text
    answer = response.json()
    assert {k: answer[k] for k in REJECTED} == REJECTED and answer["errors"]
    assert incidents(api)["total"] == 0


@pytest.mark.parametrize("path", PATHS)
def test_an_event_over_the_apps_body_limit_is_a_pagerduty_shaped_413(
    api: Api, integration: dict[str, Any], path: str
) -> None:
    body = trigger(integration["key"], custom_details={"blob": "x" * MAX_BODY_BYTES})
    response = api.client.post(path, json=body)
    assert response.status_code == 413
    assert {k: response.json()[k] for k in REJECTED} == REJECTED
    assert incidents(api)["total"] == 0


@pytest.fixture
def roomy_api(http_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    """An app whose own body limit is above PagerDuty's 512 KB event limit."""
    yield from make_api(http_backend, request, tmp_path, settings_overrides={"MAX_BODY_BYTES": str(2 * 1024 * 1024)})


def test_an_event_over_pagerdutys_512_kb_is_a_413_though_the_app_takes_more(roomy_api: Api) -> None:
    api = roomy_api
    key = api.create_integration(api.create_team()["id"])["key"]
    blob = "x" * (512 * 1024)
    response = api.client.post("/v2/enqueue", json=trigger(key, custom_details={"blob": blob}))
    assert response.status_code == 413
    assert response.json()["errors"] == ["The request body is larger than 524288 bytes, this endpoint's limit."]
    fits = api.client.post("/v2/enqueue", json=trigger(key, custom_details={"blob": blob[: 400 * 1024]}))
    assert fits.status_code == 202
    # Other endpoints keep the app's limit and their problem+json answers.
    elastic = {"rule": {"id": "r", "name": "n"}, "alert": {"id": "a", "actionGroup": "x"}, "blob": blob}
    response = api.client.post("/v1/alerts/elastic", json=elastic, headers={"X-Integration-Key": key})
    assert response.status_code == 202
    big = api.client.post("/v1/alerts/elastic", json={**elastic, "blob": "x" * (3 * 1024 * 1024)}, params={"key": key})
    assert big.status_code == 413 and big.headers["content-type"].startswith("application/problem+json")
