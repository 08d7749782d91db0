"""Who gets paged when, in the core: `resolve` (whom one fire reaches, and why not the others),
`preview` (the fires ahead, driven through the state machine) and `policy_warnings`; and the
`Policies.preview` and `Policies.warnings` use cases on the in-memory service."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from incidentcore.errors import PermissionDenied, ValidationFailed
from incidentcore.escalation import EscalationStep, NaiveDatetimeError, PolicySnapshot, Target, TargetType
from incidentcore.model import Channel, EscalationPolicy, NotificationPreference, Role, Severity, User
from incidentcore.preview import PolicyWarningCode, Preview, policy_warnings, preview
from incidentcore.reach import (
    Audience,
    Directory,
    EmptyTarget,
    EmptyTargetReason,
    Recipient,
    Unreachable,
    UnreachableReason,
    resolve,
)
from incidentcore.schedules import Layer, Override, Restriction, Schedule, TurnLength, TurnUnit, Weekday
from incidentcore.services import PreviewOptions
from incidentcore.testing.world import InMemoryServices

T0 = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)  # a Monday
MINUTE = timedelta(minutes=1)
OPS, SALES = 1, 2


def user(user_id: int, role: Role = Role.USER, team_id: int | None = OPS, *, active: bool = True) -> User:
    return User(f"u{user_id}@example.com", f"User {user_id}", "", role, team_id, active, id=user_id)


def prefer(
    user_id: int,
    channel: Channel,
    address: str | None = None,
    *,
    enabled: bool = True,
    min_severity: Severity | None = None,
) -> NotificationPreference:
    return NotificationPreference(user_id, channel, enabled, address, min_severity)


def step(*targets: Target, delay: int = 10) -> EscalationStep:
    return EscalationStep(delay, targets)


def to_user(user_id: int) -> Target:
    return Target(TargetType.USER, user_id=user_id)


def on_call(schedule_id: int) -> Target:
    return Target(TargetType.SCHEDULE, schedule_id=schedule_id)


def hourly(*participants: int, restrictions: tuple[Restriction, ...] = ()) -> Schedule:
    """Hands over every hour on the hour (UTC), from 2026-03-09 00:00."""
    layer = Layer("hourly", datetime(2026, 3, 9), TurnLength(TurnUnit.HOURS, 1), participants, restrictions)
    return Schedule("ops", "UTC", (layer,), id=1)


# ----------------------------------------------------------------------------------------------- resolve


def test_an_active_user_is_paged_on_each_enabled_channel_with_an_address_that_takes_the_severity() -> None:
    directory = Directory.of(
        [user(2), user(3), user(4)],
        [
            prefer(2, Channel.SMS, "+15555550100"),
            prefer(2, Channel.EMAIL),  # the account's address
            prefer(2, Channel.SLACK, "https://hooks.slack.com/x", min_severity=Severity.CRITICAL),
            prefer(3, Channel.WEBHOOK, "https://example.com/hook", enabled=False),
            prefer(3, Channel.EMAIL, "oncall@example.com"),
        ],
    )
    audience = Audience.of_step(step(to_user(2), to_user(3), to_user(4)), OPS)
    resolution = resolve(audience, directory, T0, Severity.HIGH)
    assert resolution.paged == (
        Recipient(user(2), ((Channel.EMAIL, "u2@example.com"), (Channel.SMS, "+15555550100"))),
        Recipient(user(3), ((Channel.EMAIL, "oncall@example.com"),)),
        Recipient(user(4), ((Channel.EMAIL, "u4@example.com"),)),  # no preferences: email
    )
    critical = resolve(audience, directory, T0, Severity.CRITICAL)
    assert [len(r.channels) for r in critical.paged] == [3, 1, 1]
    assert resolution.unreachable == ()
    assert resolution.empty_targets == ()


def test_a_named_user_left_out_is_named_with_the_reason() -> None:
    directory = Directory.of(
        [user(2, active=False), user(3), user(4), user(5)],
        [
            prefer(3, Channel.EMAIL, enabled=False),
            prefer(4, Channel.SMS, None),  # enabled, but nowhere to send it
            prefer(5, Channel.EMAIL, min_severity=Severity.CRITICAL),
        ],
    )
    audience = Audience.of_step(step(*(to_user(n) for n in (2, 3, 4, 5))), OPS)
    resolution = resolve(audience, directory, T0, Severity.HIGH)
    assert resolution.paged == ()
    assert resolution.unreachable == (
        Unreachable(2, UnreachableReason.INACTIVE),
        Unreachable(3, UnreachableReason.NO_ENABLED_CHANNEL),
        Unreachable(4, UnreachableReason.NO_ENABLED_CHANNEL),
        Unreachable(5, UnreachableReason.BELOW_MINIMUM_SEVERITY),
    )


def test_teams_and_roles_page_their_active_members_and_holders_once_each_in_id_order() -> None:
    directory = Directory.of(
        [
            user(5, Role.TEAM_LEAD, OPS),
            user(2, Role.ONCALL_ENGINEER, OPS),
            user(3, Role.TEAM_LEAD, SALES),
            user(4, Role.TEAM_LEAD, OPS, active=False),  # neither a member nor a holder any more
        ]
    )
    targets = (
        Target(TargetType.TEAM, team_id=OPS),
        Target(TargetType.ROLE, role="team_lead"),  # in the incident's team
        Target(TargetType.ROLE, role="team_lead", team_id=SALES),
        to_user(5),
    )
    resolution = resolve(Audience.of_step(step(*targets), OPS), directory, T0, Severity.HIGH)
    assert [r.user.id for r in resolution.paged] == [2, 3, 5]
    assert resolution.unreachable == ()
    assert resolution.empty_targets == ()


def test_a_target_that_reaches_no_active_user_says_why() -> None:
    directory = Directory.of(
        [user(2, Role.MANAGER, SALES), user(3, active=False)],
        schedules=[hourly(3)],  # on call: a deactivated user
    )
    targets = (
        to_user(99),
        Target(TargetType.TEAM, team_id=OPS),
        Target(TargetType.ROLE, role="manager", team_id=OPS),
        Target(TargetType.ROLE, role="cto"),  # in the incident's team, and it has none
        on_call(1),
        on_call(7),  # deleted since
    )
    resolution = resolve(Audience.of_step(step(*targets), None), directory, T0, Severity.HIGH)
    assert resolution.paged == ()
    assert resolution.unreachable == (Unreachable(3, UnreachableReason.INACTIVE),)
    assert resolution.empty_targets == (
        EmptyTarget(to_user(99), EmptyTargetReason.UNKNOWN_USER),
        EmptyTarget(Target(TargetType.TEAM, team_id=OPS), EmptyTargetReason.NO_ACTIVE_MEMBERS),
        EmptyTarget(Target(TargetType.ROLE, role="manager", team_id=OPS), EmptyTargetReason.ROLE_UNHELD),
        EmptyTarget(Target(TargetType.ROLE, role="cto"), EmptyTargetReason.NO_TEAM_FOR_ROLE),
        EmptyTarget(on_call(1), EmptyTargetReason.NOBODY_ON_CALL),
        EmptyTarget(on_call(7), EmptyTargetReason.NOBODY_ON_CALL),
    )
    assert resolution.unstaffed_schedule_ids == [1, 7]


def test_a_schedule_target_pages_whoever_is_on_call_at_the_instant_an_override_first() -> None:
    override = Override(4, T0 + 90 * MINUTE, T0 + 150 * MINUTE, T0, schedule_id=1, id=1)
    directory = Directory.of([user(2), user(3), user(4)], schedules=[hourly(2, 3)], overrides=[override])
    audience = Audience.of_step(step(on_call(1)), OPS)
    assert [
        [r.user.id for r in resolve(audience, directory, T0 + n * 30 * MINUTE, Severity.HIGH).paged]
        for n in range(6)
    ] == [[2], [2], [3], [4], [4], [2]]  # 12:00 to 14:30: user 2, at 13:00 user 3, the override, user 2


# ----------------------------------------------------------------------------------------------- preview

POLICY = PolicySnapshot(1, (step(to_user(2)), step(to_user(3), delay=20), step(on_call(1), delay=5)), repeat=1)
DIRECTORY = Directory.of([user(2), user(3), user(4)], schedules=[hourly(4)])


def fires(
    policy: PolicySnapshot = POLICY, horizon: timedelta = timedelta(hours=2), acknowledge_after: timedelta | None = None
) -> list[tuple[int, int, int, int, list[int]]]:
    """(minutes after T0, cycle, step, loop, users paged) of each fire."""
    found = preview(
        policy, DIRECTORY, T0, severity=Severity.HIGH, team_id=OPS, horizon=horizon, acknowledge_after=acknowledge_after
    )
    return [
        ((f.scheduled_at - T0) // MINUTE, f.cycle, f.step_index, f.loop, [r.user.id for r in f.resolution.paged])
        for f in found.fires
    ]


def test_the_preview_lists_each_fire_of_every_loop_within_the_horizon() -> None:
    assert fires() == [
        (0, 0, 0, 0, [2]), (10, 0, 1, 0, [3]), (30, 0, 2, 0, [4]),
        (35, 0, 0, 1, [2]), (45, 0, 1, 1, [3]), (65, 0, 2, 1, [4]),
    ]  # fmt: skip
    assert fires(horizon=timedelta(minutes=45)) == fires()[:4]  # a fire at the horizon's end is after it
    assert fires(horizon=timedelta(0)) == []


def test_an_acknowledgement_stops_the_fires_and_the_ack_timeout_starts_a_new_cycle() -> None:
    assert fires(acknowledge_after=timedelta(minutes=9)) == fires()[:1]
    assert fires(acknowledge_after=timedelta(minutes=10)) == fires()[:2]  # step 1, due then, went first
    with_timeout = PolicySnapshot(1, POLICY.steps, repeat=0, ack_timeout_minutes=30)
    assert fires(with_timeout, acknowledge_after=timedelta(minutes=10)) == [
        (0, 0, 0, 0, [2]), (10, 0, 1, 0, [3]), (40, 1, 0, 0, [2]), (50, 1, 1, 0, [3]), (70, 1, 2, 0, [4]),
    ]  # fmt: skip


def test_more_fires_than_the_limit_are_cut_short_and_flagged() -> None:
    def cut_at(max_fires: int) -> Preview:
        return preview(
            POLICY, DIRECTORY, T0, severity=Severity.HIGH, team_id=OPS, horizon=timedelta(hours=2), max_fires=max_fires
        )

    whole, cut, exact = cut_at(1000), cut_at(4), cut_at(6)
    assert (len(whole.fires), whole.truncated) == (6, False)
    assert (cut.fires, cut.truncated) == (whole.fires[:4], True)
    assert (exact.fires, exact.truncated) == (whole.fires, False)


def test_steps_without_delay_fire_at_one_instant_in_order_and_a_policy_without_steps_never_fires() -> None:
    instant = PolicySnapshot(1, (step(to_user(2), delay=0), step(to_user(3), delay=0), step(to_user(4))))
    found = preview(instant, DIRECTORY, T0, severity=Severity.HIGH, team_id=OPS, horizon=timedelta(hours=1))
    assert [(f.scheduled_at, f.step_index) for f in found.fires] == [(T0, 0), (T0, 1), (T0, 2)]
    nothing = preview(PolicySnapshot.none(), DIRECTORY, T0, severity=Severity.HIGH, team_id=OPS, horizon=timedelta(hours=1))
    assert nothing.fires == ()


def test_the_preview_refuses_a_start_without_a_timezone() -> None:
    with pytest.raises(NaiveDatetimeError):
        preview(POLICY, DIRECTORY, datetime(2026, 3, 9, 12), severity=Severity.HIGH, team_id=OPS, horizon=timedelta(hours=1))


# --------------------------------------------------------------------------------------------- warnings

WEEKDAYS = Restriction(frozenset(Weekday) - {Weekday.SAT, Weekday.SUN}, time(0, 0), time(0, 0))
SATURDAY = datetime(2026, 3, 14, tzinfo=UTC)


def test_a_step_warns_at_the_first_instant_it_would_reach_nobody_and_a_user_without_a_channel_once() -> None:
    directory = Directory.of(
        [user(2), user(3)], [prefer(3, Channel.EMAIL, enabled=False)], schedules=[hourly(2, restrictions=(WEEKDAYS,))]
    )
    policy = EscalationPolicy("ops", (step(on_call(1)), step(to_user(3)), step(to_user(2), to_user(3))), team_id=OPS)
    warnings = policy_warnings(policy, directory, T0)
    assert [(w.code, w.step_index, w.at, w.user_id) for w in warnings] == [
        (PolicyWarningCode.STEP_REACHES_NOBODY, 0, SATURDAY, None),
        (PolicyWarningCode.STEP_REACHES_NOBODY, 1, T0, None),
        (PolicyWarningCode.USER_HAS_NO_CHANNEL, 1, None, 3),
    ]
    assert warnings[0].message == (
        "step 1 would reach nobody if it fired at 2026-03-14 00:00 UTC: nobody active is on call on schedule 1"
    )
    assert warnings[1].message == "step 2 would reach nobody if it fired at 2026-03-09 12:00 UTC: user 3 has no enabled channel"
    assert warnings[2].message == "step 2: user 3 has no enabled channel"
    assert policy_warnings(policy, directory, T0, window=timedelta(days=4))[0].step_index == 1  # no weekend in it


def test_warnings_judge_the_most_severe_incident_the_policy_takes_and_not_a_role_of_the_incidents_team() -> None:
    directory = Directory.of([user(2)], [prefer(2, Channel.EMAIL, min_severity=Severity.HIGH)])
    for_every_team = EscalationPolicy("ops", (step(Target(TargetType.ROLE, role="cto")), step(to_user(2))))
    assert policy_warnings(for_every_team, directory, T0) == []  # a critical incident reaches user 2
    only_low = EscalationPolicy("low", (step(to_user(2)),), severities=frozenset({Severity.LOW, Severity.MEDIUM}))
    (warning,) = policy_warnings(only_low, directory, T0)
    assert warning.message.endswith("user 2 is paged only for more severe incidents")


# ------------------------------------------------------------------------------------------- use cases


@pytest.mark.anyio
async def test_only_admins_preview_a_policy_or_ask_for_its_warnings() -> None:
    world = InMemoryServices()
    admin = await world.admin()
    lead = await world.user("lead@example.com", Role.MANAGER)
    policy = await world.policies.create(admin, EscalationPolicy("p", (step(to_user(lead.id)),)))
    with pytest.raises(PermissionDenied):
        await world.policies.preview(lead, policy.id, PreviewOptions())
    with pytest.raises(PermissionDenied):
        await world.policies.warnings(lead, policy)
    found = await world.policies.preview(admin, policy.id, PreviewOptions())
    assert (found.at, found.until) == (world.clock.now(), world.clock.now() + timedelta(hours=24))
    assert [r.user.id for r in found.fires[0].resolution.paged] == [lead.id]
    assert await world.policies.warnings(admin, policy) == []


@pytest.mark.anyio
async def test_preview_options_out_of_range_are_refused_naming_each() -> None:
    world = InMemoryServices()
    admin = await world.admin()
    policy = await world.policies.create(admin, EscalationPolicy("p", (step(to_user(admin.id)),)))
    bad = PreviewOptions(at=datetime(2026, 1, 1), hours=169, acknowledge_after_minutes=-1, team_id=42)
    with pytest.raises(ValidationFailed) as refused:
        await world.policies.preview(admin, policy.id, bad)
    assert [e.field for e in refused.value.errors] == ["hours", "acknowledge_after_minutes", "at"]
    with pytest.raises(ValidationFailed) as refused:
        await world.policies.preview(admin, policy.id, PreviewOptions(team_id=42))
    assert [e.field for e in refused.value.errors] == ["team_id"]
