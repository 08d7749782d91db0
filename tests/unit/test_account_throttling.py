"""Login and password-recovery throttling through the Accounts use case, concurrent requests included."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from incidentcore.errors import AuthenticationFailed, RateLimited
from incidentcore.testing import FakePasswordHasher
from incidentcore.testing.world import InMemoryServices

pytestmark = pytest.mark.anyio


class SlowHasher(FakePasswordHasher):
    """Checks take a while and yield to the event loop, as bcrypt off the loop does: requests overlap."""

    async def verify(self, password: str, password_hash: str | None) -> bool:
        await asyncio.sleep(0.01)
        return await super().verify(password, password_hash)


@pytest.fixture
def world() -> InMemoryServices:
    world = InMemoryServices()
    world.hasher = SlowHasher()
    return world


async def test_parallel_wrong_logins_cannot_slip_past_the_limit(world: InMemoryServices) -> None:
    await world.accounts.signup("ada@example.com", "password1", "Ada")
    outcomes = await asyncio.gather(
        *(world.accounts.login("ada@example.com", f"guess {n}", "client-a") for n in range(40)),
        return_exceptions=True,
    )
    assert sum(isinstance(outcome, AuthenticationFailed) for outcome in outcomes) == 5
    assert sum(isinstance(outcome, RateLimited) for outcome in outcomes) == 35
    assert world.hasher.verifications == 5  # a refused attempt costs no password check
    with pytest.raises(RateLimited):
        await world.accounts.login("ada@example.com", "password1", "client-b")


async def test_parallel_logins_of_one_client_across_accounts_are_limited_per_client(
    world: InMemoryServices,
) -> None:
    outcomes = await asyncio.gather(
        *(world.accounts.login(f"user{n}@example.com", "password1", "client-a") for n in range(8)),
        return_exceptions=True,
    )
    assert sum(isinstance(outcome, RateLimited) for outcome in outcomes) == 3  # the memory throttle: 5 a key


async def test_successful_logins_do_not_count_and_clear_the_account(world: InMemoryServices) -> None:
    await world.accounts.signup("ada@example.com", "password1", "Ada")
    for _ in range(4):
        with pytest.raises(AuthenticationFailed):
            await world.accounts.login("ada@example.com", "wrong password", "client-a")
    assert (await world.accounts.login("ada@example.com", "password1", "client-a")).token
    for _ in range(4):  # the account's failures were forgotten
        with pytest.raises(AuthenticationFailed):
            await world.accounts.login("ada@example.com", "wrong password", "client-b")
    assert (await world.accounts.login("ada@example.com", "password1", "client-b")).token


async def test_successful_logins_do_not_count_for_the_client(world: InMemoryServices) -> None:
    for n in range(8):  # more than the limit of 5, every one a success
        await world.accounts.signup(f"user{n}@example.com", "password1", "User")
        assert (await world.accounts.login(f"user{n}@example.com", "password1", "office")).token


async def test_password_recovery_sends_at_most_three_emails_per_address_in_15_minutes(
    world: InMemoryServices,
) -> None:
    await world.accounts.signup("ada@example.com", "password1", "Ada")
    await world.accounts.signup("bob@example.com", "password1", "Bob")
    for address in (
        "ada@example.com",
        "ADA@example.com ",
        "ada@example.com",
        "ada@example.com",
        "Ada@Example.com",
    ):
        assert await world.accounts.request_password_reset(address) is None  # answered alike every time
    await world.accounts.request_password_reset("bob@example.com")
    await world.run_worker()
    assert [message.address for message in world.notifier.sent] == ["ada@example.com"] * 3 + [
        "bob@example.com"
    ]
    world.clock.advance(timedelta(minutes=15))
    await world.accounts.request_password_reset("ada@example.com")
    await world.run_worker()
    assert len(world.notifier.sent) == 5


async def test_password_recovery_throttles_unknown_addresses_too(world: InMemoryServices) -> None:
    """The answer and the cost are the same for every address, known or not."""
    for _ in range(4):
        await world.accounts.request_password_reset("nobody@example.com")
    await world.accounts.signup("nobody@example.com", "password1", "Now somebody")
    await world.accounts.request_password_reset("nobody@example.com")  # still within the window
    await world.run_worker()
    assert world.notifier.sent == []
