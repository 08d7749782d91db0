"""The worker loop on the in-memory adapters, wired through a dishka container like production."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from dishka import AsyncContainer, Provider, Scope, make_async_container, provide

from adapters.nudge import AsyncioNudge
from entrypoints.worker import scheduler_for
from incidentcore.escalation import EscalationStep, Target, TargetType
from incidentcore.model import EscalationPolicy, NotificationStatus, User
from incidentcore.ports import Clock, IncidentFilter, Notifier, OutgoingMessage, Page, RetryPolicy, UnitOfWork
from incidentcore.services import (
    EscalationTick,
    HeartbeatCheck,
    NewIncident,
    NotificationDispatch,
    PagingConfig,
    SendSlots,
)
from incidentcore.testing import FakeClock, FixedRetryPolicy, MemoryUnitOfWork, RecordingNotifier
from incidentcore.testing.world import InMemoryServices

pytestmark = pytest.mark.anyio
ALL = Page(limit=500)


class WorldProvider(Provider):
    """The production shape (APP singletons, one unit of work per REQUEST scope) over a test world."""

    def __init__(self, world: InMemoryServices, nudge: AsyncioNudge, slots: SendSlots | None = None) -> None:
        super().__init__()
        self.world = world
        self.the_nudge = nudge
        self.the_slots = slots or SendSlots()

    @provide(scope=Scope.APP)
    def clock(self) -> Clock:
        return self.world.clock

    @provide(scope=Scope.APP)
    def nudge(self) -> AsyncioNudge:
        return self.the_nudge

    @provide(scope=Scope.APP)
    def notifier(self) -> Notifier:
        return self.world.notifier

    @provide(scope=Scope.APP)
    def retry(self) -> RetryPolicy:
        return FixedRetryPolicy([timedelta(seconds=30)])

    @provide(scope=Scope.APP)
    def paging(self) -> PagingConfig:
        return self.world.paging

    @provide(scope=Scope.REQUEST)
    def unit_of_work(self) -> UnitOfWork:
        return MemoryUnitOfWork(self.world.store)

    escalation_tick = provide(EscalationTick, scope=Scope.REQUEST)
    heartbeat_check = provide(HeartbeatCheck, scope=Scope.REQUEST)

    @provide(scope=Scope.APP)
    def slots(self) -> SendSlots:
        return self.the_slots

    @provide(scope=Scope.REQUEST)
    def dispatch(
        self, uow: UnitOfWork, clock: Clock, notifier: Notifier, retry: RetryPolicy, slots: SendSlots
    ) -> NotificationDispatch:
        return NotificationDispatch(uow, clock, notifier, retry, slots=slots, send_timeout=timedelta(seconds=5))


@pytest.fixture
async def world() -> InMemoryServices:
    world = InMemoryServices(FakeClock())
    world.nudge = AsyncioNudge()  # type: ignore[assignment]
    return world


@pytest.fixture
async def container(world: InMemoryServices) -> AsyncIterator[AsyncContainer]:
    nudge = world.nudge
    assert isinstance(nudge, AsyncioNudge)
    container = make_async_container(WorldProvider(world, nudge))
    yield container
    await container.close()


async def paged_policy(world: InMemoryServices, delay_minutes: int = 5) -> User:
    admin = await world.admin()
    steps = tuple(
        EscalationStep(delay_minutes, (Target(TargetType.USER, user_id=admin.id),)) for _ in range(2)
    )
    await world.policies.create(admin, EscalationPolicy("p", steps))
    return admin


async def eventually(check: object, within: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def test_a_wake_drains_full_batches_without_waiting_for_the_interval(
    world: InMemoryServices, container: AsyncContainer
) -> None:
    admin = await paged_policy(world)
    for i in range(25):
        await world.incidents.open(admin, NewIncident(f"incident {i}"))
    world.clock.advance(minutes=5)
    scheduler = await scheduler_for(container, interval=60, tick_batch=10, dispatch_batch=7)
    scheduler.start()
    try:  # tick batches of 10, 10, 5, then pages 7 at a time: steps 0 and 1 of 25, in the first round
        await eventually(lambda: len(world.notifier.sent) == 50)
    finally:
        await scheduler.stop()
    incidents = (await world.incidents.list(admin, IncidentFilter(), ALL)).items
    assert all(i.escalation_level == 1 for i in incidents)


async def test_a_nudge_wakes_the_worker_long_before_its_interval(
    world: InMemoryServices, container: AsyncContainer
) -> None:
    admin = await paged_policy(world)
    scheduler = await scheduler_for(container, interval=60)
    scheduler.start()
    await asyncio.sleep(0.05)  # the first round has run and the loops are asleep
    await world.incidents.open(admin, NewIncident("checkout down"))
    await eventually(lambda: len(world.notifier.sent) == 1)
    await scheduler.stop()


async def test_the_loop_follows_the_clock(world: InMemoryServices, container: AsyncContainer) -> None:
    admin = await paged_policy(world)
    incident = await world.incidents.open(admin, NewIncident("x"))
    scheduler = await scheduler_for(container, interval=0.02)
    scheduler.start()
    await eventually(lambda: len(world.notifier.sent) == 1)
    world.clock.advance(minutes=5)
    await eventually(lambda: len(world.notifier.sent) == 2)
    await scheduler.stop()
    events = (await world.incidents.escalation_events(admin, incident.id, ALL)).items
    assert [e.step_index for e in events] == [0, 1]


async def test_stop_finishes_the_sends_in_hand_and_claims_nothing_new(world: InMemoryServices) -> None:
    nudge = world.nudge
    assert isinstance(nudge, AsyncioNudge)
    container = make_async_container(WorldProvider(world, nudge, SendSlots(total=1)))
    admin = await paged_policy(world)
    started, release = asyncio.Event(), asyncio.Event()

    class SlowNotifier(RecordingNotifier):
        async def send(self, message: OutgoingMessage) -> None:
            started.set()
            await release.wait()
            await super().send(message)

    world.notifier = SlowNotifier()
    incidents = [await world.incidents.open(admin, NewIncident(f"i{i}")) for i in range(3)]
    scheduler = await scheduler_for(container, interval=60, dispatch_batch=1)
    scheduler.start()
    await asyncio.wait_for(started.wait(), 3)
    stopping = asyncio.create_task(scheduler.stop())
    await asyncio.sleep(0.05)
    assert not stopping.done()  # waits for the send in hand
    release.set()
    await asyncio.wait_for(stopping, 3)
    statuses = [
        (row.status, row.attempts)
        for incident in incidents
        for row in (await world.incidents.notifications(admin, incident.id, ALL)).items
    ]
    assert sorted(statuses) == [
        (NotificationStatus.PENDING, 0),
        (NotificationStatus.PENDING, 0),
        (NotificationStatus.SENT, 1),
    ]
    await container.close()


async def test_a_failing_round_is_logged_and_the_loop_goes_on(
    world: InMemoryServices, container: AsyncContainer, caplog: pytest.LogCaptureFixture
) -> None:
    admin = await paged_policy(world)
    await world.incidents.open(admin, NewIncident("x"))
    scheduler = await scheduler_for(container, interval=0.02, error_backoff=0.01)
    real_start_dispatch = scheduler.start_dispatch
    failures = 2

    async def flaky() -> int:
        nonlocal failures
        if failures:
            failures -= 1
            raise ConnectionError("database went away")
        return await real_start_dispatch()

    scheduler.start_dispatch = flaky  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="incidentcore.worker"):
        scheduler.start()
        await eventually(lambda: len(world.notifier.sent) == 1)
        await scheduler.stop()
    failed = [r for r in caplog.records if "dispatch failed" in r.getMessage()]
    assert len(failed) == 2 and failed[0].exc_info is not None


async def test_stop_without_start_and_a_second_stop_are_harmless(container: AsyncContainer) -> None:
    scheduler = await scheduler_for(container)
    await scheduler.stop()
    scheduler.start()
    await scheduler.stop()
    await scheduler.stop()
    assert scheduler.stopping
