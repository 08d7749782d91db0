"""Webhooks monitoring tools call with an integration key: Kibana and Alertmanager (Grafana alike).

Each handler is a decoder: it turns its tool's body into `Alert`s (computing each one's dedup key)
for the one ingestion use case. PagerDuty's Events API v2 is in `events.py`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from dishka.integrations.litestar import FromDishka, inject
from litestar import Controller, Request, post
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.params import HeaderParameter, JSONBody, QueryParameter
from msgspec import Meta, Struct

from entrypoints.http.auth import bearer_token
from entrypoints.http.problems import responses
from entrypoints.http.wire import response
from incidentcore.errors import AuthenticationFailed
from incidentcore.model import Severity
from incidentcore.services import Alert, AlertAction, AlertIngestion
from incidentcore.validation import DESCRIPTION_MAX

AlertText = Annotated[str, Meta(max_length=1000)]
KEY_HEADER = "X-Integration-Key"
# Handlers declare the header and query parameter for the published spec; `integration_key` reads them.
KEY_DESCRIPTION = "The integration's key"
QUERY_KEY_DESCRIPTION = f"The integration's key, when {KEY_HEADER} cannot be set"


def integration_key(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The `X-Integration-Key` header, else `?key=`, else a bearer token (how Alertmanager's and
    Grafana's `authorization` settings send a credential)."""
    return (
        connection.headers.get(KEY_HEADER)
        or connection.query_params.get("key")
        or bearer_token(connection.headers.get("authorization"))
    )


async def requires_integration_key(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Refuses a call without any key before reading its body; the key's validity is the use case's."""
    if integration_key(connection) is None:
        raise AuthenticationFailed(
            f"an integration key is required ({KEY_HEADER} header, ?key= or Authorization: Bearer)"
        )


# --- Kibana --------------------------------------------------------------------------------------------


class ElasticRule(Struct):
    id: Annotated[str, Meta(min_length=1, max_length=200)]
    name: AlertText


class ElasticAlertInstance(Struct, rename={"action_group": "actionGroup"}):
    id: Annotated[str, Meta(min_length=1, max_length=200)]
    action_group: AlertText


class ElasticContext(Struct):
    reason: Annotated[str, Meta(max_length=DESCRIPTION_MAX)] | None = None


class ElasticAlert(Struct):
    """What the Kibana webhook connector sends (see docs/kibana.md). Other fields are allowed and kept.

    `severity` is optional: without it an alert opens a `high` incident."""

    rule: ElasticRule
    alert: ElasticAlertInstance
    context: ElasticContext | None = None
    date: AlertText | None = None
    severity: Severity | None = None


class AlertReceiptResponse(Struct):
    incident_id: int | None
    action: Literal["created", "updated", "resolved", "ignored", "suppressed"]


RECOVERED = "recovered"


def elastic_dedup_key(rule_id: str, alert_id: str) -> str:
    """`<rule.id>:<alert.id>`, with `\\` and `:` escaped in the rule id, so that no two pairs share a key
    (unescaped, rule "a:b" with alert "c" and rule "a" with alert "b:c" would be one incident). Ids
    without those characters keep their plain key."""
    return rule_id.replace("\\", "\\\\").replace(":", "\\:") + ":" + alert_id


# --- Alertmanager (and Grafana, which sends the same shape with more fields) ---------------------------


class AlertmanagerAlert(
    Struct, rename={"starts_at": "startsAt", "ends_at": "endsAt", "generator_url": "generatorURL"}
):
    status: Literal["firing", "resolved"]
    fingerprint: Annotated[str, Meta(min_length=1, max_length=255)]
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    starts_at: str | None = None
    ends_at: str | None = None
    generator_url: str | None = None


class AlertmanagerNotification(Struct, rename={"group_key": "groupKey", "external_url": "externalURL"}):
    """Alertmanager's webhook body (version 4), or Grafana alerting's (version 1, with more fields).
    Other fields are allowed; each alert's own fields are kept whole."""

    alerts: list[AlertmanagerAlert]
    version: str | None = None
    status: Literal["firing", "resolved"] | None = None
    receiver: str | None = None
    group_key: str | None = None
    external_url: str | None = None


class AlertmanagerReceipt(Struct):
    fingerprint: str
    incident_id: int | None
    action: Literal["created", "updated", "resolved", "ignored", "suppressed"]


class AlertmanagerReceipts(Struct):
    items: list[AlertmanagerReceipt]


# `labels.severity` as Prometheus rules and Grafana spell it; anything else is high.
ALERTMANAGER_SEVERITY = {
    "critical": Severity.CRITICAL,
    "error": Severity.HIGH,
    "high": Severity.HIGH,
    "warning": Severity.MEDIUM,
    "info": Severity.INFO,
}
# The group's fields worth keeping with each alert (the other alerts, and Grafana's rendered message, not).
ALERTMANAGER_GROUP_FIELDS = ("receiver", "groupKey", "externalURL")


def alertmanager_alert(alert: AlertmanagerAlert, received: dict[str, Any], group: dict[str, Any]) -> Alert:
    return Alert(
        source="alertmanager",
        dedup_key=alert.fingerprint,
        action=AlertAction.RESOLVE if alert.status == "resolved" else AlertAction.TRIGGER,
        title=alert.annotations.get("summary") or alert.labels.get("alertname") or "",
        description=alert.annotations.get("description"),
        severity=ALERTMANAGER_SEVERITY.get(alert.labels.get("severity", "").strip().lower(), Severity.HIGH),
        data={"alert": received, **{name: group[name] for name in ALERTMANAGER_GROUP_FIELDS if name in group}},
    )


class AlertsController(Controller):
    path = "/v1/alerts"
    tags = ["alerts"]
    guards = [requires_integration_key]

    @post("/elastic", status_code=202, summary="Receive an Elastic (Kibana) alert", responses=responses(400, 401, 413))
    @inject
    async def receive_elastic(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[ElasticAlert],
        ingestion: FromDishka[AlertIngestion],
        header_key: Annotated[str | None, HeaderParameter(name=KEY_HEADER, description=KEY_DESCRIPTION)] = None,
        key: Annotated[str | None, QueryParameter(description=QUERY_KEY_DESCRIPTION)] = None,
    ) -> AlertReceiptResponse:
        """Dedup key `<rule.id>:<alert.id>` within the integration: the first alert opens an incident,
        repeats add to its timeline, `actionGroup: recovered` resolves it. Extra fields are kept. While a
        maintenance window covers the integration, an alert that would open an incident is answered
        `suppressed` (no incident, no page) and kept under the window."""
        alert = Alert(
            source="elastic",
            dedup_key=elastic_dedup_key(data.rule.id, data.alert.id),
            action=AlertAction.RESOLVE if data.alert.action_group == RECOVERED else AlertAction.TRIGGER,
            title=data.rule.name,
            description=data.context.reason if data.context else None,
            severity=data.severity or Severity.HIGH,
            data=await request.json(),
        )
        receipt = await ingestion.receive(integration_key(request) or "", alert)
        return response(receipt, AlertReceiptResponse)

    @post(
        "/alertmanager",
        status_code=200,
        summary="Receive Prometheus Alertmanager or Grafana alerts",
        responses=responses(400, 401, 413),
    )
    @inject
    async def receive_alertmanager(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[AlertmanagerNotification],
        ingestion: FromDishka[AlertIngestion],
        header_key: Annotated[str | None, HeaderParameter(name=KEY_HEADER, description=KEY_DESCRIPTION)] = None,
        key: Annotated[str | None, QueryParameter(description=QUERY_KEY_DESCRIPTION)] = None,
    ) -> AlertmanagerReceipts:
        """Alertmanager's `webhook_configs` (the key may also be sent as `Authorization: Bearer <key>`,
        its `http_config.authorization`) or a Grafana webhook contact point. One incident per alert
        `fingerprint` within the integration: firing opens or updates it, resolved resolves it. Title
        `annotations.summary` else `labels.alertname`, description `annotations.description`, severity
        from `labels.severity`. All the alerts of a call are taken together, or none. While a maintenance
        window covers the integration, an alert that would open an incident is `suppressed`."""
        body = await request.json()
        received = zip(data.alerts, body["alerts"], strict=True)
        alerts = [alertmanager_alert(alert, raw, body) for alert, raw in received]
        receipts = await ingestion.receive_all(integration_key(request) or "", alerts)
        items = [
            {"fingerprint": alert.fingerprint, "incident_id": receipt.incident_id, "action": receipt.action}
            for alert, receipt in zip(data.alerts, receipts, strict=True)
        ]
        return msgspec.convert({"items": items}, AlertmanagerReceipts)
