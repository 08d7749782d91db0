"""Paging scenarios on a fake clock, in the spirit of GoAlert's smoke harness.

The real use cases (Incidents, EscalationTick, NotificationDispatch) run on the in-memory adapters;
time moves only when a test moves it. Each scenario asserts exactly who was paged, on which channel,
for which scheduled time.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from adapters.notify.retry import ExponentialBackoff
from incidentcore.escalation import EffectKind, EscalationStep, Target, TargetType
from incidentcore.model import (
    Channel,
    EscalationPolicy,
    Incident,
    IncidentStatus,
    Notification,
    NotificationStatus,
    Role,
    Severity,
    TimelineKind,
    User,
)
from incidentcore.ports import DeliveryFailed, OutgoingMessage, Page
from incidentcore.services import EscalationTick, NewIncident, NotificationDispatch, record_outcome
from incidentcore.testing import MemoryUnitOfWork, RecordingNotifier
from incidentcore.testing.world import InMemoryServices

pytestmark = pytest.mark.anyio
ALL = Page(limit=500)
T0 = datetime.fromisoformat("2026-03-02T09:00:00+00:00")

# The policy under test: alice, then the team lead, then carol; the whole chain runs twice.
STEP_DELAYS = (5, 10, 15)


@dataclass
class Oncall:
    world: InMemoryServices
    admin: User
    alice: User  # on-call engineer; prefers sms
    bob: User  # team lead; no preferences, so email
    carol: User  # manager; webhook always, slack only for critical
    names: dict[int, str]
    team_id: int

    async def open(self, title: str = "db down", severity: Severity = Severity.HIGH) -> Incident:
        return await self.world.incidents.open(
            self.admin, NewIncident(title, severity=severity, team_id=self.team_id)
        )

    async def incident(self, incident_id: int) -> Incident:
        return await self.world.incidents.get(self.admin, incident_id)

    async def run_for(self, minutes: int) -> None:
        """Moves the clock minute by minute, with one worker round after every minute."""
        for _ in range(minutes):
            self.world.clock.advance(minutes=1)
            await self.world.run_worker()

    async def pages(self, incident_id: int) -> list[tuple[int, int, int, str, Channel]]:
        """(minute the page was scheduled for, cycle, step, who, channel), in firing order."""
        rows = (await self.world.incidents.notifications(self.admin, incident_id, ALL)).items
        events = (await self.world.incidents.escalation_events(self.admin, incident_id, ALL)).items
        scheduled = {
            (e.cycle, e.step_index, e.loop): e.scheduled_at
            for e in events
            if e.kind in (EffectKind.FIRED, EffectKind.MANUAL)
        }
        pages = []
        for row in rows:
            key = parse_key(row)
            at = scheduled[(key["cycle"], key["step"], key["loop"])]
            pages.append(
                (minutes_after_t0(at), key["cycle"], key["step"], self.names[row.user_id or 0], row.channel)
            )
        return sorted(pages, key=lambda p: (p[0], p[1], p[2], p[3]))

    def sent(self) -> list[tuple[Channel, str | None]]:
        return [(m.channel, m.address) for m in self.world.notifier.sent]


def parse_key(row: Notification) -> dict[str, int]:
    parts = row.idempotency_key.split(":")
    fields = dict(zip(parts[::2], parts[1::2], strict=True))
    return {name: int(fields[name]) for name in ("cycle", "step", "loop")}


def minutes_after_t0(moment: datetime) -> int:
    return int((moment - T0) / timedelta(minutes=1))


@pytest.fixture
async def oncall() -> Oncall:
    world = InMemoryServices()
    world.clock.set(T0)
    admin = await world.admin()
    team = await world.teams.create(admin, "ops", None)
    alice = await world.user("alice@example.com", Role.ONCALL_ENGINEER, team.id)
    bob = await world.user("bob@example.com", Role.TEAM_LEAD, team.id)
    carol = await world.user("carol@example.com", Role.MANAGER)
    await world.preferences.set_for(
        alice, alice.id, Channel.SMS, enabled=True, address="+15550001", min_severity=None
    )
    await world.preferences.set_for(
        carol,
        carol.id,
        Channel.WEBHOOK,
        enabled=True,
        address="https://hooks.example.com/carol",
        min_severity=None,
    )
    await world.preferences.set_for(
        carol,
        carol.id,
        Channel.SLACK,
        enabled=True,
        address="slack://T1/B1/secret",
        min_severity=Severity.CRITICAL,
    )
    names = {alice.id: "alice", bob.id: "bob", carol.id: "carol"}
    return Oncall(world, admin, alice, bob, carol, names, team.id)


async def three_step_policy(
    oncall: Oncall, *, repeat: int = 1, ack_timeout_minutes: int | None = None
) -> None:
    targets = (
        (Target(TargetType.USER, user_id=oncall.alice.id),),
        (Target(TargetType.ROLE, role=Role.TEAM_LEAD.value),),
        (Target(TargetType.USER, user_id=oncall.carol.id),),
    )
    steps = tuple(EscalationStep(delay, step) for delay, step in zip(STEP_DELAYS, targets, strict=True))
    policy = EscalationPolicy(
        "primary", steps, team_id=oncall.team_id, repeat=repeat, ack_timeout_minutes=ack_timeout_minutes
    )
    await oncall.world.policies.create(oncall.admin, policy)


ALICE_SMS = ("alice", Channel.SMS)
BOB_EMAIL = ("bob", Channel.EMAIL)
CAROL_WEBHOOK = ("carol", Channel.WEBHOOK)


def expect(*pages: tuple[int, int, int, tuple[str, Channel]]) -> list[tuple[int, int, int, str, Channel]]:
    return [(minute, cycle, step, *who) for minute, cycle, step, who in pages]


# --- the schedule -----------------------------------------------------------------------------------------


async def test_three_steps_with_a_repeat_page_the_right_people_on_schedule(oncall: Oncall) -> None:
    await three_step_policy(oncall)
    incident = await oncall.open()
    # Step 0 goes out with the trigger, before any tick.
    assert await oncall.pages(incident.id) == expect((0, 0, 0, ALICE_SMS))
    assert (await oncall.incident(incident.id)).next_escalation_at == T0 + timedelta(minutes=5)

    await oncall.run_for(4)
    assert len(await oncall.pages(incident.id)) == 1  # nothing early
    await oncall.run_for(1)
    current = await oncall.incident(incident.id)
    assert (current.escalation_level, current.next_escalation_at) == (1, T0 + timedelta(minutes=15))

    await oncall.run_for(120)
    assert await oncall.pages(incident.id) == expect(
        (0, 0, 0, ALICE_SMS),
        (5, 0, 1, BOB_EMAIL),
        (15, 0, 2, CAROL_WEBHOOK),
        (30, 0, 0, ALICE_SMS),
        (35, 0, 1, BOB_EMAIL),
        (45, 0, 2, CAROL_WEBHOOK),
    )
    # Each page was created by the tick of its own minute: the worker kept up.
    rows = (await oncall.world.incidents.notifications(oncall.admin, incident.id, ALL)).items
    assert sorted(minutes_after_t0(r.created_at) for r in rows) == [0, 5, 15, 30, 35, 45]
    assert all(r.status is NotificationStatus.SENT for r in rows)
    assert (
        oncall.sent()
        == [
            (Channel.SMS, "+15550001"),
            (Channel.EMAIL, "bob@example.com"),
            (Channel.WEBHOOK, "https://hooks.example.com/carol"),
        ]
        * 2
    )
    exhausted = await oncall.incident(incident.id)
    assert (exhausted.status, exhausted.escalation_level, exhausted.next_escalation_at) == (
        IncidentStatus.TRIGGERED,
        2,
        None,
    )


async def test_messages_name_the_incident_its_severity_team_and_how_to_acknowledge(oncall: Oncall) -> None:
    await three_step_policy(oncall)
    incident = await oncall.open("payments API 500s", Severity.CRITICAL)
    await oncall.world.run_worker()
    (message,) = oncall.world.notifier.sent
    assert message.subject == f"[CRITICAL] Incident #{incident.id}: payments API 500s"
    for text in ("Severity: critical", "Team: ops", f"/v1/incidents/{incident.id}/acknowledge"):
        assert text in message.body


async def test_acknowledge_stops_the_escalation(oncall: Oncall) -> None:
    await three_step_policy(oncall)
    incident = await oncall.open()
    await oncall.run_for(7)
    acknowledged = await oncall.world.incidents.acknowledge(oncall.bob, incident.id)
    assert (acknowledged.status, acknowledged.next_escalation_at) == (IncidentStatus.ACKNOWLEDGED, None)
    await oncall.run_for(180)
    assert await oncall.pages(incident.id) == expect((0, 0, 0, ALICE_SMS), (5, 0, 1, BOB_EMAIL))


async def test_ack_timeout_retriggers_at_step_zero(oncall: Oncall) -> None:
    await three_step_policy(oncall, ack_timeout_minutes=20)
    incident = await oncall.open()
    await oncall.run_for(7)
    acknowledged = await oncall.world.incidents.acknowledge(oncall.alice, incident.id)
    assert acknowledged.next_escalation_at == T0 + timedelta(minutes=27)
    await oncall.run_for(19)
    assert len(await oncall.pages(incident.id)) == 2
    await oncall.run_for(1)
    retriggered = await oncall.incident(incident.id)
    assert (retriggered.status, retriggered.acknowledged_at) == (IncidentStatus.TRIGGERED, None)
    await oncall.run_for(10)
    assert await oncall.pages(incident.id) == expect(
        (0, 0, 0, ALICE_SMS),
        (5, 0, 1, BOB_EMAIL),
        (27, 1, 0, ALICE_SMS),  # a new trigger cycle, from step 0
        (32, 1, 1, BOB_EMAIL),
    )
    timeline = (await oncall.world.incidents.timeline(oncall.admin, incident.id, ALL)).items
    (event,) = [e for e in timeline if e.kind is TimelineKind.RETRIGGERED]
    assert (event.data["reason"], minutes_after_t0(event.created_at)) == ("ack_timeout", 27)


async def test_snooze_holds_the_pages_then_retriggers_at_step_zero(oncall: Oncall) -> None:
    await three_step_policy(oncall)
    incident = await oncall.open()
    await oncall.run_for(2)
    await oncall.world.incidents.acknowledge(oncall.alice, incident.id)
    snoozed = await oncall.world.incidents.snooze(oncall.alice, incident.id, 30)
    assert snoozed.snoozed_until == T0 + timedelta(minutes=32)
    await oncall.run_for(29)
    assert await oncall.pages(incident.id) == expect((0, 0, 0, ALICE_SMS))  # step 1 (due at 5) held
    await oncall.run_for(6)
    assert await oncall.pages(incident.id) == expect(
        (0, 0, 0, ALICE_SMS), (32, 1, 0, ALICE_SMS), (37, 1, 1, BOB_EMAIL)
    )
    assert (await oncall.incident(incident.id)).snoozed_until is None


async def test_resolve_cancels_pending_pages_and_stops_the_escalation(oncall: Oncall) -> None:
    await three_step_policy(oncall)
    incident = await oncall.open()
    await oncall.world.incidents.resolve(oncall.alice, incident.id)
    await oncall.run_for(120)
    assert oncall.sent() == []
    (row,) = (await oncall.world.incidents.notifications(oncall.admin, incident.id, ALL)).items
    assert (row.status, row.cancel_reason, row.attempts) == (
        NotificationStatus.CANCELLED,
        "incident resolved",
        0,
    )
    resolved = await oncall.incident(incident.id)
    assert (resolved.status, resolved.next_escalation_at) == (IncidentStatus.RESOLVED, None)


async def test_resolve_lets_a_send_already_in_flight_finish(oncall: Oncall) -> None:
    await three_step_policy(oncall)
    incident = await oncall.open()
    world = oncall.world

    class ResolvingNotifier(RecordingNotifier):
        async def send(self, message: OutgoingMessage) -> None:
            await world.incidents.resolve(oncall.alice, incident.id)  # while the page is `sending`
            await super().send(message)

    world.notifier = ResolvingNotifier()
    await world.run_worker()
    (row,) = (await world.incidents.notifications(oncall.admin, incident.id, ALL)).items
    assert (row.status, row.attempts) == (NotificationStatus.SENT, 1)


async def test_snooze_withdraws_pages_still_waiting_to_go_out(oncall: Oncall) -> None:
    """An acknowledgement lets a send already in flight finish; if that send fails it waits for a retry.
    Snoozing withdraws the retry: the incident is in hand, nothing more goes out while it is snoozed."""
    await three_step_policy(oncall)
    incident = await oncall.open()
    world = oncall.world

    class AcknowledgingThenFailing(RecordingNotifier):
        async def send(self, message: OutgoingMessage) -> None:
            await world.incidents.acknowledge(oncall.alice, incident.id)  # while the page is `sending`
            raise DeliveryFailed("sms gateway timed out")

    world.notifier = AcknowledgingThenFailing()
    await world.run_worker()
    (row,) = (await world.incidents.notifications(oncall.admin, incident.id, ALL)).items
    assert row.status is NotificationStatus.RETRYING  # waiting to go out again in 30 seconds

    world.notifier = RecordingNotifier()
    await world.incidents.snooze(oncall.alice, incident.id, 30)
    (row,) = (await world.incidents.notifications(oncall.admin, incident.id, ALL)).items
    assert (row.status, row.cancel_reason, row.last_error, row.next_attempt_at) == (
        NotificationStatus.CANCELLED,
        "incident snoozed",
        "sms gateway timed out",  # what the one attempt it had met
        None,
    )
    await oncall.run_for(29)
    assert oncall.sent() == []


# --- catching up ----------------------------------------------------------------------------------------


async def test_a_worker_down_for_an_hour_catches_up_in_order_with_nothing_skipped(oncall: Oncall) -> None:
    await three_step_policy(oncall)
    first = await oncall.open("first")
    oncall.world.clock.advance(minutes=3)
    second = await oncall.open("second")
    oncall.world.clock.advance(minutes=57)  # no worker ran in between
    await oncall.world.run_worker()

    schedule = [(0, 0, 0, ALICE_SMS), (5, 0, 1, BOB_EMAIL), (15, 0, 2, CAROL_WEBHOOK)]
    schedule += [(30, 0, 0, ALICE_SMS), (35, 0, 1, BOB_EMAIL), (45, 0, 2, CAROL_WEBHOOK)]
    assert await oncall.pages(first.id) == expect(*schedule)
    assert await oncall.pages(second.id) == expect(*((m + 3, c, s, who) for m, c, s, who in schedule))
    for incident in (first, second):
        events = (await oncall.world.incidents.escalation_events(oncall.admin, incident.id, ALL)).items
        fired = [(e.loop, e.step_index) for e in events if e.kind is EffectKind.FIRED]
        assert fired == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
        escalated = [
            e.created_at
            for e in (await oncall.world.incidents.timeline(oncall.admin, incident.id, ALL)).items
            if e.kind is TimelineKind.ESCALATED
        ]
        assert escalated == sorted(escalated)  # dated at their scheduled times, in order
    # Every page went out once, each incident's pages in step order.
    sent = [m.subject.split(":")[-1].strip() for m in oncall.world.notifier.sent]
    assert sent.count("first") == sent.count("second") == 6


async def test_a_step_caught_up_by_an_action_is_dated_at_its_scheduled_time(oncall: Oncall) -> None:
    """The worker was down when step 1 came due at minute 5; the acknowledgement at minute 7 fires it
    first, and the timeline says it escalated at minute 5, before the acknowledgement."""
    await three_step_policy(oncall)
    incident = await oncall.open()
    oncall.world.clock.advance(minutes=7)
    await oncall.world.incidents.acknowledge(oncall.bob, incident.id)
    timeline = (await oncall.world.incidents.timeline(oncall.admin, incident.id, ALL)).items
    assert [
        (e.kind, minutes_after_t0(e.created_at), e.data.get("step_index"))
        for e in timeline
        if e.kind in (TimelineKind.ESCALATED, TimelineKind.ACKNOWLEDGED)
    ] == [
        (TimelineKind.ESCALATED, 0, 0),
        (TimelineKind.ESCALATED, 5, 1),
        (TimelineKind.ACKNOWLEDGED, 7, None),
    ]
    (caught_up,) = [e for e in timeline if e.kind is TimelineKind.ESCALATED and e.data["step_index"] == 1]
    assert caught_up.data["scheduled_at"] == (T0 + timedelta(minutes=5)).isoformat()


async def test_a_step_fired_and_withdrawn_by_one_acknowledgement_pages_nobody(oncall: Oncall) -> None:
    """Step 0 pages alice, step 1 the team lead (bob) after 5 minutes. The worker is down from minute 4
    to minute 6; at minute 6 alice acknowledges. The acknowledgement first fires the overdue step 1,
    then withdraws it in the same transaction: the record says bob was not paged, and why."""
    world = oncall.world
    await three_step_policy(oncall)
    incident = await oncall.open()
    await oncall.run_for(3)
    world.clock.advance(minutes=3)  # no worker at minutes 4, 5 and 6
    await world.incidents.acknowledge(oncall.alice, incident.id)
    await oncall.run_for(60)

    events = (await world.incidents.escalation_events(oncall.admin, incident.id, ALL)).items
    assert [
        (e.kind, e.step_index, e.notified_user_ids, e.cancelled_user_ids, e.cancel_reason) for e in events
    ] == [
        (EffectKind.FIRED, 0, [oncall.alice.id], [], None),
        (EffectKind.FIRED, 1, [], [oncall.bob.id], "incident acknowledged before the page could be sent"),
        (EffectKind.ACKNOWLEDGED, None, [], [], None),  # nothing queued earlier was still waiting
    ]
    pages = {
        row.user_id: row
        for row in (await world.incidents.notifications(oncall.admin, incident.id, ALL)).items
    }
    assert (
        pages[oncall.bob.id].status,
        pages[oncall.bob.id].cancel_reason,
        pages[oncall.bob.id].attempts,
    ) == (
        NotificationStatus.CANCELLED,
        "incident acknowledged before the page could be sent",
        0,
    )
    assert pages[oncall.alice.id].status is NotificationStatus.SENT
    assert oncall.sent() == [(Channel.SMS, "+15550001")]  # nothing ever went to bob

    timeline = (await world.incidents.timeline(oncall.admin, incident.id, ALL)).items
    (step_1,) = [e for e in timeline if e.kind is TimelineKind.ESCALATED and e.data["step_index"] == 1]
    assert (
        minutes_after_t0(step_1.created_at),
        step_1.data["user_ids"],
        step_1.data["cancelled_user_ids"],
    ) == (
        5,
        [],
        [oncall.bob.id],
    )
    assert step_1.data["cancel_reason"] == "incident acknowledged before the page could be sent"
    assert "warning" not in step_1.data  # bob could be paged; he was not, because the incident was in hand
    (withdrawn,) = [e for e in timeline if e.kind is TimelineKind.NOTIFICATION_CANCELLED]
    assert withdrawn.data == {
        "notification_id": pages[oncall.bob.id].id,
        "user_id": oncall.bob.id,
        "channel": "email",
        "attempts": 0,
        "reason": "incident acknowledged before the page could be sent",
    }
    assert [e.kind for e in timeline][-2:] == [TimelineKind.ACKNOWLEDGED, TimelineKind.NOTIFICATION_CANCELLED]


async def test_a_page_queued_earlier_and_withdrawn_later_is_named_by_the_withdrawal(oncall: Oncall) -> None:
    """The tick queues step 1 for bob at minute 5, but the dispatcher has not sent it yet when alice
    acknowledges. Step 1's event rightly says bob's page was queued; the acknowledgement's event and the
    timeline name the page it withdrew, so the record never leaves bob looking paged."""
    world = oncall.world
    await three_step_policy(oncall)
    incident = await oncall.open()
    await oncall.run_for(4)
    world.clock.advance(minutes=1)
    assert await world.escalation_tick.run() == 1  # the tick ran; the dispatcher did not
    await world.incidents.acknowledge(oncall.alice, incident.id)
    await oncall.run_for(60)

    events = (await world.incidents.escalation_events(oncall.admin, incident.id, ALL)).items
    assert [
        (e.kind, e.step_index, e.notified_user_ids, e.cancelled_user_ids, e.cancel_reason) for e in events
    ] == [
        (EffectKind.FIRED, 0, [oncall.alice.id], [], None),
        (EffectKind.FIRED, 1, [oncall.bob.id], [], None),
        (EffectKind.ACKNOWLEDGED, None, [], [oncall.bob.id], "incident acknowledged"),
    ]
    pages = {
        row.user_id: row
        for row in (await world.incidents.notifications(oncall.admin, incident.id, ALL)).items
    }
    assert (pages[oncall.bob.id].status, pages[oncall.bob.id].cancel_reason) == (
        NotificationStatus.CANCELLED,
        "incident acknowledged",
    )
    assert oncall.sent() == [(Channel.SMS, "+15550001")]
    timeline = (await world.incidents.timeline(oncall.admin, incident.id, ALL)).items
    (withdrawn,) = [e for e in timeline if e.kind is TimelineKind.NOTIFICATION_CANCELLED]
    assert (withdrawn.data["notification_id"], withdrawn.data["reason"]) == (
        pages[oncall.bob.id].id,
        "incident acknowledged",
    )


async def test_catch_up_across_many_incidents_in_small_batches(oncall: Oncall) -> None:
    await three_step_policy(oncall, repeat=0)
    incidents = [await oncall.open(f"incident {i}") for i in range(25)]
    oncall.world.clock.advance(hours=1)
    tick = EscalationTick(oncall.world.uow(), oncall.world.clock, oncall.world.paging)
    batches = [await tick.run(batch_size=10) for _ in range(4)]
    assert batches == [10, 10, 5, 0]
    for incident in incidents:
        assert [p[2] for p in await oncall.pages(incident.id)] == [0, 1, 2]


# --- preferences ----------------------------------------------------------------------------------------


async def test_preferences_pick_channels_by_severity_and_default_to_email(oncall: Oncall) -> None:
    world = oncall.world
    dave = await world.user("dave@example.com", Role.ONCALL_ENGINEER, oncall.team_id)
    erin = await world.user("erin@example.com", Role.ONCALL_ENGINEER, oncall.team_id)
    await world.preferences.set_for(
        dave, dave.id, Channel.EMAIL, enabled=False, address=None, min_severity=None
    )
    await world.preferences.set_for(
        erin,
        erin.id,
        Channel.EMAIL,
        enabled=True,
        address="erin@pager.example.com",
        min_severity=Severity.HIGH,
    )
    oncall.names |= {dave.id: "dave", erin.id: "erin"}
    everyone = tuple(
        Target(TargetType.USER, user_id=u.id) for u in (oncall.alice, oncall.bob, oncall.carol, dave, erin)
    )
    await world.policies.create(oncall.admin, EscalationPolicy("all", (EscalationStep(5, everyone),)))

    critical = await oncall.open("critical", Severity.CRITICAL)
    low = await oncall.open("low", Severity.LOW)
    assert [p[3:] for p in await oncall.pages(critical.id)] == [
        ALICE_SMS,
        BOB_EMAIL,
        ("carol", Channel.SLACK),
        CAROL_WEBHOOK,
        ("erin", Channel.EMAIL),  # dave disabled his only channel
    ]
    assert [p[3:] for p in await oncall.pages(low.id)] == [ALICE_SMS, BOB_EMAIL, CAROL_WEBHOOK]
    await world.run_worker()
    assert (Channel.EMAIL, "erin@pager.example.com") in oncall.sent()


# --- exactly once ------------------------------------------------------------------------------------------


async def test_ticking_twice_at_one_instant_creates_nothing_more(oncall: Oncall) -> None:
    await three_step_policy(oncall)
    incident = await oncall.open()
    oncall.world.clock.advance(minutes=20)
    await oncall.world.run_worker()
    counts = await _counts(oncall, incident.id)
    assert await oncall.world.escalation_tick.run() == 0
    await oncall.world.run_worker()
    assert await _counts(oncall, incident.id) == counts


async def test_concurrent_ticks_fire_each_step_once(oncall: Oncall) -> None:
    await three_step_policy(oncall)
    incidents = [await oncall.open(f"incident {i}") for i in range(10)]
    oncall.world.clock.advance(minutes=20)
    world = oncall.world
    ticks = [EscalationTick(world.uow(), world.clock, world.paging) for _ in range(4)]
    advanced = await asyncio.gather(*(t.run(batch_size=3) for t in ticks))
    await world.run_worker()
    assert sum(advanced) <= 10
    for incident in incidents:
        assert [p[2] for p in await oncall.pages(incident.id)] == [0, 1, 2]


async def test_replaying_a_fired_step_never_adds_a_second_page(oncall: Oncall) -> None:
    await three_step_policy(oncall)
    incident = await oncall.open()
    oncall.world.clock.advance(minutes=5)
    async with oncall.world.uow() as uow:  # a stale copy, as a worker that lost its claim would hold
        stale = await uow.incidents.get(incident.id)
    await oncall.world.run_worker()
    before = await _counts(oncall, incident.id)
    assert stale is not None
    # Re-recording the same fires directly: the outbox keys them out.
    async with oncall.world.uow() as uow:
        current = await uow.incidents.get(incident.id)
        assert current is not None
        stale.version = current.version
        now = oncall.world.clock.now()
        outcome = stale.tick(now)
        await uow.incidents.update(stale)
        await record_outcome(uow, oncall.world.paging, stale, outcome, now, None)
        await uow.commit()
    assert (await _counts(oncall, incident.id))[0] == before[0]


async def _counts(oncall: Oncall, incident_id: int) -> tuple[int, int, int]:
    world = oncall.world
    return (
        (await world.incidents.notifications(oncall.admin, incident_id, ALL)).total,
        (await world.incidents.escalation_events(oncall.admin, incident_id, ALL)).total,
        len(world.notifier.sent),
    )


# --- delivery -----------------------------------------------------------------------------------------------


async def test_dispatcher_retries_with_backoff_then_fails_visibly(oncall: Oncall) -> None:
    world = oncall.world
    await three_step_policy(oncall)
    world.notifier.fail_with = DeliveryFailed("sms gateway unreachable")
    world.retry = ExponentialBackoff(timedelta(seconds=30), max_attempts=3, jitter="none")  # type: ignore[assignment]
    incident = await oncall.open()

    await world.run_worker()
    (row,) = (await world.incidents.notifications(oncall.admin, incident.id, ALL)).items
    assert (row.status, row.attempts, row.last_error) == (
        NotificationStatus.RETRYING,
        1,
        "sms gateway unreachable",
    )
    assert row.next_attempt_at == T0 + timedelta(seconds=30)
    world.clock.advance(seconds=29)
    await world.run_worker()
    assert len(world.notifier.attempts) == 1  # not before its time
    world.clock.advance(seconds=1)
    await world.run_worker()
    (row,) = (await world.incidents.notifications(oncall.admin, incident.id, ALL)).items
    assert (row.status, row.attempts, row.next_attempt_at) == (
        NotificationStatus.RETRYING,
        2,
        T0 + timedelta(seconds=90),
    )
    world.clock.advance(seconds=60)
    await world.run_worker()
    (row,) = (await world.incidents.notifications(oncall.admin, incident.id, ALL)).items
    assert (row.status, row.attempts, row.next_attempt_at) == (NotificationStatus.FAILED, 3, None)
    failed = [
        e
        for e in (await world.incidents.timeline(oncall.admin, incident.id, ALL)).items
        if e.kind in (TimelineKind.NOTIFICATION_FAILED, TimelineKind.NOTIFIED)
    ]
    assert [(e.kind, e.data["attempts"], e.data["error"]) for e in failed] == [
        (TimelineKind.NOTIFICATION_FAILED, 3, "sms gateway unreachable")
    ]
    world.clock.advance(minutes=3)  # still before step 1 is due (minute 5)
    await world.run_worker()
    assert len(world.notifier.attempts) == 3  # given up for good


async def test_a_send_whose_lease_expired_is_sent_again_and_the_late_result_is_fenced(oncall: Oncall) -> None:
    world = oncall.world
    await three_step_policy(oncall)
    incident = await oncall.open()
    lease = timedelta(seconds=60)
    async with world.uow() as crashed:  # a worker claims the page, commits, then dies before sending
        (claimed,) = await crashed.notifications.claim_due(world.clock.now(), 10, lease)
        await crashed.commit()

    world.clock.advance(seconds=59)
    dispatch = NotificationDispatch(world.uow(), world.clock, world.notifier, world.retry, lease=lease)
    assert await dispatch.run() == 0  # still leased
    world.clock.advance(seconds=1)
    assert await dispatch.run() == 1
    (row,) = (await world.incidents.notifications(oncall.admin, incident.id, ALL)).items
    assert (row.status, row.attempts) == (NotificationStatus.SENT, 2)
    assert len(world.notifier.sent) == 1

    claimed.mark_failed("late result from the dead worker", world.clock.now(), None)
    async with MemoryUnitOfWork(world.store) as late:
        assert await late.notifications.record(claimed) is False
        await late.commit()
    (row,) = (await world.incidents.notifications(oncall.admin, incident.id, ALL)).items
    assert row.status is NotificationStatus.SENT


def test_exponential_backoff_grows_caps_and_gives_up() -> None:
    now = T0
    backoff = ExponentialBackoff(
        timedelta(seconds=30), 2, timedelta(minutes=3), max_attempts=6, jitter="none"
    )
    delays = [backoff.next_attempt(n, now) for n in range(1, 7)]
    assert [(d - now).total_seconds() if d else None for d in delays] == [30, 60, 120, 180, 180, None]
    assert backoff.delay(10_000) == timedelta(minutes=3)
    with pytest.raises(ValueError, match="at least 1"):
        backoff.next_attempt(0, now)


@pytest.mark.parametrize(("jitter", "low", "high"), [("full", 0.0, 120.0), ("equal", 60.0, 120.0)])
def test_exponential_backoff_jitter_stays_in_its_band(jitter: str, low: float, high: float) -> None:
    backoff = ExponentialBackoff(jitter=jitter, rng=random.Random(7))  # type: ignore[arg-type]
    waits = [(backoff.next_attempt(3, T0) - T0).total_seconds() for _ in range(200)]  # type: ignore[operator]
    assert all(low <= w <= high for w in waits)
    assert len(set(waits)) > 100  # actually spread
    same_seed = ExponentialBackoff(jitter=jitter, rng=random.Random(7))  # type: ignore[arg-type]
    assert (same_seed.next_attempt(3, T0) - T0).total_seconds() == waits[0]  # type: ignore[operator]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base": timedelta(0)},
        {"factor": 0.5},
        {"max_attempts": 0},
        {"jitter": "some"},
        {"max_delay": timedelta(seconds=1)},
    ],
)
def test_exponential_backoff_rejects_nonsense(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"must|need"):
        ExponentialBackoff(**kwargs)  # type: ignore[arg-type]
