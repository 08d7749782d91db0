"""The incident report over HTTP: the API.md shape, the default week, bad windows as 400 naming the
field, an unknown team 404, and who may read which report (the matrix covers another team's)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from http_harness import *  # noqa: F403
from http_harness import Api

from incidentcore.model import Role

REPORT = "/v1/analytics/incidents"
FIGURES = {"count", "acknowledged", "resolved", "escalated", "mtta_seconds", "mttr_seconds"}
NO_DURATIONS = {"mean": None, "p50": None, "p90": None}


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def problem_fields(response: Any) -> list[str]:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return [e["field"] for e in response.json()["errors"]]


def test_a_teams_week_as_its_member_reads_it(api: Api) -> None:
    team, elsewhere = api.create_team(), api.create_team()
    _, member = api.create_user(Role.USER, team_id=team["id"])
    handled = api.create_incident(team_id=team["id"], severity="critical")
    for action in ("acknowledge", "resolve"):
        response = api.client.post(f"/v1/incidents/{handled['id']}/{action}", headers=api.admin_headers)
        assert response.status_code == 200, response.text
    api.create_incident(team_id=team["id"], severity="high")
    api.create_incident(team_id=elsewhere["id"])

    response = api.client.get(REPORT, params={"team_id": team["id"]}, headers=member)
    assert response.status_code == 200, response.text
    report = response.json()
    assert set(report) == FIGURES | {"since", "until", "team_id", "by_severity", "pages", "responders"}
    assert instant(report["until"]) - instant(report["since"]) == timedelta(days=7)
    assert report["team_id"] == team["id"]
    assert (report["count"], report["acknowledged"], report["resolved"], report["escalated"]) == (2, 1, 1, 0)
    mtta, mttr = report["mtta_seconds"], report["mttr_seconds"]
    assert mtta["mean"] == mtta["p50"] == mtta["p90"] >= 0
    assert mttr["mean"] == mttr["p50"] == mttr["p90"] >= mtta["mean"]
    by_severity = report["by_severity"]
    assert list(by_severity) == ["critical", "high", "medium", "low", "info"]
    assert all(set(figures) == FIGURES for figures in by_severity.values())
    assert [by_severity[s]["count"] for s in by_severity] == [1, 1, 0, 0, 0]
    assert by_severity["high"]["mtta_seconds"] == by_severity["info"]["mttr_seconds"] == NO_DURATIONS
    assert by_severity["critical"]["mtta_seconds"] == mtta
    assert report["pages"] == {"sent": 0, "failed": 0}
    assert report["responders"] == [{"user_id": api.admin_id, "pages": 0, "acknowledgements": 1}]

    everyone = api.client.get(REPORT, headers=api.admin_headers).json()
    assert (everyone["team_id"], everyone["count"]) == (None, 3)


def test_an_explicit_window_counts_only_the_incidents_created_in_it(api: Api) -> None:
    api.create_incident()
    window = {"since": "2026-01-01T00:00:00Z", "until": "2026-01-08T00:00:00+01:00"}
    report = api.client.get(REPORT, params=window, headers=api.admin_headers).json()
    assert (report["since"], report["until"]) == ("2026-01-01T00:00:00Z", "2026-01-07T23:00:00Z")
    assert (report["count"], report["mtta_seconds"], report["responders"]) == (0, NO_DURATIONS, [])
    yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    since_yesterday = api.client.get(REPORT, params={"since": yesterday}, headers=api.admin_headers).json()
    assert since_yesterday["count"] == 1  # until defaults to now


def test_bad_windows_are_400_naming_the_field(api: Api) -> None:
    admin = api.admin_headers
    for params, field in (
        ({"since": "2026-01-02T00:00:00Z", "until": "2026-01-02T00:00:00Z"}, "since"),
        ({"since": "2026-01-03T00:00:00Z", "until": "2026-01-02T00:00:00Z"}, "since"),
        ({"since": "2025-01-01T00:00:00Z", "until": "2026-01-02T00:00:00.000001Z"}, "since"),  # 366 days + 1 µs
        ({"since": "2026-01-01T00:00:00", "until": "2026-01-02T00:00:00Z"}, "since"),  # no offset
        ({"until": "2026-01-02T00:00:00"}, "until"),
    ):
        assert problem_fields(api.client.get(REPORT, params=params, headers=admin)) == [field], params
    longest = {"since": "2025-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z"}  # 366 days: allowed
    assert api.client.get(REPORT, params=longest, headers=admin).status_code == 200
    for params in ({"since": "yesterday"}, {"team_id": "0"}, {"team_id": "x"}):
        assert api.client.get(REPORT, params=params, headers=admin).status_code == 400, params
    unknown = api.client.get(REPORT, params={"team_id": 999_999}, headers=admin)
    assert unknown.status_code == 404, unknown.text


def test_every_teams_report_is_for_managers_and_above(api: Api) -> None:
    team = api.create_team()
    for role, status in ((Role.TEAM_LEAD, 403), (Role.MANAGER, 200), (Role.VP, 200)):
        _, headers = api.create_user(role, team_id=team["id"])
        assert api.client.get(REPORT, headers=headers).status_code == status, role
        assert api.client.get(REPORT, params={"team_id": team["id"]}, headers=headers).status_code == 200
    _, loner = api.create_user(Role.ONCALL_ENGINEER)
    assert api.client.get(REPORT, headers=loner).status_code == 403
    assert api.client.get(REPORT, params={"team_id": team["id"]}, headers=loner).status_code == 403
    assert api.client.get(REPORT).status_code == 401
