"""What the paging use cases record, on every backend: a page withdrawn before it went out is
`cancelled` (never `failed`, never sent), and the escalation records say whom it did not reach, and why.

The real use cases (Incidents, EscalationTick, NotificationDispatch) run over `uow_factory` on a fake
clock, so the memory, SQLite and Postgres adapters are held to one record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from entity_builders import T0, UowFactory, stored_user

from incidentcore.escalation import EffectKind, EscalationStep, Target, TargetType
from incidentcore.model import EscalationPolicy, Notification, NotificationStatus, Role, TimelineKind, User
from incidentcore.ports import Page
from incidentcore.services import EscalationTick, Incidents, NewIncident, NotificationDispatch, PagingConfig
from incidentcore.testing import CountingNudge, FakeClock, FixedRetryPolicy, RecordingNotifier
from incidentcore.testing.world import drain

pytestmark = pytest.mark.anyio

ALL = Page(limit=500)
WITHDRAWN_AT_ONCE = "incident acknowledged before the page could be sent"


@dataclass
class Service:
    """Alice is paged at once, Bob five minutes later; the admin acts on incidents."""

    uow_factory: UowFactory
    alice: User
    bob: User
    admin: User
    clock: FakeClock = field(default_factory=lambda: FakeClock(T0))
    notifier: RecordingNotifier = field(default_factory=RecordingNotifier)

    @property
    def incidents(self) -> Incidents:
        return Incidents(self.uow_factory(), self.clock, CountingNudge(), PagingConfig())

    async def run_worker(self) -> None:
        await drain(lambda: EscalationTick(self.uow_factory(), self.clock, PagingConfig()).run(), "the tick")
        retry = FixedRetryPolicy([timedelta(seconds=30)])
        dispatch = NotificationDispatch(self.uow_factory(), self.clock, self.notifier, retry)
        await drain(dispatch.run, "the dispatch")

    async def run_for(self, minutes: int) -> None:
        for _ in range(minutes):
            self.clock.advance(minutes=1)
            await self.run_worker()

    async def pages(self, incident_id: int) -> dict[int | None, Notification]:
        async with self.uow_factory() as uow:
            return {n.user_id: n for n in (await uow.notifications.list_for_incident(incident_id, ALL)).items}


@pytest.fixture
async def service(uow_factory: UowFactory) -> Service:
    async with uow_factory() as uow:
        alice = await stored_user(uow, "alice@example.com")
        bob = await stored_user(uow, "bob@example.com")
        admin = await stored_user(uow, "admin@example.com", role=Role.ADMIN)
        steps = tuple(EscalationStep(5, (Target(TargetType.USER, user_id=u.id),)) for u in (alice, bob))
        await uow.policies.add(EscalationPolicy("primary", steps, created_at=T0))
        await uow.commit()
    return Service(uow_factory, alice, bob, admin)


async def test_a_step_fired_and_withdrawn_by_one_acknowledgement_pages_nobody(service: Service) -> None:
    """The worker is down from minute 4 to minute 6; at minute 6 the incident is acknowledged. The acknowledgement
    fires the overdue step 1 first and withdraws it in the same transaction."""
    incident = await service.incidents.open(None, NewIncident("checkout down"))
    await service.run_for(3)
    service.clock.advance(minutes=3)
    await service.incidents.acknowledge(service.admin, incident.id)
    await service.run_for(30)

    async with service.uow_factory() as uow:
        events = (await uow.escalation_events.list_for_incident(incident.id, ALL)).items
        timeline = (await uow.timeline.list_for_incident(incident.id, ALL)).items
    assert [
        (e.kind, e.step_index, e.notified_user_ids, e.cancelled_user_ids, e.cancel_reason) for e in events
    ] == [
        (EffectKind.FIRED, 0, [service.alice.id], [], None),
        (EffectKind.FIRED, 1, [], [service.bob.id], WITHDRAWN_AT_ONCE),
        (EffectKind.ACKNOWLEDGED, None, [], [], None),
    ]
    pages = await service.pages(incident.id)
    bob = pages[service.bob.id]
    assert (bob.status, bob.cancel_reason, bob.last_error, bob.attempts) == (
        NotificationStatus.CANCELLED,
        WITHDRAWN_AT_ONCE,
        None,
        0,
    )
    assert pages[service.alice.id].status is NotificationStatus.SENT
    assert [m.address for m in service.notifier.attempts] == ["alice@example.com"]  # nothing to Bob, ever

    (step_1,) = [e for e in timeline if e.kind is TimelineKind.ESCALATED and e.data["step_index"] == 1]
    assert (step_1.created_at, step_1.data["user_ids"], step_1.data["cancelled_user_ids"]) == (
        T0 + timedelta(minutes=5),
        [],
        [service.bob.id],
    )
    assert step_1.data["cancel_reason"] == WITHDRAWN_AT_ONCE
    (withdrawn,) = [e for e in timeline if e.kind is TimelineKind.NOTIFICATION_CANCELLED]
    assert (withdrawn.data["notification_id"], withdrawn.data["user_id"], withdrawn.data["reason"]) == (
        bob.id,
        service.bob.id,
        WITHDRAWN_AT_ONCE,
    )


async def test_a_page_queued_earlier_and_withdrawn_later_is_named_by_the_withdrawal(service: Service) -> None:
    """The tick queued Bob's page at minute 5; the dispatcher had not sent it when the incident was
    resolved. Step 1 says Bob's page was queued; the stop event and the timeline say it was withdrawn."""
    incident = await service.incidents.open(None, NewIncident("checkout down"))
    await service.run_for(4)
    service.clock.advance(minutes=1)
    assert await EscalationTick(service.uow_factory(), service.clock, PagingConfig()).run() == 1
    await service.incidents.resolve(service.admin, incident.id)
    await service.run_for(30)

    async with service.uow_factory() as uow:
        events = (await uow.escalation_events.list_for_incident(incident.id, ALL)).items
        timeline = (await uow.timeline.list_for_incident(incident.id, ALL)).items
    assert [(e.kind, e.notified_user_ids, e.cancelled_user_ids, e.cancel_reason) for e in events] == [
        (EffectKind.FIRED, [service.alice.id], [], None),
        (EffectKind.FIRED, [service.bob.id], [], None),
        (EffectKind.STOPPED, [], [service.bob.id], "incident resolved"),
    ]
    bob = (await service.pages(incident.id))[service.bob.id]
    assert (bob.status, bob.cancel_reason) == (NotificationStatus.CANCELLED, "incident resolved")
    assert [m.address for m in service.notifier.attempts] == ["alice@example.com"]
    (withdrawn,) = [e for e in timeline if e.kind is TimelineKind.NOTIFICATION_CANCELLED]
    assert (withdrawn.data["notification_id"], withdrawn.data["reason"]) == (bob.id, "incident resolved")
