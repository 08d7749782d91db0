"""The worker loop: runs the escalation tick (missed heartbeats first) and the outbox dispatcher on a clock.

Two loops run side by side, so a long queue of sends never delays an escalation (nor the reverse).
Each loop wakes every `interval` seconds, or at once when nudged (an incident triggered or was
escalated in this process), and drains: while a run comes back with a full batch it runs again.
It runs batches through `Batches` (the entrypoint gives each batch a fresh unit of work, exactly as
an HTTP request gets one), so the loop knows nothing of the container. The dispatch loop does not wait for a batch's sends before it claims the next one
(the dispatcher's send slots bound how many are in flight): a page due now is not held up by
sends to an endpoint that is slow to answer. `stop()` lets the sends in hand finish and claims
nothing new.

Many workers may run against one Postgres: the use cases claim rows with SKIP LOCKED, so this loop
needs no coordination of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from adapters.nudge import AsyncioNudge

logger = logging.getLogger("incidentcore.worker")


class Batches(Protocol):
    """One batch of each kind of work, each in a unit of work of its own."""

    async def tick(self, batch: int) -> int:
        """Advances at most `batch` due incidents; how many it advanced."""
        ...

    async def heartbeats(self, batch: int) -> int:
        """Opens incidents for at most `batch` missed heartbeats; for how many it did."""
        ...

    async def dispatch(self, batch: int, claimed: Callable[[int], None] | None = None) -> int:
        """Claims and sends at most `batch` pages; calls `claimed` with the count once the claim is
        committed (the sends may still be going on); returns when they are done."""
        ...


class Scheduler:
    def __init__(
        self,
        batches: Batches,
        nudge: AsyncioNudge,
        interval: float = 5.0,
        *,
        tick_batch: int = 100,
        dispatch_batch: int = 10,
        error_backoff: float = 1.0,
        max_error_backoff: float = 30.0,
    ) -> None:
        self.batches = batches
        self.nudge = nudge
        self.interval = interval
        self.tick_batch = tick_batch
        # The dispatcher claims no more than it has free send slots: a claimed page never queues
        # behind others, so its lease only has to outlast its own send.
        self.dispatch_batch = dispatch_batch
        self.error_backoff = error_backoff
        self.max_error_backoff = max_error_backoff
        self._stopping = asyncio.Event()
        self._wake_tick = asyncio.Event()
        self._wake_dispatch = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._batches: set[asyncio.Task[None]] = set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def tick_once(self) -> int:
        """One batch of missed heartbeats (their incidents page in it), then one escalation batch; the
        larger count, so that the loop drains while either comes back full."""
        missed = await self.batches.heartbeats(self.tick_batch)
        advanced = await self.batches.tick(self.tick_batch)
        return max(missed, advanced)

    async def start_dispatch(self) -> int:
        """Claims one outbox batch in its own scope and returns how many pages it claimed as soon as
        the claim is committed; the batch's sends go on in the background."""
        claimed: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def heard(count: int) -> None:
            if not claimed.done():
                claimed.set_result(count)

        async def batch() -> None:
            await self.batches.dispatch(self.dispatch_batch, claimed=heard)

        def finished(task: asyncio.Task[None]) -> None:
            self._batches.discard(task)
            self._wake_dispatch.set()  # its send slots are free again
            if not task.cancelled() and task.exception() is not None and claimed.done():
                logger.error("dispatch batch failed after its claim", exc_info=task.exception())

        task = asyncio.create_task(batch(), name="incidentcore-dispatch-batch")
        self._batches.add(task)
        task.add_done_callback(finished)
        either: set[asyncio.Future[Any]] = {claimed, task}
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if not claimed.done():
            task.result()  # the claim failed: its error goes to the loop
            return 0
        return claimed.result()

    async def run(self) -> None:
        """Runs both loops until `stop()`."""
        watcher = asyncio.create_task(self._watch(self.nudge), name="incidentcore-nudge-watcher")
        try:
            await asyncio.gather(
                self._loop("escalation tick", self.tick_once, self.tick_batch, self._wake_tick, self._ticked),
                self._loop("dispatch", self.start_dispatch, self.dispatch_batch, self._wake_dispatch, None),
            )
        except asyncio.CancelledError:
            for batch in self._batches:
                batch.cancel()
            raise
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            # The sends in hand finish (or are cancelled with this task): each is recorded or re-sent.
            await asyncio.gather(*self._batches, return_exceptions=True)

    def start(self) -> asyncio.Task[None]:
        """Runs the loops in a background task (the HTTP app's startup hook)."""
        if self._task is None or self._task.done():
            self._stopping.clear()
            self._task = asyncio.create_task(self.run(), name="incidentcore-worker")
        return self._task

    def request_stop(self) -> None:
        """Asks the loops to stop after the batch in hand; safe from a signal handler."""
        self._stopping.set()
        self._wake_tick.set()
        self._wake_dispatch.set()

    async def stop(self, grace_seconds: float | None = 30.0) -> None:
        """Stops after the batch in hand; cancels it if it takes longer than `grace_seconds`."""
        self.request_stop()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(task, grace_seconds)
        except TimeoutError:
            # Uncommitted claims roll back; committed `sending` rows are re-sent when their lease ends.
            logger.warning("worker did not finish its batch within %s s; cancelled", grace_seconds)
        except Exception:
            logger.exception("worker stopped with an error")

    async def _drain(self, once: Callable[[], Awaitable[int]], batch: int) -> int:
        total = 0
        while not self.stopping:
            done = await once()
            total += done
            if done < batch:
                break
        return total

    async def _loop(
        self,
        name: str,
        once: Callable[[], Awaitable[int]],
        batch: int,
        wake: asyncio.Event,
        after: Callable[[int], None] | None,
    ) -> None:
        failures = 0
        while not self.stopping:
            try:
                done = await self._drain(once, batch)
            except Exception:
                failures += 1
                delay = min(self.error_backoff * 2 ** (failures - 1), self.max_error_backoff)
                logger.exception("%s failed (%d in a row); next try in %.1f s", name, failures, delay)
            else:
                failures = 0
                delay = self.interval
                if done:
                    logger.info("%s: %d processed", name, done)
                    if after is not None:
                        after(done)
            await self._sleep(wake, delay)

    def _ticked(self, advanced: int) -> None:
        self._wake_dispatch.set()  # the tick just wrote pages: send them now, not an interval later

    async def _sleep(self, wake: asyncio.Event, seconds: float) -> None:
        if not self.stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), seconds)
        wake.clear()

    async def _watch(self, nudge: AsyncioNudge) -> None:
        try:
            while True:
                if await nudge.wait_up_to(3600):
                    # A trigger writes its step-0 pages itself: the dispatcher has work too.
                    self._wake_tick.set()
                    self._wake_dispatch.set()
        except Exception:  # the interval still drives the loops
            logger.exception("nudge watcher failed; the worker falls back to its interval")
