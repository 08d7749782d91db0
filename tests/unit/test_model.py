"""Entity rules of `incidentcore.model`: orderings, policy validation and choice, outbox rows, incidents."""

from __future__ import annotations

from copy import deepcopy
from dataclasses import fields
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incidentcore.changes import given as given_changes
from incidentcore.errors import FieldError, InvalidTransition, ValidationFailed
from incidentcore.escalation import (
    Effect,
    EffectKind,
    EscalationStep,
    Phase,
    PolicySnapshot,
    Target,
    TargetType,
)
from incidentcore.model import (
    Channel,
    EscalationPolicy,
    Incident,
    IncidentChanges,
    IncidentStatus,
    Notification,
    NotificationPreference,
    NotificationStatus,
    Outcome,
    PasswordResetToken,
    Role,
    Severity,
    TimelineKind,
    User,
    choose_policy,
)
from incidentcore.testing.strategies import (
    escalation_policies,
    event_sequences,
    incidents,
    policy_snapshots,
    severities,
)

T0 = datetime.fromisoformat("2024-01-01T00:00:00+00:00")
MINUTE = timedelta(minutes=1)
USER_TARGET = Target(TargetType.USER, user_id=1)
STEP = EscalationStep(5, (USER_TARGET,))
STEP_OF_A_MINUTE = EscalationStep(1, (USER_TARGET,))

# ------------------------------------------------------------------------------------------------ orderings

ROLES_LOWEST_FIRST = ["user", "oncall_engineer", "team_lead", "manager", "vp", "cto", "admin"]
SEVERITIES_MOST_SEVERE_FIRST = ["critical", "high", "medium", "low", "info"]


def test_roles_are_ranked_lowest_first() -> None:
    assert [r.value for r in sorted(Role, key=lambda r: r.rank)] == ROLES_LOWEST_FIRST
    assert [Role(v).rank for v in ROLES_LOWEST_FIRST] == list(range(7))


@pytest.mark.parametrize("a", list(Role))
@pytest.mark.parametrize("b", list(Role))
def test_role_at_least(a: Role, b: Role) -> None:
    assert a.at_least(b) is (ROLES_LOWEST_FIRST.index(a.value) >= ROLES_LOWEST_FIRST.index(b.value))


def test_severities_rank_higher_when_more_severe() -> None:
    assert Severity.CRITICAL.rank == 4
    assert Severity.INFO.rank == 0
    ranks = [Severity(v).rank for v in SEVERITIES_MOST_SEVERE_FIRST]
    assert ranks == sorted(ranks, reverse=True)
    assert len(set(ranks)) == len(ranks)


@pytest.mark.parametrize("a", list(Severity))
@pytest.mark.parametrize("b", list(Severity))
def test_severity_at_least(a: Severity, b: Severity) -> None:
    more_or_as_severe = SEVERITIES_MOST_SEVERE_FIRST.index(a.value) <= SEVERITIES_MOST_SEVERE_FIRST.index(
        b.value
    )
    assert a.at_least(b) is more_or_as_severe


# ----------------------------------------------------------------------------------------- policy validation


def policy(**overrides: object) -> EscalationPolicy:
    fields: dict[str, object] = {"name": "primary", "steps": (STEP,)}
    fields.update(overrides)
    return EscalationPolicy(**fields)  # type: ignore[arg-type]


def field_errors(p: EscalationPolicy) -> list[FieldError]:
    with pytest.raises(ValidationFailed) as raised:
        p.validate()
    return raised.value.errors


@given(escalation_policies())
def test_generated_policies_are_valid(p: EscalationPolicy) -> None:
    p.validate()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"steps": ()}, "steps"),
        ({"steps": (STEP,) * 21}, "steps"),
        ({"repeat": -1}, "repeat"),
        ({"repeat": 10}, "repeat"),
        ({"ack_timeout_minutes": 0}, "ack_timeout_minutes"),
        ({"ack_timeout_minutes": 7 * 24 * 60 + 1}, "ack_timeout_minutes"),
        ({"steps": (EscalationStep(-1, (USER_TARGET,)),)}, "steps[0].delay_minutes"),
        ({"steps": (STEP, EscalationStep(7 * 24 * 60 + 1, (USER_TARGET,)))}, "steps[1].delay_minutes"),
        ({"steps": (EscalationStep(5, ()),)}, "steps[0].targets"),
        ({"steps": (EscalationStep(5, (USER_TARGET, Target(TargetType.USER))),)}, "steps[0].targets[1].id"),
        ({"steps": (EscalationStep(5, (Target(TargetType.TEAM),)),)}, "steps[0].targets[0].id"),
        (
            {"steps": (EscalationStep(5, (Target(TargetType.ROLE, role="boss"),)),)},
            "steps[0].targets[0].role",
        ),
        ({"steps": (EscalationStep(5, (Target(TargetType.ROLE),)),)}, "steps[0].targets[0].role"),
        ({"steps": (EscalationStep(0, (USER_TARGET,)),) * 3, "repeat": 1}, "repeat"),  # a zero-time loop
    ],
)
def test_validate_names_each_offending_field(overrides: dict[str, object], field: str) -> None:
    assert [e.field for e in field_errors(policy(**overrides))] == [field]


def test_a_policy_that_repeats_must_take_time_to_loop() -> None:
    storm = policy(steps=(EscalationStep(0, (USER_TARGET,)),) * 20, repeat=9)  # 200 pages at one instant
    (error,) = field_errors(storm)
    assert error.field == "repeat"
    assert "delay_minutes to add up to at least 1" in error.message


def test_validate_accepts_the_bounds() -> None:
    policy(
        steps=(EscalationStep(0, (USER_TARGET,)),) * 19 + (EscalationStep(7 * 24 * 60, (USER_TARGET,)),),
        repeat=9,
        ack_timeout_minutes=7 * 24 * 60,
    ).validate()
    policy(repeat=0, ack_timeout_minutes=1).validate()
    policy(
        steps=(EscalationStep(0, (USER_TARGET,)),) * 20
    ).validate()  # zero delays are fine if it never loops
    policy(steps=(EscalationStep(0, (USER_TARGET,)),) * 19 + (STEP_OF_A_MINUTE,), repeat=9).validate()
    policy(
        steps=(
            EscalationStep(
                1,
                (
                    Target(TargetType.TEAM, team_id=3),
                    Target(TargetType.ROLE, role="team_lead"),
                    Target(TargetType.ROLE, team_id=3, role="admin"),
                ),
            ),
        )
    ).validate()


def test_validate_reports_every_error_at_once() -> None:
    errors = field_errors(policy(name="", steps=(), repeat=99, ack_timeout_minutes=-5))
    assert [e.field for e in errors] == ["name", "steps", "repeat", "ack_timeout_minutes"]
    assert str(ValidationFailed(errors)).startswith("name: must not be empty; steps: ")


def test_snapshot_carries_what_escalation_needs() -> None:
    p = policy(id=4, repeat=2, ack_timeout_minutes=30, team_id=1, severities=frozenset({Severity.LOW}))
    assert p.snapshot() == PolicySnapshot(4, (STEP,), 2, 30)


# ------------------------------------------------------------------------------------------ policy choice


def test_matches_team_severity_and_activity() -> None:
    global_any = policy()
    assert global_any.matches(None, Severity.INFO)
    assert global_any.matches(7, Severity.CRITICAL)
    team = policy(team_id=7)
    assert team.matches(7, Severity.LOW)
    assert not team.matches(8, Severity.LOW)
    assert not team.matches(None, Severity.LOW)
    severe = policy(severities=frozenset({Severity.CRITICAL, Severity.HIGH}))
    assert severe.matches(None, Severity.HIGH)
    assert not severe.matches(None, Severity.MEDIUM)
    assert not policy(is_active=False).matches(None, Severity.HIGH)


def test_team_policy_wins_over_global_then_lowest_id() -> None:
    global_low_id = policy(id=1)
    team_high_id = policy(id=9, team_id=7)
    team_low_id = policy(id=5, team_id=7)
    other_team = policy(id=2, team_id=8)
    candidates = [global_low_id, team_high_id, other_team, team_low_id]
    assert choose_policy(candidates, 7, Severity.HIGH) is team_low_id
    assert choose_policy(candidates, 8, Severity.HIGH) is other_team
    assert choose_policy(candidates, 9, Severity.HIGH) is global_low_id
    assert choose_policy(candidates, None, Severity.HIGH) is global_low_id
    assert choose_policy([policy(id=3), policy(id=2), policy(id=6)], 1, Severity.LOW).id == 2  # type: ignore[union-attr]


def test_inactive_and_non_matching_severities_are_ignored() -> None:
    inactive_team = policy(id=1, team_id=7, is_active=False)
    critical_only = policy(id=2, team_id=7, severities=frozenset({Severity.CRITICAL}))
    fallback = policy(id=3)
    candidates = [inactive_team, critical_only, fallback]
    assert choose_policy(candidates, 7, Severity.CRITICAL) is critical_only
    assert choose_policy(candidates, 7, Severity.HIGH) is fallback
    assert choose_policy([inactive_team, critical_only], 7, Severity.HIGH) is None
    assert choose_policy([], None, Severity.HIGH) is None


@given(
    st.lists(escalation_policies(team_ids=st.none() | st.integers(1, 3), active=st.booleans()), max_size=6),
    st.none() | st.integers(1, 3),
    severities(),
)
def test_choose_policy_agrees_with_the_written_rule(
    policies: list[EscalationPolicy], team_id: int | None, severity: Severity
) -> None:
    def eligible(p: EscalationPolicy) -> bool:
        return p.is_active and p.team_id in (None, team_id) and (not p.severities or severity in p.severities)

    own = sorted((p for p in policies if eligible(p) and p.team_id is not None), key=lambda p: p.id)
    shared = sorted((p for p in policies if eligible(p) and p.team_id is None), key=lambda p: p.id)
    expected = next(iter(own or shared), None)
    assert choose_policy(policies, team_id, severity) is expected


# ------------------------------------------------------------------------------------ preferences, outbox


@pytest.mark.parametrize("severity", list(Severity))
@pytest.mark.parametrize("minimum", [None, *Severity])
def test_preference_accepts_at_least_its_minimum(severity: Severity, minimum: Severity | None) -> None:
    on = NotificationPreference(1, Channel.EMAIL, min_severity=minimum)
    off = NotificationPreference(1, Channel.EMAIL, enabled=False, min_severity=minimum)
    expected = minimum is None or SEVERITIES_MOST_SEVERE_FIRST.index(
        severity
    ) <= SEVERITIES_MOST_SEVERE_FIRST.index(minimum)
    assert on.accepts(severity) is expected
    assert off.accepts(severity) is False


def notification(**overrides: object) -> Notification:
    fields: dict[str, object] = {
        "user_id": 1,
        "channel": Channel.WEBHOOK,
        "address": "https://example.invalid/hook",
        "subject": "[critical] disk full",
        "body": "disk full on db-1",
        "idempotency_key": "incident:1:cycle:0:step:0:loop:0:user:1:webhook",
        "created_at": T0,
    }
    fields.update(overrides)
    return Notification(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("channel", "address", "destination"),
    [
        (Channel.WEBHOOK, " https://Hooks.Example:8443/pager?key=1", "hooks.example"),
        (Channel.APPRISE, "ntfys://ntfy.example/alerts", "ntfy.example"),
        (Channel.WEBHOOK, "http://[2606:4700::1111]/x", "2606:4700::1111"),
        (Channel.EMAIL, "ada@example.com", None),
        (Channel.SMS, "+1 555 000 1111", None),
        (Channel.WEBHOOK, None, None),
        (Channel.WEBHOOK, "http://[::1/broken", None),
    ],
)
def test_the_destination_is_the_host_a_url_address_names(
    channel: Channel, address: str | None, destination: str | None
) -> None:
    """What the dispatcher's per-destination limit counts; an address that is not a URL is not limited."""
    assert notification(channel=channel, address=address).destination == destination


def test_a_new_pending_notification_is_due_at_once() -> None:
    n = notification()
    assert (n.status, n.attempts, n.next_attempt_at) == (NotificationStatus.PENDING, 0, T0)
    later = T0 + MINUTE
    assert notification(next_attempt_at=later).next_attempt_at == later
    assert notification(status=NotificationStatus.SENT).next_attempt_at is None


def test_claim_leases_the_row_and_counts_the_attempt() -> None:
    n = notification()
    n.claim(T0 + MINUTE, timedelta(seconds=30))
    lease_end = T0 + MINUTE + timedelta(seconds=30)
    assert (n.status, n.attempts, n.next_attempt_at) == (NotificationStatus.SENDING, 1, lease_end)
    n.claim(lease_end, timedelta(seconds=30))  # the lease ran out: claimable again
    assert n.attempts == 2


def test_mark_sent_clears_the_lease_and_the_error() -> None:
    n = notification(last_error="timeout")
    n.claim(T0, timedelta(seconds=30))
    n.mark_sent(T0 + timedelta(seconds=2))
    assert (n.status, n.sent_at, n.last_error, n.next_attempt_at) == (
        NotificationStatus.SENT,
        T0 + timedelta(seconds=2),
        None,
        None,
    )


def test_mark_failed_retries_or_gives_up() -> None:
    n = notification()
    n.claim(T0, timedelta(seconds=30))
    retry_at = T0 + 5 * MINUTE
    n.mark_failed("x" * 5000, T0 + timedelta(seconds=3), retry_at)
    assert (n.status, n.next_attempt_at) == (NotificationStatus.RETRYING, retry_at)
    assert n.last_error == "x" * 1000
    n.claim(retry_at, timedelta(seconds=30))
    n.mark_failed("503 from provider", retry_at, None)
    assert (n.status, n.next_attempt_at, n.last_error, n.attempts) == (
        NotificationStatus.FAILED,
        None,
        "503 from provider",
        2,
    )


def test_password_reset_token_is_single_use_and_expires() -> None:
    token = PasswordResetToken(1, "hash", expires_at=T0 + MINUTE)
    assert token.usable(T0)
    assert not token.usable(T0 + MINUTE)
    token.used_at = T0
    assert not token.usable(T0)


# --------------------------------------------------------------------------------------------------- users


def test_change_password_bumps_the_credentials_version() -> None:
    user = User("a@example.com", "A", "old-hash")
    user.change_password("new-hash")
    assert (user.password_hash, user.credentials_version) == ("new-hash", 1)
    user.change_password("newer-hash")
    assert user.credentials_version == 2


def test_a_new_email_bumps_the_credentials_version_the_same_one_does_not() -> None:
    user = User("a@example.com", "A", "hash")
    user.change_email("a@example.com")
    assert user.credentials_version == 0
    user.change_email("b@example.com")
    assert (user.email, user.credentials_version) == ("b@example.com", 1)


def test_a_reset_token_is_valid_only_for_its_active_user_under_the_same_credentials() -> None:
    user = User("a@example.com", "A", "hash", credentials_version=3, id=1)
    token = PasswordResetToken(1, "hash", expires_at=T0 + MINUTE, credentials_version=3)
    assert token.valid_for(user)
    assert not token.valid_for(User("b@example.com", "B", "hash", credentials_version=3, id=2))
    user.change_email("new@example.com")
    assert not token.valid_for(user)
    assert PasswordResetToken(1, "hash", T0, credentials_version=4).valid_for(user)
    user.set_active(False)
    assert not PasswordResetToken(1, "hash", T0, credentials_version=5).valid_for(user)


def test_deactivation_bumps_the_credentials_version_once() -> None:
    user = User("a@example.com", "A", "hash")
    user.set_active(True)
    assert (user.is_active, user.credentials_version) == (True, 0)
    user.set_active(False)
    assert (user.is_active, user.credentials_version) == (False, 1)
    user.set_active(False)
    assert user.credentials_version == 1
    user.set_active(True)
    assert (user.is_active, user.credentials_version) == (True, 1)


# ------------------------------------------------------------------------------------------------ incidents


def fresh(**overrides: object) -> Incident:
    fields: dict[str, object] = {"title": "disk full", "created_at": T0, "id": 3, "team_id": 1}
    fields.update(overrides)
    return Incident(**fields)  # type: ignore[arg-type]


def test_an_untriggered_incident() -> None:
    incident = fresh()
    assert incident.status is IncidentStatus.TRIGGERED
    assert incident.is_open
    assert (incident.escalation_level, incident.next_escalation_at, incident.snoozed_until) == (
        None,
        None,
        None,
    )
    assert incident.escalation_policy_id is None


@given(incidents(team_ids=st.just(2)))
def test_generated_incidents_have_not_triggered(incident: Incident) -> None:
    assert incident.escalation is None
    assert incident.team_id == 2
    assert incident.created_at.tzinfo is not None


def test_event_sequences_refuse_unknown_kinds() -> None:
    with pytest.raises(ValueError, match="bogus"):
        event_sequences(kinds=["tick", "bogus"])


def test_trigger_records_creation_and_fires_step_zero() -> None:
    incident = fresh(severity=Severity.CRITICAL)
    snapshot = PolicySnapshot(4, (STEP, STEP))
    outcome = incident.trigger(snapshot, T0, actor_id=2)
    created = outcome.timeline[0]
    assert (created.kind, created.created_at, created.actor_id, created.incident_id) == (
        TimelineKind.CREATED,
        T0,
        2,
        3,
    )
    assert created.data == {"severity": "critical", "policy_id": 4}
    assert fires(outcome) == [Effect(EffectKind.FIRED, 0, T0, 0, 0)]
    assert (incident.escalation_policy_id, incident.escalation_level) == (4, 0)
    assert incident.next_escalation_at == T0 + 5 * MINUTE
    assert incident.updated_at == T0


def test_trigger_without_a_policy_says_so_on_the_timeline() -> None:
    incident = fresh()
    outcome = incident.trigger(PolicySnapshot.none(), T0, None)
    assert outcome.timeline[0].data == {
        "severity": "high",
        "policy_id": None,
        "escalation": "no escalation policy matched",
    }
    assert outcome.effects == ()
    assert incident.escalation is not None
    assert incident.escalation.phase is Phase.EXHAUSTED


@given(incidents(triggered=True), policy_snapshots())
def test_triggering_twice_is_refused_and_changes_nothing(
    incident: Incident, snapshot: PolicySnapshot
) -> None:
    before = deepcopy(incident)
    with pytest.raises(InvalidTransition):
        incident.trigger(snapshot, incident.created_at + MINUTE, None)
    assert incident == before


def test_update_records_only_real_changes() -> None:
    incident = fresh(severity=Severity.HIGH, description=None)
    outcome = incident.update(
        5,
        IncidentChanges(title="disk full", severity=Severity.CRITICAL, description="db-1", team_id=1),
        T0 + MINUTE,
    )
    (event,) = outcome.timeline
    assert (event.kind, event.actor_id, event.created_at) == (TimelineKind.UPDATED, 5, T0 + MINUTE)
    assert event.data == {
        "changes": {
            "severity": {"from": "high", "to": "critical"},
            "description": {"from": None, "to": "db-1"},
        }
    }
    assert (incident.severity, incident.description, incident.updated_at) == (
        Severity.CRITICAL,
        "db-1",
        T0 + MINUTE,
    )
    before = deepcopy(incident)
    assert incident.update(5, IncidentChanges(title="disk full", team_id=1), T0 + 2 * MINUTE) == Outcome()
    assert incident == before  # not even updated_at moves


def test_only_the_editable_fields_can_be_changed() -> None:
    assert [f.name for f in fields(IncidentChanges)] == ["title", "description", "severity", "team_id"]
    assert given_changes(IncidentChanges()) == {}
    assert given_changes(IncidentChanges(description=None)) == {"description": None}  # None is a value: clear it


def test_assign_records_the_previous_assignee_and_is_refused_once_resolved() -> None:
    incident = fresh(assignee_id=4)
    incident.trigger(PolicySnapshot.none(), T0, None)
    (event,) = incident.assign(1, 6, T0 + MINUTE, "team_lead").timeline
    assert event.data == {"assignee_id": 6, "previous_assignee_id": 4, "role": "team_lead"}
    (event,) = incident.assign(1, 7, T0 + MINUTE, None).timeline
    assert event.data == {"assignee_id": 7, "previous_assignee_id": 6}
    incident.resolve(1, T0 + 2 * MINUTE)
    before = deepcopy(incident)
    with pytest.raises(InvalidTransition):
        incident.assign(1, 8, T0 + 3 * MINUTE, None)
    assert incident == before


@pytest.mark.parametrize("minutes", [0, -5, 7 * 24 * 60 + 1])
def test_snooze_lasts_a_minute_to_a_week(minutes: int) -> None:
    incident = fresh()
    incident.trigger(PolicySnapshot(1, (STEP,)), T0, None)
    before = deepcopy(incident)
    with pytest.raises(ValidationFailed) as raised:
        incident.snooze(1, minutes, T0)
    assert raised.value.errors == [FieldError("minutes", "must be between 1 and 10080")]
    assert incident == before


def test_snooze_keeps_an_earlier_acknowledgement_time() -> None:
    incident = fresh()
    incident.trigger(PolicySnapshot(1, (STEP,)), T0, None)
    incident.acknowledge(1, T0 + MINUTE)
    incident.snooze(1, 10, T0 + 2 * MINUTE)
    assert incident.acknowledged_at == T0 + MINUTE
    assert incident.snoozed_until == T0 + 12 * MINUTE
    assert incident.status is IncidentStatus.ACKNOWLEDGED


def test_a_retrigger_clears_the_acknowledgement_and_is_on_the_timeline() -> None:
    incident = fresh()
    incident.trigger(PolicySnapshot(1, (STEP,), ack_timeout_minutes=15), T0, None)
    incident.acknowledge(2, T0 + MINUTE)
    outcome = incident.tick(T0 + 30 * MINUTE)
    assert incident.acknowledged_at is None
    assert incident.status is IncidentStatus.TRIGGERED
    (event,) = outcome.timeline
    assert (event.kind, event.created_at, event.data) == (
        TimelineKind.RETRIGGERED,
        T0 + 16 * MINUTE,
        {"reason": "ack_timeout", "cycle": 1},
    )
    assert fires(outcome) == [Effect(EffectKind.FIRED, 1, T0 + 16 * MINUTE, 0, 0)]


def test_a_tick_with_nothing_due_changes_nothing() -> None:
    incident = fresh()
    incident.trigger(PolicySnapshot(1, (STEP,)), T0, None)
    before = deepcopy(incident)
    assert incident.tick(T0 + MINUTE) == Outcome()
    assert incident == before


def test_resolve_records_its_reason() -> None:
    incident = fresh()
    incident.trigger(PolicySnapshot(1, (STEP,)), T0, None)
    outcome = incident.resolve(1, T0 + MINUTE, "fixed")
    assert outcome.timeline[-1].data == {"reason": "fixed"}
    assert (incident.status, incident.resolved_at, incident.is_open) == (
        IncidentStatus.RESOLVED,
        T0 + MINUTE,
        False,
    )


def test_comment_and_alert_note_touch_updated_at() -> None:
    incident = fresh()
    comment, outcome = incident.comment(2, "b" * 500, T0 + MINUTE)
    assert (comment.incident_id, comment.author_id, comment.created_at) == (3, 2, T0 + MINUTE)
    assert outcome.timeline[0].data == {"body": "b" * 200}
    outcome = incident.note_alert(T0 + 2 * MINUTE, {"dedup_key": "k"}, timeline_max=100)
    (event,) = outcome.timeline
    assert (event.kind, event.actor_id, event.data) == (TimelineKind.ALERT, None, {"dedup_key": "k"})
    assert incident.updated_at == T0 + 2 * MINUTE


@given(alerts=st.integers(0, 250), timeline_max=st.integers(1, 120))
def test_every_alert_is_counted_and_the_timeline_keeps_only_the_first_timeline_max(
    alerts: int, timeline_max: int
) -> None:
    incident = fresh()
    recorded = []
    for n in range(alerts):
        outcome = incident.note_alert(T0 + n * MINUTE, {"n": n}, timeline_max=timeline_max)
        recorded += outcome.timeline
        assert incident.updated_at == T0 + n * MINUTE  # a storm still shows the incident is live
    assert incident.alert_count == alerts
    assert [event.data["n"] for event in recorded] == list(range(min(alerts, timeline_max)))


def test_outcome_fires_are_the_paging_effects() -> None:
    effects = (
        Effect(EffectKind.RETRIGGERED, 1, T0, reason="manual"),
        Effect(EffectKind.MANUAL, 1, T0, 0, 0),
        Effect(EffectKind.FIRED, 1, T0, 1, 0),
        Effect(EffectKind.ACKNOWLEDGED, 1, T0),
    )
    assert fires(Outcome(effects=effects)) == list(effects[1:3])


def fires(outcome: Outcome) -> list[Effect]:
    return [e for e in outcome.effects if e.is_fire]
