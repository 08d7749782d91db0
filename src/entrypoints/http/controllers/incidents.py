from __future__ import annotations

from dishka.integrations.litestar import FromDishka, inject
from litestar import Controller, get, post, put
from litestar.params import FromQuery, JSONBody

from entrypoints.http.auth import ACTOR_DEPENDENCY, BEARER, Actor, permits
from entrypoints.http.parameters import FilterId, Limit, Offset, PathId, page
from entrypoints.http.problems import responses
from entrypoints.http.schemas import (
    AssignRequest,
    CommentPage,
    CommentRequest,
    CommentResponse,
    CreateIncidentRequest,
    EscalationEventPage,
    IncidentPage,
    IncidentResponse,
    NotificationPage,
    SnoozeRequest,
    TimelinePage,
    UpdateIncidentRequest,
    changes,
    comment_response,
    escalation_event_response,
    incident_response,
    notification_response,
    page_of,
    timeline_event_response,
)
from incidentcore.model import IncidentChanges, IncidentStatus, Severity
from incidentcore.permissions import Action
from incidentcore.ports import IncidentFilter
from incidentcore.services import Incidents, NewIncident

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
        return page_of(IncidentPage, paged, [incident_response(i) for i in paged.items])

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
        return incident_response(await incidents.open(actor, new))

    @get(
        "/{incident_id:int}",
        summary="Get an incident",
        guards=[permits(Action.INCIDENT_READ)],
        responses=responses(400, 401, 404),
    )
    @inject
    async def get_incident(self, actor: Actor, incident_id: PathId, incidents: FromDishka[Incidents]) -> IncidentResponse:
        return incident_response(await incidents.get(actor, incident_id))

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
        return incident_response(await incidents.update(actor, incident_id, changes(data, IncidentChanges)))

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
        return incident_response(await incidents.acknowledge(actor, incident_id))

    @post(
        "/{incident_id:int}/resolve",
        status_code=200,
        summary="Resolve an incident",
        guards=[permits(Action.INCIDENT_RESOLVE)],
        responses=ACTION_RESPONSES,
    )
    @inject
    async def resolve(self, actor: Actor, incident_id: PathId, incidents: FromDishka[Incidents]) -> IncidentResponse:
        return incident_response(await incidents.resolve(actor, incident_id))

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
        return incident_response(await incidents.snooze(actor, incident_id, data.minutes))

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
        return incident_response(await incidents.assign(actor, incident_id, data.user_id, data.role))

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
        return incident_response(await incidents.escalate(actor, incident_id))

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
        return comment_response(await incidents.comment(actor, incident_id, data.body))

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
        return page_of(CommentPage, paged, [comment_response(c) for c in paged.items])

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
        return page_of(TimelinePage, paged, [timeline_event_response(e) for e in paged.items])

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
        return page_of(EscalationEventPage, paged, [escalation_event_response(e) for e in paged.items])

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
        return page_of(NotificationPage, paged, [notification_response(n) for n in paged.items])
