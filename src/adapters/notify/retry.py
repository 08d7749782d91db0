"""Exponential backoff with jitter for failed sends."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Literal

from incidentcore.ports import RetryPolicy

Jitter = Literal["full", "equal", "none"]


class ExponentialBackoff(RetryPolicy):
    """Waits `base * factor**(attempts - 1)`, capped at `max_delay`; gives up after `max_attempts`.

    Jitter spreads the retries of a burst of failures (an SMTP outage pages many people at once):
    "full" waits uniformly in [0, delay], "equal" in [delay / 2, delay], "none" exactly `delay`.
    """

    def __init__(
        self,
        base: timedelta = timedelta(seconds=30),
        factor: float = 2.0,
        max_delay: timedelta = timedelta(hours=1),
        max_attempts: int = 5,
        jitter: Jitter = "equal",
        rng: random.Random | None = None,
    ) -> None:
        if base <= timedelta() or max_delay < base:
            raise ValueError("need 0 < base <= max_delay")
        if factor < 1:
            raise ValueError("factor must be at least 1")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if jitter not in ("full", "equal", "none"):
            raise ValueError("jitter must be 'full', 'equal' or 'none'")
        self.base = base
        self.factor = factor
        self.max_delay = max_delay
        self.max_attempts = max_attempts
        self.jitter = jitter
        # Jitter only spreads load; it needs no cryptographic randomness.
        self.rng = rng or random.Random()  # noqa: S311

    def delay(self, attempts: int) -> timedelta:
        """The delay before the next attempt, before jitter."""
        exponent = min(attempts - 1, 64)  # bounded so huge attempt counts cannot overflow a float
        seconds = self.base.total_seconds() * self.factor**exponent
        return timedelta(seconds=min(seconds, self.max_delay.total_seconds()))

    def next_attempt(self, attempts: int, now: datetime) -> datetime | None:
        if attempts < 1:
            raise ValueError("attempts counts the attempts made so far, so it is at least 1")
        if attempts >= self.max_attempts:
            return None
        seconds = self.delay(attempts).total_seconds()
        if self.jitter == "full":
            seconds = self.rng.uniform(0, seconds)
        elif self.jitter == "equal":
            seconds = seconds / 2 + self.rng.uniform(0, seconds / 2)
        return now + timedelta(seconds=seconds)
