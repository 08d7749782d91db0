"""Sanity checks of the in-memory adapters: transactions, fencing, claims, and the simple fakes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from incidentcore.errors import AuthenticationFailed, Conflict, StaleState
from incidentcore.escalation import EscalationStep, Target, TargetType
from incidentcore.model import (
    Channel,
    Comment,
    EscalationPolicy,
    Incident,
    Notification,
    NotificationPreference,
    NotificationStatus,
    Role,
    Team,
    TimelineEvent,
    TimelineKind,
    User,
)
from incidentcore.ports import DeliveryFailed, IncidentFilter, OutgoingMessage, Page, UserFilter
from incidentcore.testing import (
    CountingNudge,
    FakeClock,
    FakePasswordHasher,
    FakeTokenService,
    FixedRetryPolicy,
    MemoryLoginThrottle,
    MemoryStore,
    MemoryUnitOfWork,
    RecordingNotifier,
    SequentialSecrets,
)
from incidentcore.testing.world import MAX_WORKER_ROUNDS, drain

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LEASE = timedelta(seconds=30)


def user(email: str = "ann@example.com", **fields: Any) -> User:
    return User(email=email, full_name=email.split("@")[0].title(), password_hash="x", **fields)


def page_for(n: int, key: str, at: datetime = T0, incident_id: int | None = 1) -> Notification:
    return Notification(
        user_id=None,
        channel=Channel.EMAIL,
        address=f"u{n}@example.com",
        subject="s",
        body="b",
        idempotency_key=key,
        created_at=at,
        incident_id=incident_id,
    )


async def triggered_incident(uow: MemoryUnitOfWork, at: datetime = T0, **fields: Any) -> Incident:
    """An incident with a one-step policy, triggered at `at` (so due again `at` + 5 minutes)."""
    incident = await uow.incidents.add(Incident(title="down", created_at=at, **fields))
    policy = EscalationPolicy(
        "p", (EscalationStep(5, (Target(TargetType.USER, user_id=1),)),), repeat=1, id=1
    )
    incident.trigger(policy.snapshot(), at, None)
    await uow.incidents.update(incident)
    return incident


# Transactions


async def test_commit_publishes_and_leaving_without_commit_rolls_back() -> None:
    store = MemoryStore()
    async with MemoryUnitOfWork(store) as uow:
        kept = await uow.users.add(user("kept@example.com"))
        await uow.commit()
        await uow.users.add(user("dropped@example.com"))  # the next transaction: never committed
    assert uow.committed
    assert uow.commits == 1
    async with MemoryUnitOfWork(store) as reader:
        assert await reader.users.get(kept.id) is not None
        assert await reader.users.get_by_email("dropped@example.com") is None


async def test_rollback_discards_and_the_unit_of_work_goes_on() -> None:
    uow = MemoryUnitOfWork()
    async with uow:
        await uow.teams.add(Team("a"))
        await uow.rollback()
        await uow.teams.add(Team("b"))
        await uow.commit()
    async with uow:
        names = [t.name for t in (await uow.teams.list(Page())).items]
    assert names == ["b"]


async def test_committed_describes_the_latest_block() -> None:
    uow = MemoryUnitOfWork()
    async with uow:
        await uow.commit()
    async with uow:
        pass
    assert not uow.committed
    assert uow.commits == 1


async def test_returned_entities_are_copies() -> None:
    async with MemoryUnitOfWork() as uow:
        added = await uow.users.add(user())
        loaded = await uow.users.get(added.id)
        assert loaded is not None
        loaded.full_name = "changed"
        assert (await uow.users.get(added.id)) == added
        await uow.users.update(loaded)
        assert (await uow.users.get(added.id)) == loaded


async def test_uncommitted_writes_are_invisible_to_others_and_commits_merge() -> None:
    store = MemoryStore()
    first, second = MemoryUnitOfWork(store), MemoryUnitOfWork(store)
    async with first, second:
        await first.teams.add(Team("first"))
        assert (await second.teams.list(Page())).total == 0
        await second.teams.add(Team("second"))
        await second.commit()
        assert (await first.teams.list(Page())).total == 2  # read committed: sees the other's commit
        await first.commit()
    async with MemoryUnitOfWork(store) as reader:
        assert sorted(t.name for t in (await reader.teams.list(Page())).items) == ["first", "second"]


async def test_concurrent_duplicate_fails_at_commit() -> None:
    store = MemoryStore()
    first, second = MemoryUnitOfWork(store), MemoryUnitOfWork(store)
    async with first, second:
        await first.users.add(user("Ann@example.com"))
        await second.users.add(user("ann@example.com"))
        await first.commit()
        with pytest.raises(Conflict):
            await second.commit()
    assert len(store.users) == 1


async def test_blocks_do_not_nest() -> None:
    uow = MemoryUnitOfWork()
    async with uow:
        with pytest.raises(RuntimeError):
            await uow.__aenter__()


# Users and teams


async def test_emails_are_unique_case_insensitively() -> None:
    async with MemoryUnitOfWork() as uow:
        ann = await uow.users.add(user("ann@example.com"))
        with pytest.raises(Conflict):
            await uow.users.add(user("ANN@example.com"))
        bob = await uow.users.add(user("bob@example.com"))
        bob.email = "Ann@Example.com"
        with pytest.raises(Conflict):
            await uow.users.update(bob)
        found = await uow.users.get_by_email("ANN@EXAMPLE.COM")
        assert found is not None
        assert found.id == ann.id


async def test_user_list_filters_orders_and_pages() -> None:
    async with MemoryUnitOfWork() as uow:
        for name in ("carol", "alice", "bob", "alina"):
            await uow.users.add(
                user(f"{name}@example.com", role=Role.MANAGER if name == "bob" else Role.USER)
            )
        found = await uow.users.list(UserFilter(q="AL"), Page(limit=1, offset=1))
        assert found.total == 2
        assert [u.email for u in found.items] == ["alina@example.com"]
        managers = await uow.users.list(UserFilter(role=Role.MANAGER), Page())
        assert [u.email for u in managers.items] == ["bob@example.com"]


async def test_user_delete_conflicts_while_referenced_and_takes_preferences_along() -> None:
    async with MemoryUnitOfWork() as uow:
        author = await uow.users.add(user("author@example.com"))
        loner = await uow.users.add(user("loner@example.com"))
        await uow.comments.add(Comment(incident_id=1, author_id=author.id, body="hi", created_at=T0))
        await uow.preferences.upsert(NotificationPreference(loner.id, Channel.SMS, address="+1"))
        with pytest.raises(Conflict):
            await uow.users.delete(author.id)
        await uow.users.delete(loner.id)
        assert await uow.users.get(loner.id) is None
        assert await uow.preferences.list_for_users([loner.id]) == []


async def test_team_names_are_unique_and_delete_conflicts_while_referenced() -> None:
    async with MemoryUnitOfWork() as uow:
        team = await uow.teams.add(Team("ops"))
        with pytest.raises(Conflict):
            await uow.teams.add(Team("ops"))
        member = await uow.users.add(user(team_id=team.id))
        with pytest.raises(Conflict):
            await uow.teams.delete(team.id)
        member.team_id = None
        await uow.users.update(member)
        await uow.teams.delete(team.id)
        assert await uow.teams.get(team.id) is None


async def test_resolve_targets_finds_active_users_once_by_id() -> None:
    async with MemoryUnitOfWork() as uow:
        ops = await uow.teams.add(Team("ops"))
        lead = await uow.users.add(user("lead@example.com", role=Role.TEAM_LEAD, team_id=ops.id))
        member = await uow.users.add(user("member@example.com", team_id=ops.id))
        await uow.users.add(user("gone@example.com", team_id=ops.id, is_active=False))
        elsewhere = await uow.users.add(user("vp@example.com", role=Role.VP))
        found = await uow.users.resolve_targets(
            user_ids=[member.id, lead.id], team_ids=[ops.id], roles=[(Role.VP, None), (Role.TEAM_LEAD, 999)]
        )
        assert [u.id for u in found] == [lead.id, member.id, elsewhere.id]


# Incidents


async def test_stale_update_is_rejected_and_versions_bump() -> None:
    store = MemoryStore()
    async with MemoryUnitOfWork(store) as uow:
        incident = await uow.incidents.add(Incident(title="down", created_at=T0))
        await uow.commit()
    async with MemoryUnitOfWork(store) as first, MemoryUnitOfWork(store) as second:
        mine = await first.incidents.get(incident.id)
        theirs = await second.incidents.get(incident.id)
        assert mine is not None
        assert theirs is not None
        mine.title = "mine"
        await first.incidents.update(mine)
        assert mine.version == 1
        await first.commit()
        theirs.title = "theirs"
        with pytest.raises(StaleState):
            await second.incidents.update(theirs)
        stored = await second.incidents.get(incident.id)
        assert stored is not None
        assert (stored.title, stored.version) == ("mine", 1)


async def test_a_row_locked_for_update_cannot_be_written_by_another() -> None:
    store = MemoryStore()
    async with MemoryUnitOfWork(store) as uow:
        incident = await uow.incidents.add(Incident(title="down", created_at=T0))
        await uow.commit()
    async with MemoryUnitOfWork(store) as first, MemoryUnitOfWork(store) as second:
        await first.incidents.get(incident.id, for_update=True)
        with pytest.raises(StaleState):
            await second.incidents.update(incident)
        await first.rollback()
        await second.incidents.update(incident)


async def test_one_open_incident_per_dedup_key() -> None:
    async with MemoryUnitOfWork() as uow:
        first = await triggered_incident(uow, integration_id=1, dedup_key="r:a")
        with pytest.raises(Conflict):
            await uow.incidents.add(Incident(title="again", created_at=T0, integration_id=1, dedup_key="r:a"))
        await uow.incidents.add(Incident(title="other", created_at=T0, integration_id=2, dedup_key="r:a"))
        found = await uow.incidents.find_open_by_dedup_key(1, "r:a")
        assert found is not None
        assert found.id == first.id
        first.resolve(None, T0)
        await uow.incidents.update(first)
        assert await uow.incidents.find_open_by_dedup_key(1, "r:a") is None
        await uow.incidents.add(Incident(title="again", created_at=T0, integration_id=1, dedup_key="r:a"))


async def test_incident_list_is_newest_first() -> None:
    async with MemoryUnitOfWork() as uow:
        old = await uow.incidents.add(Incident(title="old", created_at=T0))
        new = await uow.incidents.add(Incident(title="new", created_at=T0 + timedelta(minutes=1)))
        tie = await uow.incidents.add(Incident(title="tie", created_at=T0 + timedelta(minutes=1)))
        found = await uow.incidents.list(IncidentFilter(), Page())
        assert [i.id for i in found.items] == [tie.id, new.id, old.id]
        assert found.total == 3


async def test_incident_claims_are_due_earliest_first_and_skipped_by_others() -> None:
    store = MemoryStore()
    async with MemoryUnitOfWork(store) as uow:
        later = await triggered_incident(uow, at=T0 + timedelta(minutes=1))
        earlier = await triggered_incident(uow, at=T0)
        resolved = await triggered_incident(uow, at=T0)
        resolved.resolve(None, T0)
        await uow.incidents.update(resolved)
        await triggered_incident(uow, at=T0 + timedelta(hours=1))  # not due yet
        await uow.commit()
    now = T0 + timedelta(minutes=10)
    async with MemoryUnitOfWork(store) as first, MemoryUnitOfWork(store) as second:
        assert [i.id for i in await first.incidents.claim_due(now, limit=1)] == [earlier.id]
        assert [i.id for i in await second.incidents.claim_due(now, limit=10)] == [later.id]


async def test_timeline_is_oldest_first() -> None:
    async with MemoryUnitOfWork() as uow:
        await uow.timeline.add_many(
            [
                TimelineEvent(1, TimelineKind.UPDATED, T0 + timedelta(minutes=1)),
                TimelineEvent(1, TimelineKind.CREATED, T0),
                TimelineEvent(2, TimelineKind.CREATED, T0),
            ]
        )
        found = await uow.timeline.list_for_incident(1, Page())
        assert [e.kind for e in found.items] == [TimelineKind.CREATED, TimelineKind.UPDATED]


# The notification outbox


async def test_add_new_skips_known_idempotency_keys() -> None:
    async with MemoryUnitOfWork() as uow:
        assert len(await uow.notifications.add_new([page_for(1, "a")])) == 1
        inserted = await uow.notifications.add_new([page_for(2, "a"), page_for(3, "b"), page_for(4, "b")])
        assert [n.address for n in inserted] == ["u3@example.com"]
        assert (await uow.notifications.list_for_incident(1, Page())).total == 2


async def test_notification_claims() -> None:
    store = MemoryStore()
    async with MemoryUnitOfWork(store) as uow:
        second, first, future = await uow.notifications.add_new(
            [
                page_for(1, "second", T0 + timedelta(seconds=1)),
                page_for(2, "first"),
                page_for(3, "future", T0 + timedelta(hours=1)),
            ]
        )
        await uow.commit()
    now = T0 + timedelta(minutes=1)
    async with MemoryUnitOfWork(store) as claimer, MemoryUnitOfWork(store) as rival:
        claimed = await claimer.notifications.claim_due(now, limit=10, lease=LEASE)
        assert [n.id for n in claimed] == [first.id, second.id]
        assert all(
            n.status is NotificationStatus.SENDING and n.attempts == 1 and n.version == 1 for n in claimed
        )
        assert await rival.notifications.claim_due(now, limit=10, lease=LEASE) == []  # locked until commit
        await claimer.commit()
        assert await rival.notifications.claim_due(now, limit=10, lease=LEASE) == []  # leased
        reclaimed = await rival.notifications.claim_due(now + LEASE, limit=1, lease=LEASE)
        # Equal leases: the lower id goes first.
        assert [(n.id, n.attempts, n.version) for n in reclaimed] == [(second.id, 2, 2)]
        await rival.commit()
        # The first claimer's result comes too late: its claim was taken over.
        late = claimed[1]
        late.mark_sent(now)
        assert not await claimer.notifications.record(late)
        current = reclaimed[0]
        current.mark_failed("timeout", now, retry_at=now + LEASE * 3)
        assert await rival.notifications.record(current)
        assert current.version == 3
        await rival.commit()
    async with MemoryUnitOfWork(store) as uow:
        rows = {n.id: n for n in (await uow.notifications.list_for_incident(1, Page())).items}
        assert rows[second.id].status is NotificationStatus.RETRYING
        assert rows[first.id].status is NotificationStatus.SENDING
        assert rows[future.id].status is NotificationStatus.PENDING


async def test_cancel_withdraws_unsent_pages_of_the_incident() -> None:
    async with MemoryUnitOfWork() as uow:
        sent, pending, _ = await uow.notifications.add_new(
            [page_for(1, "sent"), page_for(2, "pending"), page_for(3, "other", incident_id=2)]
        )
        [claimed] = await uow.notifications.claim_due(T0, limit=1, lease=LEASE)
        claimed.mark_sent(T0)
        assert await uow.notifications.record(claimed)
        [cancelled] = await uow.notifications.cancel_pending_for_incident(1, "incident resolved")
        assert cancelled.id == pending.id
        rows = {n.id: n for n in (await uow.notifications.list_for_incident(1, Page())).items}
        assert rows[sent.id].status is NotificationStatus.SENT
        assert rows[pending.id] == cancelled
        assert (
            cancelled.status,
            cancelled.cancel_reason,
            cancelled.last_error,
            cancelled.next_attempt_at,
        ) == (
            NotificationStatus.CANCELLED,
            "incident resolved",
            None,
            None,
        )
        other = (await uow.notifications.list_for_incident(2, Page())).items[0]
        assert other.status is NotificationStatus.PENDING


# The other fakes


def test_fake_clock() -> None:
    clock = FakeClock()
    assert clock.now() == T0
    assert clock.advance(minutes=5, seconds=1) == T0 + timedelta(minutes=5, seconds=1)
    clock.advance(timedelta(hours=1))
    clock.set(datetime(2026, 2, 1, 1, tzinfo=UTC))
    assert clock.now().tzinfo is UTC
    with pytest.raises(ValueError, match="naive"):
        clock.set(datetime(2026, 2, 1))


async def test_password_hasher() -> None:
    hasher = FakePasswordHasher()
    hashed = await hasher.hash("secret-pw")
    assert await hasher.verify("secret-pw", hashed)
    assert not await hasher.verify("other", hashed)
    assert not await hasher.verify("secret-pw", None)
    assert hasher.verifications == 3


def test_tokens_expire_by_the_clock() -> None:
    clock = FakeClock()
    tokens = FakeTokenService(clock, lifetime=timedelta(minutes=10))
    issued = tokens.issue(user(id=7, credentials_version=2))
    claims = tokens.decode(issued.token)
    assert (claims.user_id, claims.credentials_version, issued.expires_in) == (7, 2, 600)
    clock.advance(minutes=10)
    with pytest.raises(AuthenticationFailed):
        tokens.decode(issued.token)
    for bad in ("", "tok:1:2", "jwt:1:2:3", "tok:a:2:3"):
        with pytest.raises(AuthenticationFailed):
            tokens.decode(bad)


def test_secrets_are_distinct_and_long() -> None:
    secrets = SequentialSecrets()
    made = [secrets.new_secret() for _ in range(12)]
    assert made[0].startswith("secret-1-")
    assert len(set(made)) == 12
    assert all(len(s) >= 32 for s in made)


async def test_recording_notifier() -> None:
    notifier = RecordingNotifier()
    email = OutgoingMessage(Channel.EMAIL, "a@example.com", "s", "b")
    sms = OutgoingMessage(Channel.SMS, "+1", "s", "b")
    await notifier.send(email)
    notifier.fail_with = {Channel.SMS: DeliveryFailed("no sms", permanent=True)}
    await notifier.send(email)
    with pytest.raises(DeliveryFailed) as failed:
        await notifier.send(sms)
    assert failed.value.permanent
    assert notifier.sent == [email, email]
    assert notifier.attempts == [email, email, sms]


def test_login_throttle_sliding_window() -> None:
    throttle = MemoryLoginThrottle(max_failures=3, window=timedelta(minutes=15), limits={"slow": 1})
    for minute in (0, 5, 10):
        assert throttle.begin_attempt(["ann", "1.2.3.4"], T0 + timedelta(minutes=minute)) is None
        throttle.end_attempt(["ann", "1.2.3.4"], T0 + timedelta(minutes=minute), False)
    now = T0 + timedelta(minutes=12)
    assert throttle.begin_attempt(["ann"], now) == 3 * 60  # the 00:00 failure leaves the window at 00:15
    assert throttle.begin_attempt(["ann", "1.2.3.4"], now) == 180
    assert throttle.begin_attempt(["slow:x"], now) is None
    assert throttle.begin_attempt(["slow:x"], now) == 15 * 60  # its prefix allows one
    assert throttle.begin_attempt(["ann"], T0 + timedelta(minutes=15)) is None
    throttle.end_attempt(["ann"], T0 + timedelta(minutes=15), True, clear=["ann"])
    assert throttle.begin_attempt(["ann"], now) is None


def test_nudge_and_retry_policy() -> None:
    nudge = CountingNudge()
    nudge.nudge()
    nudge.nudge()
    assert nudge.nudges == 2
    retry = FixedRetryPolicy([timedelta(seconds=10), timedelta(minutes=1)])
    assert retry.next_attempt(1, T0) == T0 + timedelta(seconds=10)
    assert retry.next_attempt(2, T0) == T0 + timedelta(minutes=1)
    assert retry.next_attempt(3, T0) is None


async def test_the_test_worker_loop_fails_instead_of_looping_forever() -> None:
    """A due check that never lets go (a tick that claims an incident but never advances it) must fail
    the test that meets it, not hang the run."""
    batches = 0

    async def never_done() -> int:
        nonlocal batches
        batches += 1
        return 1

    with pytest.raises(RuntimeError, match="the escalation tick still found work after 100 batches"):
        await drain(never_done, "the escalation tick")
    assert batches == MAX_WORKER_ROUNDS == 100
