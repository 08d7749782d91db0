"""What the web UI asks of the core, on the in-memory adapters: sessions' authentication, an incident's
overview with what its reader may do now, the directory of names, and test pages."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from incidentcore.errors import AuthenticationFailed, PermissionDenied, RateLimited, ValidationFailed
from incidentcore.escalation import EscalationStep, Target, TargetType
from incidentcore.model import Channel, EscalationPolicy, NotificationStatus, Role, TimelineKind, User
from incidentcore.permissions import Action
from incidentcore.ports import DeliveryFailed, OutgoingMessage, TokenClaims
from incidentcore.services import NewIncident, ProfileChanges, UserChanges
from incidentcore.testing.world import InMemoryServices

pytestmark = pytest.mark.anyio

ACK, RESOLVE, SNOOZE = Action.INCIDENT_ACKNOWLEDGE, Action.INCIDENT_RESOLVE, Action.INCIDENT_SNOOZE
ESCALATE, ASSIGN, COMMENT = Action.INCIDENT_ESCALATE, Action.INCIDENT_ASSIGN, Action.INCIDENT_COMMENT


@pytest.fixture
def world() -> InMemoryServices:
    return InMemoryServices()


async def team_id(world: InMemoryServices, admin: User, name: str) -> int:
    return (await world.teams.create(admin, name, None)).id


async def paging_policy(world: InMemoryServices, admin: User, user_id: int) -> None:
    steps = (EscalationStep(5, (Target(TargetType.USER, user_id=user_id),)),)
    await world.policies.create(admin, EscalationPolicy(name="primary", steps=steps))


# --- sessions --------------------------------------------------------------------------------------


async def test_a_checked_login_gives_the_user_whose_claims_then_authenticate(world: InMemoryServices) -> None:
    user = await world.accounts.signup("ada@example.com", "password1", "Ada", "c")
    checked = await world.accounts.check_login(" ADA@example.com", "password1", "c")
    assert checked.id == user.id
    claims = TokenClaims(checked.id, checked.credentials_version)
    assert (await world.accounts.authenticate_claims(claims)).id == user.id
    with pytest.raises(AuthenticationFailed):
        await world.accounts.check_login("ada@example.com", "wrong password", "c")
    with pytest.raises(AuthenticationFailed):
        await world.accounts.authenticate_claims(TokenClaims(user.id + 100, 0))


async def test_session_claims_die_with_a_password_change_or_deactivation(world: InMemoryServices) -> None:
    admin = await world.admin()
    user = await world.accounts.signup("ada@example.com", "password1", "Ada", "c")
    claims = TokenClaims(user.id, user.credentials_version)
    await world.accounts.update_me(user, ProfileChanges(password="password2", current_password="password1"), "c")
    with pytest.raises(AuthenticationFailed):
        await world.accounts.authenticate_claims(claims)
    user = await world.accounts.check_login("ada@example.com", "password2", "c")
    claims = TokenClaims(user.id, user.credentials_version)
    await world.accounts.update_user(admin, user.id, UserChanges(is_active=False))
    with pytest.raises(AuthenticationFailed):
        await world.accounts.authenticate_claims(claims)


async def test_checked_logins_share_the_api_logins_throttle(world: InMemoryServices) -> None:
    await world.accounts.signup("ada@example.com", "password1", "Ada", "c")
    for attempt in range(5):
        login = world.accounts.login if attempt % 2 else world.accounts.check_login
        with pytest.raises(AuthenticationFailed):
            await login("ada@example.com", "wrong password", "client-a")
    with pytest.raises(RateLimited):
        await world.accounts.check_login("ada@example.com", "password1", "client-a")


# --- an incident's overview ------------------------------------------------------------------------


async def test_the_overview_offers_what_the_state_and_the_permission_table_allow(world: InMemoryServices) -> None:
    admin = await world.admin()
    await paging_policy(world, admin, admin.id)
    incident = await world.incidents.open(admin, NewIncident("Disk full"))
    actions = (await world.incidents.overview(admin, incident.id)).actions
    assert actions == {ACK, RESOLVE, ESCALATE, ASSIGN, COMMENT}  # snooze only once acknowledged
    await world.incidents.acknowledge(admin, incident.id)
    actions = (await world.incidents.overview(admin, incident.id)).actions
    assert actions == {RESOLVE, SNOOZE, ESCALATE, ASSIGN, COMMENT}
    await world.incidents.resolve(admin, incident.id)
    assert (await world.incidents.overview(admin, incident.id)).actions == {COMMENT}


async def test_without_a_policy_there_is_nothing_to_escalate(world: InMemoryServices) -> None:
    admin = await world.admin()
    incident = await world.incidents.open(admin, NewIncident("Disk full"))
    assert ESCALATE not in (await world.incidents.overview(admin, incident.id)).actions


async def test_another_teams_user_may_only_comment_unless_they_were_paged(world: InMemoryServices) -> None:
    admin = await world.admin()
    ours, theirs = await team_id(world, admin, "ours"), await team_id(world, admin, "theirs")
    outsider = await world.user("out@example.com", Role.USER, theirs)
    paged = await world.user("paged@example.com", Role.ONCALL_ENGINEER, theirs)
    member = await world.user("member@example.com", Role.USER, ours)
    await paging_policy(world, admin, paged.id)
    incident = await world.incidents.open(admin, NewIncident("Disk full", team_id=ours))
    assert (await world.incidents.overview(outsider, incident.id)).actions == {COMMENT}
    assert (await world.incidents.overview(paged, incident.id)).actions == {ACK, COMMENT}
    assert (await world.incidents.overview(member, incident.id)).actions == {ACK, RESOLVE, ESCALATE, ASSIGN, COMMENT}
    with pytest.raises(PermissionDenied):  # what the overview leaves out, the action refuses
        await world.incidents.resolve(outsider, incident.id)


async def test_the_overview_holds_the_latest_records_and_names_the_people_in_them(world: InMemoryServices) -> None:
    admin = await world.admin()
    ada = await world.user("ada@example.com", Role.ONCALL_ENGINEER)
    await paging_policy(world, admin, ada.id)
    incident = await world.incidents.open(admin, NewIncident("Disk full", assignee_id=ada.id))
    for n in range(5):
        await world.incidents.comment(ada, incident.id, f"note {n}")
    overview = await world.incidents.overview(admin, incident.id, limit=3)
    assert [c.body for c in overview.comments.items] == ["note 2", "note 3", "note 4"]
    assert overview.comments.total == 5
    assert overview.timeline.items[-1].kind is TimelineKind.COMMENTED
    assert [e.notified_user_ids for e in overview.escalation_events.items] == [[ada.id]]
    assert [(n.user_id, n.status) for n in overview.notifications.items] == [(ada.id, NotificationStatus.PENDING)]
    assert overview.names == {admin.id: admin.full_name, ada.id: ada.full_name}
    assert overview.team is None


async def test_delivery_errors_reach_only_the_incidents_owners(world: InMemoryServices) -> None:
    admin = await world.admin()
    ours, theirs = await team_id(world, admin, "ours"), await team_id(world, admin, "theirs")
    outsider = await world.user("out@example.com", Role.USER, theirs)
    await paging_policy(world, admin, admin.id)
    world.notifier.fail_with = DeliveryFailed("smtp.internal:25 refused the connection", permanent=True)
    incident = await world.incidents.open(admin, NewIncident("Disk full", team_id=ours))
    await world.run_worker()
    owners = await world.incidents.overview(admin, incident.id)
    others = await world.incidents.overview(outsider, incident.id)
    assert owners.team is not None and owners.team.name == "ours"
    assert [n.last_error for n in owners.notifications.items] == ["smtp.internal:25 refused the connection"]
    assert [n.status for n in others.notifications.items] == [NotificationStatus.FAILED]
    assert [n.last_error for n in others.notifications.items] == [None]
    failed = [e for e in others.timeline.items if e.kind is TimelineKind.NOTIFICATION_FAILED]
    assert failed and all("error" not in e.data for e in failed)


# --- the directory ---------------------------------------------------------------------------------


async def test_anyone_reads_names_but_only_of_those_who_exist(world: InMemoryServices) -> None:
    admin = await world.admin()
    team = await team_id(world, admin, "payments")
    await team_id(world, admin, "Alpha")
    user = await world.user("ada@example.com", Role.USER, team)
    gone = await world.user("bob@example.com", Role.USER, team)
    await world.accounts.update_user(admin, gone.id, UserChanges(is_active=False))
    assert await world.directory.user_names(user, [gone.id, user.id, 999]) == {user.id: "Ada", gone.id: "Bob"}
    assert await world.directory.user_names(user, []) == {}
    assert [u.full_name for u in await world.directory.active_users(user)] == ["Ada", admin.full_name]
    assert [t.name for t in await world.directory.teams(user)] == ["Alpha", "payments"]


async def test_a_deactivated_user_reads_no_names(world: InMemoryServices) -> None:
    user = await world.user("ada@example.com")
    user.is_active = False
    with pytest.raises(PermissionDenied):
        await world.directory.user_names(user, [user.id])


# --- test pages ------------------------------------------------------------------------------------


async def test_a_test_page_goes_to_the_address_the_preference_holds(world: InMemoryServices) -> None:
    user = await world.user("ada@example.com")
    report = await world.preferences.send_test(user, Channel.EMAIL)  # no preference: the account's email
    assert (report.address, report.delivered, report.error) == ("ada@example.com", True, None)
    await world.preferences.set_for(
        user, user.id, Channel.WEBHOOK, enabled=False, address="https://hooks.example.com/a", min_severity=None
    )
    report = await world.preferences.send_test(user, Channel.WEBHOOK)  # disabled: still testable
    assert report.delivered
    assert [(m.channel, m.address) for m in world.notifier.sent] == [
        (Channel.EMAIL, "ada@example.com"),
        (Channel.WEBHOOK, "https://hooks.example.com/a"),
    ]
    assert all("test page" in m.subject for m in world.notifier.sent)
    with pytest.raises(ValidationFailed) as no_address:
        await world.preferences.send_test(user, Channel.SMS)
    assert no_address.value.errors[0].field == "channel"


async def test_a_failed_or_refused_test_page_says_why(world: InMemoryServices) -> None:
    user = await world.user("ada@example.com")
    await world.preferences.set_for(
        user, user.id, Channel.WEBHOOK, enabled=True, address="https://hooks.example.com/a", min_severity=None
    )
    world.notifier.fail_with = DeliveryFailed("webhook: 404 Not Found")
    report = await world.preferences.send_test(user, Channel.WEBHOOK)
    assert (report.delivered, report.error) == (False, "webhook: 404 Not Found")
    world.destinations.hosts.add("hooks.example.com")  # what the host resolves to changed since it was saved
    report = await world.preferences.send_test(user, Channel.WEBHOOK)
    assert not report.delivered
    assert report.error is not None and "hooks.example.com" in report.error
    assert len(world.notifier.attempts) == 1  # the refused one never reached the notifier


async def test_a_hanging_channel_is_reported_after_the_send_timeout(world: InMemoryServices) -> None:
    user = await world.user("ada@example.com")

    class HangingNotifier:
        async def send(self, message: OutgoingMessage) -> None:
            await asyncio.sleep(30)

    preferences = world.preferences
    preferences.notifier = HangingNotifier()
    preferences.send_timeout = timedelta(milliseconds=50)
    report = await preferences.send_test(user, Channel.EMAIL)
    assert (report.delivered, report.error) == (False, "no answer within 0.05 s")


async def test_test_pages_are_limited_per_user(world: InMemoryServices) -> None:
    user = await world.user("ada@example.com")
    other = await world.user("bob@example.com")
    for _ in range(5):
        assert (await world.preferences.send_test(user, Channel.EMAIL)).delivered
    with pytest.raises(RateLimited) as limited:
        await world.preferences.send_test(user, Channel.EMAIL)
    assert 0 < limited.value.retry_after <= 15 * 60
    assert (await world.preferences.send_test(other, Channel.EMAIL)).delivered
    world.clock.advance(timedelta(minutes=16))
    assert (await world.preferences.send_test(user, Channel.EMAIL)).delivered
