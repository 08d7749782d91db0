"""PagerDuty's Events API v2, so that any tool that can page PagerDuty can page us: point its URL at
`/v2/enqueue` (or `/v1/alerts/events`) and give it an integration key as the routing key.

The endpoint answers as PagerDuty does, errors included: a refused event (whatever refused it: the
body check, this decoder, an unknown routing key, the size limit) is `{"status": "invalid event",
"message": "Event object is invalid", "errors": [...]}`, never problem+json, since the tools that
send it read only that shape.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from dishka.integrations.litestar import FromDishka, inject
from litestar import Controller, Request, Response, post
from litestar.exceptions import HTTPException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody
from litestar.types import ExceptionHandlersMap
from msgspec import Meta, Struct

from entrypoints.http.problems import MAX_BODY_BYTES_OPT, PROBLEM_DESCRIPTIONS
from incidentcore.errors import AuthenticationFailed, FieldError, ValidationFailed
from incidentcore.model import Severity
from incidentcore.services import Alert, AlertAction, AlertIngestion
from incidentcore.validation import TITLE_MAX

EVENT_MAX_BYTES = 512 * 1024  # PagerDuty's limit on a whole event
SUMMARY_MAX = 1024
DEDUP_KEY_MAX = 255

EVENT_SEVERITY = {
    "critical": Severity.CRITICAL,
    "error": Severity.HIGH,
    "warning": Severity.MEDIUM,
    "info": Severity.INFO,
}


class EventPayload(Struct, rename={"class_": "class"}):
    """Required for a trigger: `summary`, `source`, `severity`."""

    summary: Annotated[str, Meta(max_length=SUMMARY_MAX)] | None = None
    source: str | None = None
    severity: Literal["critical", "error", "warning", "info"] | None = None
    timestamp: str | None = None
    component: str | None = None
    group: str | None = None
    class_: str | None = None
    custom_details: Any = None


class EventLink(Struct):
    href: str
    text: str | None = None


class EventImage(Struct):
    src: str
    href: str | None = None
    alt: str | None = None


class Event(Struct):
    """A PagerDuty Events API v2 event. Other fields are allowed; everything but the routing key is kept
    on the incident's timeline."""

    routing_key: Annotated[str, Meta(min_length=1, max_length=200)]
    event_action: Literal["trigger", "acknowledge", "resolve"]
    dedup_key: Annotated[str, Meta(max_length=DEDUP_KEY_MAX)] | None = None
    payload: EventPayload | None = None
    links: list[EventLink] = []
    images: list[EventImage] = []
    client: str | None = None
    client_url: str | None = None


class EventAccepted(Struct):
    status: Literal["success"]
    message: str
    dedup_key: str


class EventRejected(Struct):
    status: Literal["invalid event"]
    message: str
    errors: list[str]


def event_rejected(
    request: Request[Any, Any, Any], error: ValidationFailed | AuthenticationFailed | HTTPException
) -> Response[EventRejected]:
    """PagerDuty's answer to an event it refuses."""
    if isinstance(error, ValidationFailed):
        status, errors = 400, [f"{e.field}: {e.message}" for e in error.errors]
    elif isinstance(error, AuthenticationFailed):
        status, errors = 400, ["Invalid routing key"]
    else:
        status, errors = error.status_code, [str(error.detail)]
    body = EventRejected(status="invalid event", message="Event object is invalid", errors=errors)
    return Response(body, status_code=status, media_type="application/json")


# What refuses an event: the body check (bad JSON, content type, size), the decoder, an unknown routing
# key. Anything else (a conflict that outlived the retries, a 5xx) stays a problem, as on every route.
REFUSALS: ExceptionHandlersMap = {
    ValidationFailed: event_rejected,
    AuthenticationFailed: event_rejected,
    **dict.fromkeys((400, 413, 415), event_rejected),
}


def rejected(status: int) -> ResponseSpec:
    return ResponseSpec(
        data_container=EventRejected,
        description=PROBLEM_DESCRIPTIONS[status],
        media_type="application/json",
        generate_examples=False,
    )


def event_alert(event: Event, received: dict[str, Any]) -> Alert:
    """The event as an alert, once it has what its action needs (else 400 naming every gap)."""
    action = AlertAction(event.event_action)
    payload = event.payload or EventPayload()
    missing = []
    if action is AlertAction.TRIGGER:
        if event.payload is None:
            missing.append("payload")
        else:
            missing += [f"payload.{name}" for name in ("summary", "source", "severity") if not _given(getattr(payload, name))]
    elif not _given(event.dedup_key):
        missing.append("dedup_key")
    if missing:
        raise ValidationFailed([FieldError(name, f"is required for event_action {action.value}") for name in missing])
    summary = payload.summary or ""
    details = [
        (name, value)
        for name, value in (
            ("Source", payload.source),
            ("Component", payload.component),
            ("Group", payload.group),
            ("Class", payload.class_),
        )
        if value
    ]
    description = "\n".join(([summary] if len(summary) > TITLE_MAX else []) + [f"{n}: {v}" for n, v in details])
    return Alert(
        source="events",
        # A trigger without a dedup key opens an incident of its own, under a key generated for it.
        dedup_key=event.dedup_key if event.dedup_key and event.dedup_key.strip() else uuid.uuid4().hex,
        action=action,
        title=summary,
        description=description or None,
        severity=EVENT_SEVERITY[payload.severity] if payload.severity else Severity.HIGH,
        data={name: value for name, value in received.items() if name != "routing_key"},
    )


def _given(value: str | None) -> bool:
    return value is not None and value.strip() != ""


class EventsController(Controller):
    path = "/"
    tags = ["alerts"]

    @post(
        ["/v1/alerts/events", "/v2/enqueue"],
        status_code=202,
        summary="Receive a PagerDuty Events API v2 event",
        exception_handlers=REFUSALS,
        opt={MAX_BODY_BYTES_OPT: EVENT_MAX_BYTES},
        responses={400: rejected(400), 413: rejected(413)},
    )
    @inject
    async def enqueue(
        self, request: Request[Any, Any, Any], data: JSONBody[Event], ingestion: FromDishka[AlertIngestion]
    ) -> EventAccepted:
        """`routing_key` is an integration key. `trigger` opens an incident for the `dedup_key` (one is
        generated when none is given) or adds to the one open; `acknowledge` and `resolve` act on the open
        incident with that key (none open: accepted, nothing done). Severity: critical -> critical,
        error -> high, warning -> medium, info -> info. Errors answer in PagerDuty's shape. A trigger that
        a maintenance window suppresses is accepted like any other (as PagerDuty does), and kept under
        the window."""
        alert = event_alert(data, await request.json())
        await ingestion.receive(data.routing_key, alert)
        return EventAccepted(status="success", message="Event processed", dedup_key=alert.dedup_key)
