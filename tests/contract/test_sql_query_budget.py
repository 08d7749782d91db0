"""Query budget: reads and batch writes run a fixed number of statements however many rows they touch."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from entity_builders import LEASE, T0, page_for, stored_team, stored_user
from sqlalchemy import event, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql import SqlUnitOfWork, create_session_factory
from adapters.sql.mapping import incident_values, values
from adapters.sql.tables import incidents, timeline_events
from incidentcore.escalation import EscalationStep, Target, TargetType
from incidentcore.maintenance import MaintenanceWindow
from incidentcore.model import (
    EscalationPolicy,
    Incident,
    IncidentStatus,
    Integration,
    Role,
    Severity,
    TimelineEvent,
    TimelineKind,
)
from incidentcore.ports import IncidentFilter, Page
from incidentcore.services import (
    Alert,
    AlertAction,
    AlertIngestion,
    AlertLimits,
    EscalationTick,
    Incidents,
    NewIncident,
    PagingConfig,
)
from incidentcore.testing import CountingNudge, FakeClock

pytestmark = pytest.mark.anyio


class StatementLog:
    def __init__(self) -> None:
        self.statements: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)


@contextmanager
def statements_on(engine: AsyncEngine) -> Iterator[StatementLog]:
    """Records every statement sent to the database, except SQLite's BEGIN IMMEDIATE (not a query)."""
    log = StatementLog()

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.startswith("BEGIN"):
            log.statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield log
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def seed_incidents(engine: AsyncEngine, team_id: int, assignee_id: int, count: int) -> None:
    rows = []
    for n in range(count):
        incident = Incident(
            title=f"incident {n}",
            created_at=T0 + timedelta(seconds=n),
            severity=Severity.CRITICAL if n % 2 else Severity.LOW,
            team_id=team_id,
            assignee_id=assignee_id,
        )
        rows.append(incident_values(incident))
    async with engine.begin() as connection:
        await connection.execute(insert(incidents), rows)


async def test_listing_500_incidents_with_filters_is_two_statements(sql_engine: AsyncEngine) -> None:
    sessions = create_session_factory(sql_engine)
    async with SqlUnitOfWork(sessions) as uow:
        team = await stored_team(uow)
        assignee = await stored_user(uow, team_id=team.id)
        await uow.commit()
    await seed_incidents(sql_engine, team.id, assignee.id, 1000)

    where = IncidentFilter(
        team_id=team.id, status=IncidentStatus.TRIGGERED, severity=Severity.CRITICAL, assignee_id=assignee.id
    )
    async with SqlUnitOfWork(sessions) as uow:
        with statements_on(sql_engine) as log:
            full_page = await uow.incidents.list(where, Page(limit=500))
        assert len(full_page.items) == 500
        assert full_page.total == 500
        assert log.count == 2  # the page, and the count (a full page cannot tell the total)

        with statements_on(sql_engine) as log:
            short_page = await uow.incidents.list(where, Page(limit=500, offset=450))
        assert len(short_page.items) == 50
        assert short_page.total == 500
        assert log.count == 1  # a short page ends the list: it tells the total


async def test_batch_reads_and_writes_do_not_grow_with_rows(sql_engine: AsyncEngine) -> None:
    sessions = create_session_factory(sql_engine)
    async with SqlUnitOfWork(sessions) as uow:
        team = await stored_team(uow)
        users = [
            await stored_user(uow, f"u{n}@example.com", team_id=team.id, role=Role.TEAM_LEAD)
            for n in range(50)
        ]
        await uow.commit()
    await seed_incidents(sql_engine, team.id, users[0].id, 1)

    async with SqlUnitOfWork(sessions) as uow:
        (incident,) = (await uow.incidents.list(IncidentFilter(), Page())).items
        events = [TimelineEvent(incident.id, TimelineKind.ALERT, T0, None, {"n": n}) for n in range(500)]
        pages = [page_for(f"page-{n}", incident_id=incident.id, user_id=users[n % 50].id) for n in range(500)]

        with statements_on(sql_engine) as log:
            await uow.timeline.add_many(events)
            await uow.notifications.add_new(pages)
            targets = await uow.users.resolve_targets(
                user_ids=[u.id for u in users[:10]],
                team_ids=[team.id],
                roles=[(Role.TEAM_LEAD, team.id), (Role.MANAGER, None)],
            )
            await uow.preferences.list_for_users([u.id for u in users])
            timeline = await uow.timeline.list_for_incident(incident.id, Page(limit=500))
            claimed = await uow.notifications.claim_due(T0, 500, LEASE)
            cancelled = await uow.notifications.cancel_pending_for_incident(incident.id, "incident resolved")
        await uow.commit()

    assert len(targets) == 50
    assert len(timeline.items) == 500
    assert len(claimed) == 500
    assert cancelled == []
    # add_many 1, add_new 1, resolve_targets 1, list_for_users 1, list 2, claim 2, cancel 1
    assert log.count == 9, log.statements


async def test_timeline_rows_seeded_in_bulk_list_in_two_statements(sql_engine: AsyncEngine) -> None:
    sessions = create_session_factory(sql_engine)
    async with SqlUnitOfWork(sessions) as uow:
        team = await stored_team(uow)
        user = await stored_user(uow)
        await uow.commit()
    await seed_incidents(sql_engine, team.id, user.id, 1)
    async with sql_engine.begin() as connection:
        rows = [
            values(timeline_events, TimelineEvent(1, TimelineKind.ALERT, T0, None, {"n": n}))
            for n in range(2000)
        ]
        await connection.execute(insert(timeline_events), rows)
    async with SqlUnitOfWork(sessions) as uow:
        with statements_on(sql_engine) as log:
            timeline = await uow.timeline.list_for_incident(1, Page(limit=500, offset=1000))
    assert timeline.total == 2000
    assert log.count == 2


async def test_an_escalation_tick_costs_one_update_per_due_incident_plus_a_fixed_few(
    sql_engine: AsyncEngine,
) -> None:
    sessions = create_session_factory(sql_engine)
    clock = FakeClock(T0)
    async with SqlUnitOfWork(sessions) as uow:
        team = await stored_team(uow)
        for n in range(5):
            await stored_user(uow, f"lead{n}@example.com", team_id=team.id, role=Role.TEAM_LEAD)
        steps = (
            EscalationStep(5, (Target(TargetType.ROLE, role="team_lead"),)),
            EscalationStep(5, (Target(TargetType.TEAM, team_id=team.id),)),
        )
        await uow.policies.add(EscalationPolicy("primary", steps))
        await uow.commit()
    for n in range(100):
        await Incidents(SqlUnitOfWork(sessions), clock, CountingNudge(), PagingConfig()).open(
            None, NewIncident(f"incident {n}", team_id=team.id)
        )
    clock.advance(minutes=5)

    with statements_on(sql_engine) as log:
        advanced = await EscalationTick(SqlUnitOfWork(sessions), clock, PagingConfig()).run(batch_size=100)
    assert advanced == 100
    # claim, 100 fenced updates, targets, preferences, team, pages, escalation events, timeline, commit
    assert log.count <= 100 + 8, log.statements[-12:]
    async with SqlUnitOfWork(sessions) as uow:
        claimed = await uow.notifications.claim_due(clock.now(), 10_000, LEASE)
    assert len(claimed) == 100 * 5 * 2  # two steps, five team members each, email by default


def writes_to(log: StatementLog, table: str) -> list[str]:
    """The INSERT and UPDATE statements of `log` that write `table`."""
    return [
        s.split(None, 3)[0]
        for s in log.statements
        if s.startswith(("INSERT INTO " + table + " ", f'INSERT INTO "{table}"', "UPDATE " + table + " "))
    ]


async def test_opening_an_incident_is_one_insert_of_it_and_one_of_its_timeline(sql_engine: AsyncEngine) -> None:
    sessions = create_session_factory(sql_engine)
    async with SqlUnitOfWork(sessions) as uow:
        team = await stored_team(uow)
        lead = await stored_user(uow, "lead@example.com", team_id=team.id, role=Role.TEAM_LEAD)
        step = EscalationStep(5, (Target(TargetType.USER, user_id=lead.id),))
        await uow.policies.add(EscalationPolicy("primary", (step,)))
        await uow.commit()

    with statements_on(sql_engine) as log:
        await Incidents(SqlUnitOfWork(sessions), FakeClock(T0), CountingNudge(), PagingConfig()).open(
            None, NewIncident("checkout down", team_id=team.id)
        )
    assert writes_to(log, "incidents") == ["INSERT"], log.statements  # triggered before it is stored
    assert writes_to(log, "timeline_events") == ["INSERT"]  # created and escalated, in one statement
    assert writes_to(log, "escalation_events") == ["INSERT"]
    assert writes_to(log, "notifications") == ["INSERT"]
    # team check (the pages name the team it read), policies, targets, preferences, and the four inserts
    assert log.count <= 8, log.statements


async def test_an_alert_opens_its_incident_in_one_insert_and_a_repeat_adds_one_timeline_row(
    sql_engine: AsyncEngine,
) -> None:
    sessions = create_session_factory(sql_engine)
    async with SqlUnitOfWork(sessions) as uow:
        team = await stored_team(uow)
        await uow.integrations.add(Integration(name="kibana", team_id=team.id, key="k", created_at=T0))
        await uow.commit()
    alert = Alert("elastic", "rule-1:svc-a", AlertAction.TRIGGER, title="High error rate", data={"x": 1})

    def ingestion(timeline_events: int) -> AlertIngestion:
        limits = AlertLimits(timeline_events=timeline_events)
        return AlertIngestion(SqlUnitOfWork(sessions), FakeClock(T0), CountingNudge(), PagingConfig(), limits)

    with statements_on(sql_engine) as first:
        assert (await ingestion(2).receive("k", alert)).action == "created"
    assert writes_to(first, "incidents") == ["INSERT"], first.statements
    assert writes_to(first, "timeline_events") == ["INSERT"]  # created and the alert, together
    with statements_on(sql_engine) as repeat:
        assert (await ingestion(2).receive("k", alert)).action == "updated"
    # integration by key, the open incident (locked), its fenced update, escalation events, timeline
    assert writes_to(repeat, "incidents") == ["UPDATE"]
    assert writes_to(repeat, "timeline_events") == ["INSERT"]
    assert repeat.count <= 6, repeat.statements
    with statements_on(sql_engine) as storm:  # the timeline holds 2 alerts: now they are only counted
        assert (await ingestion(2).receive("k", alert)).action == "updated"
    assert writes_to(storm, "incidents") == ["UPDATE"]
    assert writes_to(storm, "timeline_events") == []
    assert storm.count <= 4, storm.statements


async def test_a_delivery_under_a_maintenance_window_asks_for_it_once_and_keeps_its_alerts_in_one_insert(
    sql_engine: AsyncEngine,
) -> None:
    sessions = create_session_factory(sql_engine)
    async with SqlUnitOfWork(sessions) as uow:
        team = await stored_team(uow)
        await uow.integrations.add(Integration(name="alertmanager", team_id=team.id, key="k", created_at=T0))
        await uow.maintenance_windows.add(
            MaintenanceWindow("upgrade", T0 - timedelta(hours=1), T0 + timedelta(hours=1), team_id=team.id)
        )
        await uow.commit()
    ingestion = AlertIngestion(
        SqlUnitOfWork(sessions), FakeClock(T0), CountingNudge(), PagingConfig(), AlertLimits()
    )
    group = [Alert("alertmanager", f"fp-{n}", AlertAction.TRIGGER, title="Disk full") for n in range(50)]

    with statements_on(sql_engine) as log:
        receipts = await ingestion.receive_all("k", group)
    assert {r.action for r in receipts} == {"suppressed"}
    asked = [s for s in log.statements if "FROM maintenance_windows" in s]
    assert len(asked) == 1, asked
    assert writes_to(log, "suppressed_alerts") == ["INSERT"]
    # the integration, one open-incident look-up per alert, the window, the insert, the commit
    assert log.count <= 1 + 50 + 1 + 1 + 1, log.statements[-5:]
