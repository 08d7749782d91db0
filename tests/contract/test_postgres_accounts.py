"""Accounts under concurrency on Postgres: a reset token is used once, and a read-modify-write of a
user holds the row, so concurrent requests on separate connections cannot undo one another."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import anyio
import pytest
from entity_builders import T0, stored_user
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from adapters.sql import SqlUnitOfWork, create_session_factory
from incidentcore.errors import AuthenticationFailed, ValidationFailed
from incidentcore.model import PasswordResetToken, Role
from incidentcore.services import Accounts, ProfileChanges, SignupPolicy, UserChanges
from incidentcore.services.accounts import hash_secret
from incidentcore.testing import (
    FakeClock,
    FakePasswordHasher,
    FakeTokenService,
    RecordedSleeps,
    SequentialSecrets,
)
from incidentcore.throttle import InMemoryLoginThrottle

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

RESET_TOKEN = "the-one-reset-token"


@pytest.fixture
def sql_backend() -> str:
    return "postgres"


@pytest.fixture
def sessions(sql_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(sql_engine)


class SlowHasher(FakePasswordHasher):
    """Hashing takes a while (as bcrypt does), so concurrent requests really interleave."""

    async def hash(self, password: str) -> str:
        await asyncio.sleep(0.01)
        return await super().hash(password)


def accounts_on(sessions: async_sessionmaker[AsyncSession]) -> Accounts:
    """A fresh use case per call, with its own unit of work (its own connection), as per request."""
    clock = FakeClock(T0)
    return Accounts(
        SqlUnitOfWork(sessions),
        clock,
        SlowHasher(),
        FakeTokenService(clock),
        SequentialSecrets(),
        InMemoryLoginThrottle(sleep=RecordedSleeps()),
        SignupPolicy(),
    )


async def test_concurrent_resets_with_one_token_let_exactly_one_through(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with SqlUnitOfWork(sessions) as uow:
        user = await stored_user(uow)
        await uow.reset_tokens.add(
            PasswordResetToken(
                user.id,
                hash_secret(RESET_TOKEN),
                T0 + timedelta(minutes=30),
                credentials_version=user.credentials_version,
            )
        )
        await uow.commit()
    passwords = [f"new password {n}" for n in range(6)]

    with anyio.fail_after(20):
        outcomes = await asyncio.gather(
            *(accounts_on(sessions).reset_password(RESET_TOKEN, password, "c") for password in passwords),
            return_exceptions=True,
        )

    winners = [password for password, outcome in zip(passwords, outcomes, strict=True) if outcome is None]
    assert len(winners) == 1, outcomes
    assert all(isinstance(outcome, ValidationFailed) for outcome in outcomes if outcome is not None), outcomes
    async with SqlUnitOfWork(sessions) as uow:
        stored = await uow.users.get(user.id)
    assert stored is not None
    assert stored.password_hash == await FakePasswordHasher().hash(winners[0])
    assert stored.credentials_version == user.credentials_version + 1  # changed once, by the winner


async def test_a_user_read_for_update_stays_locked_until_the_unit_of_work_ends(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with SqlUnitOfWork(sessions) as uow:
        user = await stored_user(uow)
        await uow.commit()

    async def read_for_update() -> bool:
        async with SqlUnitOfWork(sessions) as uow:
            second = await uow.users.get(user.id, for_update=True)
            assert second is not None
            return second.is_active

    with anyio.fail_after(10):
        async with SqlUnitOfWork(sessions) as first:
            locked = await first.users.get(user.id, for_update=True)
            assert locked is not None
            waiting = asyncio.create_task(read_for_update())
            await asyncio.sleep(0.3)
            assert not waiting.done()  # it waits for the lock instead of reading the old row
            locked.set_active(False)
            await first.users.update(locked)
            await first.commit()
        assert await waiting is False  # and then reads what the first one wrote


async def test_a_concurrent_profile_edit_cannot_undo_a_deactivation(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with SqlUnitOfWork(sessions) as uow:
        admin = await stored_user(uow, "root@example.com", role=Role.ADMIN)
        await uow.commit()
    for round_ in range(10):
        async with SqlUnitOfWork(sessions) as uow:
            user = await stored_user(uow, f"user{round_}@example.com")
            await uow.commit()
        with anyio.fail_after(10):
            await asyncio.gather(
                accounts_on(sessions).update_me(user, ProfileChanges(full_name=f"Renamed {round_}"), "c"),
                accounts_on(sessions).update_user(admin, user.id, UserChanges(is_active=False)),
            )
        async with SqlUnitOfWork(sessions) as uow:
            stored = await uow.users.get(user.id)
        assert stored is not None
        assert (stored.is_active, stored.full_name) == (False, f"Renamed {round_}")


async def test_a_reset_racing_a_password_change_never_lets_both_through(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The token is checked before hashing but claimed after it: a change committed meanwhile must
    still end it. Whichever of the two commits first, the other is refused."""
    for round_ in range(8):
        async with SqlUnitOfWork(sessions) as uow:
            user = await stored_user(
                uow, f"user{round_}@example.com", password_hash=await FakePasswordHasher().hash("password1")
            )
            await uow.reset_tokens.add(
                PasswordResetToken(
                    user.id, hash_secret(f"token-{round_}"), T0 + timedelta(minutes=30), credentials_version=0
                )
            )
            await uow.commit()
        change = ProfileChanges(password="owner's new password", current_password="password1")
        with anyio.fail_after(10):
            outcomes = await asyncio.gather(
                accounts_on(sessions).reset_password(f"token-{round_}", "attacker's password", "c"),
                accounts_on(sessions).update_me(user, change, "c"),
                return_exceptions=True,
            )
        refused = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
        assert len(refused) == 1 and isinstance(refused[0], ValidationFailed | AuthenticationFailed), outcomes
        async with SqlUnitOfWork(sessions) as uow:
            stored = await uow.users.get(user.id)
        assert stored is not None and stored.credentials_version == 1  # changed once
