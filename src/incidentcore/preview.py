"""Who gets paged when: a policy's fires over the hours ahead, and what is wrong with it, before an
incident finds out.

Nothing here is a second engine. `preview` drives the escalation state machine (`apply`: a trigger,
a tick at each timer, an acknowledgement when asked for) and resolves each fire with `resolve`, the
function the worker pages with, at the fire's scheduled time; it answers what the worker would do for
an incident opened at that instant, given the same users, preferences, schedules and overrides.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from incidentcore.escalation import (
    Acknowledge,
    Effect,
    EffectKind,
    PolicySnapshot,
    Tick,
    Trigger,
    apply,
)
from incidentcore.model import EscalationPolicy, Severity
from incidentcore.reach import (
    Audience,
    Directory,
    EmptyTarget,
    EmptyTargetReason,
    Resolution,
    Unreachable,
    UnreachableReason,
    resolve,
)
from incidentcore.schedules import shifts

MAX_HORIZON = timedelta(hours=168)
"""The longest horizon the service previews (a week)."""

MAX_FIRES = 1000
"""The most fires one preview lists; beyond, it is cut short and says so (`Preview.truncated`)."""

WARNING_WINDOW = timedelta(days=7)
"""How far ahead `policy_warnings` looks."""


@dataclass(frozen=True)
class PreviewFire:
    """One fire: step `step_index` of loop `loop` in trigger cycle `cycle`, at `scheduled_at`, and
    whom it reaches then."""

    scheduled_at: datetime
    cycle: int
    step_index: int
    loop: int
    resolution: Resolution


@dataclass(frozen=True)
class Preview:
    """What an incident of `severity` in `team_id` opened at `at` pages until `until`: the fires, in
    order; `truncated` when there were more than the limit (the fires stop there)."""

    at: datetime
    until: datetime
    severity: Severity
    team_id: int | None
    fires: tuple[PreviewFire, ...]
    truncated: bool = False


def preview(
    policy: PolicySnapshot,
    directory: Directory,
    at: datetime,
    *,
    severity: Severity,
    team_id: int | None,
    horizon: timedelta,
    acknowledge_after: timedelta | None = None,
    max_fires: int = MAX_FIRES,
) -> Preview:
    """What an incident of `severity` and `team_id` opened at `at` on `policy` pages in the `horizon`
    after `at` (fires scheduled before `at + horizon`), when nobody acknowledges it or someone does
    `acknowledge_after` it opened (a step due at that very instant has fired by then; the policy's ack
    timeout re-triggers it as it would). `directory` holds what `resolve` reads."""
    until = at + horizon
    acknowledge_at = at + acknowledge_after if acknowledge_after is not None else None
    state, effects = apply(policy, None, Trigger(), at)
    fires: list[PreviewFire] = []
    while True:
        for effect in effects:
            if effect.kind is EffectKind.FIRED and effect.scheduled_at < until:
                fires.append(_fire(policy, effect, directory, severity, team_id))
        if len(fires) > max_fires:
            return Preview(at, until, severity, team_id, tuple(fires[:max_fires]), truncated=True)
        due = state.next_at
        # the acknowledgement comes after a step due at the same instant: that step has fired
        if acknowledge_at is not None and acknowledge_at < until and (due is None or acknowledge_at < due):
            state, effects = apply(policy, state, Acknowledge(), acknowledge_at)
            acknowledge_at = None
        elif due is not None and due < until:
            state, effects = apply(policy, state, Tick(), due)
        else:
            return Preview(at, until, severity, team_id, tuple(fires))


def _fire(
    policy: PolicySnapshot, fire: Effect, directory: Directory, severity: Severity, team_id: int | None
) -> PreviewFire:
    step_index, loop = fire.step_index or 0, fire.loop or 0
    audience = Audience.of_step(policy.steps[step_index], team_id)
    resolution = resolve(audience, directory, fire.scheduled_at, severity)
    return PreviewFire(fire.scheduled_at, fire.cycle, step_index, loop, resolution)


class PolicyWarningCode(StrEnum):
    """What a `PolicyWarning` is about."""

    STEP_REACHES_NOBODY = "step_reaches_nobody"
    USER_HAS_NO_CHANNEL = "user_has_no_channel"


@dataclass(frozen=True)
class PolicyWarning:
    """A mistake in a policy, seen when it is saved: a step that would page nobody if it fired at
    `at`, or a user a step names who has no enabled channel (`user_id`)."""

    code: PolicyWarningCode
    message: str
    step_index: int
    at: datetime | None = None
    user_id: int | None = None


def policy_warnings(
    policy: EscalationPolicy, directory: Directory, now: datetime, window: timedelta = WARNING_WINDOW
) -> list[PolicyWarning]:
    """What is wrong with `policy` in the `window` after `now`, by step: a step that would reach nobody
    if it fired at some instant of the window, and each user a step names who has no enabled channel.

    Each step is resolved as `preview` resolves its fires, at `now` and at every instant a schedule it
    targets changes hands in the window (between those, nothing that resolution reads changes), for
    the most severe incident the policy takes, in the policy's team. A step with a role target that
    names no team, in a policy for every team, is not judged to reach nobody: that depends on the
    incident's team."""
    severity = min(policy.severities, key=lambda s: s.urgency, default=Severity.CRITICAL)
    warnings: list[PolicyWarning] = []
    warned_users: set[int] = set()
    for index, step in enumerate(policy.steps):
        audience = Audience.of_step(step, policy.team_id)
        nobody: tuple[datetime, Resolution] | None = None
        for instant in _changes(audience, directory, now, now + window):
            resolution = resolve(audience, directory, instant, severity)
            for left_out in resolution.unreachable:
                if (
                    left_out.reason is UnreachableReason.NO_ENABLED_CHANNEL
                    and left_out.user_id not in warned_users
                ):
                    warned_users.add(left_out.user_id)
                    warnings.append(
                        PolicyWarning(
                            PolicyWarningCode.USER_HAS_NO_CHANNEL,
                            f"step {index + 1}: {describe(left_out)}",
                            index,
                            user_id=left_out.user_id,
                        )
                    )
            if nobody is None and not resolution.paged and audience.unbound_roles == frozenset():
                nobody = instant, resolution
        if nobody is not None:
            instant, resolution = nobody
            reasons = [describe(r) for r in resolution.empty_targets] + [
                describe(r) for r in resolution.unreachable
            ]
            message = f"step {index + 1} would reach nobody if it fired at {instant:%Y-%m-%d %H:%M} UTC"
            warnings.append(
                PolicyWarning(
                    PolicyWarningCode.STEP_REACHES_NOBODY,
                    message + (": " + "; ".join(reasons) if reasons else ""),
                    index,
                    at=instant,
                )
            )
    return sorted(warnings, key=lambda w: (w.step_index, w.code is PolicyWarningCode.USER_HAS_NO_CHANNEL))


def _changes(
    audience: Audience, directory: Directory, since: datetime, until: datetime
) -> Iterator[datetime]:
    """`since`, and each instant in [since, until) at which a schedule of `audience` changes hands."""
    instants = {since}
    for schedule_id in audience.schedule_ids:
        schedule = directory.schedules.get(schedule_id)
        if schedule is not None:
            overrides = directory.overrides.get(schedule_id, ())
            for shift in shifts(schedule, overrides, since, until):
                instants.update(i for i in (shift.start, shift.end) if i < until)
    return iter(sorted(instants))


def describe(why: Unreachable | EmptyTarget) -> str:
    """A reason a page does not go out, as a sentence fragment for people."""
    if isinstance(why, Unreachable):
        return {
            UnreachableReason.INACTIVE: f"user {why.user_id} is deactivated",
            UnreachableReason.NO_ENABLED_CHANNEL: f"user {why.user_id} has no enabled channel",
            UnreachableReason.BELOW_MINIMUM_SEVERITY: f"user {why.user_id} is paged only for more severe incidents",
        }[why.reason]
    target = why.target
    return {
        EmptyTargetReason.UNKNOWN_USER: f"user {target.user_id} does not exist",
        EmptyTargetReason.NO_ACTIVE_MEMBERS: f"team {target.team_id} has no active member",
        EmptyTargetReason.ROLE_UNHELD: f"nobody active holds the role {target.role} in team {target.team_id}",
        EmptyTargetReason.NO_TEAM_FOR_ROLE: f"the role {target.role} names no team and the incident has none",
        EmptyTargetReason.NOBODY_ON_CALL: f"nobody active is on call on schedule {target.schedule_id}",
    }[why.reason]
