"""The in-memory unit of work's own transaction semantics, and the simple fakes.

What every repository does is proved by the contract suites (tests/contract/test_*_contract.py), which
run on the in-memory adapters as on SQLite and Postgres; nothing here repeats them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from incidentcore.errors import AuthenticationFailed, Conflict, StaleState
from incidentcore.escalation import EscalationStep, Target, TargetType
from incidentcore.model import (
    Channel,
    EscalationPolicy,
    Incident,
    Notification,
    Team,
    User,
)
from incidentcore.ports import DeliveryFailed, OutgoingMessage, Page
from incidentcore.testing import (
    CountingNudge,
    FakeClock,
    FakePasswordHasher,
    FakeTokenService,
    FixedRetryPolicy,
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
