"""The Prometheus Alertmanager webhook (and Grafana's, same shape with more fields) at
/v1/alerts/alertmanager: one incident per alert fingerprint within the integration."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from http_harness import *  # noqa: F403
from http_harness import MAX_BODY_BYTES, Api

PATH = "/v1/alerts/alertmanager"
# Grafana alerting's webhook body exactly as its documentation shows it ("Webhook JSON payload" on
# grafana.com/docs/grafana/latest/alerting/configure-notifications/manage-contact-points/integrations/webhook-notifier/).
GRAFANA_EXAMPLE: dict[str, Any] = json.loads((Path(__file__).parent / "payloads" / "grafana_webhook.json").read_text())


def am_alert(
    fingerprint: str = "6e5d5f4d3c2b1a00",
    status: str = "firing",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "HighErrorRate", "severity": "critical", "service": "checkout", **(labels or {})},
        "annotations": {
            "summary": "Checkout 5xx above 5%",
            "description": "5xx rate is 12% on checkout",
            "runbook_url": "https://runbooks.example.com/checkout",
            **(annotations or {}),
        },
        "startsAt": "2026-11-27T06:00:00.000Z",
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-27T06:10:00.000Z",
        "generatorURL": "http://prometheus.example.com/graph?g0.expr=rate%28http_5xx%5B5m%5D%29",
        "fingerprint": fingerprint,
    }


def notification(*alerts: dict[str, Any], status: str | None = None) -> dict[str, Any]:
    """Alertmanager's webhook body, version 4."""
    return {
        "version": "4",
        "groupKey": '{}:{alertname="HighErrorRate"}',
        "truncatedAlerts": 0,
        "status": status or ("firing" if any(a["status"] == "firing" for a in alerts) else "resolved"),
        "receiver": "incidentcore",
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {"alertname": "HighErrorRate"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example.com:9093",
        "alerts": list(alerts),
    }


@pytest.fixture
def integration(api: Api) -> dict[str, Any]:
    return api.create_integration(api.create_team()["id"], name="alertmanager")


@pytest.fixture
def auth(integration: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {integration['key']}"}


def get_incident(api: Api, incident_id: int) -> dict[str, Any]:
    incident: dict[str, Any] = api.client.get(f"/v1/incidents/{incident_id}", headers=api.admin_headers).json()
    return incident


def all_incidents(api: Api) -> dict[str, Any]:
    listed: dict[str, Any] = api.client.get("/v1/incidents/", headers=api.admin_headers).json()
    return listed


def timeline(api: Api, incident_id: int, kind: str | None = None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.client.get(f"/v1/incidents/{incident_id}/timeline", headers=api.admin_headers).json()["items"]
    return [e for e in items if kind is None or e["kind"] == kind]


def test_firing_opens_repeat_updates_resolved_resolves(
    api: Api, integration: dict[str, Any], auth: dict[str, str]
) -> None:
    created = api.client.post(PATH, json=notification(am_alert()), headers=auth)
    assert created.status_code == 200, created.text
    [item] = created.json()["items"]
    assert (item["fingerprint"], item["action"]) == ("6e5d5f4d3c2b1a00", "created")
    incident = get_incident(api, item["incident_id"])
    assert (incident["title"], incident["description"], incident["severity"]) == (
        "Checkout 5xx above 5%",
        "5xx rate is 12% on checkout",
        "critical",
    )
    assert (incident["source"], incident["dedup_key"], incident["team_id"]) == (
        "alertmanager",
        "6e5d5f4d3c2b1a00",
        integration["team_id"],
    )
    assert incident["alert_count"] == 1
    [alert] = timeline(api, incident["id"], "alert")
    kept = alert["data"]["alert"]
    assert kept["alert"]["labels"]["service"] == "checkout"
    assert kept["alert"]["annotations"]["runbook_url"] == "https://runbooks.example.com/checkout"
    assert kept["alert"]["generatorURL"].startswith("http://prometheus.example.com/graph")
    assert kept["externalURL"] == "http://alertmanager.example.com:9093"
    assert kept["groupKey"] == '{}:{alertname="HighErrorRate"}'

    again = api.client.post(PATH, json=notification(am_alert()), headers=auth).json()["items"]
    assert again == [{"fingerprint": "6e5d5f4d3c2b1a00", "incident_id": incident["id"], "action": "updated"}]
    assert get_incident(api, incident["id"])["alert_count"] == 2

    resolved = api.client.post(PATH, json=notification(am_alert(status="resolved")), headers=auth).json()["items"]
    assert resolved == [{"fingerprint": "6e5d5f4d3c2b1a00", "incident_id": incident["id"], "action": "resolved"}]
    incident = get_incident(api, incident["id"])
    assert incident["status"] == "resolved"
    [resolution] = timeline(api, incident["id"], "resolved")
    assert (resolution["actor_id"], resolution["data"]["reason"]) == (None, "alertmanager alert resolved")
    assert resolution["data"]["alert"]["alert"]["endsAt"] == "2026-11-27T06:10:00.000Z"

    ignored = api.client.post(PATH, json=notification(am_alert(status="resolved")), headers=auth).json()["items"]
    assert ignored == [{"fingerprint": "6e5d5f4d3c2b1a00", "incident_id": None, "action": "ignored"}]
    assert all_incidents(api)["total"] == 1


def test_each_alert_of_a_group_is_an_incident_of_its_own(api: Api, auth: dict[str, str]) -> None:
    body = notification(
        am_alert("aaaa000000000001"),
        am_alert("aaaa000000000002", annotations={"summary": ""}, labels={"alertname": "DiskFull"}),
        am_alert("aaaa000000000003", status="resolved"),
    )
    items = api.client.post(PATH, json=body, headers=auth).json()["items"]
    assert [(i["fingerprint"], i["action"]) for i in items] == [
        ("aaaa000000000001", "created"),
        ("aaaa000000000002", "created"),
        ("aaaa000000000003", "ignored"),
    ]
    assert get_incident(api, items[1]["incident_id"])["title"] == "DiskFull"  # no summary: the alert's name
    # A later group that mixes firing and resolved alerts acts on each.
    later = notification(am_alert("aaaa000000000001", status="resolved"), am_alert("aaaa000000000002"))
    items = api.client.post(PATH, json=later, headers=auth).json()["items"]
    assert [i["action"] for i in items] == ["resolved", "updated"]


@pytest.mark.parametrize(
    ("label", "severity"),
    [
        ("critical", "critical"),
        ("error", "high"),
        ("high", "high"),
        ("warning", "medium"),
        ("Warning", "medium"),
        ("info", "info"),
        ("page", "high"),
        (None, "high"),
    ],
)
def test_severity_comes_from_the_severity_label(api: Api, auth: dict[str, str], label: str | None, severity: str) -> None:
    alert = am_alert(labels={"severity": label} if label else {})
    if label is None:
        del alert["labels"]["severity"]
    [item] = api.client.post(PATH, json=notification(alert), headers=auth).json()["items"]
    assert get_incident(api, item["incident_id"])["severity"] == severity


def test_the_key_may_come_as_header_query_or_bearer_and_nothing_else(api: Api, integration: dict[str, Any]) -> None:
    key = integration["key"]
    for fingerprint, headers, params in (
        ("f1", {"X-Integration-Key": key}, {}),
        ("f2", {}, {"key": key}),
        ("f3", {"Authorization": f"Bearer {key}"}, {}),
    ):
        response = api.client.post(PATH, json=notification(am_alert(fingerprint)), headers=headers, params=params)
        assert response.status_code == 200, (headers, params, response.text)
    for headers, params in (
        ({}, {}),
        ({"Authorization": "Bearer wrong"}, {}),
        ({"Authorization": f"Basic {key}"}, {}),
        (api.admin_headers, {}),  # a user's access token is not an integration key
        ({"X-Integration-Key": "wrong"}, {}),
    ):
        response = api.client.post(PATH, json=notification(am_alert("f9")), headers=headers, params=params)
        assert response.status_code == 401, (headers, params)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert all_incidents(api)["total"] == 3


def test_grafanas_documented_webhook_body_is_accepted(api: Api, auth: dict[str, str]) -> None:
    response = api.client.post(PATH, json=GRAFANA_EXAMPLE, headers=auth)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [(i["fingerprint"], i["action"]) for i in items] == [
        ("c6eadffa33fcdf37", "created"),
        ("bc97ff14869b13e3", "created"),
    ]
    memory = get_incident(api, items[0]["incident_id"])
    assert (memory["title"], memory["description"], memory["severity"]) == (
        "This alert was triggered for zone us-1",
        "The system has high memory usage",
        "high",  # no severity label
    )
    [alert] = timeline(api, memory["id"], "alert")
    kept = alert["data"]["alert"]
    assert kept["alert"]["values"] == {"B": 44.23943737541908, "C": 1}  # Grafana's own fields, kept
    assert kept["alert"]["silenceURL"].startswith("https://play.grafana.org/alerting/silence/new")
    assert (kept["externalURL"], kept["groupKey"]) == ("https://play.grafana.org/", "{}:{}")
    assert "message" not in kept  # the group's rendered text names every alert: not copied onto each

    resolved = copy.deepcopy(GRAFANA_EXAMPLE)
    resolved["status"] = "resolved"
    for alert in resolved["alerts"]:
        alert["status"] = "resolved"
    items = api.client.post(PATH, json=resolved, headers=auth).json()["items"]
    assert [i["action"] for i in items] == ["resolved", "resolved"]


def without_alert_field(name: str) -> Callable[[dict[str, Any]], None]:
    def spoil(body: dict[str, Any]) -> None:
        del body["alerts"][0][name]

    return spoil


def with_alert_field(name: str, value: object) -> Callable[[dict[str, Any]], None]:
    def spoil(body: dict[str, Any]) -> None:
        body["alerts"][0][name] = value

    return spoil


# Each: how to spoil a good body (its result unused), and the field the problem names.
BAD_BODIES: dict[str, tuple[Callable[[dict[str, Any]], object], str]] = {
    "no alerts": (lambda b: b.pop("alerts"), "alerts"),
    "alerts not a list": (lambda b: b.update(alerts={"a": 1}), "alerts"),
    "an alert without fingerprint": (without_alert_field("fingerprint"), "alerts[0].fingerprint"),
    "an empty fingerprint": (with_alert_field("fingerprint", ""), "alerts[0].fingerprint"),
    "an alert without status": (without_alert_field("status"), "alerts[0].status"),
    "a status neither firing nor resolved": (with_alert_field("status", "pending"), "alerts[0].status"),
    "labels that are not strings": (with_alert_field("labels", {"severity": 1}), "alerts[0].labels[...]"),
    "annotations not an object": (with_alert_field("annotations", ["x"]), "alerts[0].annotations"),
}


@pytest.mark.parametrize("case", BAD_BODIES, ids=list(BAD_BODIES))
def test_a_body_that_is_not_the_webhook_shape_is_a_problem_400_and_stores_nothing(
    api: Api, auth: dict[str, str], case: str
) -> None:
    spoil, field = BAD_BODIES[case]
    body = notification(am_alert(), am_alert("second"))
    spoil(body)
    response = api.client.post(PATH, json=body, headers=auth)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["field"] == field
    assert all_incidents(api)["total"] == 0  # the other alert of the call was not taken either


def test_non_json_and_oversized_bodies_are_problems(api: Api, auth: dict[str, str]) -> None:
    response = api.client.post(PATH, content=b"{nope", headers={**auth, "content-type": "application/json"})
    assert (response.status_code, response.json()["errors"][0]["field"]) == (400, "body")
    response = api.client.post(PATH, content=b"alerts=1", headers={**auth, "content-type": "text/plain"})
    assert response.status_code == 415
    big = notification(am_alert(annotations={"description": "x" * MAX_BODY_BYTES}))
    response = api.client.post(PATH, json=big, headers=auth)
    assert response.status_code == 413 and response.headers["content-type"].startswith("application/problem+json")
    assert all_incidents(api)["total"] == 0


def test_long_or_unprintable_annotations_are_cut_to_fit_rather_than_refused(api: Api, auth: dict[str, str]) -> None:
    alert = am_alert(annotations={"summary": "Disk\x1b[2J full " + "x" * 400, "description": "y" * 30_000})
    [item] = api.client.post(PATH, json=notification(alert), headers=auth).json()["items"]
    incident = get_incident(api, item["incident_id"])
    assert incident["title"].startswith("Disk [2J full") and len(incident["title"]) == 300
    assert len(incident["description"]) == 20_000
