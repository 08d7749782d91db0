"""Escalation policy administration. Incidents keep a snapshot, so edits reach only later incidents."""

from __future__ import annotations

import builtins  # `list` names a method of `Policies`, so its annotations spell the type out
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from incidentcore.changes import UNSET, Unset, given
from incidentcore.errors import FieldError, NotFound, ValidationFailed
from incidentcore.escalation import EscalationStep, TargetType
from incidentcore.model import EscalationPolicy, Severity, User
from incidentcore.permissions import Action, require
from incidentcore.ports import Clock, Page, Paged, UnitOfWork
from incidentcore.preview import MAX_HORIZON, WARNING_WINDOW, PolicyWarning, Preview, policy_warnings, preview
from incidentcore.reach import Audience, Directory
from incidentcore.schedules import check_instant


@dataclass(frozen=True)
class PolicyChanges:
    """What may be edited on an escalation policy (incidents keep the snapshot they triggered with)."""

    name: str | Unset = UNSET
    description: str | Unset | None = UNSET
    team_id: int | Unset | None = UNSET
    severities: frozenset[Severity] | Unset = UNSET
    steps: tuple[EscalationStep, ...] | Unset = UNSET
    repeat: int | Unset = UNSET
    ack_timeout_minutes: int | Unset | None = UNSET
    is_active: bool | Unset = UNSET


@dataclass(frozen=True)
class PreviewOptions:
    """What to preview (`Policies.preview`): an incident opened `at` (now when None), of `severity`,
    in `team_id` (the policy's team when not given; None: no team), over the `hours` after it opened
    (1 to 168), acknowledged `acknowledge_after_minutes` after it opened (never when None)."""

    at: datetime | None = None
    severity: Severity = Severity.HIGH
    team_id: int | Unset | None = UNSET
    hours: int = 24
    acknowledge_after_minutes: int | None = None

    MAX_HOURS = MAX_HORIZON // timedelta(hours=1)
    MAX_ACKNOWLEDGE_AFTER_MINUTES = MAX_HORIZON // timedelta(minutes=1)


def _checked_instant(options: PreviewOptions, at: datetime) -> datetime:
    """`at` in UTC, when it and the options are in range; ValidationFailed names each field that is not."""
    errors = []
    if not 1 <= options.hours <= PreviewOptions.MAX_HOURS:
        errors.append(FieldError("hours", f"must be between 1 and {PreviewOptions.MAX_HOURS}"))
    minutes = options.acknowledge_after_minutes
    if minutes is not None and not 0 <= minutes <= PreviewOptions.MAX_ACKNOWLEDGE_AFTER_MINUTES:
        maximum = PreviewOptions.MAX_ACKNOWLEDGE_AFTER_MINUTES
        errors.append(FieldError("acknowledge_after_minutes", f"must be between 0 and {maximum}"))
    try:
        at = check_instant("at", at)
        check_instant("at", at + MAX_HORIZON)  # the horizon stays in the range schedules compute over
    except ValidationFailed as invalid:
        errors += invalid.errors
    if errors:
        raise ValidationFailed(errors)
    return at


class Policies:
    """Escalation policies (administration)."""

    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self.uow = uow
        self.clock = clock

    async def create(self, actor: User, policy: EscalationPolicy) -> EscalationPolicy:
        require(actor, Action.POLICY_MANAGE)
        policy.validate()
        async with self.uow:
            await self._check_references(policy)
            policy.created_at = self.clock.now()
            policy = await self.uow.policies.add(policy)
            await self.uow.commit()
        return policy

    async def list(self, actor: User, page: Page) -> Paged[EscalationPolicy]:
        require(actor, Action.POLICY_MANAGE)
        async with self.uow:
            return await self.uow.policies.list(page)

    async def get(self, actor: User, policy_id: int) -> EscalationPolicy:
        require(actor, Action.POLICY_MANAGE)
        async with self.uow:
            return await self._load(policy_id)

    async def update(self, actor: User, policy_id: int, changes: PolicyChanges) -> EscalationPolicy:
        require(actor, Action.POLICY_MANAGE)
        async with self.uow:
            policy = replace(await self._load(policy_id), **given(changes))
            policy.validate()
            await self._check_references(policy)
            await self.uow.policies.update(policy)
            await self.uow.commit()
        return policy

    async def delete(self, actor: User, policy_id: int) -> None:
        require(actor, Action.POLICY_MANAGE)
        async with self.uow:
            await self._load(policy_id)
            await self.uow.policies.delete(policy_id)
            await self.uow.commit()

    async def preview(self, actor: User, policy: int | EscalationPolicy, options: PreviewOptions) -> Preview:
        """What the worker would page, fire by fire, for an incident `options` describes, on the saved
        policy of that id or on a policy not saved (checked as `create` checks it)."""
        require(actor, Action.POLICY_MANAGE)
        at = _checked_instant(options, options.at or self.clock.now())
        minutes = options.acknowledge_after_minutes
        async with self.uow:
            if isinstance(policy, EscalationPolicy):
                await self._check_unsaved(policy)
            else:
                policy = await self._load(policy)
            team_id = policy.team_id if isinstance(options.team_id, Unset) else options.team_id
            if team_id is not None and await self.uow.teams.get(team_id) is None:
                raise ValidationFailed(FieldError("team_id", f"team {team_id} does not exist"))
            horizon = timedelta(hours=options.hours)
            directory = await self._directory(policy, team_id, at, at + horizon)
        return preview(
            policy.snapshot(),
            directory,
            at,
            severity=options.severity,
            team_id=team_id,
            horizon=horizon,
            acknowledge_after=timedelta(minutes=minutes) if minutes is not None else None,
        )

    async def warnings(self, actor: User, policy: EscalationPolicy) -> builtins.list[PolicyWarning]:
        """What is wrong with `policy` over the next 7 days (`incidentcore.preview.policy_warnings`): the
        service answers a create or update with it, so that the mistake is seen when it is made."""
        require(actor, Action.POLICY_MANAGE)
        async with self.uow:
            now = self.clock.now()
            directory = await self._directory(policy, policy.team_id, now, now + WARNING_WINDOW)
        return policy_warnings(policy, directory, now)

    async def _directory(
        self, policy: EscalationPolicy, team_id: int | None, since: datetime, until: datetime
    ) -> Directory:
        """What resolving the policy's steps from `since` to `until` reads, in a handful of queries: the
        schedules it targets and their overrides, every user a step names (deactivated ones too, so
        that the preview can say why they are not paged), the active members and role holders of the
        teams it targets, and their preferences."""
        audiences = [Audience.of_step(step, team_id) for step in policy.steps]
        schedule_ids = sorted({s for a in audiences for s in a.schedule_ids})
        schedules = await self.uow.schedules.get_many(schedule_ids) if schedule_ids else []
        overrides = await self.uow.overrides.in_window(schedule_ids, since, until) if schedule_ids else []
        named = {u for a in audiences for u in a.user_ids}
        named |= {u for s in schedules for u in s.participant_ids} | {o.user_id for o in overrides}
        users = {u.id: u for u in await self.uow.users.get_many(sorted(named))}
        members = await self.uow.users.resolve_targets(
            user_ids=[],
            team_ids=sorted({t for a in audiences for t in a.team_ids}),
            roles=sorted({r for a in audiences for r in a.roles}, key=lambda r: (r[0].rank, r[1])),
        )
        users.update((u.id, u) for u in members)
        preferences = await self.uow.preferences.list_for_users(sorted(users)) if users else []
        return Directory.of(users.values(), preferences, schedules, overrides)

    async def _check_unsaved(self, policy: EscalationPolicy) -> None:
        """`create`'s checks, each field named under `policy.` (the preview's own `team_id` is the
        incident's team, not the policy's)."""
        try:
            policy.validate()
            await self._check_references(policy)
        except ValidationFailed as invalid:
            raise ValidationFailed([FieldError(f"policy.{e.field}", e.message) for e in invalid.errors]) from None

    async def _load(self, policy_id: int) -> EscalationPolicy:
        policy = await self.uow.policies.get(policy_id)
        if policy is None:
            raise NotFound(f"escalation policy {policy_id} does not exist")
        return policy

    async def _check_references(self, policy: EscalationPolicy) -> None:
        errors: list[FieldError] = []
        if policy.team_id is not None and await self.uow.teams.get(policy.team_id) is None:
            errors.append(FieldError("team_id", f"team {policy.team_id} does not exist"))
        for i, step in enumerate(policy.steps):
            for j, target in enumerate(step.targets):
                where = f"steps[{i}].targets[{j}]"
                if target.type is TargetType.USER and target.user_id is not None:
                    if await self.uow.users.get(target.user_id) is None:
                        errors.append(FieldError(f"{where}.id", f"user {target.user_id} does not exist"))
                elif target.type is TargetType.SCHEDULE and target.schedule_id is not None:
                    if await self.uow.schedules.get(target.schedule_id) is None:
                        errors.append(FieldError(f"{where}.id", f"schedule {target.schedule_id} does not exist"))
                elif target.team_id is not None and await self.uow.teams.get(target.team_id) is None:
                    errors.append(FieldError(f"{where}.team_id", f"team {target.team_id} does not exist"))
        if errors:
            raise ValidationFailed(errors)
