"""LoginThrottle: the throttle the service and the in-memory world both use, waits recorded, not slept."""


from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from incidentcore.ports import LoginThrottle
from incidentcore.testing import RecordedSleeps
from incidentcore.throttle import InMemoryLoginThrottle

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ANN = ["account-client:10.0.0.1 ann@example.com"]


@dataclass
class Recorded:
    """A throttle, and the waits it asked for (recorded, not slept)."""

    throttle: LoginThrottle
    delays: list[float]


@pytest.fixture
def recorded() -> Recorded:
    sleeps = RecordedSleeps()
    return Recorded(InMemoryLoginThrottle(sleep=sleeps), sleeps.delays)


@pytest.fixture
def throttle(recorded: Recorded) -> LoginThrottle:
    return recorded.throttle


def fail(throttle: LoginThrottle, keys: list[str], at: datetime) -> None:
    assert throttle.begin_attempt(keys, at) is None
    throttle.end_attempt(keys, at, False)


def test_blocks_after_five_failures_and_frees_as_they_leave_the_window(throttle: LoginThrottle) -> None:
    for minute in range(5):
        fail(throttle, ANN, T0 + timedelta(minutes=minute))
    assert throttle.begin_attempt(ANN, T0 + timedelta(minutes=5)) == 10 * 60  # minute 0 leaves at minute 15
    assert throttle.begin_attempt(["account-client:10.0.0.1 bob@example.com"], T0 + timedelta(minutes=5)) is None
    assert throttle.begin_attempt(ANN, T0 + timedelta(minutes=15, seconds=1)) is None


def test_attempts_count_while_they_are_still_running(throttle: LoginThrottle) -> None:
    for _ in range(5):
        assert throttle.begin_attempt(ANN, T0) is None  # none has ended yet
    wait = throttle.begin_attempt(ANN, T0)
    assert wait is not None and 0 < wait <= 15 * 60


def test_a_blocked_attempt_is_not_counted(throttle: LoginThrottle) -> None:
    for _ in range(5):
        fail(throttle, ANN, T0)
    for second in range(1, 100):
        assert throttle.begin_attempt(ANN, T0 + timedelta(seconds=second)) is not None
    assert throttle.begin_attempt(ANN, T0 + timedelta(minutes=15)) is None


def test_a_success_is_not_counted_and_clears_the_keys_it_names(throttle: LoginThrottle) -> None:
    other = ["account-client:10.0.0.1 other@example.com"]  # a second key with the same limit, not cleared
    keys = [*ANN, *other]
    for _ in range(4):
        fail(throttle, keys, T0)
    assert throttle.begin_attempt(keys, T0) is None
    throttle.end_attempt(keys, T0, True, clear=ANN)
    for _ in range(5):  # the cleared key starts over
        fail(throttle, ANN, T0)
    assert throttle.begin_attempt(ANN, T0) is not None
    fail(throttle, other, T0)  # the other still holds its 4 failures, not the success: one more fits
    assert throttle.begin_attempt(other, T0) is not None


def test_recovery_requests_are_limited_to_three_per_address(throttle: LoginThrottle) -> None:
    keys = ["recovery:ann@example.com"]
    for minute in range(3):
        assert throttle.begin_attempt(keys, T0 + timedelta(minutes=minute)) is None
    assert throttle.begin_attempt(keys, T0 + timedelta(minutes=3)) == 12 * 60
    assert throttle.begin_attempt(["recovery:bob@example.com"], T0 + timedelta(minutes=3)) is None
    assert throttle.begin_attempt(keys, T0 + timedelta(minutes=15)) is None


@pytest.mark.parametrize(
    ("kind", "limit"),
    [("account-client", 5), ("client", 30), ("signup-client", 10), ("recovery-client", 10), ("reset-client", 10)],
)
def test_each_kind_of_key_has_its_limit(throttle: LoginThrottle, kind: str, limit: int) -> None:
    key = [f"{kind}:10.0.0.1"]
    for _ in range(limit):
        fail(throttle, key, T0)
    assert throttle.begin_attempt(key, T0) == 15 * 60
    assert throttle.begin_attempt([f"{kind}:10.0.0.2"], T0) is None


ACCOUNT = "account:ann@example.com"


@pytest.mark.anyio
async def test_an_account_key_is_slowed_down_never_refused(recorded: Recorded) -> None:
    throttle = recorded.throttle
    for n in range(16):
        await throttle.slow_down(ACCOUNT, T0 + timedelta(seconds=n))
        throttle.end_attempt([ACCOUNT], T0 + timedelta(seconds=n), False)
    assert recorded.delays == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]  # none for the first ten, then at most 2 s
    await throttle.slow_down(ACCOUNT, T0 + timedelta(minutes=15))  # the first ones left the window
    assert recorded.delays[-1] == 2.0
    await throttle.slow_down(ACCOUNT, T0 + timedelta(minutes=30))
    assert len(recorded.delays) == 7


@pytest.mark.anyio
async def test_a_slowed_attempt_that_succeeds_is_not_counted(recorded: Recorded) -> None:
    throttle = recorded.throttle
    for _ in range(12):
        await throttle.slow_down(ACCOUNT, T0)
        throttle.end_attempt([ACCOUNT], T0, True)
    assert recorded.delays == []
