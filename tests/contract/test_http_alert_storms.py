"""Alerts arriving together, on every backend: identical alerts sent in parallel open exactly one
incident and are all counted; deliveries that share alerts in any order neither deadlock nor
duplicate; a storm of repeats leaves a bounded timeline."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from http_harness import *  # noqa: F403
from http_harness import Api, make_api

from entrypoints.settings import ConfigurationError, Settings

PARALLEL = 20
# (method, path, httpx arguments): one request, as `Api.send_all` takes it after the client address.
Call = tuple[str, str, dict[str, Any]]


def elastic_call(key: str) -> Call:
    body = {"rule": {"id": "r-1", "name": "High error rate"}, "alert": {"id": "svc-a", "actionGroup": "threshold_met"}}
    return ("POST", "/v1/alerts/elastic", {"json": body, "headers": {"X-Integration-Key": key}})


def events_call(key: str) -> Call:
    payload = {"summary": "Disk full", "source": "web-01", "severity": "error"}
    body = {"routing_key": key, "event_action": "trigger", "dedup_key": "disk", "payload": payload}
    return ("POST", "/v2/enqueue", {"json": body})


def alertmanager_body(*fingerprints: str) -> dict[str, Any]:
    alerts = [{"status": "firing", "labels": {"alertname": f"A{f}"}, "fingerprint": f} for f in fingerprints]
    return {"version": "4", "status": "firing", "alerts": alerts}


def alertmanager_call(key: str, *fingerprints: str) -> Call:
    body = alertmanager_body(*(fingerprints or ("f1",)))
    return ("POST", "/v1/alerts/alertmanager", {"json": body, "headers": {"Authorization": f"Bearer {key}"}})


def incidents(api: Api) -> dict[str, Any]:
    listed: dict[str, Any] = api.client.get("/v1/incidents/", headers=api.admin_headers).json()
    return listed


@pytest.mark.parametrize("call", [elastic_call, events_call, alertmanager_call], ids=["elastic", "events", "alertmanager"])
def test_parallel_identical_alerts_open_exactly_one_incident_and_count_every_one(
    api: Api, call: Callable[[str], Call]
) -> None:
    key = api.create_integration(api.create_team()["id"])["key"]
    responses = api.send_all([(f"10.0.0.{n}", *call(key)) for n in range(PARALLEL)])
    assert all(r.status_code in (200, 202) for r in responses), [r.text for r in responses]
    listed = incidents(api)
    assert listed["total"] == 1
    assert listed["items"][0]["alert_count"] == PARALLEL
    actions = [r.json()["items"][0]["action"] if "items" in r.json() else r.json().get("action") for r in responses]
    if call is not events_call:  # the Events API answers as PagerDuty does, without our action
        assert sorted(actions) == ["created"] + ["updated"] * (PARALLEL - 1)


def test_parallel_deliveries_sharing_alerts_in_any_order_neither_deadlock_nor_duplicate(api: Api) -> None:
    key = api.create_integration(api.create_team()["id"])["key"]
    orders = [("f1", "f2", "f3"), ("f3", "f2", "f1"), ("f2", "f3", "f1")]
    calls = [(f"10.0.1.{n}", *alertmanager_call(key, *orders[n % 3])) for n in range(12)]
    responses = api.send_all(calls)
    assert [r.status_code for r in responses] == [200] * 12, [r.text for r in responses]
    listed = incidents(api)
    assert sorted(i["dedup_key"] for i in listed["items"]) == ["f1", "f2", "f3"]
    assert {i["alert_count"] for i in listed["items"]} == {12}


@pytest.fixture
def storm_api(http_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    yield from make_api(http_backend, request, tmp_path, settings_overrides={"ALERT_TIMELINE_MAX": "5"})


def test_a_storm_of_repeats_is_counted_while_the_timeline_keeps_alert_timeline_max(storm_api: Api) -> None:
    api = storm_api
    key = api.create_integration(api.create_team()["id"])["key"]
    for _ in range(30):
        method, path, arguments = events_call(key)
        assert api.client.request(method, path, **arguments).status_code == 202
    [incident] = incidents(api)["items"]
    assert incident["alert_count"] == 30
    timeline = api.client.get(f"/v1/incidents/{incident['id']}/timeline", headers=api.admin_headers).json()
    assert [e["kind"] for e in timeline["items"]].count("alert") == 5


def test_alert_timeline_max_is_a_bounded_setting() -> None:
    assert Settings.from_mapping({}).alert_timeline_max == 100
    assert Settings.from_mapping({"ALERT_TIMELINE_MAX": "20"}).alert_timeline_max == 20
    for bad in ("0", "many"):
        with pytest.raises(ConfigurationError, match="ALERT_TIMELINE_MAX"):
            Settings.from_mapping({"ALERT_TIMELINE_MAX": bad})
