"""The wire: msgspec Structs for every request and response body, and the mapping from domain objects.

Request Structs are strict (unknown fields are rejected; the app checks types without coercion).
Partial updates use `UNSET` to tell an omitted field from an explicit null; `changes()` passes on
only the fields the client sent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from incidentcore.escalation import EscalationStep, Target, TargetType
from incidentcore.model import (
    Channel,
    Comment,
    EscalationEvent,
    EscalationPolicy,
    Incident,
    IncidentStatus,
    Integration,
    Notification,
    NotificationPreference,
    NotificationStatus,
    Role,
    Severity,
    Team,
    TimelineEvent,
    User,
)
from incidentcore.ports import Paged
from incidentcore.services import PolicyChanges

T = TypeVar("T")

MAX_ID = 2**31 - 1  # ids fit a 32-bit INTEGER column on every engine
Id = Annotated[int, Meta(ge=1, le=MAX_ID)]
Email = Annotated[str, Meta(max_length=254, examples=["ada@example.com"])]
Password = Annotated[str, Meta(min_length=8, max_length=4096)]
Name = Annotated[str, Meta(max_length=200)]


class RequestBody(Struct, forbid_unknown_fields=True):
    """Base of every JSON request body."""


C = TypeVar("C")


def sent(body: Struct) -> dict[str, Any]:
    """The fields a partial update actually sent (explicit nulls included)."""
    return {name: value for name in body.__struct_fields__ if (value := getattr(body, name)) is not UNSET}


def changes(body: Struct, into: Callable[..., C]) -> C:
    """The core's change dataclass holding the fields a partial update sent; the request Struct and
    the dataclass name the same fields."""
    return into(**sent(body))


def as_utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# --- problems -------------------------------------------------------------------------------------


class FieldProblem(Struct):
    field: str
    message: str


class Problem(Struct, omit_defaults=True):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldProblem] | None = None
    request_id: str | None = None


# --- lists ----------------------------------------------------------------------------------------


class Page(Struct, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


P = TypeVar("P", bound=Page[Any])


def page_of(page_type: type[P], paged: Paged[Any], items: list[Any]) -> P:
    return page_type(items=items, total=paged.total, limit=paged.page.limit, offset=paged.page.offset)


# --- service --------------------------------------------------------------------------------------


class ServiceInfo(Struct):
    name: str
    version: str
    docs: str


class Health(Struct):
    status: Literal["ok", "error"]
    database: Literal["ok", "error"]


class Message(Struct):
    message: str


# --- auth and users -------------------------------------------------------------------------------


class SignupRequest(RequestBody):
    email: Email
    password: Password
    full_name: Name


class LoginForm(Struct):
    """The OAuth2 password grant form; `grant_type`, `scope` and client fields are accepted and unused."""

    username: str
    password: str
    grant_type: str | None = None
    scope: str | None = None
    client_id: str | None = None
    client_secret: str | None = None


class AccessTokenResponse(Struct):
    access_token: str
    expires_in: int
    token_type: Literal["bearer"] = "bearer"


class ResetPasswordRequest(RequestBody):
    token: Annotated[str, Meta(max_length=200)]
    new_password: Password


class UserResponse(Struct):
    id: int
    email: str
    full_name: str
    role: Role
    team_id: int | None
    is_active: bool
    created_at: datetime | None


class UpdateMeRequest(RequestBody):
    full_name: Name | UnsetType = UNSET
    email: Email | UnsetType = UNSET
    password: Password | UnsetType = UNSET
    # Needed to change the email or the password.
    current_password: Annotated[str, Meta(max_length=4096)] | UnsetType = UNSET


class CreateUserRequest(RequestBody):
    email: Email
    password: Password
    full_name: Name
    role: Role = Role.USER
    team_id: Id | None = None


class UpdateUserRequest(RequestBody):
    email: Email | UnsetType = UNSET
    full_name: Name | UnsetType = UNSET
    password: Password | UnsetType = UNSET
    role: Role | UnsetType = UNSET
    team_id: Id | UnsetType | None = UNSET
    is_active: bool | UnsetType = UNSET


def user_response(user: User) -> UserResponse:
    return UserResponse(
        id=user.id,
        email=user.email,
        full_name=user.full_name,
        role=user.role,
        team_id=user.team_id,
        is_active=user.is_active,
        created_at=as_utc(user.created_at),
    )


# --- teams ----------------------------------------------------------------------------------------


class CreateTeamRequest(RequestBody):
    name: Annotated[str, Meta(max_length=100)]
    description: Annotated[str, Meta(max_length=2000)] | None = None


class UpdateTeamRequest(RequestBody):
    name: Annotated[str, Meta(max_length=100)] | UnsetType = UNSET
    description: Annotated[str, Meta(max_length=2000)] | UnsetType | None = UNSET


class TeamResponse(Struct):
    id: int
    name: str
    description: str | None
    created_at: datetime | None


def team_response(team: Team) -> TeamResponse:
    return TeamResponse(id=team.id, name=team.name, description=team.description, created_at=as_utc(team.created_at))


# --- incidents ------------------------------------------------------------------------------------

Title = Annotated[str, Meta(max_length=300)]
Description = Annotated[str, Meta(max_length=20_000)]


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
    minutes: Annotated[int, Meta(ge=1, le=7 * 24 * 60)]


class AssignRequest(RequestBody):
    user_id: Id
    role: Annotated[str, Meta(max_length=100)] | None = None


class CommentRequest(RequestBody):
    body: Annotated[str, Meta(max_length=20_000)]


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


def incident_response(incident: Incident) -> IncidentResponse:
    return IncidentResponse(
        id=incident.id,
        title=incident.title,
        description=incident.description,
        status=incident.status,
        severity=incident.severity,
        team_id=incident.team_id,
        assignee_id=incident.assignee_id,
        created_by_id=incident.created_by_id,
        source=incident.source,
        dedup_key=incident.dedup_key,
        escalation_policy_id=incident.escalation_policy_id,
        escalation_level=incident.escalation_level,
        next_escalation_at=as_utc(incident.next_escalation_at),
        snoozed_until=as_utc(incident.snoozed_until),
        created_at=as_utc(incident.created_at) or incident.created_at,
        updated_at=as_utc(incident.updated_at),
        acknowledged_at=as_utc(incident.acknowledged_at),
        resolved_at=as_utc(incident.resolved_at),
    )


def comment_response(comment: Comment) -> CommentResponse:
    return CommentResponse(
        id=comment.id,
        incident_id=comment.incident_id,
        author_id=comment.author_id,
        body=comment.body,
        created_at=as_utc(comment.created_at) or comment.created_at,
    )


def timeline_event_response(event: TimelineEvent) -> TimelineEventResponse:
    return TimelineEventResponse(
        id=event.id,
        incident_id=event.incident_id,
        kind=event.kind.value,
        actor_id=event.actor_id,
        data=event.data,
        created_at=as_utc(event.created_at) or event.created_at,
    )


def escalation_event_response(event: EscalationEvent) -> EscalationEventResponse:
    return EscalationEventResponse(
        id=event.id,
        incident_id=event.incident_id,
        policy_id=event.policy_id,
        step_index=event.step_index,
        loop=event.loop,
        cycle=event.cycle,
        kind=event.kind.value,
        scheduled_at=as_utc(event.scheduled_at) or event.scheduled_at,
        created_at=as_utc(event.created_at) or event.created_at,
        notified_user_ids=list(event.notified_user_ids),
        cancelled_user_ids=list(event.cancelled_user_ids),
        cancel_reason=event.cancel_reason,
    )


def notification_response(notification: Notification) -> NotificationResponse:
    return NotificationResponse(
        id=notification.id,
        user_id=notification.user_id,
        channel=notification.channel,
        status=notification.status,
        attempts=notification.attempts,
        last_error=notification.last_error,
        created_at=as_utc(notification.created_at) or notification.created_at,
        sent_at=as_utc(notification.sent_at),
        cancel_reason=notification.cancel_reason,
    )


# --- escalation policies --------------------------------------------------------------------------

Minutes = Annotated[int, Meta(ge=0, le=EscalationPolicy.MAX_DELAY_MINUTES)]


class PolicyTarget(RequestBody):
    """`user`: `id` is the user. `team`: `id` (or `team_id`) is the team. `role`: `role`, in `team_id` or
    else in the incident's team."""

    type: TargetType
    id: Id | None = None
    role: Role | None = None
    team_id: Id | None = None


class PolicyStep(RequestBody):
    delay_minutes: Minutes
    targets: list[PolicyTarget]


class CreatePolicyRequest(RequestBody):
    name: Annotated[str, Meta(max_length=200)]
    steps: list[PolicyStep]
    description: Annotated[str, Meta(max_length=2000)] | None = None
    team_id: Id | None = None
    severities: list[Severity] = msgspec.field(default_factory=list)
    repeat: Annotated[int, Meta(ge=0, le=EscalationPolicy.MAX_REPEAT)] = 0
    ack_timeout_minutes: Annotated[int, Meta(ge=1, le=EscalationPolicy.MAX_DELAY_MINUTES)] | None = None
    is_active: bool = True


class UpdatePolicyRequest(RequestBody):
    name: Annotated[str, Meta(max_length=200)] | UnsetType = UNSET
    steps: list[PolicyStep] | UnsetType = UNSET
    description: Annotated[str, Meta(max_length=2000)] | UnsetType | None = UNSET
    team_id: Id | UnsetType | None = UNSET
    severities: list[Severity] | UnsetType = UNSET
    repeat: Annotated[int, Meta(ge=0, le=EscalationPolicy.MAX_REPEAT)] | UnsetType = UNSET
    ack_timeout_minutes: Annotated[int, Meta(ge=1, le=EscalationPolicy.MAX_DELAY_MINUTES)] | UnsetType | None = UNSET
    is_active: bool | UnsetType = UNSET


class PolicyTargetResponse(Struct):
    type: TargetType
    id: int | None
    role: str | None
    team_id: int | None


class PolicyStepResponse(Struct):
    delay_minutes: int
    targets: list[PolicyTargetResponse]


class PolicyResponse(Struct):
    id: int
    name: str
    description: str | None
    team_id: int | None
    severities: list[Severity]
    steps: list[PolicyStepResponse]
    repeat: int
    ack_timeout_minutes: int | None
    is_active: bool
    created_at: datetime | None


def domain_target(target: PolicyTarget) -> Target:
    if target.type is TargetType.USER:
        return Target(TargetType.USER, user_id=target.id)
    if target.type is TargetType.TEAM:
        return Target(TargetType.TEAM, team_id=target.id if target.id is not None else target.team_id)
    return Target(TargetType.ROLE, team_id=target.team_id, role=target.role.value if target.role else None)


def domain_steps(steps: list[PolicyStep]) -> tuple[EscalationStep, ...]:
    return tuple(
        EscalationStep(step.delay_minutes, tuple(domain_target(t) for t in step.targets)) for step in steps
    )


def policy_changes(body: UpdatePolicyRequest) -> PolicyChanges:
    fields = sent(body)
    if "steps" in fields:
        fields["steps"] = domain_steps(fields["steps"])
    if "severities" in fields:
        fields["severities"] = frozenset(fields["severities"])
    return PolicyChanges(**fields)


def new_policy(body: CreatePolicyRequest) -> EscalationPolicy:
    return EscalationPolicy(
        name=body.name,
        steps=domain_steps(body.steps),
        description=body.description,
        team_id=body.team_id,
        severities=frozenset(body.severities),
        repeat=body.repeat,
        ack_timeout_minutes=body.ack_timeout_minutes,
        is_active=body.is_active,
    )


def target_response(target: Target) -> PolicyTargetResponse:
    if target.type is TargetType.USER:
        return PolicyTargetResponse(type=target.type, id=target.user_id, role=None, team_id=None)
    if target.type is TargetType.TEAM:
        return PolicyTargetResponse(type=target.type, id=target.team_id, role=None, team_id=target.team_id)
    return PolicyTargetResponse(type=target.type, id=None, role=target.role, team_id=target.team_id)


_SEVERITY_ORDER = list(Severity)


def policy_response(policy: EscalationPolicy) -> PolicyResponse:
    return PolicyResponse(
        id=policy.id,
        name=policy.name,
        description=policy.description,
        team_id=policy.team_id,
        severities=sorted(policy.severities, key=_SEVERITY_ORDER.index),
        steps=[
            PolicyStepResponse(step.delay_minutes, [target_response(t) for t in step.targets])
            for step in policy.steps
        ],
        repeat=policy.repeat,
        ack_timeout_minutes=policy.ack_timeout_minutes,
        is_active=policy.is_active,
        created_at=as_utc(policy.created_at),
    )


# --- notification preferences ---------------------------------------------------------------------


class PreferenceRequest(RequestBody):
    enabled: bool
    address: Annotated[str, Meta(max_length=2000)] | None = None
    min_severity: Severity | None = None


class PreferenceResponse(Struct):
    user_id: int
    channel: Channel
    enabled: bool
    address: str | None
    min_severity: Severity | None


def preference_response(preference: NotificationPreference) -> PreferenceResponse:
    return PreferenceResponse(
        user_id=preference.user_id,
        channel=preference.channel,
        enabled=preference.enabled,
        address=preference.address,
        min_severity=preference.min_severity,
    )


# --- integrations and alerts ----------------------------------------------------------------------


class CreateIntegrationRequest(RequestBody):
    name: Annotated[str, Meta(max_length=100)]
    team_id: Id


class IntegrationResponse(Struct):
    id: int
    name: str
    team_id: int
    key: str
    created_at: datetime | None


def integration_response(integration: Integration) -> IntegrationResponse:
    return IntegrationResponse(
        id=integration.id,
        name=integration.name,
        team_id=integration.team_id,
        key=integration.key,
        created_at=as_utc(integration.created_at),
    )


AlertText = Annotated[str, Meta(max_length=1000)]


class ElasticRule(Struct):
    id: Annotated[str, Meta(min_length=1, max_length=200)]
    name: AlertText


class ElasticAlertInstance(Struct, rename={"action_group": "actionGroup"}):
    id: Annotated[str, Meta(min_length=1, max_length=200)]
    action_group: AlertText


class ElasticContext(Struct):
    reason: Annotated[str, Meta(max_length=20_000)] | None = None


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


# --- pages: one named class per item type, so the OpenAPI schema names them -----------------------


class UserPage(Page[UserResponse]):
    """A page of users."""


class TeamPage(Page[TeamResponse]):
    """A page of teams."""


class IncidentPage(Page[IncidentResponse]):
    """A page of incidents, newest first."""


class TimelinePage(Page[TimelineEventResponse]):
    """A page of timeline events, oldest first."""


class EscalationEventPage(Page[EscalationEventResponse]):
    """A page of escalation events, oldest first."""


class NotificationPage(Page[NotificationResponse]):
    """A page of notifications, oldest first."""


class PolicyPage(Page[PolicyResponse]):
    """A page of escalation policies."""


class IntegrationPage(Page[IntegrationResponse]):
    """A page of integrations."""


class CommentPage(Page[CommentResponse]):
    """A page of an incident's comments, oldest first."""


class PreferencePage(Page[PreferenceResponse]):
    """A page of a user's notification preferences."""
