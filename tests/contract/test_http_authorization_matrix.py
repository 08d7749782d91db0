"""Every protected endpoint x every role (and anonymous): the status the domain's permission table implies.

Expected outcomes come from `incidentcore.permissions.can`, not from a table written here, so a guard
that goes missing (or a permission that changes without its guard) fails this suite.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from http_harness import *  # noqa: F403
from http_harness import API_ENDPOINTS, PASSWORD, PUBLIC_ENDPOINTS, Api, backends, make_api

from incidentcore.heartbeats import Heartbeat
from incidentcore.model import (
    Channel,
    Incident,
    Notification,
    NotificationStatus,
    Role,
    Team,
    TimelineEvent,
    TimelineKind,
    User,
)
from incidentcore.permissions import Action, TeamScope, can
from incidentcore.ports import UnitOfWork
from incidentcore.schedules import Schedule

Request = tuple[str, dict[str, Any]]
Prepare = Callable[[Api, "World"], Request]


class World:
    """What the requests need: the actor's team, another team owning the incidents, a target user."""

    def __init__(self, api: Api) -> None:
        self.actor_team = api.create_team()
        self.incident_team = api.create_team()
        self.target_user, _ = api.create_user()
        policy = api.create_policy(team_id=self.incident_team["id"], steps=STEPS * 2)  # escalate has a next step
        self.policy_id: int = policy["id"]
        self.callers: dict[str, dict[str, str]] = {"anonymous": {}}
        for role in Role:
            self.callers[role.value] = api.create_user(role, team_id=self.actor_team["id"])[1]
        self.caller: dict[str, str] = {}  # the headers of the caller a request is being prepared for
        self.schedule_id: int = fresh_schedule(api, self)  # of the callers' team: its team leads manage it

    def incident(self, api: Api) -> int:
        return int(api.create_incident(team_id=self.incident_team["id"])["id"])

    def acknowledged_incident(self, api: Api) -> int:
        """Snooze needs one: only an acknowledged incident can be snoozed."""
        incident_id = self.incident(api)
        response = api.client.post(f"/v1/incidents/{incident_id}/acknowledge", headers=api.admin_headers)
        assert response.status_code == 200, response.text
        return incident_id


def fresh_team(api: Api, _: World) -> int:
    return int(api.create_team()["id"])


def fresh_user(api: Api, _: World) -> int:
    return int(api.create_user()[0]["id"])


def fresh_policy(api: Api, _: World) -> int:
    return int(api.create_policy()["id"])


def fresh_integration(api: Api, world: World) -> int:
    return int(api.create_integration(world.incident_team["id"])["id"])


def schedule_body(world: World) -> dict[str, Any]:
    rotation = {"name": "r", "start": "2026-12-07T09:00", "turn_length": {"unit": "weeks", "count": 1}}
    layers = [{**rotation, "participants": [world.target_user["id"]]}]
    return {"name": "ops", "time_zone": "UTC", "team_id": world.actor_team["id"], "layers": layers}


def fresh_schedule(api: Any, world: World) -> int:
    response = api.client.post("/v1/schedules/", json=schedule_body(world), headers=api.admin_headers)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


TONIGHT = {"start": "2026-12-15T19:00:00Z", "end": "2026-12-16T07:00:00Z"}


def fresh_override(api: Any, world: World) -> str:
    path = f"/v1/schedules/{world.schedule_id}/overrides"
    response = api.client.post(path, json={"user_id": world.target_user["id"], **TONIGHT}, headers=api.admin_headers)
    assert response.status_code == 201, response.text
    return f"{path}/{response.json()['id']}"


def callers_feed(api: Any, world: World) -> int:
    """A feed of the caller's own (an admin's for an anonymous caller): one may revoke only one's own."""
    headers = world.caller or api.admin_headers
    response = api.client.post("/v1/calendar-feeds", json={"schedule_id": None}, headers=headers)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def window_body(world: World) -> dict[str, Any]:
    """A window of the callers' team, from now for an hour: its team leads manage it."""
    start = datetime.now(UTC)
    return {
        "description": "upgrade",
        "start": start.isoformat(),
        "end": (start + timedelta(hours=1)).isoformat(),
        "team_id": world.actor_team["id"],
    }


def fresh_window(api: Any, world: World) -> int:
    response = api.client.post("/v1/maintenance-windows/", json=window_body(world), headers=api.admin_headers)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def heartbeat_body(world: World) -> dict[str, Any]:
    return {"name": "nightly backup", "team_id": world.actor_team["id"], "interval_minutes": 60}


def fresh_heartbeat(api: Any, world: World) -> int:
    """Of the callers' team: its team leads and above manage it."""
    response = api.client.post("/v1/heartbeats/", json=heartbeat_body(world), headers=api.admin_headers)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def body(payload: dict[str, Any]) -> dict[str, Any]:
    return {"json": payload}


STEPS = [{"delay_minutes": 5, "targets": [{"type": "role", "role": "cto"}]}]

# (method, path as API.md writes it) -> (action, how to make one valid request for it)
MATRIX: dict[tuple[str, str], tuple[Action, Prepare]] = {
    ("POST", "/v1/auth/login/test-token"): (Action.SELF_MANAGE, lambda a, w: ("/v1/auth/login/test-token", {})),
    ("GET", "/v1/teams/"): (Action.TEAM_MANAGE, lambda a, w: ("/v1/teams/", {})),
    ("POST", "/v1/teams/"): (Action.TEAM_MANAGE, lambda a, w: ("/v1/teams/", body({"name": a.new_email("team")}))),
    ("GET", "/v1/teams/{team_id}"): (Action.TEAM_MANAGE, lambda a, w: (f"/v1/teams/{w.actor_team['id']}", {})),
    ("PUT", "/v1/teams/{team_id}"): (
        Action.TEAM_MANAGE,
        lambda a, w: (f"/v1/teams/{fresh_team(a, w)}", body({"description": "d"})),
    ),
    ("DELETE", "/v1/teams/{team_id}"): (Action.TEAM_MANAGE, lambda a, w: (f"/v1/teams/{fresh_team(a, w)}", {})),
    ("GET", "/v1/users/me"): (Action.SELF_MANAGE, lambda a, w: ("/v1/users/me", {})),
    ("PUT", "/v1/users/me"): (Action.SELF_MANAGE, lambda a, w: ("/v1/users/me", body({"full_name": "Me"}))),
    ("GET", "/v1/users/"): (Action.USER_MANAGE, lambda a, w: ("/v1/users/", {})),
    ("POST", "/v1/users/"): (
        Action.USER_MANAGE,
        lambda a, w: ("/v1/users/", body({"email": a.new_email(), "password": PASSWORD, "full_name": "N"})),
    ),
    ("GET", "/v1/users/{user_id}"): (Action.USER_MANAGE, lambda a, w: (f"/v1/users/{w.target_user['id']}", {})),
    ("PUT", "/v1/users/{user_id}"): (
        Action.USER_MANAGE,
        lambda a, w: (f"/v1/users/{fresh_user(a, w)}", body({"full_name": "Renamed"})),
    ),
    ("DELETE", "/v1/users/{user_id}"): (Action.USER_MANAGE, lambda a, w: (f"/v1/users/{fresh_user(a, w)}", {})),
    ("GET", "/v1/incidents/"): (Action.INCIDENT_READ, lambda a, w: ("/v1/incidents/", {})),
    ("POST", "/v1/incidents/"): (Action.INCIDENT_CREATE, lambda a, w: ("/v1/incidents/", body({"title": "t"}))),
    ("GET", "/v1/incidents/{incident_id}"): (Action.INCIDENT_READ, lambda a, w: (f"/v1/incidents/{w.incident(a)}", {})),
    ("PUT", "/v1/incidents/{incident_id}"): (
        Action.INCIDENT_UPDATE,
        lambda a, w: (f"/v1/incidents/{w.incident(a)}", body({"title": "edited"})),
    ),
    ("POST", "/v1/incidents/{incident_id}/acknowledge"): (
        Action.INCIDENT_ACKNOWLEDGE,
        lambda a, w: (f"/v1/incidents/{w.incident(a)}/acknowledge", {}),
    ),
    ("POST", "/v1/incidents/{incident_id}/resolve"): (
        Action.INCIDENT_RESOLVE,
        lambda a, w: (f"/v1/incidents/{w.incident(a)}/resolve", {}),
    ),
    ("POST", "/v1/incidents/{incident_id}/snooze"): (
        Action.INCIDENT_SNOOZE,
        lambda a, w: (f"/v1/incidents/{w.acknowledged_incident(a)}/snooze", body({"minutes": 10})),
    ),
    ("POST", "/v1/incidents/{incident_id}/assign"): (
        Action.INCIDENT_ASSIGN,
        lambda a, w: (f"/v1/incidents/{w.incident(a)}/assign", body({"user_id": w.target_user["id"]})),
    ),
    ("POST", "/v1/incidents/{incident_id}/escalate"): (
        Action.INCIDENT_ESCALATE,
        lambda a, w: (f"/v1/incidents/{w.incident(a)}/escalate", {}),
    ),
    ("POST", "/v1/incidents/{incident_id}/comments"): (
        Action.INCIDENT_COMMENT,
        lambda a, w: (f"/v1/incidents/{w.incident(a)}/comments", body({"body": "hello"})),
    ),
    ("GET", "/v1/incidents/{incident_id}/comments"): (
        Action.INCIDENT_READ,
        lambda a, w: (f"/v1/incidents/{w.incident(a)}/comments", {}),
    ),
    ("GET", "/v1/incidents/{incident_id}/timeline"): (
        Action.INCIDENT_READ,
        lambda a, w: (f"/v1/incidents/{w.incident(a)}/timeline", {}),
    ),
    ("GET", "/v1/incidents/{incident_id}/escalation-events"): (
        Action.INCIDENT_READ,
        lambda a, w: (f"/v1/incidents/{w.incident(a)}/escalation-events", {}),
    ),
    ("GET", "/v1/incidents/{incident_id}/notifications"): (
        Action.INCIDENT_READ,
        lambda a, w: (f"/v1/incidents/{w.incident(a)}/notifications", {}),
    ),
    ("GET", "/v1/escalation/policies/"): (Action.POLICY_MANAGE, lambda a, w: ("/v1/escalation/policies/", {})),
    ("POST", "/v1/escalation/policies/"): (
        Action.POLICY_MANAGE,
        lambda a, w: ("/v1/escalation/policies/", body({"name": "p", "steps": STEPS})),
    ),
    ("GET", "/v1/escalation/policies/{policy_id}"): (
        Action.POLICY_MANAGE,
        lambda a, w: (f"/v1/escalation/policies/{fresh_policy(a, w)}", {}),
    ),
    ("PUT", "/v1/escalation/policies/{policy_id}"): (
        Action.POLICY_MANAGE,
        lambda a, w: (f"/v1/escalation/policies/{fresh_policy(a, w)}", body({"repeat": 1})),
    ),
    ("DELETE", "/v1/escalation/policies/{policy_id}"): (
        Action.POLICY_MANAGE,
        lambda a, w: (f"/v1/escalation/policies/{fresh_policy(a, w)}", {}),
    ),
    ("POST", "/v1/escalation/policies/{policy_id}/preview"): (
        Action.POLICY_MANAGE,
        lambda a, w: (f"/v1/escalation/policies/{w.policy_id}/preview", body({"hours": 1})),
    ),
    ("POST", "/v1/escalation/policies/preview"): (
        Action.POLICY_MANAGE,
        lambda a, w: ("/v1/escalation/policies/preview", body({"policy": {"name": "p", "steps": STEPS}})),
    ),
    ("GET", "/v1/notification-preferences/me"): (
        Action.SELF_MANAGE,
        lambda a, w: ("/v1/notification-preferences/me", {}),
    ),
    ("PUT", "/v1/notification-preferences/me/{channel}"): (
        Action.SELF_MANAGE,
        lambda a, w: ("/v1/notification-preferences/me/email", body({"enabled": True})),
    ),
    ("GET", "/v1/notification-preferences/{user_id}"): (
        Action.PREFERENCE_MANAGE_OTHERS,
        lambda a, w: (f"/v1/notification-preferences/{w.target_user['id']}", {}),
    ),
    ("PUT", "/v1/notification-preferences/{user_id}/{channel}"): (
        Action.PREFERENCE_MANAGE_OTHERS,
        lambda a, w: (f"/v1/notification-preferences/{w.target_user['id']}/email", body({"enabled": False})),
    ),
    ("GET", "/v1/integrations/"): (Action.INTEGRATION_MANAGE, lambda a, w: ("/v1/integrations/", {})),
    ("POST", "/v1/integrations/"): (
        Action.INTEGRATION_MANAGE,
        lambda a, w: ("/v1/integrations/", body({"name": "k", "team_id": w.incident_team["id"]})),
    ),
    ("DELETE", "/v1/integrations/{integration_id}"): (
        Action.INTEGRATION_MANAGE,
        lambda a, w: (f"/v1/integrations/{fresh_integration(a, w)}", {}),
    ),
    ("GET", "/v1/schedules/"): (Action.SCHEDULE_READ, lambda a, w: ("/v1/schedules/", {})),
    ("POST", "/v1/schedules/"): (Action.SCHEDULE_MANAGE, lambda a, w: ("/v1/schedules/", body(schedule_body(w)))),
    ("GET", "/v1/schedules/{schedule_id}"): (Action.SCHEDULE_READ, lambda a, w: (f"/v1/schedules/{w.schedule_id}", {})),
    ("PUT", "/v1/schedules/{schedule_id}"): (
        Action.SCHEDULE_MANAGE,
        lambda a, w: (f"/v1/schedules/{fresh_schedule(a, w)}", body({"description": "d"})),
    ),
    ("DELETE", "/v1/schedules/{schedule_id}"): (
        Action.SCHEDULE_MANAGE,
        lambda a, w: (f"/v1/schedules/{fresh_schedule(a, w)}", {}),
    ),
    ("GET", "/v1/schedules/{schedule_id}/overrides"): (
        Action.SCHEDULE_READ,
        lambda a, w: (f"/v1/schedules/{w.schedule_id}/overrides", {}),
    ),
    ("POST", "/v1/schedules/{schedule_id}/overrides"): (  # someone else on call (for oneself: see the schedule suite)
        Action.SCHEDULE_OVERRIDE,
        lambda a, w: (f"/v1/schedules/{w.schedule_id}/overrides", body({"user_id": w.target_user["id"], **TONIGHT})),
    ),
    ("DELETE", "/v1/schedules/{schedule_id}/overrides/{override_id}"): (
        Action.SCHEDULE_OVERRIDE,
        lambda a, w: (fresh_override(a, w), {}),
    ),
    ("GET", "/v1/schedules/{schedule_id}/oncall"): (
        Action.SCHEDULE_READ,
        lambda a, w: (f"/v1/schedules/{w.schedule_id}/oncall", {}),
    ),
    ("GET", "/v1/schedules/{schedule_id}/shifts"): (
        Action.SCHEDULE_READ,
        lambda a, w: (f"/v1/schedules/{w.schedule_id}/shifts", {"params": {"since": TONIGHT["start"], "until": TONIGHT["end"]}}),
    ),
    ("GET", "/v1/oncall"): (Action.SCHEDULE_READ, lambda a, w: ("/v1/oncall", {})),
    ("POST", "/v1/calendar-feeds"): (
        Action.SCHEDULE_READ,
        lambda a, w: ("/v1/calendar-feeds", body({"schedule_id": w.schedule_id})),
    ),
    ("GET", "/v1/calendar-feeds"): (Action.SELF_MANAGE, lambda a, w: ("/v1/calendar-feeds", {})),
    ("DELETE", "/v1/calendar-feeds/{feed_id}"): (
        Action.SELF_MANAGE,
        lambda a, w: (f"/v1/calendar-feeds/{callers_feed(a, w)}", {}),
    ),
    ("GET", "/v1/maintenance-windows/"): (Action.MAINTENANCE_READ, lambda a, w: ("/v1/maintenance-windows/", {})),
    ("POST", "/v1/maintenance-windows/"): (
        Action.MAINTENANCE_MANAGE,
        lambda a, w: ("/v1/maintenance-windows/", body(window_body(w))),
    ),
    ("GET", "/v1/maintenance-windows/{window_id}"): (
        Action.MAINTENANCE_READ,
        lambda a, w: (f"/v1/maintenance-windows/{fresh_window(a, w)}", {}),
    ),
    ("PUT", "/v1/maintenance-windows/{window_id}"): (
        Action.MAINTENANCE_MANAGE,
        lambda a, w: (f"/v1/maintenance-windows/{fresh_window(a, w)}", body({"description": "longer"})),
    ),
    ("DELETE", "/v1/maintenance-windows/{window_id}"): (
        Action.MAINTENANCE_MANAGE,
        lambda a, w: (f"/v1/maintenance-windows/{fresh_window(a, w)}", {}),
    ),
    ("GET", "/v1/maintenance-windows/{window_id}/suppressed-alerts"): (
        Action.MAINTENANCE_READ,
        lambda a, w: (f"/v1/maintenance-windows/{fresh_window(a, w)}/suppressed-alerts", {}),
    ),
    ("GET", "/v1/heartbeats/"): (Action.HEARTBEAT_READ, lambda a, w: ("/v1/heartbeats/", {})),
    ("POST", "/v1/heartbeats/"): (Action.HEARTBEAT_MANAGE, lambda a, w: ("/v1/heartbeats/", body(heartbeat_body(w)))),
    ("GET", "/v1/heartbeats/{heartbeat_id}"): (
        Action.HEARTBEAT_READ,
        lambda a, w: (f"/v1/heartbeats/{fresh_heartbeat(a, w)}", {}),
    ),
    ("PUT", "/v1/heartbeats/{heartbeat_id}"): (
        Action.HEARTBEAT_MANAGE,
        lambda a, w: (f"/v1/heartbeats/{fresh_heartbeat(a, w)}", body({"grace_minutes": 5})),
    ),
    ("DELETE", "/v1/heartbeats/{heartbeat_id}"): (
        Action.HEARTBEAT_MANAGE,
        lambda a, w: (f"/v1/heartbeats/{fresh_heartbeat(a, w)}", {}),
    ),
    ("GET", "/v1/analytics/incidents"): (  # another team's report (one's own and every team's: below)
        Action.ANALYTICS_READ,
        lambda a, w: ("/v1/analytics/incidents", {"params": {"team_id": w.incident_team["id"]}}),
    ),
}

INCIDENT_ACTIONS = {action for action in Action if action.value.startswith("incident.")}
SCHEDULE_ACTIONS = {action for action in Action if action.value.startswith("schedule.")}
MAINTENANCE_ACTIONS = {action for action in Action if action.value.startswith("maintenance.")}
HEARTBEAT_ACTIONS = {action for action in Action if action.value.startswith("heartbeat.")}


def test_the_matrix_covers_every_protected_endpoint() -> None:
    protected = set(API_ENDPOINTS) - PUBLIC_ENDPOINTS
    assert set(MATRIX) == protected


def allowed(role: Role, action: Action, world: World, admin_id: int) -> bool:
    """What the permission table says for this role on the requests the matrix makes."""
    actor = User("actor@example.com", "Actor", "", role=role, team_id=world.actor_team["id"], id=-1)
    resource: Incident | Schedule | Heartbeat | TeamScope | Team | None = None
    if action is Action.ANALYTICS_READ:
        resource = Team("incidents' team", id=world.incident_team["id"])
    elif action in INCIDENT_ACTIONS:
        resource = Incident("t", datetime.now(UTC), team_id=world.incident_team["id"], created_by_id=admin_id)
    elif action in SCHEDULE_ACTIONS:
        resource = Schedule("ops", "UTC", team_id=world.actor_team["id"])
    elif action in MAINTENANCE_ACTIONS:  # the matrix's windows are of the callers' team
        resource = TeamScope(frozenset({world.actor_team["id"]}))
    elif action in HEARTBEAT_ACTIONS:
        resource = Heartbeat("backup", world.actor_team["id"], 60, 0, "", datetime.now(UTC))
    return can(actor, action, resource)


@pytest.fixture(scope="module", params=backends())
def matrix_api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One app per backend for the whole matrix: every request makes the fresh objects it changes."""
    yield from make_api(request.param, request, tmp_path_factory.mktemp("matrix"))


@pytest.fixture(scope="module")
def world(matrix_api: Api) -> World:
    return World(matrix_api)


@pytest.mark.parametrize(("method", "path"), list(MATRIX), ids=[f"{m} {p}" for m, p in MATRIX])
def test_every_role_gets_what_the_permission_table_says(
    matrix_api: Api, world: World, method: str, path: str
) -> None:
    api = matrix_api
    action, prepare = MATRIX[(method, path)]
    mismatches = []
    for caller, headers in world.callers.items():
        world.caller = headers
        url, kwargs = prepare(api, world)
        response = api.client.request(method, url, headers=headers, **kwargs)
        if caller == "anonymous":
            expected = "401"
            ok = response.status_code == 401 and response.headers.get("www-authenticate") == "Bearer"
        elif allowed(Role(caller), action, world, api.admin_id):
            expected = "2xx"
            ok = 200 <= response.status_code < 300
        else:
            expected = "403"
            ok = response.status_code == 403
        if not ok:
            mismatches.append(f"{caller}: expected {expected}, got {response.status_code} {response.text[:200]}")
    assert not mismatches, "\n".join(mismatches)


DELIVERY_ERROR = "webhook: connection refused by 10.0.0.7:8080"


def record_failed_page(api: Api, incident_id: int) -> None:
    """A page of the incident that failed, with its timeline event, as the dispatcher records them."""

    async def record() -> None:
        async with api.container() as scope:
            uow = await scope.get(UnitOfWork)
            async with uow:
                now = datetime.now(UTC)
                page = Notification(
                    api.admin_id, Channel.WEBHOOK, "http://10.0.0.7:8080/", "s", "b", f"failed-{incident_id}", now,
                    incident_id=incident_id, status=NotificationStatus.FAILED, attempts=1, last_error=DELIVERY_ERROR,
                )  # fmt: skip
                (page,) = await uow.notifications.add_new([page])
                data = {"notification_id": page.id, "channel": "webhook", "attempts": 1, "error": DELIVERY_ERROR}
                await uow.timeline.add_many([TimelineEvent(incident_id, TimelineKind.NOTIFICATION_FAILED, now, None, data)])
                await uow.commit()

    api.run(record)


def test_delivery_errors_are_shown_to_whom_the_permission_table_says(matrix_api: Api, world: World) -> None:
    """Everyone may read an incident's pages; only its owners (and admins) read why they failed."""
    api = matrix_api
    incident_id = world.incident(api)
    record_failed_page(api, incident_id)
    team_member = api.create_user(Role.USER, team_id=world.incident_team["id"])[1]
    callers = {**{r: h for r, h in world.callers.items() if r != "anonymous"}, "incident team member": team_member}
    mismatches = []
    for caller, headers in callers.items():
        pages = api.client.get(f"/v1/incidents/{incident_id}/notifications", headers=headers).json()["items"]
        timeline = api.client.get(f"/v1/incidents/{incident_id}/timeline", headers=headers).json()["items"]
        (failed_event,) = [e for e in timeline if e["kind"] == "notification_failed"]
        if caller == "incident team member":
            sees = True
        else:
            sees = allowed(Role(caller), Action.INCIDENT_READ_DELIVERY_ERRORS, world, api.admin_id)
        shown = ([p["status"] for p in pages], [p["last_error"] for p in pages], failed_event["data"].get("error"))
        expected = (["failed"], [DELIVERY_ERROR if sees else None], DELIVERY_ERROR if sees else None)
        if shown != expected:
            mismatches.append(f"{caller}: expected {expected}, got {shown}")
    assert not mismatches, "\n".join(mismatches)
    assert not allowed(Role.USER, Action.INCIDENT_READ_DELIVERY_ERRORS, world, api.admin_id)
    assert allowed(Role.MANAGER, Action.INCIDENT_READ_DELIVERY_ERRORS, world, api.admin_id)


def test_a_teams_report_is_for_its_members_and_every_teams_for_managers(matrix_api: Api, world: World) -> None:
    """The matrix asks for another team's report; here one's own team's and every team's."""
    api = matrix_api
    mismatches = []
    for caller, headers in world.callers.items():
        if caller == "anonymous":
            continue
        actor = User("actor@example.com", "Actor", "", role=Role(caller), team_id=world.actor_team["id"], id=-1)
        for params, resource in (
            ({"team_id": world.actor_team["id"]}, Team("callers' team", id=world.actor_team["id"])),
            ({}, None),
        ):
            response = api.client.get("/v1/analytics/incidents", params=params, headers=headers)
            expected = 200 if can(actor, Action.ANALYTICS_READ, resource) else 403
            if response.status_code != expected:
                mismatches.append(f"{caller} {params}: expected {expected}, got {response.status_code}")
    assert not mismatches, "\n".join(mismatches)
    assert not can(User("u@example.com", "U", "", role=Role.TEAM_LEAD, team_id=1), Action.ANALYTICS_READ)
