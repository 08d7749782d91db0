"""Profiles, user administration and team administration over HTTP."""

from __future__ import annotations

import pytest
from http_harness import *  # noqa: F403
from http_harness import ADMIN_EMAIL, PASSWORD, Api


def test_me_is_the_caller(api: Api) -> None:
    user, headers = api.create_user("oncall_engineer")
    response = api.client.get("/v1/users/me", headers=headers)
    assert response.status_code == 200
    assert response.json() == user
    assert set(user) == {"id", "email", "full_name", "role", "team_id", "is_active", "created_at"}


def test_update_me_changes_only_what_is_sent(api: Api) -> None:
    user, headers = api.create_user()
    response = api.client.put("/v1/users/me", json={"full_name": "Renamed"}, headers=headers)
    assert response.status_code == 200
    assert response.json() == {**user, "full_name": "Renamed"}
    body = {"email": "moved@example.com", "current_password": PASSWORD}
    response = api.client.put("/v1/users/me", json=body, headers=headers)
    assert response.json()["email"] == "moved@example.com"


@pytest.mark.parametrize(
    ("body", "field"),
    [({"role": "admin"}, "role"), ({"team_id": 1}, "team_id"), ({"full_name": None}, "full_name"), ({"password": "x"}, "password")],
)
def test_update_me_cannot_touch_role_or_team_or_send_nonsense(
    api: Api, body: dict[str, object], field: str
) -> None:
    _, headers = api.create_user()
    response = api.client.put("/v1/users/me", json=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field


def test_update_me_to_a_taken_email_is_a_conflict(api: Api) -> None:
    _, headers = api.create_user()
    body = {"email": ADMIN_EMAIL, "current_password": PASSWORD}
    assert api.client.put("/v1/users/me", json=body, headers=headers).status_code == 409


def test_admin_creates_lists_filters_and_gets_users(api: Api) -> None:
    team = api.create_team()
    lead, _ = api.create_user("team_lead", team_id=team["id"])
    engineer, _ = api.create_user("oncall_engineer", team_id=team["id"])
    outsider, _ = api.create_user("user")

    page = api.client.get("/v1/users/", headers=api.admin_headers).json()
    assert page["total"] == 4 and page["limit"] == 50 and page["offset"] == 0
    by_team = api.client.get("/v1/users/", params={"team_id": team["id"]}, headers=api.admin_headers).json()
    assert {u["id"] for u in by_team["items"]} == {lead["id"], engineer["id"]}
    by_role = api.client.get("/v1/users/", params={"role": "team_lead"}, headers=api.admin_headers).json()
    assert [u["id"] for u in by_role["items"]] == [lead["id"]]
    by_text = api.client.get("/v1/users/", params={"q": outsider["email"][:6].upper()}, headers=api.admin_headers).json()
    assert outsider["id"] in {u["id"] for u in by_text["items"]}
    paged = api.client.get("/v1/users/", params={"limit": 1, "offset": 1}, headers=api.admin_headers).json()
    assert len(paged["items"]) == 1 and paged["total"] == 4

    assert api.client.get(f"/v1/users/{lead['id']}", headers=api.admin_headers).json() == lead
    assert api.client.get("/v1/users/", params={"role": "wizard"}, headers=api.admin_headers).status_code == 400


def test_create_user_failures(api: Api) -> None:
    email = api.new_email()
    body = {"email": email, "password": PASSWORD, "full_name": "X"}
    assert api.client.post("/v1/users/", json=body, headers=api.admin_headers).status_code == 201
    assert api.client.post("/v1/users/", json=body, headers=api.admin_headers).status_code == 409
    missing_team = {**body, "email": api.new_email(), "team_id": 9999}
    response = api.client.post("/v1/users/", json=missing_team, headers=api.admin_headers)
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "team_id"
    bad_role = {**body, "email": api.new_email(), "role": "superuser"}
    response = api.client.post("/v1/users/", json=bad_role, headers=api.admin_headers)
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "role"


def test_admin_updates_role_team_and_activity(api: Api) -> None:
    team = api.create_team()
    user, _ = api.create_user()
    changes = {"role": "manager", "team_id": team["id"], "is_active": False, "full_name": "Promoted"}
    response = api.client.put(f"/v1/users/{user['id']}", json=changes, headers=api.admin_headers)
    assert response.status_code == 200
    assert {k: response.json()[k] for k in changes} == changes
    cleared = api.client.put(f"/v1/users/{user['id']}", json={"team_id": None}, headers=api.admin_headers)
    assert cleared.json()["team_id"] is None
    assert api.client.put(f"/v1/users/{user['id']}", json={"role": None}, headers=api.admin_headers).status_code == 400


def test_an_admin_cannot_demote_deactivate_or_delete_themselves(api: Api) -> None:
    me = f"/v1/users/{api.admin_id}"
    assert api.client.put(me, json={"role": "user"}, headers=api.admin_headers).status_code == 409
    assert api.client.put(me, json={"is_active": False}, headers=api.admin_headers).status_code == 409
    assert api.client.delete(me, headers=api.admin_headers).status_code == 409


def test_delete_user(api: Api) -> None:
    user, _ = api.create_user()
    assert api.client.delete(f"/v1/users/{user['id']}", headers=api.admin_headers).status_code == 204
    assert api.client.get(f"/v1/users/{user['id']}", headers=api.admin_headers).status_code == 404
    assert api.client.delete(f"/v1/users/{user['id']}", headers=api.admin_headers).status_code == 404


def test_deleting_a_user_who_raised_incidents_is_a_conflict(api: Api) -> None:
    user, headers = api.create_user()
    api.create_incident(headers)
    assert api.client.delete(f"/v1/users/{user['id']}", headers=api.admin_headers).status_code == 409


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_unknown_user_is_404(api: Api, method: str) -> None:
    kwargs = {"json": {"full_name": "x"}} if method == "put" else {}
    response = getattr(api.client, method)("/v1/users/424242", headers=api.admin_headers, **kwargs)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


def test_ids_out_of_range_are_400_not_500(api: Api) -> None:
    assert api.client.get("/v1/users/0", headers=api.admin_headers).status_code == 400
    assert api.client.get(f"/v1/users/{2**40}", headers=api.admin_headers).status_code == 400


# --- teams ----------------------------------------------------------------------------------------


def test_team_lifecycle(api: Api) -> None:
    response = api.client.post("/v1/teams/", json={"name": "payments", "description": "Money"}, headers=api.admin_headers)
    assert response.status_code == 201
    team = response.json()
    assert set(team) == {"id", "name", "description", "created_at"}
    assert api.client.get(f"/v1/teams/{team['id']}", headers=api.admin_headers).json() == team
    listed = api.client.get("/v1/teams/", headers=api.admin_headers).json()
    assert listed["items"] == [team] and listed["total"] == 1

    renamed = api.client.put(f"/v1/teams/{team['id']}", json={"name": "billing"}, headers=api.admin_headers).json()
    assert (renamed["name"], renamed["description"]) == ("billing", "Money")
    cleared = api.client.put(f"/v1/teams/{team['id']}", json={"description": None}, headers=api.admin_headers).json()
    assert cleared["description"] is None

    assert api.client.delete(f"/v1/teams/{team['id']}", headers=api.admin_headers).status_code == 204
    assert api.client.get(f"/v1/teams/{team['id']}", headers=api.admin_headers).status_code == 404


def test_team_names_are_unique(api: Api) -> None:
    api.create_team("ops")
    assert api.client.post("/v1/teams/", json={"name": "ops"}, headers=api.admin_headers).status_code == 409
    other = api.create_team("dev")
    assert api.client.put(f"/v1/teams/{other['id']}", json={"name": "ops"}, headers=api.admin_headers).status_code == 409


def test_team_input_is_validated(api: Api) -> None:
    for body, field in (({"name": ""}, "name"), ({}, "name"), ({"name": "x", "extra": 1}, "extra"), ({"name": 3}, "name")):
        response = api.client.post("/v1/teams/", json=body, headers=api.admin_headers)
        assert response.status_code == 400, body
        assert response.json()["errors"][0]["field"] == field, body


def test_a_referenced_team_cannot_be_deleted(api: Api) -> None:
    team = api.create_team()
    api.create_user(team_id=team["id"])
    assert api.client.delete(f"/v1/teams/{team['id']}", headers=api.admin_headers).status_code == 409
    other = api.create_team()
    api.create_incident(team_id=other["id"])
    assert api.client.delete(f"/v1/teams/{other['id']}", headers=api.admin_headers).status_code == 409


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_unknown_team_is_404(api: Api, method: str) -> None:
    kwargs = {"json": {"name": "x"}} if method == "put" else {}
    assert getattr(api.client, method)("/v1/teams/4242", headers=api.admin_headers, **kwargs).status_code == 404
