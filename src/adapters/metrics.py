"""Prometheus metrics: what the service counts, and what a scrape answers.

The core knows nothing of this. Counts come from the edges of the use cases: the unit of work, wrapped
(`MeteredUnitOfWork`), counts the incidents and pages whose changes are committed, whichever use case
made them; the alert ingestion and login use cases are wrapped to count what they answered; the HTTP
app and the worker loop time their requests and ticks. What the database holds (the escalation lag,
the outbox) is read at scrape time (`read_queue`), so it is true whichever process answers and
whether or not any worker is running.

Every label has a bounded set of values: route templates, never paths; team ids (as many as teams are
configured); severities, channels, statuses and sources the code defines. Never a user id or a title.

Under `serve --workers N`, PROMETHEUS_MULTIPROC_DIR names a directory where each process writes its
values (prometheus_client's multiprocess mode); a scrape of any process sums them all.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from incidentcore.errors import AuthenticationFailed, RateLimited
from incidentcore.model import Incident, Notification, NotificationStatus
from incidentcore.ports import AccessToken, Clock, IncidentRepository, NotificationRepository, UnitOfWork
from incidentcore.services import Accounts, AlertIngestion
from incidentcore.services.alerts import Alert, AlertReceipt

MULTIPROCESS_DIRECTORY_ENV = "PROMETHEUS_MULTIPROC_DIR"

# No `*_created` series beside each counter: twice the series for a start time nobody alerts on (and
# multiprocess mode has none).
disable_created_metrics()  # type: ignore[no-untyped-call]

HTTP_REQUESTS = Counter(
    "incidentcore_http_requests_total",
    "HTTP requests answered, by route template, method and status code.",
    ["route", "method", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "incidentcore_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template and method.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
INCIDENTS_OPENED = Counter(
    "incidentcore_incidents_opened_total",
    "Incidents opened, by team id ('none' without a team), severity and source ('manual': by a person).",
    ["team", "severity", "source"],
)
ALERTS_RECEIVED = Counter(
    "incidentcore_alerts_received_total",
    "Alerts received from monitoring tools, by source and what they did ('rejected': unknown key).",
    ["source", "action"],
)
PAGES_FINISHED = Counter(
    "incidentcore_pages_total",
    "Pages that reached a final status (sent, failed for good, cancelled), by channel.",
    ["channel", "status"],
)
PAGE_DELIVERY = Histogram(
    "incidentcore_page_delivery_seconds",
    "From a page being written to the outbox to its delivery, retries included, by channel.",
    ["channel"],
    buckets=(0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0),
)
WORKER_TICK_DURATION = Histogram(
    "incidentcore_worker_tick_duration_seconds",
    "Time one escalation tick batch takes (claim due incidents, fire their steps, write their pages).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
LOGIN_FAILURES = Counter(
    "incidentcore_login_failures_total",
    "Password logins refused: 'invalid_credentials' or 'throttled' (too many failures).",
    ["reason"],
)

NO_TEAM = "none"
MANUAL_SOURCE = "manual"
OTHER_SOURCE = "other"
_SOURCE_LABEL = re.compile(r"[a-z][a-z0-9_]{0,31}")  # what the decoders name their sources


def source_label(source: str | None) -> str:
    """The source as a label value: sources are names the code gives; anything else is 'other'."""
    if source is None:
        return MANUAL_SOURCE
    return source if _SOURCE_LABEL.fullmatch(source) else OTHER_SOURCE


# --- what the database holds, read at scrape time -------------------------------------------------


@dataclass(frozen=True)
class QueueState:
    """How far behind the worker is: the oldest due escalation's wait, and the outbox by status."""

    escalation_lag_seconds: float
    unsent_pages: dict[NotificationStatus, int]


async def read_queue(uow: UnitOfWork, clock: Clock) -> QueueState:
    """Two indexed reads in one transaction."""
    async with uow:
        now = clock.now()
        oldest_due = await uow.incidents.oldest_due(now)
        unsent = await uow.notifications.count_unsent()
    lag = (now - oldest_due).total_seconds() if oldest_due is not None else 0.0
    return QueueState(max(lag, 0.0), unsent)


class _QueueCollector(Collector):
    def __init__(self, state: QueueState) -> None:
        self.state = state

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "incidentcore_escalation_lag_seconds",
            "How long past its next_escalation_at the most overdue open incident is (0: nothing is due). "
            "Grows while no worker runs.",
            value=self.state.escalation_lag_seconds,
        )
        outbox = GaugeMetricFamily(
            "incidentcore_outbox_pages", "Pages waiting in the outbox, by status.", labels=["status"]
        )
        for status, count in sorted(self.state.unsent_pages.items()):
            outbox.add_metric([status.value], count)
        yield outbox


def scrape(queue: QueueState | None = None) -> bytes:
    """The exposition text: this process's metrics, or every process's in multiprocess mode, and the
    queue state read from the database (when given)."""
    registry: CollectorRegistry = REGISTRY
    if os.environ.get(MULTIPROCESS_DIRECTORY_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    text = generate_latest(registry)
    if queue is not None:
        state = CollectorRegistry()
        state.register(_QueueCollector(queue))
        text += generate_latest(state)
    return text


# --- counting at the use-case boundary ------------------------------------------------------------


@dataclass
class _Committed:
    """What a transaction did that is worth counting once it commits."""

    opened: list[Incident] = field(default_factory=list)
    finished: list[Notification] = field(default_factory=list)

    def count(self) -> None:
        for incident in self.opened:
            team = str(incident.team_id) if incident.team_id is not None else NO_TEAM
            INCIDENTS_OPENED.labels(team, incident.severity.value, source_label(incident.source)).inc()
        for page in self.finished:
            channel = page.channel.value
            PAGES_FINISHED.labels(channel, page.status.value).inc()
            if page.status is NotificationStatus.SENT and page.sent_at is not None:
                delivery = (page.sent_at - page.created_at).total_seconds()
                PAGE_DELIVERY.labels(channel).observe(max(delivery, 0.0))
        self.opened.clear()
        self.finished.clear()

    def forget(self) -> None:
        self.opened.clear()
        self.finished.clear()


_FINAL = (NotificationStatus.SENT, NotificationStatus.FAILED, NotificationStatus.CANCELLED)


class _MeteredIncidents:
    """The incident repository, noting the incidents added (opened)."""

    def __init__(self, inner: IncidentRepository, committed: _Committed) -> None:
        self._inner = inner
        self._committed = committed

    async def add(self, incident: Incident) -> Incident:
        added = await self._inner.add(incident)
        self._committed.opened.append(added)
        return added

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _MeteredNotifications:
    """The outbox, noting the pages that reach a final status."""

    def __init__(self, inner: NotificationRepository, committed: _Committed) -> None:
        self._inner = inner
        self._committed = committed

    async def add_new(self, notifications: Sequence[Notification]) -> list[Notification]:
        inserted = await self._inner.add_new(notifications)
        self._committed.finished += [n for n in inserted if n.status in _FINAL]  # written cancelled
        return inserted

    async def record(self, notification: Notification) -> bool:
        saved = await self._inner.record(notification)
        if saved and notification.status in _FINAL:
            self._committed.finished.append(notification)
        return saved

    async def cancel_pending_for_incident(self, incident_id: int, reason: str) -> list[Notification]:
        cancelled = await self._inner.cancel_pending_for_incident(incident_id, reason)
        self._committed.finished += cancelled
        return cancelled

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class MeteredUnitOfWork:
    """A unit of work that counts the incidents opened and the pages finished in each transaction,
    when (and only if) it commits. Every other repository is the wrapped unit of work's own."""

    def __init__(self, inner: UnitOfWork) -> None:
        self._inner = inner
        self._committed = _Committed()
        self.incidents: IncidentRepository = _MeteredIncidents(inner.incidents, self._committed)
        self.notifications: NotificationRepository = _MeteredNotifications(inner.notifications, self._committed)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def __aenter__(self) -> Self:
        await self._inner.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._committed.forget()  # whatever was not committed is rolled back
        await self._inner.__aexit__(exc_type, exc, tb)

    async def commit(self) -> None:
        await self._inner.commit()
        self._committed.count()

    def reads_only(self) -> None:
        self._inner.reads_only()

    async def rollback(self) -> None:
        self._committed.forget()
        await self._inner.rollback()


class MeteredAlertIngestion(AlertIngestion):
    """Alert ingestion counting each alert by source and what it did."""

    def __init__(self, counted: AlertIngestion) -> None:  # takes over `counted`'s dependencies
        vars(self).update(vars(counted))

    async def receive_all(self, key: str, alerts: Sequence[Alert]) -> list[AlertReceipt]:
        """Every delivery passes here (`receive` is `receive_all` of one alert)."""
        try:
            receipts = await super().receive_all(key, alerts)
        except AuthenticationFailed:
            for alert in alerts:
                ALERTS_RECEIVED.labels(source_label(alert.source), "rejected").inc()
            raise
        for alert, receipt in zip(alerts, receipts, strict=True):
            ALERTS_RECEIVED.labels(source_label(alert.source), receipt.action).inc()
        return receipts


class MeteredAccounts(Accounts):
    """Accounts counting the password logins it refuses."""

    def __init__(self, counted: Accounts) -> None:
        vars(self).update(vars(counted))

    async def login(self, email: str, password: str, client: str) -> AccessToken:
        try:
            return await super().login(email, password, client)
        except AuthenticationFailed:
            LOGIN_FAILURES.labels("invalid_credentials").inc()
            raise
        except RateLimited:
            LOGIN_FAILURES.labels("throttled").inc()
            raise

