"""Throttling of password checks, sign-ups, password recovery and resets, held in process memory.

Each API process counts on its own: with N processes a client gets up to N times the limit. That
bounds online guessing well enough for a login form; a shared store would be the next step.
The limits are the account rules, so the one implementation lives in the core: the service passes
`asyncio.sleep` for the slow-down waits, tests a recorder (`incidentcore.testing.RecordedSleeps`).
"""

from __future__ import annotations

import asyncio
import math
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from incidentcore.ports import LoginThrottle


@dataclass(frozen=True)
class Limit:
    """Refuses a key's attempts while it has `max_failures` within `window`."""

    max_failures: int
    window: timedelta


@dataclass(frozen=True)
class Slowdown:
    """Never refuses: the first `free` attempts within `window` pass at once, then each waits `first`
    seconds, doubling with every further attempt, at most `longest`."""

    free: int
    window: timedelta
    first: float
    longest: float

    def delay(self, attempts_before: int) -> float:
        beyond = attempts_before - self.free
        if beyond < 0:
            return 0.0
        return min(self.longest, math.ldexp(self.first, min(beyond, 32)))

    @property
    def remembered(self) -> int:
        """Attempts worth keeping: beyond these the delay is at its longest anyway."""
        doublings = math.ceil(math.log2(max(self.longest / self.first, 1))) if self.first > 0 else 0
        return self.free + doublings + 1


WINDOW = timedelta(minutes=15)
DEFAULT_LIMITS = {
    "account-client": Limit(5, WINDOW),  # failed password checks of one account from one address
    "client": Limit(30, WINDOW),  # failed password checks from one address, over all accounts
    "recovery": Limit(3, WINDOW),  # password-recovery emails to one address
    "recovery-client": Limit(10, WINDOW),  # password-recovery requests from one address
    "signup-client": Limit(10, WINDOW),  # sign-ups from one address
    "reset-client": Limit(10, WINDOW),  # failed password resets from one address
    "test-page": Limit(5, WINDOW),  # test pages one user sends to their own channels
}
# An account tried from many addresses is slowed, never locked: its owner always gets in.
DEFAULT_SLOWDOWNS = {"account": Slowdown(free=10, window=WINDOW, first=0.25, longest=2.0)}
DEFAULT_MAX_KEYS = 100_000


class InMemoryLoginThrottle(LoginThrottle):
    """A sliding window per key; the limit (or slowdown) is chosen by the key's prefix
    (`account-client:...`, `client:...`, `account:...`, ...). An attempt counts from when it begins:
    parallel requests cannot slip past the limit while their password checks are still running.

    At most `max_keys` keys are remembered (least recently attempted dropped first), so a flood of
    made-up emails cannot grow memory without bound.
    """

    def __init__(
        self,
        limits: dict[str, Limit] | None = None,
        default: Limit = Limit(5, WINDOW),
        max_keys: int = DEFAULT_MAX_KEYS,
        *,
        slowdowns: dict[str, Slowdown] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.limits = dict(DEFAULT_LIMITS if limits is None else limits)
        self.default = default
        self.slowdowns = dict(DEFAULT_SLOWDOWNS if slowdowns is None else slowdowns)
        self.max_keys = max_keys
        self._sleep = sleep
        self._attempts: OrderedDict[str, list[datetime]] = OrderedDict()

    def begin_attempt(self, keys: Sequence[str], now: datetime) -> int | None:
        waits: list[int] = []
        for key in keys:
            limit = self._limit(key)
            recent = self._recent(key, now)
            if len(recent) >= limit.max_failures:
                frees_at = recent[len(recent) - limit.max_failures] + limit.window
                waits.append(max(1, math.ceil((frees_at - now).total_seconds())))
        if waits:
            return max(waits)
        for key in dict.fromkeys(keys):
            # Below the limit before this attempt, so a key never holds more than its limit.
            self._record(key, [*self._recent(key, now), now])
        return None

    async def slow_down(self, key: str, now: datetime) -> None:
        slowdown = self._slowdown(key)
        recent = self._recent(key, now)
        delay = slowdown.delay(len(recent))
        self._record(key, [*recent[-slowdown.remembered :], now])
        if delay > 0:
            await self._sleep(delay)

    def end_attempt(
        self, keys: Sequence[str], now: datetime, succeeded: bool, *, clear: Sequence[str] = ()
    ) -> None:
        if not succeeded:
            return  # the pending attempt stays counted, as a failure
        for key in dict.fromkeys(keys):
            attempts = self._attempts.get(key)
            if attempts is not None and now in attempts:
                attempts.remove(now)
        for key in clear:
            self._attempts.pop(key, None)

    def _limit(self, key: str) -> Limit:
        return self.limits.get(key.partition(":")[0], self.default)

    def _slowdown(self, key: str) -> Slowdown:
        return self.slowdowns.get(key.partition(":")[0], DEFAULT_SLOWDOWNS["account"])

    def _window(self, key: str) -> timedelta:
        kind = key.partition(":")[0]
        return self.slowdowns[kind].window if kind in self.slowdowns else self._limit(key).window

    def _record(self, key: str, attempts: list[datetime]) -> None:
        self._attempts[key] = attempts
        self._attempts.move_to_end(key)
        while len(self._attempts) > self.max_keys:
            self._attempts.popitem(last=False)

    def _recent(self, key: str, now: datetime) -> list[datetime]:
        window = self._window(key)
        recent = sorted(t for t in self._attempts.get(key, []) if t + window > now)
        if not recent:
            self._attempts.pop(key, None)
        return recent
