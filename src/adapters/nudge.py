"""Wakes the escalation worker early when an incident triggers or is escalated by hand."""

from __future__ import annotations

import asyncio
import contextlib

from incidentcore.ports import SchedulerNudge


class AsyncioNudge(SchedulerNudge):
    """An asyncio.Event the in-process worker waits on between ticks.

    With no worker in the process (a separate `incidentcore worker`), nudges just set a flag nobody
    reads, and the worker's own interval bounds the delay.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def nudge(self) -> None:
        self._event.set()

    async def wait_up_to(self, seconds: float) -> bool:
        """Waits until nudged or `seconds` pass; True when nudged. Clears the nudge."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), seconds)
        nudged = self._event.is_set()
        self._event.clear()
        return nudged
