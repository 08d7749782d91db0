"""Every use case on the in-memory adapters: behaviour through the ports, no database."""

from __future__ import annotations

from datetime import timedelta

import pytest

from incidentcore.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    RateLimited,
    ValidationFailed,
)
from incidentcore.escalation import EscalationStep, Target, TargetType
from incidentcore.model import (
    Channel,
    EscalationPolicy,
    IncidentChanges,
    IncidentStatus,
    NotificationStatus,
    Role,
    Severity,
    TimelineKind,
)
from incidentcore.ports import DeliveryFailed, IncidentFilter, Page, UserFilter
from incidentcore.services import (
    Alert,
    AlertAction,
    NewIncident,
    NewUser,
    PagingConfig,
    PolicyChanges,
    ProfileChanges,
    SignupPolicy,
    TeamChanges,
    UserChanges,
)
from incidentcore.testing.world import InMemoryServices

pytestmark = pytest.mark.anyio
PAGE = Page()


@pytest.fixture
def world() -> InMemoryServices:
    return InMemoryServices()


def policy(*steps: tuple[int, list[Target]], **kwargs: object) -> EscalationPolicy:
    return EscalationPolicy(
        name=str(kwargs.pop("name", "primary")),
        steps=tuple(EscalationStep(delay, tuple(targets)) for delay, targets in steps),
        **kwargs,  # type: ignore[arg-type]
    )


def user_target(user_id: int) -> Target:
    return Target(TargetType.USER, user_id=user_id)


# --- accounts -------------------------------------------------------------------------------------


async def test_signup_login_and_authenticate(world: InMemoryServices) -> None:
    user = await world.accounts.signup("Ada@Example.com", "correct horse", "Ada", "c")
    assert (user.email, user.role, user.team_id, user.is_active) == ("ada@example.com", Role.USER, None, True)
    token = await world.accounts.login("ADA@example.com", "correct horse", "client-1")
    assert (await world.accounts.authenticate(token.token)).id == user.id


async def test_signup_rejects_duplicates_and_bad_input(world: InMemoryServices) -> None:
    await world.accounts.signup("ada@example.com", "password1", "Ada", "c")
    with pytest.raises(Conflict):
        await world.accounts.signup("ADA@example.com", "password2", "Ada again", "c")
    with pytest.raises(ValidationFailed) as short:
        await world.accounts.signup("bob@example.com", "short", "Bob", "c")
    assert short.value.errors[0].field == "password"
    with pytest.raises(ValidationFailed) as bad_email:
        await world.accounts.signup("not-an-email", "password1", "Bob", "c")
    assert bad_email.value.errors[0].field == "email"
    with pytest.raises(ValidationFailed):
        await world.accounts.signup("bob@example.com", "password1", "   ", "c")


async def test_login_answers_the_same_for_unknown_email_and_wrong_password(world: InMemoryServices) -> None:
    await world.accounts.signup("ada@example.com", "password1", "Ada", "c")
    with pytest.raises(AuthenticationFailed) as unknown:
        await world.accounts.login("nobody@example.com", "password1", "c")
    with pytest.raises(AuthenticationFailed) as wrong:
        await world.accounts.login("ada@example.com", "wrong-password", "c")
    assert unknown.value.detail == wrong.value.detail
    assert world.hasher.verifications == 2  # the unknown email did the hashing work too


async def test_failed_logins_are_throttled_per_account_and_client(world: InMemoryServices) -> None:
    await world.accounts.signup("ada@example.com", "password1", "Ada", "c")
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            await world.accounts.login("ada@example.com", "wrong-password", "client-a")
    with pytest.raises(RateLimited) as limited:
        await world.accounts.login("ada@example.com", "password1", "client-a")
    assert 0 < limited.value.retry_after <= 15 * 60
    assert (await world.accounts.login("ada@example.com", "password1", "client-b")).token  # the owner elsewhere
    world.clock.advance(timedelta(minutes=16))
    assert (await world.accounts.login("ada@example.com", "password1", "client-a")).token


async def test_tokens_die_on_password_change_and_deactivation(world: InMemoryServices) -> None:
    admin = await world.admin()
    user = await world.accounts.signup("ada@example.com", "password1", "Ada", "c")
    token = (await world.accounts.login("ada@example.com", "password1", "c")).token
    await world.accounts.update_me(user, ProfileChanges(password="password2", current_password="password1"), "c")
    with pytest.raises(AuthenticationFailed):
        await world.accounts.authenticate(token)
    token = (await world.accounts.login("ada@example.com", "password2", "c")).token
    await world.accounts.update_user(admin, user.id, UserChanges(is_active=False))
    with pytest.raises(AuthenticationFailed):
        await world.accounts.authenticate(token)
    with pytest.raises(AuthenticationFailed):
        await world.accounts.login("ada@example.com", "password2", "c")


async def test_password_recovery_is_single_use_and_expires(world: InMemoryServices) -> None:
    await world.accounts.signup("ada@example.com", "password1", "Ada", "c")
    await world.accounts.request_password_reset("nobody@example.com", "c")
    await world.accounts.request_password_reset("not an email", "c")
    assert not world.store.notifications
    await world.accounts.request_password_reset("ADA@example.com", "c")
    await world.run_worker()
    (message,) = world.notifier.sent
    assert message.channel is Channel.EMAIL and message.address == "ada@example.com"
    admin = await world.admin()
    ada = (await world.accounts.list_users(admin, UserFilter(q="ada@"), PAGE)).items[0]
    token = next(
        line.split(": ", 1)[1] for line in message.body.splitlines() if line.startswith("Reset token")
    )
    await world.accounts.reset_password(token, "brand-new-password", "c")
    assert await world.accounts.login("ada@example.com", "brand-new-password", "c")
    with pytest.raises(ValidationFailed):
        await world.accounts.reset_password(token, "another-password", "c")
    await world.accounts.request_password_reset("ada@example.com", "c")
    world.clock.advance(timedelta(minutes=31))
    await world.run_worker()
    later = world.notifier.sent[-1].body.splitlines()[1].split(": ", 1)[1]
    with pytest.raises(ValidationFailed):
        await world.accounts.reset_password(later, "another-password", "c")
    with pytest.raises(ValidationFailed):
        await world.accounts.reset_password("made-up", "another-password", "c")
    await world.accounts.delete_user(admin, ada.id)  # a reset email does not pin the account


async def test_user_administration(world: InMemoryServices) -> None:
    admin = await world.admin()
    team = await world.teams.create(admin, "payments", None)
    lead = await world.accounts.create_user(
        admin, NewUser("lead@example.com", "password1", "Lead", Role.TEAM_LEAD, team.id)
    )
    await world.accounts.signup("ada@example.com", "password1", "Ada Lovelace", "c")
    by_team = await world.accounts.list_users(admin, UserFilter(team_id=team.id), PAGE)
    assert [u.id for u in by_team.items] == [lead.id]
    by_role = await world.accounts.list_users(admin, UserFilter(role=Role.TEAM_LEAD), PAGE)
    assert [u.id for u in by_role.items] == [lead.id]
    by_name = await world.accounts.list_users(admin, UserFilter(q="lovelace"), PAGE)
    assert [u.email for u in by_name.items] == ["ada@example.com"]
    updated = await world.accounts.update_user(admin, lead.id, UserChanges(role=Role.MANAGER, team_id=None))
    assert (updated.role, updated.team_id) == (Role.MANAGER, None)
    assert (await world.accounts.get_user(admin, lead.id)).role is Role.MANAGER
    with pytest.raises(ValidationFailed):
        await world.accounts.update_user(admin, lead.id, UserChanges(team_id=999))
    with pytest.raises(ValidationFailed):
        await world.accounts.create_user(admin, NewUser("x@example.com", "password1", "X", team_id=999))
    with pytest.raises(Conflict):
        await world.accounts.delete_user(admin, admin.id)
    with pytest.raises(Conflict):
        await world.accounts.update_user(admin, admin.id, UserChanges(role=Role.USER))
    await world.accounts.delete_user(admin, lead.id)
    with pytest.raises(NotFound):
        await world.accounts.get_user(admin, lead.id)
    with pytest.raises(NotFound):
        await world.accounts.delete_user(admin, lead.id)


async def test_only_admins_administer_users(world: InMemoryServices) -> None:
    cto = await world.user("cto@example.com", Role.CTO)
    with pytest.raises(PermissionDenied):
        await world.accounts.list_users(cto, UserFilter(), PAGE)
    with pytest.raises(PermissionDenied):
        await world.accounts.create_user(cto, NewUser("x@example.com", "password1", "X"))
    me = await world.accounts.update_me(
        cto, ProfileChanges(full_name="Chief", email="Chief@Example.com", current_password="password1"), "c"
    )
    assert (me.full_name, me.email) == ("Chief", "chief@example.com")


async def test_ensure_admin_creates_then_promotes(world: InMemoryServices) -> None:
    user = await world.accounts.signup("ada@example.com", "password1", "Ada", "c")
    promoted = await world.accounts.ensure_admin("ada@example.com", "new-password")
    assert promoted.id == user.id and promoted.role is Role.ADMIN
    assert await world.accounts.login("ada@example.com", "new-password", "c")


async def test_a_closed_sign_up_makes_no_user_but_admins_still_can(world: InMemoryServices) -> None:
    world.signup_policy = SignupPolicy(enabled=False)
    with pytest.raises(PermissionDenied):
        await world.accounts.signup("ada@example.com", "password1", "Ada", "c")
    admin = await world.admin()
    await world.accounts.create_user(admin, NewUser("bob@example.com", "password1", "Bob"))
    assert sorted(u.email for u in world.store.users.values()) == ["admin@example.com", "bob@example.com"]


async def test_sign_up_may_be_open_to_some_domains_only(world: InMemoryServices) -> None:
    world.signup_policy = SignupPolicy(allowed_domains=frozenset({"Example.com", "example.org"}))
    assert (await world.accounts.signup("Ada@EXAMPLE.COM", "password1", "Ada", "c")).email == "ada@example.com"
    await world.accounts.signup("bob@example.org", "password1", "Bob", "c")
    for email in ("eve@evil.com", "eve@sub.example.com", "eve@example.com.evil.com", "eve@example.com@evil.com"):
        with pytest.raises((PermissionDenied, ValidationFailed)):
            await world.accounts.signup(email, "password1", "Eve", "c")
    assert len(world.store.users) == 2


@pytest.mark.parametrize(
    "change",
    [{"password": "password2"}, {"email": "ada@elsewhere.example"}, {"email": "new@x.example", "password": "p" * 9}],
)
async def test_changing_email_or_password_needs_the_current_password(
    world: InMemoryServices, change: dict[str, str]
) -> None:
    ada = await world.user("ada@example.com", password="password1")
    for current in ({}, {"current_password": "wrong password"}):
        with pytest.raises(ValidationFailed) as refused:
            await world.accounts.update_me(ada, ProfileChanges(**{**change, **current}), "c")
        assert [e.field for e in refused.value.errors] == ["current_password"]
    assert world.store.users[ada.id] == ada  # nothing changed
    changed = await world.accounts.update_me(ada, ProfileChanges(**{**change, "current_password": "password1"}), "c")
    assert changed.credentials_version > ada.credentials_version  # earlier tokens die


async def test_a_name_or_the_same_email_needs_no_password(world: InMemoryServices) -> None:
    ada = await world.user("ada@example.com")
    me = await world.accounts.update_me(ada, ProfileChanges(full_name="Ada L.", email="ADA@example.com"), "c")
    assert (me.full_name, me.email, me.credentials_version) == ("Ada L.", "ada@example.com", 0)
    assert world.hasher.verifications == 0


async def test_wrong_current_passwords_count_toward_the_login_throttle(world: InMemoryServices) -> None:
    ada = await world.user("ada@example.com", password="password1")
    for _ in range(5):
        with pytest.raises(ValidationFailed):
            await world.accounts.update_me(ada, ProfileChanges(password="password2", current_password="guess"), "10.0.0.1")
    with pytest.raises(RateLimited):
        await world.accounts.update_me(ada, ProfileChanges(password="password2", current_password="password1"), "10.0.0.1")
    with pytest.raises(RateLimited):
        await world.accounts.login("ada@example.com", "password1", "10.0.0.1")
    assert await world.accounts.login("ada@example.com", "password1", "10.0.0.2")


async def test_a_password_confirmed_with_a_token_that_just_died_changes_nothing(world: InMemoryServices) -> None:
    admin = await world.admin()
    ada = await world.user("ada@example.com", password="password1")
    await world.accounts.update_user(admin, ada.id, UserChanges(is_active=False))  # after ada's request authenticated
    await world.accounts.update_user(admin, ada.id, UserChanges(is_active=True))
    with pytest.raises(AuthenticationFailed):
        await world.accounts.update_me(ada, ProfileChanges(password="password2", current_password="password1"), "c")
    assert await world.accounts.login("ada@example.com", "password1", "c")


async def reset_token_for(world: InMemoryServices, email: str) -> str:
    await world.accounts.request_password_reset(email, "c")
    await world.run_worker()
    return next(
        line.split(": ", 1)[1]
        for line in world.notifier.sent[-1].body.splitlines()
        if line.startswith("Reset token")
    )


@pytest.mark.parametrize("change", ["another reset", "password change", "email change", "deactivation"])
async def test_every_credential_change_ends_outstanding_reset_tokens(world: InMemoryServices, change: str) -> None:
    admin = await world.admin()
    ada = await world.user("ada@example.com", password="password1")
    older = await reset_token_for(world, "ada@example.com")
    if change == "another reset":
        await world.accounts.reset_password(await reset_token_for(world, "ada@example.com"), "password2", "c")
    elif change == "password change":
        await world.accounts.update_me(ada, ProfileChanges(password="password2", current_password="password1"), "c")
    elif change == "email change":
        await world.accounts.update_me(ada, ProfileChanges(email="ada@new.example", current_password="password1"), "c")
    else:
        await world.accounts.update_user(admin, ada.id, UserChanges(is_active=False))
        await world.accounts.update_user(admin, ada.id, UserChanges(is_active=True))
    with pytest.raises(ValidationFailed) as refused:
        await world.accounts.reset_password(older, "taken over", "c")
    assert refused.value.errors[0].field == "token"


# --- teams ------------------------------------------------------------------------------------------


async def test_team_lifecycle(world: InMemoryServices) -> None:
    admin = await world.admin()
    team = await world.teams.create(admin, "payments", "money")
    with pytest.raises(Conflict):
        await world.teams.create(admin, "payments", None)
    renamed = await world.teams.update(admin, team.id, TeamChanges(name="billing", description=None))
    assert (renamed.name, renamed.description) == ("billing", None)
    assert (await world.teams.list(admin, PAGE)).total == 1
    member = await world.user("m@example.com", Role.ONCALL_ENGINEER, team.id)
    with pytest.raises(Conflict):
        await world.teams.delete(admin, team.id)
    await world.incidents.open(member, NewIncident("raised by the member"))
    with pytest.raises(Conflict, match="deactivate the user instead"):
        await world.accounts.delete_user(admin, member.id)
    await world.accounts.update_user(admin, member.id, UserChanges(team_id=None))
    await world.teams.delete(admin, team.id)
    with pytest.raises(NotFound):
        await world.teams.get(admin, team.id)
    with pytest.raises(ValidationFailed):
        await world.teams.create(admin, " ", None)
    with pytest.raises(PermissionDenied):
        await world.teams.create(member, "x", None)


# --- incidents ----------------------------------------------------------------------------------------


async def test_incident_without_policy_is_recorded_as_such(world: InMemoryServices) -> None:
    user = await world.user("ada@example.com")
    incident = await world.incidents.open(user, NewIncident("Disk full"))
    assert incident.status is IncidentStatus.TRIGGERED
    assert incident.escalation_policy_id is None and incident.next_escalation_at is None
    (created,) = (await world.incidents.timeline(user, incident.id, PAGE)).items
    assert created.kind is TimelineKind.CREATED
    assert created.data["escalation"] == "no escalation policy matched"
    assert world.nudge.nudges == 1


async def test_step_zero_pages_in_the_same_transaction_as_the_trigger(world: InMemoryServices) -> None:
    admin = await world.admin()
    responder = await world.user("oncall@example.com", Role.ONCALL_ENGINEER)
    await world.policies.create(
        admin, policy((10, [user_target(responder.id)]), (10, [user_target(admin.id)]))
    )
    incident = await world.incidents.open(admin, NewIncident("API down", severity=Severity.CRITICAL))
    assert incident.escalation_level == 0
    assert incident.next_escalation_at == world.clock.now() + timedelta(minutes=10)
    notifications = (await world.incidents.notifications(admin, incident.id, PAGE)).items
    assert [(n.user_id, n.channel, n.status) for n in notifications] == [
        (responder.id, Channel.EMAIL, NotificationStatus.PENDING)
    ]
    (event,) = (await world.incidents.escalation_events(admin, incident.id, PAGE)).items
    assert (event.step_index, event.notified_user_ids) == (0, [responder.id])


async def test_incident_list_filters(world: InMemoryServices) -> None:
    admin = await world.admin()
    team = await world.teams.create(admin, "payments", None)
    a = await world.incidents.open(admin, NewIncident("a", team_id=team.id, severity=Severity.LOW))
    b = await world.incidents.open(admin, NewIncident("b", assignee_id=admin.id))
    await world.incidents.acknowledge(admin, b.id)
    listed = await world.incidents.list(admin, IncidentFilter(), PAGE)
    assert [i.id for i in listed.items] == [b.id, a.id] and listed.total == 2
    assert [
        i.id for i in (await world.incidents.list(admin, IncidentFilter(team_id=team.id), PAGE)).items
    ] == [a.id]
    acked = await world.incidents.list(admin, IncidentFilter(status=IncidentStatus.ACKNOWLEDGED), PAGE)
    assert [i.id for i in acked.items] == [b.id]
    low = await world.incidents.list(admin, IncidentFilter(severity=Severity.LOW), PAGE)
    assert [i.id for i in low.items] == [a.id]
    mine = await world.incidents.list(admin, IncidentFilter(assignee_id=admin.id), PAGE)
    assert [i.id for i in mine.items] == [b.id]
    second = await world.incidents.list(admin, IncidentFilter(), Page(limit=1, offset=1))
    assert [i.id for i in second.items] == [a.id] and second.total == 2


async def test_incident_input_is_validated_before_anything_changes(world: InMemoryServices) -> None:
    user = await world.user("ada@example.com")
    with pytest.raises(ValidationFailed):
        await world.incidents.open(user, NewIncident("  "))
    with pytest.raises(ValidationFailed) as missing_team:
        await world.incidents.open(user, NewIncident("x", team_id=42))
    assert missing_team.value.errors[0].field == "team_id"
    with pytest.raises(ValidationFailed):
        await world.incidents.open(user, NewIncident("x", assignee_id=42))
    with pytest.raises(ValidationFailed):
        await world.incidents.open(user, NewIncident("x" * 301))
    assert not world.store.incidents


async def test_incident_actions_and_their_timeline(world: InMemoryServices) -> None:
    user = await world.user("ada@example.com")
    other = await world.user("bob@example.com")
    incident = await world.incidents.open(user, NewIncident("Disk full", description="db-1"))
    updated = await world.incidents.update(
        user, incident.id, IncidentChanges(title="Disk full on db-1", severity=Severity.LOW)
    )
    assert (updated.title, updated.severity) == ("Disk full on db-1", Severity.LOW)
    assigned = await world.incidents.assign(user, incident.id, other.id, "commander")
    assert assigned.assignee_id == other.id
    comment = await world.incidents.comment(other, incident.id, "looking")
    assert (await world.incidents.comments(user, incident.id, PAGE)).items == [comment]
    acked = await world.incidents.acknowledge(other, incident.id)
    assert acked.status is IncidentStatus.ACKNOWLEDGED and acked.acknowledged_at == world.clock.now()
    with pytest.raises(InvalidTransition):
        await world.incidents.acknowledge(other, incident.id)
    snoozed = await world.incidents.snooze(other, incident.id, 30)
    assert snoozed.snoozed_until == world.clock.now() + timedelta(minutes=30)
    resolved = await world.incidents.resolve(other, incident.id)
    assert resolved.status is IncidentStatus.RESOLVED and resolved.resolved_at == world.clock.now()
    for action in (world.incidents.resolve, world.incidents.acknowledge):
        with pytest.raises(InvalidTransition):
            await action(user, incident.id)
    with pytest.raises(InvalidTransition):
        await world.incidents.snooze(user, incident.id, 5)
    with pytest.raises(InvalidTransition):
        await world.incidents.escalate(user, incident.id)
    kinds = [e.kind for e in (await world.incidents.timeline(user, incident.id, PAGE)).items]
    assert kinds == [
        TimelineKind.CREATED,
        TimelineKind.UPDATED,
        TimelineKind.ASSIGNED,
        TimelineKind.COMMENTED,
        TimelineKind.ACKNOWLEDGED,
        TimelineKind.SNOOZED,
        TimelineKind.RESOLVED,
    ]


async def test_incident_bad_actions_are_rejected(world: InMemoryServices) -> None:
    user = await world.user("ada@example.com")
    incident = await world.incidents.open(user, NewIncident("x"))
    with pytest.raises(NotFound):
        await world.incidents.get(user, 999)
    with pytest.raises(NotFound):
        await world.incidents.acknowledge(user, 999)
    with pytest.raises(ValidationFailed):
        await world.incidents.snooze(user, incident.id, 0)
    with pytest.raises(InvalidTransition, match="acknowledge it first"):
        await world.incidents.snooze(user, incident.id, 5)  # triggered: only acknowledged ones snooze
    with pytest.raises(ValidationFailed):
        await world.incidents.assign(user, incident.id, 999, None)
    with pytest.raises(ValidationFailed):
        await world.incidents.update(user, incident.id, IncidentChanges(title=""))
    with pytest.raises(ValidationFailed):
        await world.incidents.comment(user, incident.id, " ")
    with pytest.raises(Conflict):
        await world.incidents.escalate(user, incident.id)  # no policy, nothing to escalate to
    assert (await world.incidents.get(user, incident.id)).status is IncidentStatus.TRIGGERED


async def test_team_incidents_are_owned_by_their_team(world: InMemoryServices) -> None:
    admin = await world.admin()
    payments = await world.teams.create(admin, "payments", None)
    search = await world.teams.create(admin, "search", None)
    member = await world.user("m@example.com", Role.ONCALL_ENGINEER, payments.id)
    outsider = await world.user("o@example.com", Role.TEAM_LEAD, search.id)
    manager = await world.user("boss@example.com", Role.MANAGER, search.id)
    responder = await world.user("r@example.com", Role.ONCALL_ENGINEER, search.id)
    await world.policies.create(admin, policy((5, [user_target(responder.id)]), team_id=payments.id))
    incident = await world.incidents.open(admin, NewIncident("x", team_id=payments.id))
    with pytest.raises(PermissionDenied):
        await world.incidents.resolve(outsider, incident.id)
    with pytest.raises(PermissionDenied):  # a stranger cannot silence another team's pager
        await world.incidents.acknowledge(outsider, incident.id)
    # Whoever was paged may answer the page, whatever their team; owning the incident is another matter.
    assert (await world.incidents.acknowledge(responder, incident.id)).status is IncidentStatus.ACKNOWLEDGED
    with pytest.raises(PermissionDenied):
        await world.incidents.resolve(responder, incident.id)
    await world.incidents.comment(outsider, incident.id, "anyone may comment")
    await world.incidents.snooze(member, incident.id, 10)
    assert (await world.incidents.resolve(manager, incident.id)).status is IncidentStatus.RESOLVED


async def test_moving_an_incident_needs_the_right_in_the_new_team(world: InMemoryServices) -> None:
    admin = await world.admin()
    payments = await world.teams.create(admin, "payments", None)
    search = await world.teams.create(admin, "search", None)
    assignee = await world.user("a@example.com", Role.TEAM_LEAD, search.id)
    manager = await world.user("boss@example.com", Role.MANAGER, search.id)
    incident = await world.incidents.open(admin, NewIncident("x", team_id=payments.id, assignee_id=assignee.id))
    for where in (None, payments.id + search.id + 1):
        with pytest.raises((PermissionDenied, ValidationFailed)):
            await world.incidents.update(assignee, incident.id, IncidentChanges(team_id=where))
    with pytest.raises(PermissionDenied, match="move"):
        await world.incidents.update(assignee, incident.id, IncidentChanges(team_id=None))
    unchanged = await world.incidents.get(assignee, incident.id)
    assert unchanged.team_id == payments.id
    assert [e.kind for e in (await world.incidents.timeline(admin, incident.id, PAGE)).items].count(
        TimelineKind.UPDATED
    ) == 0
    # into the assignee's own team is a move they may make; a manager may move it anywhere
    assert (await world.incidents.update(assignee, incident.id, IncidentChanges(team_id=search.id))).team_id == search.id
    assert (await world.incidents.update(manager, incident.id, IncidentChanges(team_id=None))).team_id is None
    # an edit that keeps the team is no move
    assert (await world.incidents.update(assignee, incident.id, IncidentChanges(title="y", team_id=None))).title == "y"


async def test_manual_pages_are_limited_per_incident_and_per_person(world: InMemoryServices) -> None:
    world.paging = PagingConfig(
        manual_escalations_per_incident=3, manual_pages_per_user=5, manual_page_window=timedelta(minutes=10)
    )
    admin = await world.admin()
    team = await world.teams.create(admin, "payments", None)
    lead = await world.user("lead@example.com", Role.TEAM_LEAD, team.id)
    other = await world.user("other@example.com", Role.TEAM_LEAD, team.id)
    await world.policies.create(admin, policy((5, [user_target(lead.id)]), team_id=team.id, repeat=9))
    incident = await world.incidents.open(lead, NewIncident("x", team_id=team.id))  # 1 of lead's 5
    for _ in range(3):
        await world.incidents.escalate(lead, incident.id)  # 4 of 5
        world.clock.advance(timedelta(seconds=30))
    with pytest.raises(RateLimited) as refused:  # the incident's limit holds for anyone
        await world.incidents.escalate(other, incident.id)
    # the first manual escalation, 90 s ago, leaves the window 10 minutes after it was made
    assert refused.value.retry_after == 10 * 60 - 90
    pages_before = len((await world.incidents.notifications(admin, incident.id, PAGE)).items)
    await world.incidents.open(lead, NewIncident("y", team_id=team.id))  # 5 of 5
    with pytest.raises(RateLimited):
        await world.incidents.open(lead, NewIncident("z", team_id=team.id))
    assert (await world.incidents.list(admin, IncidentFilter(), PAGE)).total == 2  # nothing half-made
    assert len((await world.incidents.notifications(admin, incident.id, PAGE)).items) == pages_before
    await world.incidents.open(other, NewIncident("z", team_id=team.id))  # another person is not held
    # the schedule's own escalation is never limited
    world.clock.advance(timedelta(minutes=5))
    assert await world.escalation_tick.run() >= 1
    world.clock.advance(timedelta(minutes=10))
    await world.incidents.escalate(lead, incident.id)  # the window moved on


# --- escalation policies -------------------------------------------------------------------------------


async def test_policy_lifecycle_and_validation(world: InMemoryServices) -> None:
    admin = await world.admin()
    team = await world.teams.create(admin, "payments", None)
    created = await world.policies.create(
        admin, policy((5, [Target(TargetType.ROLE, role="team_lead")]), team_id=team.id, repeat=2)
    )
    assert created.id and created.created_at == world.clock.now()
    assert (await world.policies.list(admin, PAGE)).total == 1
    edited = await world.policies.update(admin, created.id, PolicyChanges(repeat=0, is_active=False))
    assert (edited.repeat, edited.is_active) == (0, False)
    assert (await world.policies.get(admin, created.id)).repeat == 0
    with pytest.raises(ValidationFailed):
        await world.policies.update(admin, created.id, PolicyChanges(repeat=10))
    with pytest.raises(ValidationFailed):
        await world.policies.create(admin, policy())
    with pytest.raises(ValidationFailed) as refs:
        await world.policies.create(
            admin, policy((0, [user_target(999), Target(TargetType.TEAM, team_id=999)]), team_id=998)
        )
    assert {e.field for e in refs.value.errors} == {
        "team_id",
        "steps[0].targets[0].id",
        "steps[0].targets[1].team_id",
    }
    await world.policies.delete(admin, created.id)
    with pytest.raises(NotFound):
        await world.policies.get(admin, created.id)
    with pytest.raises(PermissionDenied):
        await world.policies.list(await world.user("u@example.com", Role.CTO), PAGE)


async def test_policy_edits_reach_only_later_incidents(world: InMemoryServices) -> None:
    admin = await world.admin()
    first = await world.user("first@example.com")
    second = await world.user("second@example.com")
    created = await world.policies.create(
        admin, policy((5, [user_target(first.id)]), (5, [user_target(first.id)]))
    )
    before = await world.incidents.open(admin, NewIncident("before"))
    await world.policies.update(admin, created.id, PolicyChanges(steps=(EscalationStep(5, (user_target(second.id),)),)))
    after = await world.incidents.open(admin, NewIncident("after"))
    world.clock.advance(timedelta(minutes=5))
    await world.run_worker()
    paged_before = {n.user_id for n in (await world.incidents.notifications(admin, before.id, PAGE)).items}
    paged_after = {n.user_id for n in (await world.incidents.notifications(admin, after.id, PAGE)).items}
    assert (paged_before, paged_after) == ({first.id}, {second.id})


async def test_team_policy_wins_over_global_and_targets_resolve_at_fire_time(world: InMemoryServices) -> None:
    admin = await world.admin()
    team = await world.teams.create(admin, "payments", None)
    lead = await world.user("lead@example.com", Role.TEAM_LEAD, team.id)
    engineer = await world.user("eng@example.com", Role.ONCALL_ENGINEER, team.id)
    cto = await world.user("cto@example.com", Role.CTO)
    await world.policies.create(admin, policy((0, [user_target(cto.id)]), name="global"))
    team_policy = await world.policies.create(
        admin,
        policy(
            (5, [Target(TargetType.ROLE, role="team_lead")]),
            (5, [Target(TargetType.TEAM, team_id=team.id), user_target(cto.id)]),
            team_id=team.id,
        ),
    )
    incident = await world.incidents.open(admin, NewIncident("x", team_id=team.id))
    assert incident.escalation_policy_id == team_policy.id
    newcomer = await world.user("new@example.com", Role.ONCALL_ENGINEER, team.id)
    world.clock.advance(timedelta(minutes=5))
    await world.run_worker()
    events = (await world.incidents.escalation_events(admin, incident.id, PAGE)).items
    assert [e.notified_user_ids for e in events] == [
        [lead.id],
        sorted([lead.id, engineer.id, cto.id, newcomer.id]),
    ]


# --- notification preferences -------------------------------------------------------------------------------


async def test_preferences_choose_channels_and_severities(world: InMemoryServices) -> None:
    admin = await world.admin()
    user = await world.user("ada@example.com")
    await world.preferences.set_for(
        user, user.id, Channel.WEBHOOK, enabled=True, address="https://hooks.example.com/x", min_severity=None
    )
    await world.preferences.set_for(
        user, user.id, Channel.SMS, enabled=True, address="+15550001", min_severity=Severity.CRITICAL
    )
    await world.preferences.set_for(
        admin, user.id, Channel.EMAIL, enabled=False, address=None, min_severity=None
    )
    assert {p.channel for p in await world.preferences.list_for(user, user.id)} == {
        Channel.WEBHOOK,
        Channel.SMS,
        Channel.EMAIL,
    }
    await world.policies.create(admin, policy((5, [user_target(user.id)])))
    high = await world.incidents.open(admin, NewIncident("high"))
    critical = await world.incidents.open(admin, NewIncident("critical", severity=Severity.CRITICAL))
    channels = {
        i.id: {n.channel for n in (await world.incidents.notifications(admin, i.id, PAGE)).items}
        for i in (high, critical)
    }
    assert channels == {high.id: {Channel.WEBHOOK}, critical.id: {Channel.WEBHOOK, Channel.SMS}}


async def test_preference_rules(world: InMemoryServices) -> None:
    """The use case's own rules; each channel's address format is the notify adapters' (tests/contract)."""
    user = await world.user("ada@example.com")
    other = await world.user("bob@example.com")
    with pytest.raises(PermissionDenied):
        await world.preferences.list_for(user, other.id)
    with pytest.raises(ValidationFailed):
        await world.preferences.set_for(
            user, user.id, Channel.SMS, enabled=True, address=None, min_severity=None
        )
    with pytest.raises(ValidationFailed):
        await world.preferences.set_for(
            user, user.id, Channel.APPRISE, enabled=True, address="x" * 2001, min_severity=None
        )
    disabled = await world.preferences.set_for(
        user, user.id, Channel.SMS, enabled=False, address=" ", min_severity=None
    )
    assert disabled.address is None
    email = await world.preferences.set_for(
        user, user.id, Channel.EMAIL, enabled=True, address=None, min_severity=Severity.HIGH
    )
    assert email.address is None  # pages go to the account's address
    admin = await world.admin()
    with pytest.raises(NotFound):
        await world.preferences.list_for(admin, 999)


async def test_an_address_its_channel_cannot_take_is_refused_naming_the_field(world: InMemoryServices) -> None:
    user = await world.user("ada@example.com")
    world.addresses.refused.add("#ops")
    with pytest.raises(ValidationFailed) as refused:
        await world.preferences.set_for(
            user, user.id, Channel.SLACK, enabled=True, address="  #ops ", min_severity=None
        )
    assert [(e.field, e.message) for e in refused.value.errors] == [
        ("address", "is not an address the slack channel can send to")
    ]
    assert await world.preferences.list_for(user, user.id) == []


# --- integrations and alerts ---------------------------------------------------------------------------------


def elastic(action_group: str = "threshold_met", alert_id: str = "svc-a") -> Alert:
    return Alert(
        source="elastic",
        dedup_key=f"r-1:{alert_id}",
        action=AlertAction.RESOLVE if action_group == "recovered" else AlertAction.TRIGGER,
        title="High error rate",
        description="error rate 12% > 5%",
        data={"rule": {"id": "r-1"}, "extra": {"kept": True}},
    )


async def test_alerts_create_update_and_resolve_one_incident_per_dedup_key(world: InMemoryServices) -> None:
    admin = await world.admin()
    team = await world.teams.create(admin, "payments", None)
    integration = await world.integrations.create(admin, "kibana", team.id)
    assert len(integration.key) >= 32
    assert (await world.integrations.list(admin, PAGE)).items == [integration]
    created = await world.alerts.receive(integration.key, elastic())
    assert created.action == "created" and created.incident_id is not None
    incident = await world.incidents.get(admin, created.incident_id)
    assert (incident.title, incident.description, incident.team_id, incident.source, incident.dedup_key) == (
        "High error rate",
        "error rate 12% > 5%",
        team.id,
        "elastic",
        "r-1:svc-a",
    )
    again = await world.alerts.receive(integration.key, elastic())
    assert (again.action, again.incident_id) == ("updated", created.incident_id)
    other = await world.alerts.receive(integration.key, elastic(alert_id="svc-b"))
    assert other.action == "created" and other.incident_id != created.incident_id
    resolved = await world.alerts.receive(integration.key, elastic("recovered"))
    assert (resolved.action, resolved.incident_id) == ("resolved", created.incident_id)
    assert (await world.incidents.get(admin, created.incident_id)).status is IncidentStatus.RESOLVED
    ignored = await world.alerts.receive(integration.key, elastic("recovered"))
    assert (ignored.action, ignored.incident_id) == ("ignored", None)
    reopened = await world.alerts.receive(integration.key, elastic())
    assert reopened.action == "created" and reopened.incident_id not in (
        created.incident_id,
        other.incident_id,
    )
    alert_events = [
        e
        for e in (await world.incidents.timeline(admin, created.incident_id, PAGE)).items
        if e.kind is TimelineKind.ALERT
    ]
    assert len(alert_events) == 2 and alert_events[0].data["alert"]["extra"] == {"kept": True}


async def test_alerts_need_a_valid_key_and_integrations_need_a_team(world: InMemoryServices) -> None:
    admin = await world.admin()
    with pytest.raises(AuthenticationFailed):
        await world.alerts.receive("wrong", elastic())
    with pytest.raises(AuthenticationFailed):
        await world.alerts.receive("", elastic())
    with pytest.raises(ValidationFailed):
        await world.integrations.create(admin, "kibana", 999)
    team = await world.teams.create(admin, "payments", None)
    integration = await world.integrations.create(admin, "kibana", team.id)
    await world.integrations.delete(admin, integration.id)
    with pytest.raises(NotFound):
        await world.integrations.delete(admin, integration.id)
    with pytest.raises(AuthenticationFailed):
        await world.alerts.receive(integration.key, elastic())


# --- the worker's use cases ------------------------------------------------------------------------------------


async def test_dispatch_records_sent_and_failed_pages_on_the_timeline(world: InMemoryServices) -> None:
    admin = await world.admin()
    user = await world.user("ada@example.com")
    await world.preferences.set_for(
        user, user.id, Channel.SMS, enabled=True, address="+1555", min_severity=None
    )
    await world.preferences.set_for(
        user, user.id, Channel.EMAIL, enabled=True, address=None, min_severity=None
    )
    await world.policies.create(admin, policy((5, [user_target(user.id)])))
    world.notifier.fail_with = {Channel.SMS: DeliveryFailed("sms is not configured", permanent=True)}
    incident = await world.incidents.open(admin, NewIncident("x"))
    await world.run_worker()
    rows = {n.channel: n for n in (await world.incidents.notifications(admin, incident.id, PAGE)).items}
    assert rows[Channel.EMAIL].status is NotificationStatus.SENT and rows[Channel.EMAIL].sent_at
    assert rows[Channel.SMS].status is NotificationStatus.FAILED
    assert rows[Channel.SMS].last_error == "sms is not configured"
    kinds = [e.kind for e in (await world.incidents.timeline(admin, incident.id, PAGE)).items]
    assert TimelineKind.NOTIFIED in kinds and TimelineKind.NOTIFICATION_FAILED in kinds


async def test_dispatch_retries_then_gives_up_and_survives_a_broken_notifier(world: InMemoryServices) -> None:
    admin = await world.admin()
    await world.policies.create(admin, policy((5, [user_target(admin.id)])))
    incident = await world.incidents.open(admin, NewIncident("x"))

    async def broken(message: object) -> None:
        raise RuntimeError("boom")

    world.notifier.send = broken  # type: ignore[method-assign]
    await world.run_worker()
    (row,) = (await world.incidents.notifications(admin, incident.id, PAGE)).items
    assert (row.status, row.attempts, row.last_error) == (
        NotificationStatus.RETRYING,
        1,
        "RuntimeError: boom",
    )
    world.clock.advance(timedelta(seconds=30))
    await world.run_worker()
    world.clock.advance(timedelta(minutes=2))
    await world.run_worker()
    (row,) = (await world.incidents.notifications(admin, incident.id, PAGE)).items
    assert (row.status, row.attempts) == (NotificationStatus.FAILED, 3)


async def test_resolve_cancels_pages_not_yet_sent(world: InMemoryServices) -> None:
    admin = await world.admin()
    await world.policies.create(admin, policy((5, [user_target(admin.id)])))
    incident = await world.incidents.open(admin, NewIncident("x"))
    await world.incidents.resolve(admin, incident.id)
    await world.run_worker()
    assert world.notifier.sent == []
    (row,) = (await world.incidents.notifications(admin, incident.id, PAGE)).items
    assert (row.status, row.cancel_reason, row.last_error) == (NotificationStatus.CANCELLED, "incident resolved", None)


# --- review fixes: references, reach, cancellation, moves ------------------------------------------------------


async def test_teams_and_users_a_policy_pages_cannot_be_deleted(world: InMemoryServices) -> None:
    admin = await world.admin()
    team = await world.teams.create(admin, "payments", None)
    target = await world.user("oncall@example.com")
    created = await world.policies.create(
        admin, policy((5, [Target(TargetType.TEAM, team_id=team.id), user_target(target.id)]))
    )
    with pytest.raises(Conflict, match="pages this team"):
        await world.teams.delete(admin, team.id)
    with pytest.raises(Conflict, match="pages this user"):
        await world.accounts.delete_user(admin, target.id)
    await world.policies.delete(admin, created.id)
    await world.teams.delete(admin, team.id)
    await world.accounts.delete_user(admin, target.id)


async def test_escalation_records_only_the_users_it_could_page(world: InMemoryServices) -> None:
    admin = await world.admin()
    quiet = await world.user("quiet@example.com")
    loud = await world.user("loud@example.com")
    await world.preferences.set_for(
        quiet, quiet.id, Channel.EMAIL, enabled=False, address=None, min_severity=None
    )
    await world.policies.create(admin, policy((5, [user_target(quiet.id), user_target(loud.id)])))
    incident = await world.incidents.open(admin, NewIncident("x"))
    (event,) = (await world.incidents.escalation_events(admin, incident.id, PAGE)).items
    assert event.notified_user_ids == [loud.id]
    escalated = next(
        e
        for e in (await world.incidents.timeline(admin, incident.id, PAGE)).items
        if e.kind is TimelineKind.ESCALATED
    )
    assert (escalated.data["user_ids"], escalated.data["unreachable_user_ids"]) == ([loud.id], [quiet.id])
    assert escalated.actor_id is None  # the schedule fired it, not the person who opened the incident


async def test_a_role_target_with_no_team_to_hold_it_pages_no_one(world: InMemoryServices) -> None:
    admin = await world.admin()
    await world.user("lead@example.com", Role.TEAM_LEAD)
    await world.policies.create(admin, policy((5, [Target(TargetType.ROLE, role="team_lead")])))
    incident = await world.incidents.open(admin, NewIncident("no team"))
    (event,) = (await world.incidents.escalation_events(admin, incident.id, PAGE)).items
    assert event.notified_user_ids == []
    assert not world.store.notifications
    escalated = [
        e for e in (await world.incidents.timeline(admin, incident.id, PAGE)).items if e.data.get("warning")
    ]
    assert len(escalated) == 1


async def test_acknowledging_cancels_pages_still_waiting_to_go_out(world: InMemoryServices) -> None:
    admin = await world.admin()
    await world.policies.create(admin, policy((5, [user_target(admin.id)]), (5, [user_target(admin.id)])))
    incident = await world.incidents.open(admin, NewIncident("x"))
    await world.incidents.acknowledge(admin, incident.id)
    await world.run_worker()
    assert world.notifier.sent == []
    (row,) = (await world.incidents.notifications(admin, incident.id, PAGE)).items
    assert (row.status, row.cancel_reason) == (NotificationStatus.CANCELLED, "incident acknowledged")


async def test_manual_escalation_is_attributed_to_who_escalated(world: InMemoryServices) -> None:
    admin = await world.admin()
    responder = await world.user("r@example.com")
    await world.policies.create(admin, policy((5, [user_target(admin.id)]), (5, [user_target(responder.id)])))
    incident = await world.incidents.open(admin, NewIncident("x"))
    await world.incidents.escalate(responder, incident.id)
    escalated = [
        e
        for e in (await world.incidents.timeline(admin, incident.id, PAGE)).items
        if e.kind is TimelineKind.ESCALATED
    ]
    assert [(e.data["manual"], e.actor_id) for e in escalated] == [(False, None), (True, responder.id)]


async def test_an_incident_moves_only_to_a_team_the_actor_may_own_it_in(world: InMemoryServices) -> None:
    admin = await world.admin()
    payments = await world.teams.create(admin, "payments", None)
    search = await world.teams.create(admin, "search", None)
    member = await world.user("m@example.com", Role.ONCALL_ENGINEER, payments.id)
    incident = await world.incidents.open(admin, NewIncident("x", team_id=payments.id))
    teamless = await world.incidents.open(admin, NewIncident("y"))
    with pytest.raises(PermissionDenied):
        await world.incidents.update(member, incident.id, IncidentChanges(team_id=search.id))
    with pytest.raises(PermissionDenied):
        await world.incidents.update(await world.user("u@example.com"), teamless.id, IncidentChanges(team_id=payments.id))
    assert (await world.incidents.get(admin, incident.id)).team_id == payments.id
    assert (
        await world.incidents.update(member, teamless.id, IncidentChanges(team_id=payments.id))
    ).team_id == payments.id


async def test_alert_titles_fall_back_and_large_alerts_are_not_stored_whole(world: InMemoryServices) -> None:
    admin = await world.admin()
    team = await world.teams.create(admin, "payments", None)
    integration = await world.integrations.create(admin, "kibana", team.id)
    blank = Alert("elastic", "r-9:a", AlertAction.TRIGGER, title="   ", data={"blob": "x" * 20_000})
    receipt = await world.alerts.receive(integration.key, blank)
    assert receipt.incident_id is not None
    assert (await world.incidents.get(admin, receipt.incident_id)).title == "elastic alert r-9:a"
    (alert,) = [
        e
        for e in (await world.incidents.timeline(admin, receipt.incident_id, PAGE)).items
        if e.kind is TimelineKind.ALERT
    ]
    assert alert.data["alert"]["truncated"] is True and alert.data["alert"]["keys"] == ["blob"]


async def test_a_page_whose_sends_never_report_back_is_given_up_after_max_attempts(world: InMemoryServices) -> None:
    admin = await world.admin()
    await world.policies.create(admin, policy((5, [user_target(admin.id)])))
    incident = await world.incidents.open(admin, NewIncident("x"))
    lease = timedelta(seconds=60)
    for _ in range(world.retry.max_attempts):  # each claim's worker dies before recording a result
        async with world.uow() as uow:
            assert len(await uow.notifications.claim_due(world.clock.now(), 10, lease)) == 1
            await uow.commit()
        world.clock.advance(seconds=61)
    await world.run_worker()
    assert world.notifier.sent == []
    (row,) = (await world.incidents.notifications(admin, incident.id, PAGE)).items
    assert row.status is NotificationStatus.FAILED
    assert row.last_error is not None and "did not report back" in row.last_error
    kinds = [e.kind for e in (await world.incidents.timeline(admin, incident.id, PAGE)).items]
    assert TimelineKind.NOTIFICATION_FAILED in kinds
