from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from dishka.integrations.litestar import FromDishka, inject
from litestar import Controller, delete, get, post, put
from litestar.params import JSONBody
from msgspec import UNSET, Meta, Struct, UnsetType, field

from entrypoints.http.auth import ACTOR_DEPENDENCY, BEARER, Actor, permits
from entrypoints.http.problems import responses
from entrypoints.http.wire import Id, Limit, Offset, Page, PathId, RequestBody, page, page_of, sent
from incidentcore.escalation import EscalationStep, Target, TargetType
from incidentcore.model import Channel, EscalationPolicy, Role, Severity
from incidentcore.permissions import Action
from incidentcore.preview import PolicyWarning, PolicyWarningCode, Preview, describe
from incidentcore.reach import EmptyTargetReason, UnreachableReason
from incidentcore.services import Policies, PolicyChanges, PreviewOptions
from incidentcore.validation import NAME_MAX, NOTE_MAX

Minutes = Annotated[int, Meta(ge=0, le=EscalationPolicy.MAX_DELAY_MINUTES)]


class PolicyTarget(RequestBody):
    """`user`: `id` is the user. `team`: `id` (or `team_id`) is the team. `role`: `role`, in `team_id` or
    else in the incident's team. `schedule`: `id` is the schedule; whoever is on call on it when the
    step fires is paged."""

    type: TargetType
    id: Id | None = None
    role: Role | None = None
    team_id: Id | None = None


class PolicyStep(RequestBody):
    delay_minutes: Minutes
    targets: list[PolicyTarget]


class CreatePolicyRequest(RequestBody):
    name: Annotated[str, Meta(max_length=NAME_MAX)]
    steps: list[PolicyStep]
    description: Annotated[str, Meta(max_length=NOTE_MAX)] | None = None
    team_id: Id | None = None
    severities: list[Severity] = field(default_factory=list)
    repeat: Annotated[int, Meta(ge=0, le=EscalationPolicy.MAX_REPEAT)] = 0
    ack_timeout_minutes: Annotated[int, Meta(ge=1, le=EscalationPolicy.MAX_DELAY_MINUTES)] | None = None
    is_active: bool = True


class UpdatePolicyRequest(RequestBody):
    name: Annotated[str, Meta(max_length=NAME_MAX)] | UnsetType = UNSET
    steps: list[PolicyStep] | UnsetType = UNSET
    description: Annotated[str, Meta(max_length=NOTE_MAX)] | UnsetType | None = UNSET
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


class PolicyWarningResponse(Struct):
    """`step_reaches_nobody`: the step would page nobody if it fired at `at`. `user_has_no_channel`:
    `user_id`, whom the step names, has no enabled channel."""

    code: PolicyWarningCode
    message: str
    step_index: int
    at: datetime | None
    user_id: int | None


class SavedPolicyResponse(PolicyResponse):
    """The policy as saved, and what is wrong with it over the next 7 days."""

    warnings: list[PolicyWarningResponse]


class PreviewRequest(RequestBody):
    """An incident opened `at` (default now), of `severity`, in `team_id` (default the policy's team;
    null: no team), followed for `hours`, acknowledged `acknowledge_after_minutes` after it opened
    (default never)."""

    at: datetime | None = None
    severity: Severity = Severity.HIGH
    team_id: Id | UnsetType | None = UNSET
    hours: Annotated[int, Meta(ge=1, le=PreviewOptions.MAX_HOURS)] = 24
    acknowledge_after_minutes: (
        Annotated[int, Meta(ge=0, le=PreviewOptions.MAX_ACKNOWLEDGE_AFTER_MINUTES)] | None
    ) = None


class UnsavedPolicyPreviewRequest(PreviewRequest, kw_only=True):
    """`policy`: the body a create would take."""

    policy: CreatePolicyRequest


class PagedUser(Struct):
    user_id: int
    channels: list[Channel]


class UnreachableUser(Struct):
    user_id: int
    reason: UnreachableReason
    message: str


class EmptyTargetResponse(Struct):
    """A target that reached no active user (a role target shows the team it was judged in)."""

    type: TargetType
    id: int | None
    role: str | None
    team_id: int | None
    reason: EmptyTargetReason
    message: str


class PreviewFireResponse(Struct):
    scheduled_at: datetime
    cycle: int
    step_index: int
    loop: int
    users: list[PagedUser]
    unreachable_user_ids: list[int]
    unreachable: list[UnreachableUser]
    empty_targets: list[EmptyTargetResponse]


class PreviewResponse(Struct):
    """The fires scheduled from `at` until `until`, in order; `truncated` when there were more than
    1,000 (the list stops at 1,000)."""

    at: datetime
    until: datetime
    severity: Severity
    team_id: int | None
    fires: list[PreviewFireResponse]
    truncated: bool


def domain_target(target: PolicyTarget) -> Target:
    if target.type is TargetType.USER:
        return Target(TargetType.USER, user_id=target.id)
    if target.type is TargetType.TEAM:
        return Target(TargetType.TEAM, team_id=target.id if target.id is not None else target.team_id)
    if target.type is TargetType.SCHEDULE:
        return Target(TargetType.SCHEDULE, schedule_id=target.id)
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
    if target.type is TargetType.SCHEDULE:
        return PolicyTargetResponse(type=target.type, id=target.schedule_id, role=None, team_id=None)
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
        created_at=policy.created_at,
    )


def saved_policy_response(policy: EscalationPolicy, warnings: list[PolicyWarning]) -> SavedPolicyResponse:
    fields = msgspec.structs.asdict(policy_response(policy))
    found = [PolicyWarningResponse(w.code, w.message, w.step_index, w.at, w.user_id) for w in warnings]
    return SavedPolicyResponse(**fields, warnings=found)


def preview_options(body: PreviewRequest) -> PreviewOptions:
    """The options the client sent; a team it left out is the policy's, unlike an explicit null."""
    return PreviewOptions(**{name: value for name, value in sent(body).items() if name != "policy"})


def preview_response(found: Preview) -> PreviewResponse:
    return PreviewResponse(
        at=found.at,
        until=found.until,
        severity=found.severity,
        team_id=found.team_id,
        fires=[
            PreviewFireResponse(
                scheduled_at=fire.scheduled_at,
                cycle=fire.cycle,
                step_index=fire.step_index,
                loop=fire.loop,
                users=[
                    PagedUser(r.user.id, [channel for channel, _ in r.channels])
                    for r in fire.resolution.paged
                ],
                unreachable_user_ids=[u.user_id for u in fire.resolution.unreachable],
                unreachable=[
                    UnreachableUser(u.user_id, u.reason, describe(u)) for u in fire.resolution.unreachable
                ],
                empty_targets=[
                    EmptyTargetResponse(
                        **msgspec.structs.asdict(target_response(t.target)),
                        reason=t.reason,
                        message=describe(t),
                    )
                    for t in fire.resolution.empty_targets
                ],
            )
            for fire in found.fires
        ],
        truncated=found.truncated,
    )


class PolicyPage(Page[PolicyResponse]):
    """A page of escalation policies."""



class PoliciesController(Controller):
    path = "/v1/escalation/policies"
    tags = ["escalation policies"]
    security = BEARER
    dependencies = ACTOR_DEPENDENCY
    guards = [permits(Action.POLICY_MANAGE)]

    @get("/", summary="List escalation policies (admin)", responses=responses(400, 401, 403))
    @inject
    async def list_policies(
        self, actor: Actor, policies: FromDishka[Policies], limit: Limit = 50, offset: Offset = 0
    ) -> PolicyPage:
        paged = await policies.list(actor, page(limit, offset))
        return page_of(PolicyPage, paged, [policy_response(p) for p in paged.items])

    @post(
        "/",
        status_code=201,
        summary="Create an escalation policy (admin)",
        responses=responses(400, 401, 403, 409, 413),
    )
    @inject
    async def create_policy(
        self, actor: Actor, data: JSONBody[CreatePolicyRequest], policies: FromDishka[Policies]
    ) -> SavedPolicyResponse:
        """Chosen for a new incident when active and matching its team and severity (empty
        `severities` matches any); a team's own policy wins over a global one. `warnings` says what
        would go wrong in the next 7 days: a step that would reach nobody, a user with no channel."""
        policy = await policies.create(actor, new_policy(data))
        return saved_policy_response(policy, await policies.warnings(actor, policy))

    @get("/{policy_id:int}", summary="Get an escalation policy (admin)", responses=responses(400, 401, 403, 404))
    @inject
    async def get_policy(self, actor: Actor, policy_id: PathId, policies: FromDishka[Policies]) -> PolicyResponse:
        return policy_response(await policies.get(actor, policy_id))

    @put(
        "/{policy_id:int}",
        summary="Update an escalation policy (admin)",
        responses=responses(400, 401, 403, 404, 409, 413),
    )
    @inject
    async def update_policy(
        self, actor: Actor, policy_id: PathId, data: JSONBody[UpdatePolicyRequest], policies: FromDishka[Policies]
    ) -> SavedPolicyResponse:
        """Open incidents keep the policy as it was when they triggered. `warnings` as on create."""
        policy = await policies.update(actor, policy_id, policy_changes(data))
        return saved_policy_response(policy, await policies.warnings(actor, policy))

    @delete(
        "/{policy_id:int}",
        status_code=204,
        summary="Delete an escalation policy (admin)",
        responses=responses(400, 401, 403, 404, 409),
    )
    @inject
    async def delete_policy(self, actor: Actor, policy_id: PathId, policies: FromDishka[Policies]) -> None:
        await policies.delete(actor, policy_id)

    @post(
        "/{policy_id:int}/preview",
        status_code=200,
        summary="Who gets paged when, on a saved escalation policy (admin)",
        responses=responses(400, 401, 403, 404, 413),
    )
    @inject
    async def preview_policy(
        self, actor: Actor, policy_id: PathId, data: JSONBody[PreviewRequest], policies: FromDishka[Policies]
    ) -> PreviewResponse:
        """Every step the worker would fire for such an incident, from the same state machine, schedules
        and preferences: when, whom it pages on which channels, who is named but not paged and why,
        and which targets reach nobody. The policy need not be active or match the incident."""
        return preview_response(await policies.preview(actor, policy_id, preview_options(data)))

    @post(
        "/preview",
        status_code=200,
        summary="Who gets paged when, on a policy not saved (admin)",
        responses=responses(400, 401, 403, 413),
    )
    @inject
    async def preview_unsaved_policy(
        self, actor: Actor, data: JSONBody[UnsavedPolicyPreviewRequest], policies: FromDishka[Policies]
    ) -> PreviewResponse:
        """As the preview of a saved policy, for `policy`, a body a create would take, checked the same
        way: an admin sees what a policy does before saving it."""
        return preview_response(await policies.preview(actor, new_policy(data.policy), preview_options(data)))
