"""Alert ingestion: the one use case every monitoring tool's alerts go through.

Each source (Kibana, PagerDuty Events API v2, Alertmanager and Grafana) is a small decoder in the HTTP
layer that turns its body into `Alert`s: a dedup key it computes, what to do, and what to show and
keep. Here, within an integration, one open incident per dedup key: a trigger opens it or counts a
repeat, an acknowledge acknowledges it, a resolve resolves it.

A trigger that would open an incident while a maintenance window covers the integration opens none
and pages nobody: it is kept as the window's `SuppressedAlert`. An incident already open is not the
window's business: it keeps taking its tool's repeats, acknowledgements and resolutions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from incidentcore.errors import AuthenticationFailed, Conflict, InvalidTransition
from incidentcore.maintenance import SuppressedAlert
from incidentcore.model import Integration, Outcome, Severity, TimelineKind
from incidentcore.ports import Clock, SchedulerNudge, UnitOfWork
from incidentcore.services.incidents import NewIncident, open_incident
from incidentcore.services.paging import PagingConfig, record_outcome
from incidentcore.validation import DESCRIPTION_MAX, TITLE_MAX, without_control_characters


class AlertAction(StrEnum):
    """What an alert asks of its incident: open (or count a repeat), acknowledge, or resolve it."""

    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


@dataclass(frozen=True)
class Alert:
    """One alert as a tool reported it. `dedup_key` names its incident within the integration (the
    decoder computes it); `title`, `description` and `severity` are used when it opens one; `data` is
    what the tool sent that is worth keeping, recorded on the timeline."""

    source: str
    dedup_key: str
    action: AlertAction
    title: str = ""
    description: str | None = None
    severity: Severity = Severity.HIGH
    data: dict[str, Any] = field(default_factory=dict)


ReceiptAction = Literal["created", "updated", "acknowledged", "resolved", "ignored", "suppressed"]


@dataclass(frozen=True)
class AlertReceipt:
    """What became of one alert: "ignored" is an acknowledge or resolve with nothing open to act on (or an
    acknowledge of an incident already acknowledged), accepted as PagerDuty accepts it; "suppressed" a
    trigger that a maintenance window (`maintenance_window_id`) kept from opening an incident."""

    incident_id: int | None
    action: ReceiptAction
    maintenance_window_id: int | None = None


@dataclass(frozen=True)
class AlertLimits:
    """`timeline_events`: an incident's timeline records its first this many alerts; later repeats are
    only counted (`incidentcore.model.Incident.alert_count`), so an alert storm leaves a bounded timeline."""

    timeline_events: int = 100


ALERT_DATA_MAX_BYTES = 16_384


def bounded(data: dict[str, Any]) -> dict[str, Any]:
    """The alert as received, unless it is large: every repeat may add a timeline event."""
    size = len(json.dumps(data, default=str))
    if size <= ALERT_DATA_MAX_BYTES:
        return data
    return {"truncated": True, "bytes": size, "keys": sorted(data)[:50]}


class AlertIngestion:
    """Alerts as the system receives them: the integration key is the authority, so no person's
    permissions apply; acknowledgements and resolutions are the system's (no actor)."""

    # A Conflict means another delivery committed an incident this one tried to open too (the partial
    # unique index refused the duplicate): on the next attempt it is found and updated.
    CONFLICT_RETRIES = 2

    def __init__(
        self, uow: UnitOfWork, clock: Clock, nudge: SchedulerNudge, paging: PagingConfig, limits: AlertLimits
    ) -> None:
        self.uow = uow
        self.clock = clock
        self.nudge = nudge
        self.paging = paging
        self.limits = limits

    async def receive(self, key: str, alert: Alert) -> AlertReceipt:
        (receipt,) = await self.receive_all(key, [alert])
        return receipt

    async def receive_all(self, key: str, alerts: Sequence[Alert]) -> list[AlertReceipt]:
        """One delivery's alerts (an Alertmanager group), all in one transaction; receipts in their order."""
        for _ in range(self.CONFLICT_RETRIES):
            try:
                return await self._receive_all(key, alerts)
            except Conflict:
                continue
        return await self._receive_all(key, alerts)

    async def _receive_all(self, key: str, alerts: Sequence[Alert]) -> list[AlertReceipt]:
        async with self.uow:
            integration = await self.uow.integrations.get_by_key(key) if key else None
            if integration is None:
                raise AuthenticationFailed("unknown integration key")
            now = self.clock.now()
            delivery = _Delivery(integration, now)
            receipts: dict[int, AlertReceipt] = {}
            # In dedup key order: deliveries that share alerts lock their incidents in the same order,
            # so they wait for one another instead of deadlocking.
            for index in sorted(range(len(alerts)), key=lambda i: alerts[i].dedup_key):
                receipts[index] = await self._apply(delivery, alerts[index])
            if delivery.suppressed:
                await self.uow.suppressed_alerts.add_many(delivery.suppressed)
            await self.uow.commit()
        if any(receipt.action == "created" for receipt in receipts.values()):
            self.nudge.nudge()
        return [receipts[index] for index in range(len(alerts))]

    async def _apply(self, delivery: _Delivery, alert: Alert) -> AlertReceipt:
        integration, now = delivery.integration, delivery.now
        data = bounded(alert.data)
        record = {"source": alert.source, "dedup_key": alert.dedup_key, "alert": data}
        incident = await self.uow.incidents.find_open_by_dedup_key(integration.id, alert.dedup_key)
        if incident is None:
            if alert.action is not AlertAction.TRIGGER:
                return AlertReceipt(None, "ignored")
            window_id = await self._maintenance_window(delivery)
            if window_id is not None:
                delivery.suppressed.append(
                    SuppressedAlert(
                        window_id=window_id,
                        integration_id=integration.id,
                        dedup_key=alert.dedup_key,
                        source=alert.source,
                        title=_title(alert),
                        severity=alert.severity,
                        received_at=now,
                        data=data,
                    )
                )
                return AlertReceipt(None, "suppressed", window_id)
            new = NewIncident(
                title=_title(alert),
                description=_description(alert.description),
                severity=alert.severity,
                team_id=integration.team_id,
                source=alert.source,
                integration_id=integration.id,
                dedup_key=alert.dedup_key,
            )
            incident = await open_incident(self.uow, self.paging, new, now, actor=None, alert=record)
            return AlertReceipt(incident.id, "created")
        action: ReceiptAction
        outcome: Outcome
        if alert.action is AlertAction.TRIGGER:
            outcome = incident.note_alert(now, record, timeline_max=self.limits.timeline_events)
            action = "updated"
        elif alert.action is AlertAction.ACKNOWLEDGE:
            try:
                outcome = incident.acknowledge(None, now)
            except InvalidTransition:  # already acknowledged or snoozed: the tool's ack changes nothing
                return AlertReceipt(incident.id, "ignored")
            action = "acknowledged"
        else:
            outcome = incident.resolve(None, now, reason=f"{alert.source} alert resolved")
            action = "resolved"
        _tell_what_the_alert_did(outcome, record)
        await self.uow.incidents.update(incident)
        await record_outcome(self.uow, self.paging, incident, outcome, now, None)
        return AlertReceipt(incident.id, action)

    async def _maintenance_window(self, delivery: _Delivery) -> int | None:
        """The window covering the delivery's integration now: asked once per delivery, and only when
        an alert would open an incident (repeats of open incidents, the bulk of a storm, never ask)."""
        if not delivery.window_looked_up:
            integration = delivery.integration
            delivery.window_id = await self.uow.maintenance_windows.covering(
                integration.team_id, integration.id, delivery.now
            )
            delivery.window_looked_up = True
        return delivery.window_id


@dataclass
class _Delivery:
    """One delivery's integration and instant, the maintenance window covering it (looked up at most
    once), and the alerts it suppressed (stored together)."""

    integration: Integration
    now: datetime
    window_looked_up: bool = False
    window_id: int | None = None
    suppressed: list[SuppressedAlert] = field(default_factory=list)


def _tell_what_the_alert_did(outcome: Outcome, record: dict[str, Any]) -> None:
    """An acknowledgement or resolution by an alert says, on the timeline, which alert it was."""
    for event in outcome.timeline:
        if event.kind in (TimelineKind.ACKNOWLEDGED, TimelineKind.RESOLVED):
            event.data.update(record)


def _title(alert: Alert) -> str:
    title = without_control_characters(alert.title).strip()[:TITLE_MAX].strip()
    return title or without_control_characters(f"{alert.source} alert {alert.dedup_key}")[:TITLE_MAX]


def _description(description: str | None) -> str | None:
    text = without_control_characters(description or "", multiline=True).strip()[:DESCRIPTION_MAX]
    return text or None
