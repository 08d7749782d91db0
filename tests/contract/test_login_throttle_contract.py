"""LoginThrottle: the production throttle and the in-memory reference count attempts alike."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from adapters.security import InMemoryLoginThrottle
from incidentcore.ports import LoginThrottle
from incidentcore.testing import MemoryLoginThrottle

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ANN = ["account:ann@example.com"]


@pytest.fixture(params=[InMemoryLoginThrottle, MemoryLoginThrottle], ids=["production", "memory"])
def throttle(request: pytest.FixtureRequest) -> LoginThrottle:
    make: Callable[[], LoginThrottle] = request.param
    return make()


def fail(throttle: LoginThrottle, keys: list[str], at: datetime) -> None:
    assert throttle.begin_attempt(keys, at) is None
    throttle.end_attempt(keys, at, False)


def test_blocks_after_five_failures_and_frees_as_they_leave_the_window(throttle: LoginThrottle) -> None:
    for minute in range(5):
        fail(throttle, ANN, T0 + timedelta(minutes=minute))
    assert throttle.begin_attempt(ANN, T0 + timedelta(minutes=5)) == 10 * 60  # minute 0 leaves at minute 15
    assert throttle.begin_attempt(["account:bob@example.com"], T0 + timedelta(minutes=5)) is None
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
    other = ["account:other@example.com"]  # a second key with the same limit, not cleared
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
