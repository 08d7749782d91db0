"""Maintenance windows over HTTP: create, list, get, edit, end early, delete; refusals; and every
ingestion source (Kibana, Events API v2, Alertmanager, Grafana) answering `suppressed` under a window,
with the alert kept under it."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from http_harness import *  # noqa: F403
from http_harness import Api, created

from incidentcore.model import Role

PATH = "/v1/maintenance-windows/"
GRAFANA_EXAMPLE: dict[str, Any] = json.loads((Path(__file__).parent / "payloads" / "grafana_webhook.json").read_text())


def instant(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


def window_body(team_id: int | None = None, **fields: Any) -> dict[str, Any]:
    return {"description": "Postgres 16 upgrade", "start": instant(minutes=-1), "end": instant(hours=1), "team_id": team_id, **fields}


def create_window(api: Api, headers: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
    return created(api.client.post(PATH, json=window_body(**fields), headers=headers or api.admin_headers))


def suppressed_alerts(api: Api, window_id: int, **params: Any) -> dict[str, Any]:
    response = api.client.get(f"{PATH}{window_id}/suppressed-alerts", params=params, headers=api.admin_headers)
    assert response.status_code == 200, response.text
    listed: dict[str, Any] = response.json()
    return listed


def incident_count(api: Api) -> int:
    return int(api.client.get("/v1/incidents/", headers=api.admin_headers).json()["total"])


def elastic(alert_id: str = "svc-a") -> dict[str, Any]:
    return {
        "rule": {"id": "r-1", "name": "High error rate", "url": "https://kibana.example.com/r-1"},
        "alert": {"id": alert_id, "actionGroup": "threshold_met", "actionGroupName": "Threshold met"},
        "context": {"reason": "error rate 12% > 5%"},
        "date": "2026-11-27T06:00:00Z",
    }


def am_alert(fingerprint: str, status: str = "firing") -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "DiskFull", "severity": "warning"},
        "annotations": {"summary": "Disk full on db-01"},
        "fingerprint": fingerprint,
    }


def event(routing_key: str, dedup_key: str = "disk-full-web-01") -> dict[str, Any]:
    payload = {"summary": "Disk full on web-01", "source": "web-01", "severity": "critical"}
    return {"routing_key": routing_key, "event_action": "trigger", "dedup_key": dedup_key, "payload": payload}


def test_create_get_list_edit_and_delete(api: Api) -> None:
    team = api.create_team()
    integration = api.create_integration(team["id"])
    body = window_body(team["id"], integration_ids=[integration["id"], integration["id"]])
    response = api.client.post(PATH, json=body, headers=api.admin_headers)
    window = created(response)
    assert set(window) == {
        "id", "description", "start", "end", "team_id", "integration_ids", "created_by_id", "created_at", "active"
    }  # fmt: skip
    assert (window["team_id"], window["integration_ids"], window["created_by_id"], window["active"]) == (
        team["id"],
        [integration["id"]],
        api.admin_id,
        True,
    )
    for name in ("start", "end", "created_at"):  # RFC 3339 instants in UTC
        assert datetime.fromisoformat(window[name]).utcoffset() == timedelta(0), window[name]
    assert datetime.fromisoformat(window["end"]) == datetime.fromisoformat(body["end"])
    assert api.client.get(f"{PATH}{window['id']}", headers=api.admin_headers).json() == window

    later = create_window(api, start=instant(hours=2), end=instant(hours=3), team_id=team["id"])
    assert later["active"] is False
    listed = api.client.get(PATH, headers=api.admin_headers).json()
    assert ([w["id"] for w in listed["items"]], listed["total"], listed["limit"], listed["offset"]) == (
        [window["id"], later["id"]],
        2,
        50,
        0,
    )
    active = api.client.get(PATH, params={"active": "true"}, headers=api.admin_headers).json()
    assert [w["id"] for w in active["items"]] == [window["id"]]
    inactive = api.client.get(PATH, params={"active": "false", "team_id": team["id"]}, headers=api.admin_headers)
    assert [w["id"] for w in inactive.json()["items"]] == [later["id"]]
    other_team = api.client.get(PATH, params={"team_id": api.create_team()["id"]}, headers=api.admin_headers)
    assert other_team.json()["items"] == []

    edited = api.client.put(
        f"{PATH}{later['id']}", json={"description": "moved", "end": instant(hours=4), "integration_ids": []},
        headers=api.admin_headers,
    )  # fmt: skip
    assert edited.status_code == 200, edited.text
    assert (edited.json()["description"], edited.json()["integration_ids"]) == ("moved", [])
    assert api.client.delete(f"{PATH}{later['id']}", headers=api.admin_headers).status_code == 204
    assert api.client.get(f"{PATH}{later['id']}", headers=api.admin_headers).status_code == 404


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"end": instant(minutes=-30)}, "end"),  # before start
        ({"start": instant(hours=-2), "end": instant(minutes=-5)}, "end"),  # over already
        ({"start": "2026-12-15T22:00:00"}, "start"),  # no offset
        ({"team_id": None}, "integration_ids"),  # covers nothing
        ({"description": "   "}, "description"),
        ({"integration_ids": [999_999]}, "integration_ids"),
        ({"team_id": 999_999}, "team_id"),
    ],
)
def test_bad_windows_are_400_and_change_nothing(api: Api, fields: dict[str, Any], field: str) -> None:
    team = api.create_team()
    response = api.client.post(PATH, json={**window_body(team["id"]), **fields}, headers=api.admin_headers)
    assert response.status_code == 400, response.text
    assert field in [e["field"] for e in response.json()["errors"]], response.json()
    assert api.client.get(PATH, headers=api.admin_headers).json()["total"] == 0


def test_malformed_bodies_are_400(api: Api) -> None:
    team = api.create_team()
    for body in ({**window_body(team["id"]), "color": "red"}, {"description": "x"}, {**window_body(team["id"]), "start": "soon"}):
        assert api.client.post(PATH, json=body, headers=api.admin_headers).status_code == 400


def test_who_may_manage_and_unknown_windows(api: Api) -> None:
    team, other = api.create_team(), api.create_team()
    _, lead = api.create_user(Role.TEAM_LEAD, team_id=team["id"])
    _, engineer = api.create_user(Role.ONCALL_ENGINEER, team_id=team["id"])
    _, outsider = api.create_user(Role.TEAM_LEAD, team_id=other["id"])
    others_integration = api.create_integration(other["id"])
    mine = create_window(api, lead, team_id=team["id"])
    assert mine["created_by_id"] != api.admin_id
    for headers, fields in [
        (engineer, {"team_id": team["id"]}),
        (outsider, {"team_id": team["id"]}),
        (lead, {"team_id": team["id"], "integration_ids": [others_integration["id"]]}),
        (lead, {"team_id": None, "integration_ids": [others_integration["id"]]}),
    ]:
        assert api.client.post(PATH, json=window_body(**fields), headers=headers).status_code == 403
    assert api.client.put(f"{PATH}{mine['id']}", json={"description": "x"}, headers=outsider).status_code == 403
    assert api.client.delete(f"{PATH}{mine['id']}", headers=engineer).status_code == 403
    assert api.client.get(f"{PATH}{mine['id']}", headers=outsider).status_code == 200  # anyone reads
    for method in ("GET", "PUT", "DELETE"):
        kwargs: dict[str, Any] = {"json": {"description": "x"}} if method == "PUT" else {}
        assert api.client.request(method, f"{PATH}999999", headers=api.admin_headers, **kwargs).status_code == 404
    assert api.client.get(f"{PATH}999999/suppressed-alerts", headers=api.admin_headers).status_code == 404
    assert api.client.get(PATH).status_code == 401


def test_every_source_answers_suppressed_and_the_alerts_are_kept(api: Api) -> None:
    team = api.create_team()
    integration = api.create_integration(team["id"])
    key = integration["key"]
    window = create_window(api, team_id=team["id"])

    kibana = api.client.post("/v1/alerts/elastic", json=elastic(), headers={"X-Integration-Key": key})
    assert (kibana.status_code, kibana.json()) == (202, {"incident_id": None, "action": "suppressed"})
    events = api.client.post("/v2/enqueue", json=event(key))
    assert (events.status_code, events.json()) == (
        202,
        {"status": "success", "message": "Event processed", "dedup_key": "disk-full-web-01"},
    )  # PagerDuty's own answer to an event under maintenance
    group = {"version": "4", "status": "firing", "receiver": "incidentcore", "alerts": [am_alert("fp-1"), am_alert("fp-2")]}
    alertmanager = api.client.post("/v1/alerts/alertmanager", json=group, headers={"Authorization": f"Bearer {key}"})
    assert alertmanager.status_code == 200, alertmanager.text
    assert alertmanager.json()["items"] == [
        {"fingerprint": "fp-1", "incident_id": None, "action": "suppressed"},
        {"fingerprint": "fp-2", "incident_id": None, "action": "suppressed"},
    ]
    grafana = api.client.post("/v1/alerts/alertmanager", json=copy.deepcopy(GRAFANA_EXAMPLE), params={"key": key})
    assert grafana.status_code == 200, grafana.text
    assert {item["action"] for item in grafana.json()["items"]} == {"suppressed"}

    assert incident_count(api) == 0
    kept = suppressed_alerts(api, window["id"], limit=500)
    assert kept["total"] == 4 + len(GRAFANA_EXAMPLE["alerts"])
    first = kept["items"][0]
    assert set(first) == {
        "id", "window_id", "integration_id", "dedup_key", "source", "title", "severity", "received_at", "data"
    }  # fmt: skip
    assert (first["window_id"], first["integration_id"], first["dedup_key"], first["source"], first["title"]) == (
        window["id"],
        integration["id"],
        "r-1:svc-a",
        "elastic",
        "High error rate",
    )
    assert first["data"]["context"] == {"reason": "error rate 12% > 5%"}
    assert [a["source"] for a in kept["items"][:4]] == ["elastic", "events", "alertmanager", "alertmanager"]
    assert [a["severity"] for a in kept["items"][1:4]] == ["critical", "medium", "medium"]
    assert "routing_key" not in kept["items"][1]["data"]
    paged = suppressed_alerts(api, window["id"], limit=1, offset=1)
    assert (paged["items"], paged["total"]) == ([kept["items"][1]], kept["total"])

    # the window keeps its record: not deleted, ended instead
    assert api.client.delete(f"{PATH}{window['id']}", headers=api.admin_headers).status_code == 409
    ended = api.client.put(f"{PATH}{window['id']}", json={"end": instant(hours=-1)}, headers=api.admin_headers)
    assert ended.status_code == 200, ended.text
    assert ended.json()["active"] is False
    assert datetime.fromisoformat(ended.json()["end"]) > datetime.fromisoformat(window["start"])
    reopened = api.client.post("/v1/alerts/elastic", json=elastic(), headers={"X-Integration-Key": key})
    assert reopened.json()["action"] == "created"
    late_edit = api.client.put(f"{PATH}{window['id']}", json={"end": instant(hours=2)}, headers=api.admin_headers)
    assert late_edit.status_code == 409, late_edit.text
    described = api.client.put(f"{PATH}{window['id']}", json={"description": "done"}, headers=api.admin_headers)
    assert described.status_code == 200


def test_a_running_incident_is_not_the_windows_business(api: Api) -> None:
    team = api.create_team()
    key = api.create_integration(team["id"])["key"]
    opened = api.client.post("/v1/alerts/elastic", json=elastic(), params={"key": key}).json()
    assert opened["action"] == "created"
    create_window(api, team_id=team["id"])
    repeat = api.client.post("/v1/alerts/elastic", json=elastic(), params={"key": key}).json()
    assert repeat == {"incident_id": opened["incident_id"], "action": "updated"}
    recovered = {**elastic(), "alert": {"id": "svc-a", "actionGroup": "recovered"}}
    resolved = api.client.post("/v1/alerts/elastic", json=recovered, params={"key": key}).json()
    assert resolved == {"incident_id": opened["incident_id"], "action": "resolved"}
    manual = api.create_incident(team_id=team["id"])  # people's incidents are never suppressed
    assert manual["status"] == "triggered"
