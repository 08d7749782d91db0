from __future__ import annotations

from typing import Annotated, Any, Literal

from dishka.integrations.litestar import FromDishka, inject
from litestar import Controller, Request, post
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.params import HeaderParameter, JSONBody, QueryParameter
from msgspec import Meta, Struct

from entrypoints.http.problems import responses
from incidentcore.errors import AuthenticationFailed
from incidentcore.model import Severity
from incidentcore.services import Alert, AlertIngestion
from incidentcore.validation import DESCRIPTION_MAX

AlertText = Annotated[str, Meta(max_length=1000)]


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
    action: Literal["created", "updated", "resolved", "ignored"]


KEY_HEADER = "X-Integration-Key"
RECOVERED = "recovered"


def integration_key(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    return connection.headers.get(KEY_HEADER) or connection.query_params.get("key") or None


async def requires_integration_key(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Refuses a call without any key before reading its body; the key's validity is the use case's."""
    if integration_key(connection) is None:
        raise AuthenticationFailed(f"an integration key is required ({KEY_HEADER} header or ?key=)")


class AlertsController(Controller):
    path = "/v1/alerts"
    tags = ["alerts"]

    @post(
        "/elastic",
        status_code=202,
        summary="Receive an Elastic (Kibana) alert",
        guards=[requires_integration_key],
        responses=responses(400, 401, 413),
    )
    @inject
    async def receive_elastic(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[ElasticAlert],
        ingestion: FromDishka[AlertIngestion],
        header_key: Annotated[str | None, HeaderParameter(name=KEY_HEADER, description="The integration's key")] = None,
        key: Annotated[str | None, QueryParameter(description=f"The integration's key, when {KEY_HEADER} cannot be set")] = None,
    ) -> AlertReceiptResponse:
        """Dedup key `<rule.id>:<alert.id>` within the integration: the first alert opens an incident,
        repeats add to its timeline, `actionGroup: recovered` resolves it. Extra fields are kept."""
        alert = Alert(
            source="elastic",
            rule_id=data.rule.id,
            rule_name=data.rule.name,
            alert_id=data.alert.id,
            recovered=data.alert.action_group == RECOVERED,
            reason=data.context.reason if data.context else None,
            severity=data.severity or Severity.HIGH,
            data=await request.json(),
        )
        receipt = await ingestion.receive(header_key or key or "", alert)
        return AlertReceiptResponse(incident_id=receipt.incident_id, action=receipt.action)
