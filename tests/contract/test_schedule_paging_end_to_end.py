"""A policy step that targets a schedule pages whoever is on call, end to end.

The HTTP app, the real worker loop and dispatcher, the Apprise notifier and the database (every
backend), webhooks delivered over HTTP to a local listener; only the clock is fake, so that a week's
handoff and tonight's override come in seconds. The schedule hands off weekly, ten minutes after the
incident opens: this week's person is paged first, next week's after the handoff, the override's user
while the override lasts, and next week's person again once it is over.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from capture_server import CaptureServer
from dishka import Provider, Scope, provide
from http_harness import *  # noqa: F403

from adapters.scheduler import Scheduler
from entrypoints.worker import scheduler_for
from incidentcore.model import Role
from incidentcore.ports import Clock
from incidentcore.testing import FakeClock

INTERVAL = 0.2
MINUTE = timedelta(minutes=1)


class FakeClockProvider(Provider):
    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock

    @provide(scope=Scope.APP)
    def fake_clock(self) -> Clock:
        return self.clock


@pytest.fixture
def clock() -> FakeClock:
    # Now, so that the access tokens the app issues are valid by the wall clock PyJWT checks them on.
    return FakeClock(datetime.now(UTC).replace(second=0, microsecond=0))


@pytest.fixture
def clocked_api(
    http_backend: str, request: pytest.FixtureRequest, tmp_path: Any, clock: FakeClock
) -> Iterator[Any]:
    yield from make_api(http_backend, request, tmp_path, FakeClockProvider(clock))  # noqa: F405


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_a_schedule_target_pages_this_weeks_person_next_weeks_after_the_handoff_and_tonights_override(
    clocked_api: Any, clock: FakeClock
) -> None:
    api, opened_at = clocked_api, clock.now()
    admin = api.admin_headers
    team = api.create_team("ops")
    people = {
        name: api.create_user(Role.ONCALL_ENGINEER, team_id=team["id"])[0]
        for name in ("alice", "bob", "carol")
    }
    ids = {person["id"]: name for name, person in people.items()}
    handoff = opened_at + 10 * MINUTE
    with CaptureServer() as pager:
        for name, person in people.items():
            preference = {"enabled": True, "address": f"{pager.url}/{name}"}
            path = f"/v1/notification-preferences/{person['id']}/webhook"
            assert api.client.put(path, json=preference, headers=admin).status_code == 200
        rotation = {
            "name": "weekly",
            # a week before the handoff (UTC: the DST handoffs have scenarios of their own)
            "start": (handoff - timedelta(weeks=1)).replace(tzinfo=None).isoformat(timespec="minutes"),
            "turn_length": {"unit": "weeks", "count": 1},
            "participants": [people["alice"]["id"], people["bob"]["id"]],
        }
        body = {"name": "ops primary", "time_zone": "UTC", "team_id": team["id"], "layers": [rotation]}
        schedule = api.client.post("/v1/schedules/", json=body, headers=admin).json()
        tonight = {
            "user_id": people["carol"]["id"],
            "start": iso(opened_at + 25 * MINUTE),
            "end": iso(opened_at + 35 * MINUTE),
        }
        override = api.client.post(f"/v1/schedules/{schedule['id']}/overrides", json=tonight, headers=admin)
        assert override.status_code == 201, override.text
        step = {"delay_minutes": 15, "targets": [{"type": "schedule", "id": schedule["id"]}]}
        api.create_policy(team_id=team["id"], steps=[step, step], repeat=1)

        async def start() -> Scheduler:
            scheduler = await scheduler_for(api.container, INTERVAL)
            scheduler.start()
            return scheduler

        def sent(count: int) -> None:
            """Waits until `count` pages went out and were recorded as sent: the clock may then jump
            (a jump while a send is in flight would end its lease and send it again)."""
            deadline = time.monotonic() + 10
            while True:
                rows = api.client.get(f"/v1/incidents/{incident['id']}/notifications", headers=admin).json()[
                    "items"
                ]
                if len(rows) >= count and all(row["status"] == "sent" for row in rows):
                    return
                assert time.monotonic() < deadline, f"page {count} was not sent in time: {rows}"
                time.sleep(INTERVAL / 4)

        scheduler = api.run(start)
        try:
            incident = api.create_incident(title="checkout is down", severity="critical", team_id=team["id"])
            sent(1)
            for paged in (2, 3, 4):
                clock.advance(minutes=15)
                sent(paged)
            time.sleep(5 * INTERVAL)  # and nothing more
        finally:
            api.run(scheduler.stop, 1.0)
        delivered = pager.snapshot()

    assert [r.path for r in delivered] == ["/alice", "/bob", "/carol", "/bob"]
    assert all(
        r.json()["title"] == f"[CRITICAL] Incident #{incident['id']}: checkout is down" for r in delivered
    )
    url = f"/v1/incidents/{incident['id']}"
    fires = api.client.get(f"{url}/escalation-events", headers=admin).json()["items"]
    assert [(e["scheduled_at"], [ids[u] for u in e["notified_user_ids"]]) for e in fires] == [
        (iso(opened_at), ["alice"]),
        (iso(opened_at + 15 * MINUTE), ["bob"]),  # after the handoff
        (iso(opened_at + 30 * MINUTE), ["carol"]),  # tonight's override
        (iso(opened_at + 45 * MINUTE), ["bob"]),  # the override is over
    ]
    pages = api.client.get(f"{url}/notifications", headers=admin).json()["items"]
    assert [(p["channel"], p["status"], p["attempts"]) for p in pages] == [("webhook", "sent", 1)] * 4
