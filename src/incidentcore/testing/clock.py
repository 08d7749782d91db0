"""A clock that moves only when told to: time-dependent behaviour becomes reproducible."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from incidentcore.ports import Clock


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("the clock keeps timezone-aware UTC time; got a naive datetime")
    return moment.astimezone(UTC)


class FakeClock(Clock):
    """A `Clock` that stands still until `advance` or `set` moves it; starts at `DEFAULT_START`."""

    DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)

    def __init__(self, start: datetime | None = None) -> None:
        self._now = _as_utc(start or self.DEFAULT_START)

    def now(self) -> datetime:
        return self._now

    def advance(
        self, delta: timedelta | None = None, *, hours: float = 0, minutes: float = 0, seconds: float = 0
    ) -> datetime:
        """Moves forward by `delta` plus the given units; returns the new now."""
        step = (delta or timedelta()) + timedelta(hours=hours, minutes=minutes, seconds=seconds)
        if step < timedelta():
            raise ValueError("advance() only moves forward; use set() to go back")
        self._now += step
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = _as_utc(moment)
