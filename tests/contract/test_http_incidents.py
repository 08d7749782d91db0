"""Incidents over HTTP: create, read, edit, the actions, comments and the lists beside them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from http_harness import *  # noqa: F403
from http_harness import PASSWORD, Api, make_api

INCIDENT_FIELDS = {
    "id", "title", "description", "status", "severity", "team_id", "assignee_id", "created_by_id", "source",
    "dedup_key", "alert_count", "escalation_policy_id", "escalation_level", "next_escalation_at", "snoozed_until",
    "created_at", "updated_at", "acknowledged_at", "resolved_at",
}


def is_utc(timestamp: str) -> bool:
    offset = datetime.fromisoformat(timestamp).utcoffset()
    return timestamp.endswith(("Z", "+00:00")) and offset is not None and offset.total_seconds() == 0


def test_open_an_incident_without_a_policy(api: Api) -> None:
    incident = api.create_incident(description="500s everywhere")
    assert set(incident) >= INCIDENT_FIELDS
    assert incident["status"] == "triggered"
    assert incident["severity"] == "high"
    assert incident["created_by_id"] == api.admin_id
    assert incident["alert_count"] == 0  # opened by a person, not by an alert
    assert incident["escalation_policy_id"] is None and incident["next_escalation_at"] is None
    assert is_utc(incident["created_at"])


def test_open_an_incident_starts_its_policy(api: Api) -> None:
    team = api.create_team()
    step = {"delay_minutes": 5, "targets": [{"type": "user", "id": api.admin_id}]}
    policy = api.create_policy(team_id=team["id"], steps=[step, step])
    incident = api.create_incident(team_id=team["id"], severity="critical")
    assert incident["escalation_policy_id"] == policy["id"]
    assert incident["escalation_level"] == 0
    assert is_utc(incident["next_escalation_at"])

    events = api.client.get(f"/v1/incidents/{incident['id']}/escalation-events", headers=api.admin_headers).json()
    assert events["total"] == 1
    [fired] = events["items"]
    assert set(fired) >= {
        "id", "incident_id", "policy_id", "step_index", "loop", "kind", "scheduled_at", "created_at", "notified_user_ids",
        "cancelled_user_ids", "cancel_reason",
    }
    assert (fired["kind"], fired["step_index"], fired["notified_user_ids"]) == ("fired", 0, [api.admin_id])
    assert (fired["cancelled_user_ids"], fired["cancel_reason"]) == ([], None)

    notifications = api.client.get(f"/v1/incidents/{incident['id']}/notifications", headers=api.admin_headers).json()
    [page] = notifications["items"]
    assert set(page) == {
        "id", "user_id", "channel", "status", "attempts", "last_error", "created_at", "sent_at", "cancel_reason",
    }
    assert (page["user_id"], page["channel"], page["status"], page["cancel_reason"]) == (
        api.admin_id, "email", "pending", None,
    )


def test_a_page_withdrawn_before_it_went_out_is_cancelled_not_failed(api: Api) -> None:
    api.create_policy()
    incident = api.create_incident()  # step 0 queues a page; no worker runs in these tests
    path = f"/v1/incidents/{incident['id']}"
    assert api.client.post(f"{path}/resolve", headers=api.admin_headers).status_code == 200

    [page] = api.client.get(f"{path}/notifications", headers=api.admin_headers).json()["items"]
    assert (page["status"], page["cancel_reason"], page["last_error"], page["attempts"], page["sent_at"]) == (
        "cancelled", "incident resolved", None, 0, None,
    )
    events = api.client.get(f"{path}/escalation-events", headers=api.admin_headers).json()["items"]
    assert [(e["kind"], e["notified_user_ids"], e["cancelled_user_ids"], e["cancel_reason"]) for e in events] == [
        ("fired", [api.admin_id], [], None),  # the page was queued ...
        ("stopped", [], [api.admin_id], "incident resolved"),  # ... and withdrawn by the resolve
    ]
    timeline = api.client.get(f"{path}/timeline", headers=api.admin_headers).json()["items"]
    assert [e["kind"] for e in timeline] == ["created", "escalated", "resolved", "notification_cancelled"]
    assert timeline[-1]["data"] == {
        "notification_id": page["id"], "user_id": api.admin_id, "channel": "email", "attempts": 0,
        "reason": "incident resolved",
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": ""}, "title"),
        ({}, "title"),
        ({"title": "x", "severity": "apocalyptic"}, "severity"),
        ({"title": "x", "team_id": 4242}, "team_id"),
        ({"title": "x", "assignee_id": 4242}, "assignee_id"),
        ({"title": "x", "status": "resolved"}, "status"),
        ({"title": "x" * 301}, "title"),
    ],
)
def test_open_rejects_bad_input(api: Api, body: dict[str, object], field: str) -> None:
    response = api.client.post("/v1/incidents/", json=body, headers=api.admin_headers)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field


def test_get_and_list_with_filters(api: Api) -> None:
    team = api.create_team()
    user, _ = api.create_user()
    first = api.create_incident(team_id=team["id"], severity="low")
    second = api.create_incident(assignee_id=user["id"])
    api.client.post(f"/v1/incidents/{second['id']}/acknowledge", headers=api.admin_headers)

    assert api.client.get(f"/v1/incidents/{first['id']}", headers=api.admin_headers).json() == first

    def ids(**params: str | int) -> list[int]:
        page = api.client.get("/v1/incidents/", params=params, headers=api.admin_headers).json()
        return [i["id"] for i in page["items"]]

    assert ids() == [second["id"], first["id"]]  # newest first
    assert ids(team_id=team["id"]) == [first["id"]]
    assert ids(severity="low") == [first["id"]]
    assert ids(status="acknowledged") == [second["id"]]
    assert ids(assignee_id=user["id"]) == [second["id"]]
    assert api.client.get("/v1/incidents/", params={"status": "open"}, headers=api.admin_headers).status_code == 400
    assert api.client.get("/v1/incidents/4242", headers=api.admin_headers).status_code == 404


def test_update_changes_only_what_is_sent(api: Api) -> None:
    team = api.create_team()
    incident = api.create_incident(description="d")
    response = api.client.put(
        f"/v1/incidents/{incident['id']}", json={"severity": "low", "team_id": team["id"]}, headers=api.admin_headers
    )
    assert response.status_code == 200
    updated = response.json()
    assert (updated["severity"], updated["team_id"], updated["title"], updated["description"]) == (
        "low", team["id"], incident["title"], "d",
    )
    cleared = api.client.put(f"/v1/incidents/{incident['id']}", json={"description": None}, headers=api.admin_headers)
    assert cleared.json()["description"] is None
    for body, field in (({"severity": None}, "severity"), ({"status": "resolved"}, "status"), ({"title": ""}, "title")):
        response = api.client.put(f"/v1/incidents/{incident['id']}", json=body, headers=api.admin_headers)
        assert response.status_code == 400, body
        assert response.json()["errors"][0]["field"] == field
    assert api.client.put("/v1/incidents/4242", json={"title": "x"}, headers=api.admin_headers).status_code == 404


def test_acknowledge_then_resolve_and_the_409s(api: Api) -> None:
    incident = api.create_incident()
    path = f"/v1/incidents/{incident['id']}"
    acknowledged = api.client.post(f"{path}/acknowledge", headers=api.admin_headers)
    assert acknowledged.status_code == 200
    assert acknowledged.json()["status"] == "acknowledged"
    assert is_utc(acknowledged.json()["acknowledged_at"])
    assert api.client.post(f"{path}/acknowledge", headers=api.admin_headers).status_code == 409

    resolved = api.client.post(f"{path}/resolve", headers=api.admin_headers)
    assert resolved.status_code == 200
    assert resolved.json()["status"] == "resolved" and resolved.json()["resolved_at"]
    for action in ("acknowledge", "resolve", "escalate"):
        response = api.client.post(f"{path}/{action}", headers=api.admin_headers)
        assert response.status_code == 409, action
        assert response.headers["content-type"].startswith("application/problem+json")
    assert api.client.post(f"{path}/snooze", json={"minutes": 5}, headers=api.admin_headers).status_code == 409
    assert api.client.post(f"{path}/assign", json={"user_id": api.admin_id}, headers=api.admin_headers).status_code == 409


def test_snooze_holds_the_incident(api: Api) -> None:
    api.create_policy()
    incident = api.create_incident()
    path = f"/v1/incidents/{incident['id']}"
    refused = api.client.post(f"{path}/snooze", json={"minutes": 30}, headers=api.admin_headers)
    assert refused.status_code == 409  # like PagerDuty: only an acknowledged incident can be snoozed
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "acknowledge it first" in refused.json()["detail"]
    assert api.client.get(path, headers=api.admin_headers).json() == incident
    timeline = api.client.get(f"{path}/timeline", headers=api.admin_headers).json()["items"]
    assert [e["kind"] for e in timeline] == ["created", "escalated"]

    assert api.client.post(f"{path}/acknowledge", headers=api.admin_headers).status_code == 200
    response = api.client.post(f"{path}/snooze", json={"minutes": 30}, headers=api.admin_headers)
    assert response.status_code == 200
    snoozed = response.json()
    assert snoozed["status"] == "acknowledged"
    assert is_utc(snoozed["snoozed_until"])
    for body in ({"minutes": 0}, {"minutes": "5"}, {}, {"minutes": 7 * 24 * 60 + 1}):
        response = api.client.post(f"/v1/incidents/{incident['id']}/snooze", json=body, headers=api.admin_headers)
        assert response.status_code == 400, body
        assert response.json()["errors"][0]["field"] == "minutes"


def test_assign_sets_the_assignee(api: Api) -> None:
    user, _ = api.create_user("oncall_engineer")
    incident = api.create_incident()
    path = f"/v1/incidents/{incident['id']}/assign"
    response = api.client.post(path, json={"user_id": user["id"], "role": "commander"}, headers=api.admin_headers)
    assert response.status_code == 200
    assert response.json()["assignee_id"] == user["id"]
    response = api.client.post(path, json={"user_id": 4242}, headers=api.admin_headers)
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "user_id"


def test_escalate_fires_the_next_step_and_retriggers_an_acknowledged_incident(api: Api) -> None:
    api.create_policy(
        steps=[
            {"delay_minutes": 5, "targets": [{"type": "user", "id": api.admin_id}]},
            {"delay_minutes": 5, "targets": [{"type": "role", "role": "admin"}]},
        ]
    )
    incident = api.create_incident()
    path = f"/v1/incidents/{incident['id']}"
    escalated = api.client.post(f"{path}/escalate", headers=api.admin_headers).json()
    assert escalated["escalation_level"] == 1

    api.client.post(f"{path}/acknowledge", headers=api.admin_headers)
    retriggered = api.client.post(f"{path}/escalate", headers=api.admin_headers)
    assert retriggered.status_code == 200
    assert retriggered.json()["status"] == "triggered"

    kinds = [e["kind"] for e in api.client.get(f"{path}/escalation-events", headers=api.admin_headers).json()["items"]]
    assert kinds[:2] == ["fired", "manual"]
    assert "acknowledged" in kinds and "retriggered" in kinds


def test_comments_and_the_timeline(api: Api) -> None:
    incident = api.create_incident()
    path = f"/v1/incidents/{incident['id']}"
    response = api.client.post(f"{path}/comments", json={"body": "Rolling back"}, headers=api.admin_headers)
    assert response.status_code == 201
    comment = response.json()
    assert set(comment) == {"id", "incident_id", "author_id", "body", "created_at"}
    assert (comment["incident_id"], comment["author_id"], comment["body"]) == (incident["id"], api.admin_id, "Rolling back")
    assert api.client.post(f"{path}/comments", json={"body": ""}, headers=api.admin_headers).status_code == 400
    assert api.client.post("/v1/incidents/4242/comments", json={"body": "x"}, headers=api.admin_headers).status_code == 404

    api.client.post(f"{path}/acknowledge", headers=api.admin_headers)
    timeline = api.client.get(f"{path}/timeline", headers=api.admin_headers).json()
    kinds = [event["kind"] for event in timeline["items"]]
    assert kinds == ["created", "commented", "acknowledged"]  # oldest first
    first = timeline["items"][0]
    assert set(first) == {"id", "incident_id", "kind", "actor_id", "data", "created_at"}
    assert first["actor_id"] == api.admin_id and isinstance(first["data"], dict)


def test_comments_are_listed_in_full_oldest_first(api: Api) -> None:
    incident = api.create_incident()
    path = f"/v1/incidents/{incident['id']}/comments"
    long_body = "A long post-mortem note. " * 40  # well past what the timeline keeps of a comment
    posted = [
        api.client.post(path, json={"body": text}, headers=api.admin_headers).json()
        for text in ("first", long_body, "third")
    ]
    _, reader_headers = api.create_user()  # any authenticated user may read them
    listed = api.client.get(path, headers=reader_headers)
    assert listed.status_code == 200
    assert listed.json() == {"items": posted, "total": 3, "limit": 50, "offset": 0}
    assert listed.json()["items"][1]["body"] == long_body
    second = api.client.get(path, params={"limit": 1, "offset": 1}, headers=reader_headers).json()
    assert second == {"items": posted[1:2], "total": 3, "limit": 1, "offset": 1}
    assert api.client.get(path).status_code == 401


@pytest.mark.parametrize("listing", ["comments", "timeline", "escalation-events", "notifications"])
def test_lists_of_an_unknown_incident_are_404(api: Api, listing: str) -> None:
    assert api.client.get(f"/v1/incidents/4242/{listing}", headers=api.admin_headers).status_code == 404


def test_owner_actions_on_a_team_incident(api: Api) -> None:
    """INCIDENT_OWNERS: a team's members, assignee, creator and managers may; others may not."""
    team = api.create_team()
    other_team = api.create_team()
    member, member_headers = api.create_user("oncall_engineer", team_id=team["id"])
    _, outsider_headers = api.create_user("team_lead", team_id=other_team["id"])
    _, manager_headers = api.create_user("manager", team_id=other_team["id"])
    responder, responder_headers = api.create_user("oncall_engineer", team_id=other_team["id"])
    api.create_policy(
        team_id=team["id"],
        repeat=1,
        steps=[{"delay_minutes": 5, "targets": [{"type": "user", "id": responder["id"]}]}],
    )
    incident = api.create_incident(team_id=team["id"])
    path = f"/v1/incidents/{incident['id']}"

    assert api.client.put(path, json={"title": "t"}, headers=outsider_headers).status_code == 403
    assert api.client.post(f"{path}/resolve", headers=outsider_headers).status_code == 403
    # A stranger cannot stop another team's escalation; anyone may comment.
    assert api.client.post(f"{path}/comments", json={"body": "seen"}, headers=outsider_headers).status_code == 201
    refused = api.client.post(f"{path}/acknowledge", headers=outsider_headers)
    assert refused.status_code == 403
    assert api.client.get(path, headers=outsider_headers).json()["next_escalation_at"] is not None
    # Whoever was paged may acknowledge, whatever their team.
    assert api.client.post(f"{path}/acknowledge", headers=responder_headers).status_code == 200
    assert api.client.put(path, json={"title": "t"}, headers=member_headers).status_code == 200
    assert api.client.post(f"{path}/assign", json={"user_id": member["id"]}, headers=manager_headers).status_code == 200
    assert api.client.post(f"{path}/resolve", headers=member_headers).status_code == 200


def test_a_self_registered_stranger_cannot_acknowledge_a_team_incident(api: Api) -> None:
    team = api.create_team()
    api.create_policy(team_id=team["id"], repeat=1)  # pages the admin
    incident = api.create_incident(team_id=team["id"], severity="critical")
    assert incident["next_escalation_at"] is not None
    email = api.new_email("stranger")
    signup = {"email": email, "password": PASSWORD, "full_name": "Stranger"}
    assert api.client.post("/v1/auth/signup", json=signup).status_code == 201
    stranger = api.login(email)
    path = f"/v1/incidents/{incident['id']}"
    response = api.client.post(f"{path}/acknowledge", headers=stranger)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    after = api.client.get(path, headers=stranger).json()
    assert (after["status"], after["next_escalation_at"]) == ("triggered", incident["next_escalation_at"])


def test_an_incident_moves_only_where_the_mover_may_act(api: Api) -> None:
    team = api.create_team()
    other_team = api.create_team()
    third_team = api.create_team()
    assignee, assignee_headers = api.create_user("team_lead", team_id=other_team["id"])
    _, manager_headers = api.create_user("manager", team_id=other_team["id"])
    incident = api.create_incident(team_id=team["id"], assignee_id=assignee["id"])
    path = f"/v1/incidents/{incident['id']}"
    for where in (None, third_team["id"]):
        response = api.client.put(path, json={"team_id": where}, headers=assignee_headers)
        assert response.status_code == 403, response.text
        assert "move" in response.json()["detail"]
    assert api.client.get(path, headers=assignee_headers).json()["team_id"] == team["id"]
    assert api.client.post(f"{path}/resolve", headers=api.create_user()[1]).status_code == 403
    moved = api.client.put(path, json={"team_id": other_team["id"]}, headers=assignee_headers)
    assert moved.status_code == 200 and moved.json()["team_id"] == other_team["id"]
    assert api.client.put(path, json={"team_id": None}, headers=manager_headers).json()["team_id"] is None


@pytest.fixture
def limited_api(http_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    overrides = {"MANUAL_ESCALATIONS_PER_INCIDENT": "6", "MANUAL_PAGES_PER_USER": "8"}
    yield from make_api(http_backend, request, tmp_path, settings_overrides=overrides)


def test_repeated_manual_escalation_is_refused_with_retry_after(limited_api: Api) -> None:
    api = limited_api
    team = api.create_team()
    lead, lead_headers = api.create_user("team_lead", team_id=team["id"])
    api.create_policy(
        team_id=team["id"], repeat=1, steps=[{"delay_minutes": 5, "targets": [{"type": "user", "id": lead["id"]}]}]
    )
    incident = api.create_incident(lead_headers, team_id=team["id"])
    path = f"/v1/incidents/{incident['id']}"
    statuses = [api.client.post(f"{path}/escalate", headers=lead_headers).status_code for _ in range(6)]
    assert statuses == [200] * 6
    pages = api.client.get(f"{path}/notifications", headers=lead_headers).json()["total"]
    for headers in (lead_headers, api.admin_headers):  # the incident's limit holds for everyone
        refused = api.client.post(f"{path}/escalate", headers=headers)
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 600
        assert refused.json()["type"].endswith("rate-limited")
    assert api.client.get(f"{path}/notifications", headers=lead_headers).json()["total"] == pages
    # opening incidents counts toward the same person's limit: 1 + 6 made, one more allowed
    assert api.client.post("/v1/incidents/", json={"title": "b"}, headers=lead_headers).status_code == 201
    refused = api.client.post("/v1/incidents/", json={"title": "c"}, headers=lead_headers)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert api.client.get("/v1/incidents/", headers=lead_headers).json()["total"] == 2
