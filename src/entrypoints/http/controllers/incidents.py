from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from dishka.integrations.litestar import FromDishka, inject
from litestar import Controller, get, post, put
from litestar.params import FromQuery, JSONBody
from msgspec import UNSET, Meta, Struct, UnsetType

from entrypoints.http.auth import ACTOR_DEPENDENCY, BEARER, Actor, permits
from entrypoints.http.problems import responses
from entrypoints.http.wire import (
    FilterId,
    Id,
    Limit,
    Offset,
    Page,
    PathId,
    RequestBody,
    changes,
    page,
    page_of,
    response,
)
from incidentcore.model import Channel, IncidentChanges, IncidentStatus, NotificationStatus, Severity
from incidentcore.permissions import Action
from incidentcore.ports import IncidentFilter
from incidentcore.services import Incidents, NewIncident
from incidentcore.validation import (
    COMMENT_MAX,
    DESCRIPTION_MAX,
    SHORT_NAME_MAX,
    SNOOZE_MAX_MINUTES,
    SNOOZE_MIN_MINUTES,
    TITLE_MAX,
)

Title = Annotated[str, Meta(max_length=TITLE_MAX)]


Description = Annotated[str, Meta(max_length=DESCRIPTION_MAX)]


class CreateIncidentRequest(RequestBody):
    title: Title
    description: Description | None = None
    severity: Severity = Severity.HIGH
    team_id: Id | None = None
    assignee_id: Id | None = None


class UpdateIncidentRequest(RequestBody):
    title: Title | UnsetType = UNSET
    description: Description | UnsetType | None = UNSET
    severity: Severity | UnsetType = UNSET
    team_id: Id | UnsetType | None = UNSET


class SnoozeRequest(RequestBody):
    minutes: Annotated[int, Meta(ge=SNOOZE_MIN_MINUTES, le=SNOOZE_MAX_MINUTES)]


class AssignRequest(RequestBody):
    user_id: Id
    role: Annotated[str, Meta(max_length=SHORT_NAME_MAX)] | None = None


class CommentRequest(RequestBody):
    body: Annotated[str, Meta(max_length=COMMENT_MAX)]


class IncidentResponse(Struct):
    id: int
    title: str
    description: str | None
    status: IncidentStatus
    severity: Severity
    team_id: int | None
    assignee_id: int | None
    created_by_id: int | None
    source: str | None
    dedup_key: str | None
    alert_count: int
    escalation_policy_id: int | None
    escalation_level: int | None
    next_escalation_at: datetime | None
    snoozed_until: datetime | None
    created_at: datetime
    updated_at: datetime | None
    acknowledged_at: datetime | None
    resolved_at: datetime | None


class CommentResponse(Struct):
    id: int
    incident_id: int
    author_id: int
    body: str
    created_at: datetime


class TimelineEventResponse(Struct):
    id: int
    incident_id: int
    kind: str
    actor_id: int | None
    data: dict[str, Any]
    created_at: datetime


class EscalationEventResponse(Struct):
    id: int
    incident_id: int
    policy_id: int | None
    step_index: int | None
    loop: int | None
    cycle: int
    kind: str
    scheduled_at: datetime
    created_at: datetime
    notified_user_ids: list[int]
    cancelled_user_ids: list[int]
    cancel_reason: str | None


class NotificationResponse(Struct):
    id: int
    user_id: int | None
    channel: Channel
    status: NotificationStatus
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    cancel_reason: str | None


class IncidentPage(Page[IncidentResponse]):
    """A page of incidents, newest first."""


class TimelinePage(Page[TimelineEventResponse]):
    """A page of timeline events, oldest first."""


class EscalationEventPage(Page[EscalationEventResponse]):
    """A page of escalation events, oldest first."""


class NotificationPage(Page[NotificationResponse]):
    """A page of notifications, oldest first."""


class CommentPage(Page[CommentResponse]):
    """A page of an incident's comments, oldest first."""


ACTION_RESPONSES = responses(400, 401, 403, 404, 409)


class IncidentsController(Controller):
    path = "/v1/incidents"
    tags = ["incidents"]
    security = BEARER
    dependencies = ACTOR_DEPENDENCY

    @get("/", summary="List incidents", guards=[permits(Action.INCIDENT_READ)], responses=responses(400, 401))
    @inject
    async def list_incidents(
        self,
        actor: Actor,
        incidents: FromDishka[Incidents],
        team_id: FilterId = None,
        status: FromQuery[IncidentStatus | None] = None,
        severity: FromQuery[Severity | None] = None,
        assignee_id: FilterId = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> IncidentPage:
        """Newest first."""
        where = IncidentFilter(team_id=team_id, status=status, severity=severity, assignee_id=assignee_id)
        paged = await incidents.list(actor, where, page(limit, offset))
        return page_of(IncidentPage, paged)

    @post(
        "/",
        status_code=201,
        summary="Open an incident",
        guards=[permits(Action.INCIDENT_CREATE)],
        responses=responses(400, 401, 413),
    )
    @inject
    async def open_incident(
        self, actor: Actor, data: JSONBody[CreateIncidentRequest], incidents: FromDishka[Incidents]
    ) -> IncidentResponse:
        """It starts `triggered`; the matching escalation policy's first step pages at once."""
        new = NewIncident(
            title=data.title,
            description=data.description,
            severity=data.severity,
            team_id=data.team_id,
            assignee_id=data.assignee_id,
        )
        return response(await incidents.open(actor, new), IncidentResponse)

    @get(
        "/{incident_id:int}",
        summary="Get an incident",
        guards=[permits(Action.INCIDENT_READ)],
        responses=responses(400, 401, 404),
    )
    @inject
    async def get_incident(self, actor: Actor, incident_id: PathId, incidents: FromDishka[Incidents]) -> IncidentResponse:
        return response(await incidents.get(actor, incident_id), IncidentResponse)

    @put(
        "/{incident_id:int}",
        summary="Edit an incident",
        guards=[permits(Action.INCIDENT_UPDATE)],
        responses=responses(400, 401, 403, 404, 409, 413),
    )
    @inject
    async def update_incident(
        self, actor: Actor, incident_id: PathId, data: JSONBody[UpdateIncidentRequest], incidents: FromDishka[Incidents]
    ) -> IncidentResponse:
        """Title, description, severity, team; the status changes only through the actions."""
        return response(await incidents.update(actor, incident_id, changes(data, IncidentChanges)), IncidentResponse)

    @post(
        "/{incident_id:int}/acknowledge",
        status_code=200,
        summary="Acknowledge an incident",
        guards=[permits(Action.INCIDENT_ACKNOWLEDGE)],
        responses=ACTION_RESPONSES,
    )
    @inject
    async def acknowledge(self, actor: Actor, incident_id: PathId, incidents: FromDishka[Incidents]) -> IncidentResponse:
        """Stops escalation (until the policy's ack timeout, if it has one)."""
        return response(await incidents.acknowledge(actor, incident_id), IncidentResponse)

    @post(
        "/{incident_id:int}/resolve",
        status_code=200,
        summary="Resolve an incident",
        guards=[permits(Action.INCIDENT_RESOLVE)],
        responses=ACTION_RESPONSES,
    )
    @inject
    async def resolve(self, actor: Actor, incident_id: PathId, incidents: FromDishka[Incidents]) -> IncidentResponse:
        return response(await incidents.resolve(actor, incident_id), IncidentResponse)

    @post(
        "/{incident_id:int}/snooze",
        status_code=200,
        summary="Snooze an incident",
        guards=[permits(Action.INCIDENT_SNOOZE)],
        responses=responses(400, 401, 403, 404, 409, 413),
    )
    @inject
    async def snooze(
        self, actor: Actor, incident_id: PathId, data: JSONBody[SnoozeRequest], incidents: FromDishka[Incidents]
    ) -> IncidentResponse:
        """Holds escalation for `minutes`; then the incident re-triggers from the first step."""
        return response(await incidents.snooze(actor, incident_id, data.minutes), IncidentResponse)

    @post(
        "/{incident_id:int}/assign",
        status_code=200,
        summary="Assign an incident",
        guards=[permits(Action.INCIDENT_ASSIGN)],
        responses=responses(400, 401, 403, 404, 409, 413),
    )
    @inject
    async def assign(
        self, actor: Actor, incident_id: PathId, data: JSONBody[AssignRequest], incidents: FromDishka[Incidents]
    ) -> IncidentResponse:
        """`role` is a free-text label for the assignee's part (e.g. incident commander)."""
        return response(await incidents.assign(actor, incident_id, data.user_id, data.role), IncidentResponse)

    @post(
        "/{incident_id:int}/escalate",
        status_code=200,
        summary="Escalate now",
        guards=[permits(Action.INCIDENT_ESCALATE)],
        responses=ACTION_RESPONSES,
    )
    @inject
    async def escalate(self, actor: Actor, incident_id: PathId, incidents: FromDishka[Incidents]) -> IncidentResponse:
        """Fires the next step now; an acknowledged incident re-triggers first. 409 once resolved."""
        return response(await incidents.escalate(actor, incident_id), IncidentResponse)

    @post(
        "/{incident_id:int}/comments",
        status_code=201,
        summary="Comment on an incident",
        guards=[permits(Action.INCIDENT_COMMENT)],
        responses=responses(400, 401, 404, 413),
    )
    @inject
    async def comment(
        self, actor: Actor, incident_id: PathId, data: JSONBody[CommentRequest], incidents: FromDishka[Incidents]
    ) -> CommentResponse:
        return response(await incidents.comment(actor, incident_id, data.body), CommentResponse)

    @get(
        "/{incident_id:int}/comments",
        summary="An incident's comments",
        guards=[permits(Action.INCIDENT_READ)],
        responses=responses(400, 401, 404),
    )
    @inject
    async def comments(
        self, actor: Actor, incident_id: PathId, incidents: FromDishka[Incidents], limit: Limit = 50, offset: Offset = 0
    ) -> CommentPage:
        """Oldest first, each in full (the timeline's `commented` events keep only the start)."""
        paged = await incidents.comments(actor, incident_id, page(limit, offset))
        return page_of(CommentPage, paged)

    @get(
        "/{incident_id:int}/timeline",
        summary="An incident's timeline",
        guards=[permits(Action.INCIDENT_READ)],
        responses=responses(400, 401, 404),
    )
    @inject
    async def timeline(
        self, actor: Actor, incident_id: PathId, incidents: FromDishka[Incidents], limit: Limit = 50, offset: Offset = 0
    ) -> TimelinePage:
        """Oldest first."""
        paged = await incidents.timeline(actor, incident_id, page(limit, offset))
        return page_of(TimelinePage, paged)

    @get(
        "/{incident_id:int}/escalation-events",
        summary="An incident's escalation events",
        guards=[permits(Action.INCIDENT_READ)],
        responses=responses(400, 401, 404),
    )
    @inject
    async def escalation_events(
        self, actor: Actor, incident_id: PathId, incidents: FromDishka[Incidents], limit: Limit = 50, offset: Offset = 0
    ) -> EscalationEventPage:
        """Oldest first."""
        paged = await incidents.escalation_events(actor, incident_id, page(limit, offset))
        return page_of(EscalationEventPage, paged)

    @get(
        "/{incident_id:int}/notifications",
        summary="An incident's notifications",
        guards=[permits(Action.INCIDENT_READ)],
        responses=responses(400, 401, 404),
    )
    @inject
    async def notifications(
        self, actor: Actor, incident_id: PathId, incidents: FromDishka[Incidents], limit: Limit = 50, offset: Offset = 0
    ) -> NotificationPage:
        """Every page sent (or being sent) for the incident, with its delivery status; oldest first."""
        paged = await incidents.notifications(actor, incident_id, page(limit, offset))
        return page_of(NotificationPage, paged)
