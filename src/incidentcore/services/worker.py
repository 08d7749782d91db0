"""The worker's use cases: the escalation tick and the outbox dispatcher."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from incidentcore.model import Notification, NotificationStatus, TimelineEvent, TimelineKind
from incidentcore.ports import (
    Clock,
    DeliveryFailed,
    Notifier,
    OutgoingMessage,
    RetryPolicy,
    UnitOfWork,
)
from incidentcore.services.paging import Pager, PagingConfig


class EscalationTick:
    """Fires every escalation step that has come due, in one transaction per batch."""

    def __init__(self, uow: UnitOfWork, clock: Clock, paging: PagingConfig) -> None:
        self.uow = uow
        self.clock = clock
        self.pager = Pager(uow, paging)

    async def run(self, batch_size: int = 100) -> int:
        """Processes at most one batch; returns how many incidents it advanced."""
        async with self.uow:
            now = self.clock.now()
            due = await self.uow.incidents.claim_due(now, batch_size)
            await self.pager.record_many([(incident, incident.tick(now)) for incident in due], now, None)
            await self.uow.commit()
        return len(due)


class NotificationDispatch:
    """Sends due outbox rows: claim and commit first, then send, then record each result (fenced).

    Each result is committed as soon as its send returns, so a worker that dies leaves `sending`
    only the rows it had not finished; when their lease ends another worker sends them again:
    at-least-once, at most one duplicate per send that was in flight when it died.
    """

    def __init__(
        self,
        uow: UnitOfWork,
        clock: Clock,
        notifier: Notifier,
        retry: RetryPolicy,
        lease: timedelta = timedelta(seconds=60),
        concurrency: int = 10,
    ) -> None:
        self.uow = uow
        self.clock = clock
        self.notifier = notifier
        self.retry = retry
        self.lease = lease
        self.concurrency = concurrency

    async def run(self, batch_size: int | None = None) -> int:
        """Processes at most one batch (by default as many as it sends at once, so no claimed page
        waits behind others while its lease runs); returns how many sends it attempted."""
        batch_size = batch_size or self.concurrency
        async with self.uow:
            claimed = await self.uow.notifications.claim_due(self.clock.now(), batch_size, self.lease)
            await self.uow.commit()
            if not claimed:
                return 0
            limit = asyncio.Semaphore(self.concurrency)
            saving = asyncio.Lock()  # one unit of work: its transactions take turns

            async def deliver(notification: Notification) -> None:
                async with limit:
                    await self._deliver(notification)
                async with saving:
                    await self._save(notification)

            results = await asyncio.gather(*(deliver(n) for n in claimed), return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result
        return len(claimed)

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
        message = OutgoingMessage(
            notification.channel, notification.address, notification.subject, notification.body
        )
        try:
            await self.notifier.send(message)
        except DeliveryFailed as failure:
            self._failed(notification, failure.reason, permanent=failure.permanent)
        except Exception as error:  # a broken adapter must not stop the other pages
            self._failed(notification, f"{type(error).__name__}: {error}", permanent=False)
        else:
            notification.mark_sent(self.clock.now())

    def _failed(self, notification: Notification, reason: str, *, permanent: bool) -> None:
        now = self.clock.now()
        retry_at = None if permanent else self.retry.next_attempt(notification.attempts, now)
        notification.mark_failed(reason, now, retry_at)

    def _timeline_event(self, notification: Notification) -> TimelineEvent | None:
        assert notification.incident_id is not None
        data = {
            "notification_id": notification.id,
            "user_id": notification.user_id,
            "channel": notification.channel.value,
            "attempts": notification.attempts,
        }
        if notification.status is NotificationStatus.SENT:
            kind = TimelineKind.NOTIFIED
        elif notification.status is NotificationStatus.FAILED:
            kind = TimelineKind.NOTIFICATION_FAILED
            data["error"] = notification.last_error
        else:
            return None
        return TimelineEvent(notification.incident_id, kind, self.clock.now(), None, data)
