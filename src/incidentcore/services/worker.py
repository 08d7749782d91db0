"""The worker's use cases: the escalation tick and the outbox dispatcher."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

from incidentcore.model import Notification, NotificationStatus, TimelineEvent, TimelineKind
from incidentcore.ports import (
    Clock,
    DeliveryFailed,
    DestinationLimit,
    DestinationPolicy,
    DestinationRefused,
    Notifier,
    OutgoingMessage,
    RetryPolicy,
    UnitOfWork,
)
from incidentcore.services.paging import PagingConfig, page_event, record_outcomes


class EscalationTick:
    """Fires every escalation step that has come due, in one transaction per batch."""

    def __init__(self, uow: UnitOfWork, clock: Clock, paging: PagingConfig) -> None:
        self.uow = uow
        self.clock = clock
        self.paging = paging

    async def run(self, batch_size: int = 100) -> int:
        """Processes at most one batch; returns how many incidents it advanced."""
        async with self.uow:
            now = self.clock.now()
            due = await self.uow.incidents.claim_due(now, batch_size)
            outcomes = [(incident, incident.tick(now)) for incident in due]
            for incident in due:
                await self.uow.incidents.update(incident)
            await record_outcomes(self.uow, self.paging, outcomes, now, None)
            await self.uow.commit()
        return len(due)


# How long a stopping dispatcher may spend giving its unfinished claims back.
RELEASE_TIMEOUT_SECONDS = 5.0


class SendSlots:
    """The sends one process has in flight, shared by all its dispatch batches: at most `total` at
    once, and at most `per_destination` to one destination, so a destination that hangs holds that
    many senders and no more while the rest of the queue goes out."""

    def __init__(self, total: int = 10, per_destination: int = 2) -> None:
        self.total = total
        self.per_destination = per_destination
        self._in_flight: Counter[str] = Counter()
        self._count = 0
        # Claims take turns, so that each one knows what the others took.
        self.claiming = asyncio.Lock()

    @property
    def free(self) -> int:
        return max(self.total - self._count, 0)

    @property
    def limit(self) -> DestinationLimit:
        return DestinationLimit(self.per_destination, dict(self._in_flight))

    def take(self, notification: Notification) -> None:
        self._count += 1
        if notification.destination is not None:
            self._in_flight[notification.destination] += 1

    def release(self, notification: Notification) -> None:
        self._count -= 1
        if notification.destination is not None:
            self._in_flight[notification.destination] -= 1
            if not self._in_flight[notification.destination]:
                del self._in_flight[notification.destination]


class NotificationDispatch:
    """Sends due outbox rows: claim and commit first, then send, then record each result (fenced).

    Each result is committed as soon as its send returns, so a worker that dies leaves sending
    only the rows it had not finished; when their lease ends another worker sends them again:
    at-least-once, at most one duplicate per send that was in flight when it died.

    A broken endpoint cannot hold up the pager: every send ends within `send_timeout` (a retryable
    failure), the claim takes no more than the free `slots` and passes over destinations that already
    have their share of sends in flight, and the most urgent pages are claimed first. `destinations`,
    when given, is asked again before each send (what a host name points at can change).
    """

    def __init__(
        self,
        uow: UnitOfWork,
        clock: Clock,
        notifier: Notifier,
        retry: RetryPolicy,
        lease: timedelta = timedelta(seconds=60),
        *,
        slots: SendSlots | None = None,
        destinations: DestinationPolicy | None = None,
        send_timeout: timedelta = timedelta(seconds=10),
    ) -> None:
        self.uow = uow
        self.clock = clock
        self.notifier = notifier
        self.retry = retry
        self.lease = lease
        self.slots = slots if slots is not None else SendSlots()
        self.destinations = destinations
        self.send_timeout = send_timeout

    async def run(self, batch_size: int | None = None, claimed: Callable[[int], None] | None = None) -> int:
        """Claims at most `batch_size` due pages (and no more than there are free send slots, so no
        claimed page waits while its lease runs), sends them and records each result; returns how many
        it claimed. `claimed` hears that number as soon as the claim is committed: the worker loop
        then claims again while these sends are still going."""
        async with self.uow:
            async with self.slots.claiming:
                limit = min(batch_size or self.slots.total, self.slots.free)
                batch: list[Notification] = []
                if limit > 0:
                    batch = await self.uow.notifications.claim_due(
                        self.clock.now(), limit, self.lease, self.slots.limit
                    )
                    await self.uow.commit()
                for notification in batch:
                    self.slots.take(notification)
            if claimed is not None:
                claimed(len(batch))
            if not batch:
                return 0
            saving = asyncio.Lock()  # one unit of work: its transactions take turns
            claimed_versions = {n.id: n.version for n in batch}
            recorded: set[int] = set()

            async def deliver(notification: Notification) -> None:
                try:
                    await self._deliver(notification)
                    async with saving:
                        await self._save(notification)
                    recorded.add(notification.id)
                finally:
                    # Only now: a page sent but not yet recorded would be sent again after a crash,
                    # so the slots also bound how many pages a dying worker can leave to be resent.
                    self.slots.release(notification)

            try:
                results = await asyncio.gather(*(deliver(n) for n in batch), return_exceptions=True)
            except asyncio.CancelledError:
                unfinished = [n for n in batch if n.id not in recorded]
                await self._release(unfinished, claimed_versions)
                raise
            for result in results:
                if isinstance(result, BaseException):
                    raise result
        return len(batch)

    async def _release(self, unfinished: list[Notification], claimed_versions: dict[int, int]) -> None:
        """The sender is stopping (cancelled): its unfinished claims go back to the queue, due now, so
        the next worker sends them at once instead of after their lease. Fenced by the version the
        claim gave each row: a page whose result did get committed is left as it is. Bounded in time:
        if the database does not answer, this raises (the worker logs it) and the leases still run out."""
        if not unfinished:
            return
        async with asyncio.timeout(RELEASE_TIMEOUT_SECONDS):
            await self.uow.rollback()  # whatever the cancellation interrupted
            now = self.clock.now()
            for notification in unfinished:
                notification.version = claimed_versions[notification.id]
                notification.release(now)
                await self.uow.notifications.record(notification)
            await self.uow.commit()

    async def _save(self, notification: Notification) -> None:
        if await self.uow.notifications.record(notification) and notification.incident_id:
            event = self._timeline_event(notification)
            if event is not None:
                await self.uow.timeline.add_many([event])
        await self.uow.commit()

    async def _deliver(self, notification: Notification) -> None:
        if notification.attempts > self.retry.max_attempts:  # earlier sends never reported back
            reason = f"gave up after {self.retry.max_attempts} attempts that did not report back"
            notification.mark_failed(reason, self.clock.now(), retry_at=None)
            return
        channel = notification.channel.value
        message = OutgoingMessage(
            notification.channel, notification.address, notification.subject, notification.body
        )
        deadline = asyncio.timeout(self.send_timeout.total_seconds())
        try:
            async with deadline:
                if self.destinations is not None and notification.address:
                    await self.destinations.check(notification.channel, notification.address)
                await self.notifier.send(message)
        except DestinationRefused as refused:
            self._failed(notification, f"{channel}: not sent: {refused.reason}", permanent=True)
        except DeliveryFailed as failure:
            self._failed(notification, failure.reason, permanent=failure.permanent)
        except Exception as error:  # a broken adapter must not stop the other pages
            if isinstance(error, TimeoutError) and deadline.expired():
                reason = f"{channel}: no answer within {self.send_timeout.total_seconds():g} s"
            else:
                reason = f"{type(error).__name__}: {error}"
            self._failed(notification, reason, permanent=False)
        else:
            notification.mark_sent(self.clock.now())

    def _failed(self, notification: Notification, reason: str, *, permanent: bool) -> None:
        now = self.clock.now()
        retry_at = None if permanent else self.retry.next_attempt(notification.attempts, now)
        notification.mark_failed(reason, now, retry_at)

    def _timeline_event(self, notification: Notification) -> TimelineEvent | None:
        if notification.status is NotificationStatus.SENT:
            return page_event(notification, TimelineKind.NOTIFIED, self.clock.now())
        if notification.status is NotificationStatus.FAILED:
            return page_event(
                notification, TimelineKind.NOTIFICATION_FAILED, self.clock.now(), error=notification.last_error
            )
        return None
