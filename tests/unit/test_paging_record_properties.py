"""The paging record tells the truth, over random runs of the whole service on a fake clock.

A run: an incident opens on a random policy; then random actions (acknowledge, snooze, resolve,
escalate), clock moves, and worker pauses: the tick and the dispatcher run separately, in part, or not
at all, so pages are written and withdrawn at every point of their life. At the end the worker drains.

What a fire's escalation event says (see EscalationEvent): `notified_user_ids` are the users it queued
pages for; `cancelled_user_ids` those whose pages the same transaction withdrew, never queued. A page
queued and withdrawn later is named by the withdrawal: the cancelling event's `cancelled_user_ids` and
a `notification_cancelled` timeline entry. So, for every fire:
- every page handed to the notifier belongs to a fire that lists its user as notified;
- every user listed as notified was handed a page for that fire, unless the record names the
  withdrawal of each of their pages for it;
- no user listed as cancelled is ever handed a page for that fire.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from incidentcore.errors import Conflict
from incidentcore.escalation import EffectKind, EscalationStep, Target, TargetType
from incidentcore.model import (
    Channel,
    EscalationEvent,
    EscalationPolicy,
    Notification,
    NotificationStatus,
    Role,
    TimelineEvent,
    TimelineKind,
)
from incidentcore.ports import DeliveryFailed, OutgoingMessage, Page
from incidentcore.services import NewIncident, PagingConfig
from incidentcore.testing import RecordingNotifier
from incidentcore.testing.world import InMemoryServices, drain

ALL = Page(limit=Page.MAX_LIMIT)
AT_ONCE = "before the page could be sent"  # how a withdrawal in the fire's own transaction ends
CANCELLING = (EffectKind.ACKNOWLEDGED, EffectKind.SNOOZED, EffectKind.STOPPED)
FireKey = tuple[int, int, int]  # (cycle, step, loop): what a page key says of its fire
FINAL = (NotificationStatus.SENT, NotificationStatus.FAILED, NotificationStatus.CANCELLED)
NAMES = ("alice", "bob", "carol")


@dataclass(frozen=True)
class PolicyPlan:
    steps: tuple[tuple[int, frozenset[int]], ...]  # (delay, indexes of the users it pages)
    repeat: int
    ack_timeout_minutes: int | None


@st.composite
def policy_plans(draw: st.DrawFn) -> PolicyPlan:
    steps = draw(
        st.lists(
            st.tuples(st.sampled_from([0, 0, 1, 2, 5]), st.frozensets(st.integers(0, 2), min_size=1)),
            min_size=1,
            max_size=3,
        )
    )
    repeat = draw(st.integers(0, 2)) if sum(delay for delay, _ in steps) else 0  # a loop must take time
    return PolicyPlan(tuple(steps), repeat, draw(st.none() | st.integers(1, 20)))


# Waits (the clock moves, no worker runs) and the actions that take an incident in hand come often,
# so that steps come due with nobody ticking and are caught up by an acknowledgement; resolve is rare.
KINDS = (
    ("wait",) * 3 + ("tick", "dispatch", "worker") + ("acknowledge",) * 2 + ("snooze",) + ("escalate",) * 2
)
ACTIONS = st.lists(
    st.tuples(st.sampled_from((*KINDS, "resolve")), st.integers(1, 8)),  # minutes, or a dispatch batch size
    max_size=30,
)


@dataclass
class Record:
    """What the service recorded for the incident, read back through the use cases."""

    events: list[EscalationEvent]
    by_action: list[list[EscalationEvent]]  # the events each action recorded (one transaction, or ticks)
    pages: list[Notification]
    timeline: list[TimelineEvent]
    handed: list[OutgoingMessage]  # every message the notifier was asked to send
    user_ids: dict[str, int]


async def run_service(plan: PolicyPlan, actions: list[tuple[str, int]]) -> Record:
    world = InMemoryServices()
    # up to 30 actions in minutes: the manual-page limits (tested on their own) would refuse some
    world.paging = PagingConfig(manual_escalations_per_incident=10**6, manual_pages_per_user=10**6)
    # carol's slack is broken for good: a page handed to the notifier need not arrive
    world.notifier = RecordingNotifier({Channel.SLACK: DeliveryFailed("slack is down", permanent=True)})
    admin = await world.admin()
    team = await world.teams.create(admin, "ops", None)
    users = [await world.user(f"{name}@example.com", Role.ONCALL_ENGINEER, team.id) for name in NAMES]
    alice, _, carol = users
    await world.preferences.set_for(
        alice, alice.id, Channel.SMS, enabled=True, address="+1555", min_severity=None
    )
    for channel, address in ((Channel.WEBHOOK, "https://hooks.example.com/c"), (Channel.SLACK, "slack://c")):
        await world.preferences.set_for(
            carol, carol.id, channel, enabled=True, address=address, min_severity=None
        )
    steps = tuple(
        EscalationStep(delay, tuple(Target(TargetType.USER, user_id=users[i].id) for i in sorted(targets)))
        for delay, targets in plan.steps
    )
    policy = EscalationPolicy(
        "primary", steps, team_id=team.id, repeat=plan.repeat, ack_timeout_minutes=plan.ack_timeout_minutes
    )
    await world.policies.create(admin, policy)
    incident = await world.incidents.open(admin, NewIncident("db down", team_id=team.id))
    by_action: list[list[EscalationEvent]] = []
    for action, amount in actions:
        recorded = (await world.incidents.escalation_events(admin, incident.id, ALL)).total
        try:
            if action == "wait":
                world.clock.advance(minutes=amount)
            elif action == "tick":
                await drain(lambda: world.escalation_tick.run(), "the tick")
            elif action == "dispatch":
                await world.dispatch.run(batch_size=min(amount, 3))
            elif action == "worker":
                await world.run_worker()
            elif action == "snooze":
                await world.incidents.snooze(admin, incident.id, amount)
            else:
                await getattr(world.incidents, action)(admin, incident.id)
        except Conflict:  # refused (already resolved, not acknowledged...): nothing changed
            pass
        by_action.append((await world.incidents.escalation_events(admin, incident.id, ALL)).items[recorded:])
    await world.run_worker()
    events = await world.incidents.escalation_events(admin, incident.id, ALL)
    pages = await world.incidents.notifications(admin, incident.id, ALL)
    timeline = await world.incidents.timeline(admin, incident.id, ALL)
    assert (len(events.items), len(pages.items), len(timeline.items)) == (
        events.total,
        pages.total,
        timeline.total,
    )
    user_ids = {name: user.id for name, user in zip(NAMES, users, strict=True)}
    return Record(events.items, by_action, pages.items, timeline.items, world.notifier.attempts, user_ids)


def fire_of(page: Notification) -> FireKey:
    parts = page.idempotency_key.split(":")
    fields = dict(zip(parts[::2], parts[1::2], strict=True))
    return int(fields["cycle"]), int(fields["step"]), int(fields["loop"])


def fire_key(event: EscalationEvent) -> FireKey:
    assert event.step_index is not None and event.loop is not None  # a fire names its step and loop
    return event.cycle, event.step_index, event.loop


@given(policy_plans(), ACTIONS)
def test_the_record_names_exactly_whom_each_fire_reached(
    plan: PolicyPlan, actions: list[tuple[str, int]]
) -> None:
    record = asyncio.run(run_service(plan, actions))
    handed = [n for n in record.pages if n.attempts > 0]
    assert sum(n.attempts for n in handed) == len(record.handed)
    assert all(n.status in FINAL for n in record.pages)  # the last worker round left nothing waiting

    # every page that never went out is named, once, on the timeline; no other page is
    named = [
        e.data["notification_id"] for e in record.timeline if e.kind is TimelineKind.NOTIFICATION_CANCELLED
    ]
    cancelled = {n.id: n for n in record.pages if n.status is NotificationStatus.CANCELLED}
    assert sorted(named) == sorted(cancelled)
    assert all(n.attempts == 0 for n in cancelled.values())  # the notifier never saw a cancelled page
    withdrawn_later = [n for n in cancelled.values() if not (n.cancel_reason or "").endswith(AT_ONCE)]
    cancelling = [e for e in record.events if e.kind in CANCELLING]
    assert {n.user_id for n in withdrawn_later} == {u for e in cancelling for u in e.cancelled_user_ids}

    # an action that takes the incident in hand withdraws, at once, the overdue steps it fires first
    for recorded in record.by_action:
        if any(e.kind in CANCELLING for e in recorded):
            assert all(
                e.notified_user_ids == [] for e in recorded if e.kind in (EffectKind.FIRED, EffectKind.MANUAL)
            )

    pages_of: dict[tuple[FireKey, int | None], list[Notification]] = defaultdict(list)
    for page in record.pages:
        pages_of[fire_of(page), page.user_id].append(page)
    fires = {fire_key(e): e for e in record.events if e.kind in (EffectKind.FIRED, EffectKind.MANUAL)}
    assert {fire_of(n) for n in record.pages} <= set(fires)
    for page in handed:  # every page handed to the notifier belongs to a fire that lists its user
        assert page.user_id in fires[fire_of(page)].notified_user_ids
    for key, fire in fires.items():
        assert not set(fire.notified_user_ids) & set(fire.cancelled_user_ids)
        for user_id in fire.notified_user_ids:  # handed a page, unless each of its pages was withdrawn
            its_pages = pages_of[key, user_id]
            assert its_pages
            assert any(n.attempts > 0 for n in its_pages) or all(n in withdrawn_later for n in its_pages)
        for user_id in fire.cancelled_user_ids:  # withdrawn in the fire's own transaction: never sent
            its_pages = pages_of[key, user_id]
            assert its_pages
            assert all(n.status is NotificationStatus.CANCELLED for n in its_pages)
            assert all(n.cancel_reason == fire.cancel_reason for n in its_pages)
            assert (fire.cancel_reason or "").endswith(AT_ONCE)


PLAN = PolicyPlan(((5, frozenset({0})), (5, frozenset({1, 2}))), repeat=0, ack_timeout_minutes=None)


def test_a_page_queued_then_withdrawn_before_dispatch_is_named_by_the_withdrawal() -> None:
    """Not vacuous: a tick queues step 1, the acknowledgement withdraws it before any dispatch."""
    record = asyncio.run(run_service(PLAN, [("worker", 0), ("wait", 5), ("tick", 0), ("acknowledge", 0)]))
    bob_and_carol = sorted([record.user_ids["bob"], record.user_ids["carol"]])
    withdrawn = {n.user_id for n in record.pages if n.cancel_reason == "incident acknowledged"}
    assert withdrawn == set(bob_and_carol)
    assert [e.cancelled_user_ids for e in record.events if e.kind is EffectKind.ACKNOWLEDGED] == [bob_and_carol]


def test_a_step_fired_and_withdrawn_in_one_transaction_is_never_queued() -> None:
    """Not vacuous: the acknowledgement at minute 6 fires the overdue step 1 and withdraws it at once."""
    record = asyncio.run(run_service(PLAN, [("worker", 0), ("wait", 6), ("acknowledge", 0)]))
    (step_1,) = [e for e in record.events if e.step_index == 1]
    assert (step_1.notified_user_ids, sorted(step_1.cancelled_user_ids)) == (
        [],
        sorted([record.user_ids["bob"], record.user_ids["carol"]]),
    )
    assert [m.channel for m in record.handed] == [Channel.SMS]  # alice's step 0, and nothing else ever
