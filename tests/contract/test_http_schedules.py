"""Schedules over HTTP: the API.md shapes, bad input as 400 naming the field (nothing stored), who is
on call, shifts, overrides and who may make them, 409s for what is still referenced, schedule targets
in policies, and calendar feeds parsed with icalendar and checked against `shifts()`."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from http_harness import *  # noqa: F403
from http_harness import Api
from icalendar import Calendar

from incidentcore.model import Role
from incidentcore.schedules import Layer, Override, Schedule, TurnLength, TurnUnit, shifts

SCHEDULE_FIELDS = {"id", "name", "description", "team_id", "time_zone", "layers", "created_at"}

# Weekly, Monday 09:00 in Berlin: the 7 December 2026 handoff is at 08:00 UTC.
WEEKLY = {"unit": "weeks", "count": 1}


def layer(*participants: int, **fields: Any) -> dict[str, Any]:
    return {
        "name": "primary",
        "start": "2026-12-07T09:00",
        "turn_length": WEEKLY,
        "participants": list(participants),
        **fields,
    }


def create_schedule(api: Any, headers: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
    body = {
        "name": "payments primary",
        "time_zone": "Europe/Berlin",
        "layers": [layer(api.admin_id)],
        **fields,
    }
    response = api.client.post("/v1/schedules/", json=body, headers=headers or api.admin_headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def problem_fields(response: Any) -> list[str]:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return [e["field"] for e in response.json()["errors"]]


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_schedule_round_trip_as_api_md_writes_it(api: Api) -> None:
    team = api.create_team()
    bob, _ = api.create_user(Role.ONCALL_ENGINEER, team_id=team["id"])
    body = {
        "name": "payments primary",
        "description": "week by week",
        "team_id": team["id"],
        "time_zone": "Europe/Berlin",
        "layers": [
            layer(api.admin_id, bob["id"], api.admin_id),
            {
                "name": "office hours",
                "start": "2026-12-07T09:00",
                "turn_length": {"unit": "days", "count": 1},
                "participants": [bob["id"]],
                "restrictions": [
                    {"days": ["fri", "mon", "wed"], "start_time": "09:00", "end_time": "17:30"},
                    {"days": None, "start_time": "22:00", "end_time": "06:00"},
                ],
                "end": "2027-03-01T00:00",
            },
        ],
    }
    response = api.client.post("/v1/schedules", json=body, headers=api.admin_headers)
    assert response.status_code == 201, response.text
    schedule = response.json()
    assert set(schedule) == SCHEDULE_FIELDS
    assert schedule["layers"][0] == {
        **layer(api.admin_id, bob["id"], api.admin_id),
        "restrictions": [],
        "end": None,
    }
    assert schedule["layers"][1]["restrictions"][0]["days"] == ["mon", "wed", "fri"]  # week order
    assert schedule["layers"][1]["restrictions"][1] == {
        "days": None,
        "start_time": "22:00",
        "end_time": "06:00",
    }
    assert schedule["layers"][1]["end"] == "2027-03-01T00:00"
    path = f"/v1/schedules/{schedule['id']}"
    assert api.client.get(path, headers=api.admin_headers).json() == schedule
    teamless = create_schedule(api)
    listed = api.client.get("/v1/schedules/", headers=api.admin_headers).json()
    assert (listed["items"], listed["total"]) == ([schedule, teamless], 2)
    of_team = api.client.get(f"/v1/schedules/?team_id={team['id']}", headers=api.admin_headers).json()
    assert of_team["items"] == [schedule]

    edited = api.client.put(
        path, json={"name": "renamed", "layers": [layer(bob["id"])]}, headers=api.admin_headers
    )
    assert edited.status_code == 200, edited.text
    assert edited.json() == {
        **schedule,
        "name": "renamed",
        "layers": [{**layer(bob["id"]), "restrictions": [], "end": None}],
    }
    assert api.client.delete(path, headers=api.admin_headers).status_code == 204
    assert api.client.get(path, headers=api.admin_headers).status_code == 404


# (what to change: schedule fields, or "layer" fields of its one layer) -> the field the 400 names
BAD_SCHEDULES = [
    ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
    ({"time_zone": "CEST"}, "time_zone"),
    ({"layer": {"participants": []}}, "layers[0].participants"),
    ({"layer": {"participants": [999_999]}}, "layers[0].participants[0]"),
    ({"layer": {"turn_length": {"unit": "weeks", "count": 13}}}, "layers[0].turn_length.count"),
    ({"layer": {"turn_length": {"unit": "hours", "count": 0}}}, "layers[0].turn_length.count"),
    ({"layer": {"turn_length": {"unit": "fortnights", "count": 1}}}, "layers[0].turn_length.unit"),
    (
        {"layer": {"restrictions": [{"start_time": "9:00", "end_time": "17:00"}]}},
        "layers[0].restrictions[0].start_time",
    ),
    (
        {"layer": {"restrictions": [{"start_time": "09:00", "end_time": "24:00"}]}},
        "layers[0].restrictions[0].end_time",
    ),
    (
        {"layer": {"restrictions": [{"days": [], "start_time": "09:00", "end_time": "17:00"}]}},
        "layers[0].restrictions[0].days",
    ),
    ({"layer": {"start": "next monday"}}, "layers[0].start"),
    ({"layer": {"start": "2026-12-07T09:00+01:00"}}, "layers[0].start"),
    ({"layer": {"end": "2026-12-01T09:00"}}, "layers[0].end"),
    ({"team_id": 999_999}, "team_id"),
    ({"name": ""}, "name"),
]


@pytest.mark.parametrize(("bad", "field"), BAD_SCHEDULES, ids=[field for _, field in BAD_SCHEDULES])
def test_bad_schedules_are_400_naming_the_field_and_nothing_is_stored(
    api: Api, bad: dict[str, Any], field: str
) -> None:
    changes = {key: value for key, value in bad.items() if key != "layer"}
    if "layer" in bad:
        changes["layers"] = [{**layer(api.admin_id), **bad["layer"]}]
    body = {
        "name": "payments primary",
        "time_zone": "Europe/Berlin",
        "layers": [layer(api.admin_id)],
        **changes,
    }
    assert field in problem_fields(api.client.post("/v1/schedules/", json=body, headers=api.admin_headers))
    assert api.client.get("/v1/schedules/", headers=api.admin_headers).json()["total"] == 0

    schedule = create_schedule(api)
    path = f"/v1/schedules/{schedule['id']}"
    assert field in problem_fields(api.client.put(path, json=changes, headers=api.admin_headers))
    assert api.client.get(path, headers=api.admin_headers).json() == schedule


def test_who_is_on_call_and_the_shifts_of_a_week(api: Api) -> None:
    bob, _ = api.create_user(Role.ONCALL_ENGINEER)
    schedule = create_schedule(api, layers=[layer(api.admin_id, bob["id"])])
    path = f"/v1/schedules/{schedule['id']}"
    now = api.client.get(f"{path}/oncall", params={"at": "2026-12-14T07:59:00Z"}, headers=api.admin_headers)
    assert now.status_code == 200, now.text
    assert now.json() == {
        "at": "2026-12-14T07:59:00Z",
        "user_ids": [api.admin_id],
        "source": "layer",
        "layer": 0,
        "until": "2026-12-14T08:00:00Z",
    }
    before = api.client.get(
        f"{path}/oncall", params={"at": "2026-12-07T07:00:00Z"}, headers=api.admin_headers
    )
    assert before.json() == {
        "at": "2026-12-07T07:00:00Z",
        "user_ids": [],
        "source": None,
        "layer": None,
        "until": "2026-12-07T08:00:00Z",
    }
    assert instant(api.client.get(f"{path}/oncall", headers=api.admin_headers).json()["at"]) <= datetime.now(
        UTC
    )

    window = {"since": "2026-12-10T00:00:00Z", "until": "2026-12-24T00:00:00Z"}
    found = api.client.get(f"{path}/shifts", params=window, headers=api.admin_headers)
    assert found.status_code == 200, found.text
    assert found.json() == {
        "items": [
            {
                "user_id": api.admin_id,
                "start": "2026-12-10T00:00:00Z",
                "end": "2026-12-14T08:00:00Z",
                "source": "layer",
                "layer": 0,
            },
            {
                "user_id": bob["id"],
                "start": "2026-12-14T08:00:00Z",
                "end": "2026-12-21T08:00:00Z",
                "source": "layer",
                "layer": 0,
            },
            {
                "user_id": api.admin_id,
                "start": "2026-12-21T08:00:00Z",
                "end": "2026-12-24T00:00:00Z",
                "source": "layer",
                "layer": 0,
            },
        ]
    }
    everyone = api.client.get("/v1/oncall", params={"at": "2026-12-15T12:00:00Z"}, headers=api.admin_headers)
    assert everyone.status_code == 200, everyone.text
    assert everyone.json() == {
        "at": "2026-12-15T12:00:00Z",
        "items": [
            {
                "schedule_id": schedule["id"],
                "user_id": bob["id"],
                "start": "2026-12-14T08:00:00Z",
                "end": "2026-12-21T08:00:00Z",
                "source": "layer",
                "layer": 0,
            }
        ],
    }
    mine = api.client.get(
        "/v1/oncall",
        params={"at": "2026-12-15T12:00:00Z", "user_id": api.admin_id},
        headers=api.admin_headers,
    )
    assert mine.json()["items"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"since": "2026-12-01T00:00:00Z", "until": "2027-03-04T00:00:01Z"}, "until"),  # 93 days and a second
        ({"since": "2026-12-02T00:00:00Z", "until": "2026-12-01T00:00:00Z"}, "until"),
        ({"since": "2026-12-01T00:00:00", "until": "2026-12-02T00:00:00Z"}, "since"),
        ({"since": "yesterday", "until": "2026-12-02T00:00:00Z"}, "since"),
        ({"until": "2026-12-02T00:00:00Z"}, "since"),
        ({"since": "2026-12-01T00:00:00Z", "until": "2300-01-01T00:00:00Z"}, "until"),
    ],
)
def test_bad_shift_windows_are_400_naming_the_field(api: Api, query: dict[str, str], field: str) -> None:
    schedule = create_schedule(api)
    response = api.client.get(
        f"/v1/schedules/{schedule['id']}/shifts", params=query, headers=api.admin_headers
    )
    assert field in problem_fields(response)


@pytest.mark.parametrize("at", ["2026-12-14T07:59:00", "1066-10-14T09:00:00Z", "soon"])
def test_bad_instants_are_400_naming_at(api: Api, at: str) -> None:
    schedule = create_schedule(api)
    for path in (f"/v1/schedules/{schedule['id']}/oncall", "/v1/oncall"):
        assert problem_fields(api.client.get(path, params={"at": at}, headers=api.admin_headers)) == ["at"]


def test_overrides_by_window_and_who_may_make_them(api: Api) -> None:
    team = api.create_team()
    lead, lead_headers = api.create_user(Role.TEAM_LEAD, team_id=team["id"])
    member, member_headers = api.create_user(Role.USER, team_id=team["id"])
    outsider, outsider_headers = api.create_user(Role.TEAM_LEAD)
    schedule = create_schedule(api, lead_headers, team_id=team["id"], layers=[layer(lead["id"])])
    overrides = f"/v1/schedules/{schedule['id']}/overrides"
    tonight = {"start": "2026-12-15T19:00:00Z", "end": "2026-12-16T07:00:00Z"}

    mine = api.client.post(overrides, json={"user_id": member["id"], **tonight}, headers=member_headers)
    assert mine.status_code == 201, mine.text
    assert set(mine.json()) == {"id", "schedule_id", "user_id", "start", "end", "created_by_id", "created_at"}
    assert (mine.json()["user_id"], mine.json()["created_by_id"]) == (member["id"], member["id"])
    for headers in (member_headers, outsider_headers):  # someone else on call: the team's leads only
        assert (
            api.client.post(overrides, json={"user_id": lead["id"], **tonight}, headers=headers).status_code
            == 403
        )
    assert (
        api.client.post(
            overrides, json={"user_id": outsider["id"], **tonight}, headers=outsider_headers
        ).status_code
        == 403
    )
    by_lead = api.client.post(
        overrides,
        json={"user_id": member["id"], "start": "2026-12-20T00:00:00Z", "end": "2026-12-21T00:00:00Z"},
        headers=lead_headers,
    ).json()

    oncall = api.client.get(
        f"/v1/schedules/{schedule['id']}/oncall?at=2026-12-15T20:00:00Z", headers=outsider_headers
    ).json()
    assert (oncall["user_ids"], oncall["source"], oncall["until"]) == (
        [member["id"]],
        "override",
        "2026-12-16T07:00:00Z",
    )

    listed = api.client.get(overrides, headers=outsider_headers).json()
    assert [o["id"] for o in listed["items"]] == [mine.json()["id"], by_lead["id"]]
    later = api.client.get(
        overrides, params={"since": "2026-12-16T07:00:00Z"}, headers=outsider_headers
    ).json()
    assert [o["id"] for o in later["items"]] == [by_lead["id"]]
    assert "until" in problem_fields(
        api.client.get(
            overrides,
            params={"since": "2026-12-16T00:00:00Z", "until": "2026-12-15T00:00:00Z"},
            headers=member_headers,
        )
    )

    assert api.client.delete(f"{overrides}/{by_lead['id']}", headers=member_headers).status_code == 403
    assert api.client.delete(f"{overrides}/{mine.json()['id']}", headers=member_headers).status_code == 204
    assert api.client.delete(f"{overrides}/{by_lead['id']}", headers=lead_headers).status_code == 204
    assert api.client.delete(f"{overrides}/{by_lead['id']}", headers=lead_headers).status_code == 404
    assert api.client.get(overrides, headers=member_headers).json()["total"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"user_id": 999_999, "start": "2026-12-15T19:00:00Z", "end": "2026-12-16T07:00:00Z"}, "user_id"),
        ({"start": "2026-12-16T19:00:00Z", "end": "2026-12-16T07:00:00Z"}, "end"),
        ({"start": "2026-12-15T19:00:00", "end": "2026-12-16T07:00:00Z"}, "start"),
        ({"start": "2026-12-15T19:00:00Z"}, "end"),
    ],
)
def test_bad_overrides_are_400_naming_the_field_and_nothing_is_stored(
    api: Api, body: dict[str, Any], field: str
) -> None:
    schedule = create_schedule(api)
    overrides = f"/v1/schedules/{schedule['id']}/overrides"
    response = api.client.post(overrides, json={"user_id": api.admin_id, **body}, headers=api.admin_headers)
    assert field in problem_fields(response)
    assert api.client.get(overrides, headers=api.admin_headers).json()["total"] == 0


def test_only_the_teams_leads_manage_a_schedule_and_anyone_reads_it(api: Api) -> None:
    team = api.create_team()
    lead, lead_headers = api.create_user(Role.TEAM_LEAD, team_id=team["id"])
    _, engineer_headers = api.create_user(Role.ONCALL_ENGINEER, team_id=team["id"])
    _, other_lead_headers = api.create_user(Role.TEAM_LEAD, team_id=api.create_team()["id"])
    body = {"name": "ops", "time_zone": "UTC", "team_id": team["id"], "layers": [layer(lead["id"])]}
    assert api.client.post("/v1/schedules/", json=body, headers=engineer_headers).status_code == 403
    assert api.client.post("/v1/schedules/", json=body, headers=other_lead_headers).status_code == 403
    schedule = create_schedule(api, lead_headers, **body)
    path = f"/v1/schedules/{schedule['id']}"
    for headers in (engineer_headers, other_lead_headers):
        assert api.client.get(path, headers=headers).status_code == 200
        assert api.client.put(path, json={"name": "x"}, headers=headers).status_code == 403
        assert api.client.delete(path, headers=headers).status_code == 403
    assert (
        api.client.put(path, json={"team_id": None}, headers=lead_headers).status_code == 403
    )  # admins only
    assert api.client.put(path, json={"description": "ours"}, headers=lead_headers).status_code == 200


def test_what_a_schedule_or_a_user_is_still_used_by_is_a_409_saying_so(api: Api) -> None:
    bob, _ = api.create_user(Role.ONCALL_ENGINEER)
    carol, _ = api.create_user(Role.ONCALL_ENGINEER)
    schedule = create_schedule(api, layers=[layer(bob["id"])])
    path = f"/v1/schedules/{schedule['id']}"
    steps = [{"delay_minutes": 5, "targets": [{"type": "schedule", "id": schedule["id"]}]}]
    policy = api.create_policy(steps=steps)
    assert policy["steps"][0]["targets"] == [
        {"type": "schedule", "id": schedule["id"], "role": None, "team_id": None}
    ]

    refused = api.client.delete(path, headers=api.admin_headers)
    assert refused.status_code == 409
    assert (
        refused.json()["detail"] == f"escalation policy {policy['id']} ({policy['name']}) pages this schedule"
    )
    in_rotation = api.client.delete(f"/v1/users/{bob['id']}", headers=api.admin_headers)
    assert in_rotation.status_code == 409
    assert (
        in_rotation.json()["detail"]
        == f"schedule {schedule['id']} (payments primary) has this user in its rotation"
    )
    override = {"user_id": carol["id"], "start": "2026-12-15T19:00:00Z", "end": "2026-12-16T07:00:00Z"}
    assert api.client.post(f"{path}/overrides", json=override, headers=api.admin_headers).status_code == 201
    overridden = api.client.delete(f"/v1/users/{carol['id']}", headers=api.admin_headers)
    assert overridden.status_code == 409
    # Postgres names the reference; SQLite's foreign key error names none, so the answer lists them all
    assert re.search("schedule overrides.* still reference the user", overridden.json()["detail"])

    assert (
        api.client.delete(f"/v1/escalation/policies/{policy['id']}", headers=api.admin_headers).status_code
        == 204
    )
    assert api.client.delete(path, headers=api.admin_headers).status_code == 204
    assert api.client.delete(f"/v1/users/{carol['id']}", headers=api.admin_headers).status_code == 204


def test_a_policy_may_target_only_a_schedule_that_exists(api: Api) -> None:
    for target, field in (
        ({"type": "schedule", "id": 999_999}, "steps[0].targets[0].id"),
        ({"type": "schedule"}, "steps[0].targets[0].id"),
    ):
        body = {"name": "p", "steps": [{"delay_minutes": 5, "targets": [target]}]}
        response = api.client.post("/v1/escalation/policies/", json=body, headers=api.admin_headers)
        assert problem_fields(response) == [field]


# ------------------------------------------------------------------------------------ calendar feeds


def fetch_calendar(api: Any, url: str) -> Any:
    parts = urlsplit(url)
    response = api.client.get(f"{parts.path}?{parts.query}")  # no bearer: the URL is the credential
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    return Calendar.from_ical(response.content)


def events(calendar: Any) -> list[tuple[str, datetime, datetime, str]]:
    return [(str(e["UID"]), e.start, e.end, str(e["SUMMARY"])) for e in calendar.walk("VEVENT")]


def test_a_calendar_feed_is_every_shift_of_the_next_90_days_until_revoked(api: Api) -> None:
    bob, bob_headers = api.create_user(Role.ONCALL_ENGINEER)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = (now - timedelta(days=2)).replace(tzinfo=None)  # UTC local: the turn in progress began 2 days ago
    turns = {"unit": "days", "count": 3}
    schedule = create_schedule(
        api,
        time_zone="UTC",
        layers=[layer(api.admin_id, bob["id"], start=start.isoformat(timespec="minutes"), turn_length=turns)],
    )
    override = {
        "user_id": bob["id"],
        "start": (now + timedelta(days=10)).isoformat(),
        "end": (now + timedelta(days=10, hours=5)).isoformat(),
    }
    assert (
        api.client.post(
            f"/v1/schedules/{schedule['id']}/overrides", json=override, headers=api.admin_headers
        ).status_code
        == 201
    )

    created = api.client.post("/v1/calendar-feeds", json={"schedule_id": schedule["id"]}, headers=bob_headers)
    assert created.status_code == 201, created.text
    feed = created.json()
    assert set(feed) == {"id", "schedule_id", "url", "created_at"}
    assert feed["url"].startswith(f"{api.settings.public_url}/v1/calendar-feeds/feed.ics?key=")
    assert len(urlsplit(feed["url"]).query.removeprefix("key=")) >= 40

    calendar = fetch_calendar(api, feed["url"])
    assert (str(calendar["X-WR-CALNAME"]), str(calendar["UID"])) == (
        "On call: payments primary",
        f"feed-{feed['id']}@incidentcore",
    )
    found = events(calendar)
    # The same shifts as the core's `shifts()`, from the start of the one in progress to 90 days on.
    domain = Schedule(
        "payments primary",
        "UTC",
        (Layer("primary", start, TurnLength(TurnUnit.DAYS, 3), (api.admin_id, bob["id"])),),
    )
    overrides = [Override(bob["id"], instant(override["start"]), instant(override["end"]), now)]
    expected = shifts(domain, overrides, found[0][1], found[-1][2])
    assert [(start, end) for _, start, end, _ in found] == [(s.start, s.end) for s in expected]
    names = {api.admin_id: "Administrator", bob["id"]: "oncall_engineer user"}
    assert [summary for *_, summary in found] == [
        f"On call: {names.get(s.user_id, s.user_id)}" for s in expected
    ]
    assert found[0][1] == datetime.combine(start.date(), start.time(), UTC) and found[0][1] <= now
    assert timedelta(days=89) < found[-1][2] - now <= timedelta(days=90, minutes=1)
    assert len({uid for uid, *_ in found}) == len(found)
    assert [uid for uid, *_ in events(fetch_calendar(api, feed["url"]))] == [
        uid for uid, *_ in found
    ]  # stable

    own = api.client.post("/v1/calendar-feeds", json={"schedule_id": None}, headers=bob_headers).json()
    own_events = events(fetch_calendar(api, own["url"]))
    assert own_events and {summary for *_, summary in own_events} == {"On call: payments primary"}
    assert [(s, e) for _, s, e, _ in own_events] == [
        (s.start, s.end) for s in expected if s.user_id == bob["id"]
    ]

    listed = api.client.get("/v1/calendar-feeds", headers=bob_headers).json()
    assert [(f["id"], f["url"]) for f in listed["items"]] == [(feed["id"], None), (own["id"], None)]
    assert api.client.get("/v1/calendar-feeds", headers=api.admin_headers).json()["total"] == 0
    assert api.client.delete(f"/v1/calendar-feeds/{feed['id']}", headers=api.admin_headers).status_code == 404
    assert api.client.delete(f"/v1/calendar-feeds/{feed['id']}", headers=bob_headers).status_code == 204
    revoked = urlsplit(feed["url"])
    assert api.client.get(f"{revoked.path}?{revoked.query}").status_code == 404
    assert api.client.get("/v1/calendar-feeds/feed.ics?key=not-a-key").status_code == 404
    assert api.client.get("/v1/calendar-feeds/feed.ics").status_code == 400
    assert problem_fields(
        api.client.post("/v1/calendar-feeds", json={"schedule_id": 999_999}, headers=bob_headers)
    ) == ["schedule_id"]
