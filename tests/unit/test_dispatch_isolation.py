"""The dispatcher isolates destinations: a hard per-send timeout, a per-destination limit on sends in
flight, the most urgent pages first, and the destination policy asked again before each send."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from incidentcore.errors import ValidationFailed
from incidentcore.escalation import EscalationStep, Target, TargetType
from incidentcore.model import Channel, EscalationPolicy, Notification, NotificationStatus, Severity, User
from incidentcore.ports import OutgoingMessage, Page
from incidentcore.services import NewIncident, NotificationDispatch, SendSlots
from incidentcore.testing import RecordingNotifier, RefusedHosts
from incidentcore.testing.world import InMemoryServices

pytestmark = pytest.mark.anyio
ALL = Page(limit=500)


class HangingHosts(RecordingNotifier):
    """Never answers for addresses on `hosts` until `release` is set; delivers everything else."""

    def __init__(self, *hosts: str) -> None:
        super().__init__()
        self.hosts = set(hosts)
        self.release = asyncio.Event()
        self.hanging: list[OutgoingMessage] = []

    async def send(self, message: OutgoingMessage) -> None:
        if urlsplit(message.address or "").hostname in self.hosts:
            self.hanging.append(message)
            await self.release.wait()
        await super().send(message)


async def webhook_pages(world: InMemoryServices, *addresses: str, urgency: int = 0) -> list[Notification]:
    """Pages to `addresses`, all of one incident (which has no policy of its own)."""
    incident = await world.incidents.open(await world.admin(), NewIncident("db down"))
    async with world.uow() as uow:
        pages = await uow.notifications.add_new(
            [
                Notification(
                    None,
                    Channel.WEBHOOK,
                    address,
                    "[CRITICAL] db down",
                    "body",
                    f"page-{incident.id}-{n}",
                    world.clock.now(),
                    incident_id=incident.id,
                    urgency=urgency,
                )
                for n, address in enumerate(addresses)
            ]
        )
        await uow.commit()
    return pages


async def stored(world: InMemoryServices, pages: list[Notification]) -> list[Notification]:
    incidents = {n.incident_id for n in pages if n.incident_id is not None}
    async with world.uow() as uow:
        return [n for i in sorted(incidents) for n in (await uow.notifications.list_for_incident(i, ALL)).items]


def dispatcher(world: InMemoryServices, slots: SendSlots, send_timeout: float = 5.0) -> NotificationDispatch:
    return NotificationDispatch(
        world.uow(),
        world.clock,
        world.notifier,
        world.retry,
        slots=slots,
        destinations=world.destinations,
        send_timeout=timedelta(seconds=send_timeout),
    )


async def eventually(check: object, within: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_a_send_that_never_answers_ends_at_the_send_timeout_and_is_retried() -> None:
    world = InMemoryServices()
    world.notifier = notifier = HangingHosts("hangs.example")
    pages = await webhook_pages(world, "https://hangs.example/hook", "https://fine.example/hook")
    started = asyncio.get_running_loop().time()
    assert await dispatcher(world, SendSlots(), send_timeout=0.05).run() == 2
    assert asyncio.get_running_loop().time() - started < 1
    rows = {n.address: n for n in await stored(world, pages)}
    hung = rows["https://hangs.example/hook"]
    assert (hung.status, hung.attempts, hung.last_error) == (
        NotificationStatus.RETRYING,
        1,
        "webhook: no answer within 0.05 s",
    )
    assert hung.next_attempt_at == world.clock.now() + timedelta(seconds=30)  # the retry policy's first wait
    assert rows["https://fine.example/hook"].status is NotificationStatus.SENT
    assert [m.address for m in notifier.sent] == ["https://fine.example/hook"]


async def test_a_destination_at_its_limit_is_passed_over_and_the_rest_goes_out() -> None:
    world = InMemoryServices()
    world.notifier = notifier = HangingHosts("hangs.example")
    pages = await webhook_pages(world, *(f"https://hangs.example/hook/{n}" for n in range(6)))
    pages += await webhook_pages(world, "https://fine.example/hook", urgency=Severity.LOW.urgency)
    slots = SendSlots(total=10, per_destination=2)

    first = asyncio.create_task(dispatcher(world, slots).run())  # claims 2 of the hanging host, and the rest
    await eventually(lambda: len(notifier.sent) == 1)
    assert [m.address for m in notifier.sent] == ["https://fine.example/hook"]
    assert len(notifier.hanging) == 2
    assert await dispatcher(world, slots).run() == 0  # nothing admissible while the host holds its two

    notifier.release.set()
    assert await first == 3
    assert await dispatcher(world, slots).run() == 2  # the host's next two
    statuses = sorted(n.status.value for n in await stored(world, pages))
    assert statuses == ["pending"] * 2 + ["sent"] * 5
    assert slots.free == slots.total


async def test_the_most_urgent_incident_is_paged_first() -> None:
    world = InMemoryServices()
    admin = await world.admin()
    step = EscalationStep(30, (Target(TargetType.USER, user_id=admin.id),))
    await world.policies.create(admin, EscalationPolicy("everyone", (step,)))
    for severity in (Severity.INFO, Severity.LOW, Severity.HIGH, Severity.CRITICAL, Severity.MEDIUM):
        await world.incidents.open(admin, NewIncident(f"{severity.value} incident", severity=severity))
        world.clock.advance(seconds=1)
    dispatch = dispatcher(world, SendSlots())
    while await dispatch.run(batch_size=1):
        pass
    assert [m.subject.split("]")[0] for m in world.notifier.sent] == [
        "[CRITICAL",
        "[HIGH",
        "[MEDIUM",
        "[LOW",
        "[INFO",
    ]


async def paged_by_webhook(world: InMemoryServices, address: str) -> tuple[User, int]:
    admin = await world.admin()
    await world.preferences.set_for(admin, admin.id, Channel.WEBHOOK, enabled=True, address=address, min_severity=None)
    step = EscalationStep(30, (Target(TargetType.USER, user_id=admin.id),))
    await world.policies.create(admin, EscalationPolicy("webhook", (step,)))
    incident = await world.incidents.open(admin, NewIncident("checkout is down"))
    return admin, incident.id


async def test_a_destination_refused_when_sent_fails_for_good_and_nothing_is_sent() -> None:
    world = InMemoryServices()
    admin, incident_id = await paged_by_webhook(world, "https://hooks.example/pager")
    world.destinations.hosts.add("hooks.example")  # the name now points somewhere pages may not go
    await world.run_worker()
    (row,) = (await world.incidents.notifications(admin, incident_id, ALL)).items
    assert (row.status, row.attempts, row.next_attempt_at) == (NotificationStatus.FAILED, 1, None)
    assert row.last_error == "webhook: not sent: hooks.example is not a destination pages may reach"
    assert world.notifier.attempts == []
    assert world.destinations.checked[-1] == (Channel.WEBHOOK, "https://hooks.example/pager")


async def test_a_refused_address_is_not_saved() -> None:
    world = InMemoryServices()
    world.destinations = RefusedHosts({"10.0.0.1"})
    admin = await world.admin()
    with pytest.raises(ValidationFailed, match=r"address: 10\.0\.0\.1 is not a destination") as refused:
        await world.preferences.set_for(
            admin, admin.id, Channel.WEBHOOK, enabled=True, address="http://10.0.0.1/x", min_severity=None
        )
    assert [e.field for e in refused.value.errors] == ["address"]
    assert await world.preferences.list_for(admin, admin.id) == []


async def test_a_stopping_dispatcher_gives_its_unfinished_sends_back_due_at_once() -> None:
    world = InMemoryServices()
    world.notifier = notifier = HangingHosts("hangs.example")
    pages = await webhook_pages(world, "https://hangs.example/a", "https://hangs.example/b", "https://fine.example/c")
    slots = SendSlots(total=10, per_destination=2)
    batch = asyncio.create_task(dispatcher(world, slots).run())
    await eventually(lambda: len(notifier.hanging) == 2 and len(notifier.sent) == 1)
    world.clock.advance(seconds=3)
    batch.cancel()  # the worker is shutting down and its grace ran out
    with pytest.raises(asyncio.CancelledError):
        await batch

    rows = {n.address: n for n in await stored(world, pages)}
    for address in ("https://hangs.example/a", "https://hangs.example/b"):
        released = rows[address]
        # back in the queue, due now rather than when the 60 s lease ends; the attempt counted
        assert (released.status, released.next_attempt_at, released.attempts) == (
            NotificationStatus.PENDING,
            world.clock.now(),
            1,
        )
    assert rows["https://fine.example/c"].status is NotificationStatus.SENT  # its result stands
    assert slots.free == slots.total
    notifier.release.set()
    assert await dispatcher(world, slots).run() == 2  # the next worker sends them at once
    assert {n.status for n in await stored(world, pages)} == {NotificationStatus.SENT}
