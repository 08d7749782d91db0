"""Throttling of logins, sign-ups, password recovery and resets through the Accounts use case,
concurrent requests included."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from incidentcore.errors import AuthenticationFailed, Conflict, RateLimited, ValidationFailed
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
    await world.accounts.signup("ada@example.com", "password1", "Ada", "c")
    outcomes = await asyncio.gather(
        *(world.accounts.login("ada@example.com", f"guess {n}", "client-a") for n in range(40)),
        return_exceptions=True,
    )
    assert sum(isinstance(outcome, AuthenticationFailed) for outcome in outcomes) == 5
    assert sum(isinstance(outcome, RateLimited) for outcome in outcomes) == 35
    assert world.hasher.verifications == 5  # a refused attempt costs no password check
    with pytest.raises(RateLimited):
        await world.accounts.login("ada@example.com", "password1", "client-a")
    assert (await world.accounts.login("ada@example.com", "password1", "client-b")).token


async def test_parallel_logins_of_one_client_across_accounts_are_limited_per_client(
    world: InMemoryServices,
) -> None:
    outcomes = await asyncio.gather(
        *(world.accounts.login(f"user{n}@example.com", "password1", "client-a") for n in range(40)),
        return_exceptions=True,
    )
    assert sum(isinstance(outcome, RateLimited) for outcome in outcomes) == 10  # 30 a client


async def test_a_successful_login_clears_the_failures_from_its_address(world: InMemoryServices) -> None:
    await world.accounts.signup("ada@example.com", "password1", "Ada", "c")
    for _ in range(4):
        with pytest.raises(AuthenticationFailed):
            await world.accounts.login("ada@example.com", "wrong password", "client-a")
    assert (await world.accounts.login("ada@example.com", "password1", "client-a")).token
    for _ in range(4):  # the failures from client-a were forgotten
        with pytest.raises(AuthenticationFailed):
            await world.accounts.login("ada@example.com", "wrong password", "client-a")
    assert (await world.accounts.login("ada@example.com", "password1", "client-a")).token


async def test_successful_logins_do_not_count_for_the_client(world: InMemoryServices) -> None:
    for n in range(8):  # more than the limit of 5, every one a success
        await world.accounts.signup(f"user{n}@example.com", "password1", "User", f"home-{n}")
        assert (await world.accounts.login(f"user{n}@example.com", "password1", "office")).token


async def test_password_recovery_sends_at_most_three_emails_per_address_in_15_minutes(
    world: InMemoryServices,
) -> None:
    await world.accounts.signup("ada@example.com", "password1", "Ada", "c")
    await world.accounts.signup("bob@example.com", "password1", "Bob", "c")
    for address in (
        "ada@example.com",
        "ADA@example.com ",
        "ada@example.com",
        "ada@example.com",
        "Ada@Example.com",
    ):
        await world.accounts.request_password_reset(address, "c")  # answers nothing, so alike every time
    await world.accounts.request_password_reset("bob@example.com", "c")
    await world.run_worker()
    assert [message.address for message in world.notifier.sent] == ["ada@example.com"] * 3 + [
        "bob@example.com"
    ]
    world.clock.advance(timedelta(minutes=15))
    await world.accounts.request_password_reset("ada@example.com", "c")
    await world.run_worker()
    assert len(world.notifier.sent) == 5


async def test_password_recovery_throttles_unknown_addresses_too(world: InMemoryServices) -> None:
    """The answer and the cost are the same for every address, known or not."""
    for _ in range(4):
        await world.accounts.request_password_reset("nobody@example.com", "c")
    await world.accounts.signup("nobody@example.com", "password1", "Now somebody", "c")
    await world.accounts.request_password_reset("nobody@example.com", "c")  # still within the window
    await world.run_worker()
    assert world.notifier.sent == []


# --- nobody can lock an account's owner out ---------------------------------------------------------


async def test_failures_from_many_addresses_slow_the_account_but_never_lock_its_owner_out(
    world: InMemoryServices,
) -> None:
    await world.accounts.signup("ada@example.com", "password1", "Ada", "c")
    for n in range(20):
        with pytest.raises(AuthenticationFailed):
            await world.accounts.login("ada@example.com", "wrong password", f"10.0.0.{n}")
    assert (await world.accounts.login("ada@example.com", "password1", "192.0.2.1")).token
    delays = world.sleeps.delays
    assert delays == sorted(delays) and 0 < delays[-1] <= 2.0  # growing, and a few seconds at most
    assert len(delays) == 21 - 10  # the first ten attempts wait for nothing


async def test_parallel_failures_from_many_addresses_are_each_slowed(world: InMemoryServices) -> None:
    await world.accounts.signup("ada@example.com", "password1", "Ada", "c")
    await asyncio.gather(
        *(world.accounts.login("ada@example.com", "wrong", f"10.0.0.{n}") for n in range(16)),
        return_exceptions=True,
    )
    assert len(world.sleeps.delays) == 6  # each attempt saw the ones begun before it


async def test_an_account_is_limited_per_address_while_the_window_lasts(world: InMemoryServices) -> None:
    await world.accounts.signup("ada@example.com", "password1", "Ada", "c")
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            await world.accounts.login("ada@example.com", "wrong password", "10.0.0.1")
    with pytest.raises(RateLimited):
        await world.accounts.login("ada@example.com", "password1", "10.0.0.1")
    world.clock.advance(timedelta(minutes=15))
    assert (await world.accounts.login("ada@example.com", "password1", "10.0.0.1")).token


# --- anonymous costs: sign-up, recovery and reset per client address --------------------------------


async def test_sign_ups_are_limited_per_client_address(world: InMemoryServices) -> None:
    for n in range(10):
        await world.accounts.signup(f"user{n}@example.com", "password1", "User", "10.0.0.1")
    with pytest.raises(RateLimited) as limited:
        await world.accounts.signup("one-more@example.com", "password1", "User", "10.0.0.1")
    assert 0 < limited.value.retry_after <= 15 * 60
    await world.accounts.signup("one-more@example.com", "password1", "User", "10.0.0.2")


async def test_recovery_requests_are_limited_per_client_address(world: InMemoryServices) -> None:
    for n in range(10):
        await world.accounts.request_password_reset(f"user{n}@example.com", "10.0.0.1")
    with pytest.raises(RateLimited):
        await world.accounts.request_password_reset("anyone@example.com", "10.0.0.1")
    await world.accounts.request_password_reset("anyone@example.com", "10.0.0.2")


async def test_failed_resets_are_limited_per_client_address(world: InMemoryServices) -> None:
    for n in range(10):
        with pytest.raises(ValidationFailed):
            await world.accounts.reset_password(f"guess-{n}", "new password", "10.0.0.1")
    with pytest.raises(RateLimited):
        await world.accounts.reset_password("guess-10", "new password", "10.0.0.1")
    with pytest.raises(ValidationFailed):
        await world.accounts.reset_password("guess-10", "new password", "10.0.0.2")


class CountingHasher(FakePasswordHasher):
    def __init__(self) -> None:
        super().__init__()
        self.hashes = 0

    async def hash(self, password: str) -> str:
        self.hashes += 1
        return await super().hash(password)


async def test_a_taken_email_or_a_made_up_reset_token_costs_no_hashing() -> None:
    world = InMemoryServices()
    world.hasher = hasher = CountingHasher()
    await world.accounts.signup("ada@example.com", "password1", "Ada", "c")
    assert hasher.hashes == 1
    with pytest.raises(Conflict):
        await world.accounts.signup("ADA@example.com", "password2", "Ada again", "c")
    with pytest.raises(ValidationFailed):
        await world.accounts.reset_password("made-up", "new password", "c")
    assert hasher.hashes == 1
