"""Escalation policy administration. Incidents keep a snapshot, so edits reach only later incidents."""

from __future__ import annotations

from dataclasses import dataclass, replace

from incidentcore.changes import UNSET, Unset, given
from incidentcore.errors import FieldError, NotFound, ValidationFailed
from incidentcore.escalation import EscalationStep, TargetType
from incidentcore.model import EscalationPolicy, Severity, User
from incidentcore.permissions import Action, require
from incidentcore.ports import Clock, Page, Paged, UnitOfWork


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
