"""Alert sources: integrations (team-bound keys) and the Elastic webhook with dedup."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from incidentcore.errors import AuthenticationFailed, Conflict, FieldError, NotFound, ValidationFailed
from incidentcore.model import Integration, Severity, User
from incidentcore.permissions import Action, require
from incidentcore.ports import Clock, Page, Paged, SchedulerNudge, SecretGenerator, UnitOfWork
from incidentcore.services.incidents import NewIncident, open_incident
from incidentcore.services.paging import PagingConfig, record_outcome
from incidentcore.validation import SHORT_NAME_MAX, TITLE_MAX, check_text, without_control_characters


class Integrations:
    """Alert sources of a team, each with a secret key (administration)."""

    def __init__(self, uow: UnitOfWork, clock: Clock, secrets: SecretGenerator) -> None:
        self.uow = uow
        self.clock = clock
        self.secrets = secrets

    async def create(self, actor: User, name: str, team_id: int) -> Integration:
        require(actor, Action.INTEGRATION_MANAGE)
        check_text("name", name, SHORT_NAME_MAX, required=True)
        async with self.uow:
            if await self.uow.teams.get(team_id) is None:
                raise ValidationFailed(FieldError("team_id", f"team {team_id} does not exist"))
            integration = await self.uow.integrations.add(
                Integration(name.strip(), team_id, self.secrets.new_secret(), self.clock.now())
            )
            await self.uow.commit()
        return integration

    async def list(self, actor: User, page: Page) -> Paged[Integration]:
        require(actor, Action.INTEGRATION_MANAGE)
        async with self.uow:
            return await self.uow.integrations.list(page)

    async def delete(self, actor: User, integration_id: int) -> None:
        require(actor, Action.INTEGRATION_MANAGE)
        async with self.uow:
            if await self.uow.integrations.get(integration_id) is None:
                raise NotFound(f"integration {integration_id} does not exist")
            await self.uow.integrations.delete(integration_id)
            await self.uow.commit()


@dataclass(frozen=True)
class Alert:
    """An alert as a monitoring tool reports it; `recovered` ends it."""

    source: str
    rule_id: str
    rule_name: str
    alert_id: str
    recovered: bool
    reason: str | None = None
    severity: Severity = Severity.HIGH
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def dedup_key(self) -> str:
        return elastic_dedup_key(self.rule_id, self.alert_id)


def elastic_dedup_key(rule_id: str, alert_id: str) -> str:
    """`<rule.id>:<alert.id>`, with `\\` and `:` escaped in the rule id, so that no two pairs share a key
    (unescaped, rule "a:b" with alert "c" and rule "a" with alert "b:c" would be one incident). Ids
    without those characters keep their plain key."""
    return rule_id.replace("\\", "\\\\").replace(":", "\\:") + ":" + alert_id


AlertAction = Literal["created", "updated", "resolved", "ignored"]
ALERT_DATA_MAX_BYTES = 16_384


def bounded(data: dict[str, Any]) -> dict[str, Any]:
    """The alert as received, unless it is large: every repeat adds a timeline event."""
    size = len(json.dumps(data, default=str))
    if size <= ALERT_DATA_MAX_BYTES:
        return data
    return {"truncated": True, "bytes": size, "keys": sorted(data)[:50]}


@dataclass(frozen=True)
class AlertReceipt:
    """What an alert did to `incident_id`: `"created"`, `"updated"` or `"resolved"` it, or was `"ignored"`
    (a recovery with no open incident to resolve)."""

    incident_id: int | None
    action: AlertAction


class AlertIngestion:
    """One open incident per (integration, dedup key): a repeat updates it, a recovery resolves it."""

    def __init__(self, uow: UnitOfWork, clock: Clock, nudge: SchedulerNudge, paging: PagingConfig) -> None:
        self.uow = uow
        self.clock = clock
        self.nudge = nudge
        self.paging = paging

    async def receive(self, key: str, alert: Alert) -> AlertReceipt:
        try:
            return await self._receive(key, alert)
        except Conflict:
            # Another request opened the same alert's incident between our lookup and insert:
            # the partial unique index stopped a duplicate; now the alert is an update.
            return await self._receive(key, alert)

    async def _receive(self, key: str, alert: Alert) -> AlertReceipt:
        async with self.uow:
            integration = await self.uow.integrations.get_by_key(key) if key else None
            if integration is None:
                raise AuthenticationFailed("unknown integration key")
            incident = await self.uow.incidents.find_open_by_dedup_key(integration.id, alert.dedup_key)
            now = self.clock.now()
            data = {"source": alert.source, "dedup_key": alert.dedup_key, "alert": bounded(alert.data)}
            if incident is not None:
                if alert.recovered:
                    outcome = incident.resolve(None, now, reason=f"{alert.source} alert recovered")
                    action: AlertAction = "resolved"
                else:
                    outcome = incident.note_alert(now, data)
                    action = "updated"
                await self.uow.incidents.update(incident)
                await record_outcome(self.uow, self.paging, incident, outcome, now, None)
            elif alert.recovered:
                return AlertReceipt(None, "ignored")
            else:
                incident = await open_incident(
                    self.uow,
                    self.paging,
                    NewIncident(
                        title=without_control_characters(alert.rule_name).strip()[:TITLE_MAX]
                        or f"{alert.source} alert {alert.dedup_key}",
                        description=without_control_characters(alert.reason, multiline=True)
                        if alert.reason
                        else None,
                        severity=alert.severity,
                        team_id=integration.team_id,
                        source=alert.source,
                        integration_id=integration.id,
                        dedup_key=alert.dedup_key,
                    ),
                    now,
                    actor=None,
                    alert=data,
                )
                action = "created"
            await self.uow.commit()
        if action == "created":
            self.nudge.nudge()
        return AlertReceipt(incident.id, action)
