"""Login (and password-recovery) throttling held in process memory.

Each API process counts on its own: with N processes a client gets up to N times the limit. That
bounds online guessing well enough for a login form; a shared store would be the next step.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from incidentcore.ports import LoginThrottle


@dataclass(frozen=True)
class Limit:
    max_failures: int
    window: timedelta


DEFAULT_LIMITS = {
    "account": Limit(5, timedelta(minutes=15)),
    "client": Limit(30, timedelta(minutes=15)),
    "recovery": Limit(3, timedelta(minutes=15)),  # password-recovery emails to one address
}
DEFAULT_MAX_KEYS = 100_000


class InMemoryLoginThrottle(LoginThrottle):
    """A sliding window per key; the limit is chosen by the key's prefix (`account:...`, `client:...`,
    `recovery:...`). An attempt counts from when it begins: parallel requests cannot slip past the
    limit while their password checks are still running.

    At most `max_keys` keys are remembered (least recently attempted dropped first), so a flood of
    made-up emails cannot grow memory without bound.
    """

    def __init__(
        self,
        limits: dict[str, Limit] | None = None,
        default: Limit = Limit(5, timedelta(minutes=15)),
        max_keys: int = DEFAULT_MAX_KEYS,
    ) -> None:
        self.limits = dict(DEFAULT_LIMITS if limits is None else limits)
        self.default = default
        self.max_keys = max_keys
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
            self._attempts[key] = [*self._recent(key, now), now]
            self._attempts.move_to_end(key)
        while len(self._attempts) > self.max_keys:
            self._attempts.popitem(last=False)
        return None

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

    def _recent(self, key: str, now: datetime) -> list[datetime]:
        window = self._limit(key).window
        recent = sorted(t for t in self._attempts.get(key, []) if t + window > now)
        if not recent:
            self._attempts.pop(key, None)
        return recent
