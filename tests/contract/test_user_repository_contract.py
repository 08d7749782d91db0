"""UserRepository: case-insensitive unique emails, filters, deletes blocked by history, target resolution."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from entity_builders import (
    T0,
    UowFactory,
    new_user,
    page_for,
    stored_incident,
    stored_team,
    stored_user,
)

from incidentcore.errors import Conflict, NotFound
from incidentcore.model import (
    Channel,
    Comment,
    NotificationPreference,
    PasswordResetToken,
    Role,
    TimelineEvent,
    TimelineKind,
)
from incidentcore.ports import Page, UserFilter

pytestmark = pytest.mark.anyio


async def test_add_then_get_round_trips_every_field(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        team = await stored_team(uow)
        user = new_user(
            "Ann.Lee@Example.com",
            role=Role.TEAM_LEAD,
            team_id=team.id,
            is_active=False,
            credentials_version=3,
        )
        added = await uow.users.add(user)
        await uow.commit()

    async with uow_factory() as uow:
        stored = await uow.users.get(added.id)
    assert stored == added
    assert stored is not None
    assert stored.created_at == T0
    assert stored.created_at.utcoffset() == timedelta(0)


async def test_get_unknown_is_none(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        assert await uow.users.get(999) is None
        assert await uow.users.get_by_email("nobody@example.com") is None


async def test_get_by_email_ignores_case(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        user = await stored_user(uow, "Ann@Example.com")
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.users.get_by_email("ann@example.COM") == user


async def test_an_email_is_taken_whatever_its_case(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        await stored_user(uow, "ann@example.com")
        await uow.commit()
    async with uow_factory() as uow:
        with pytest.raises(Conflict, match=r"ANN@example\.com"):
            await uow.users.add(new_user("ANN@example.com"))


async def test_update_saves_and_refuses_a_taken_email(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        ann = await stored_user(uow, "ann@example.com")
        bob = await stored_user(uow, "bob@example.com")
        await uow.commit()

    async with uow_factory() as uow:
        bob.full_name = "Robert"
        bob.role = Role.MANAGER
        bob.change_password("new-hash")
        await uow.users.update(bob)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.users.get(bob.id) == bob

    async with uow_factory() as uow:
        with pytest.raises(Conflict):
            await uow.users.update(replace(bob, email=ann.email.upper()))


async def test_update_of_an_unknown_user_is_not_found(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        with pytest.raises(NotFound):
            await uow.users.update(new_user(id=999))


async def test_list_filters_by_team_role_and_text(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        payments = await stored_team(uow, "payments")
        search = await stored_team(uow, "search")
        ann = await stored_user(uow, "ann@example.com", team_id=payments.id, role=Role.TEAM_LEAD)
        bob = await stored_user(uow, "bob@example.com", team_id=payments.id)
        cid = await stored_user(uow, "cid_100%@corp.example", team_id=search.id, role=Role.TEAM_LEAD)
        await uow.commit()

    async with uow_factory() as uow:
        by_team = await uow.users.list(UserFilter(team_id=payments.id), Page())
        by_role = await uow.users.list(UserFilter(role=Role.TEAM_LEAD), Page())
        both = await uow.users.list(UserFilter(team_id=payments.id, role=Role.TEAM_LEAD), Page())
        by_text = await uow.users.list(UserFilter(q="BOB"), Page())
        by_name = await uow.users.list(UserFilter(q="ann"), Page())
        wildcard_taken_literally = await uow.users.list(UserFilter(q="_100%"), Page())
        percent_alone = await uow.users.list(UserFilter(q="%"), Page())
        underscore_alone = await uow.users.list(UserFilter(q="x_a"), Page())
    assert [u.id for u in by_team.items] == [ann.id, bob.id]
    assert [u.id for u in by_role.items] == [ann.id, cid.id]
    assert [u.id for u in both.items] == [ann.id]
    assert [u.id for u in by_text.items] == [bob.id]
    assert [u.id for u in by_name.items] == [ann.id]
    assert [u.id for u in wildcard_taken_literally.items] == [cid.id]
    assert [u.id for u in percent_alone.items] == [cid.id]
    assert underscore_alone.total == 0


async def test_list_pages_in_id_order_with_the_total(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        users = [await stored_user(uow, f"user{i}@example.com") for i in range(5)]
        await uow.commit()

    async with uow_factory() as uow:
        first = await uow.users.list(UserFilter(), Page(limit=2))
        middle = await uow.users.list(UserFilter(), Page(limit=2, offset=2))
        last = await uow.users.list(UserFilter(), Page(limit=2, offset=4))
        beyond = await uow.users.list(UserFilter(), Page(limit=2, offset=10))
        empty_page = await uow.users.list(UserFilter(), Page(limit=0))
    ids = [u.id for u in users]
    assert [u.id for u in first.items] == ids[:2]
    assert [u.id for u in middle.items] == ids[2:4]
    assert [u.id for u in last.items] == ids[4:]
    assert beyond.items == []
    assert {first.total, middle.total, last.total, beyond.total, empty_page.total} == {5}
    assert first.page == Page(limit=2)


async def test_list_rejects_a_negative_page(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        with pytest.raises(ValueError, match="negative"):
            await uow.users.list(UserFilter(), Page(limit=-1))


async def test_delete_takes_preferences_and_reset_tokens_along(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        user = await stored_user(uow)
        await uow.preferences.upsert(NotificationPreference(user.id, Channel.SMS, address="+100"))
        token = await uow.reset_tokens.add(PasswordResetToken(user.id, "hash-1", T0 + timedelta(hours=1)))
        await uow.commit()

    async with uow_factory() as uow:
        await uow.users.delete(user.id)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.users.get(user.id) is None
        assert await uow.preferences.list_for_users([user.id]) == []
        assert await uow.reset_tokens.use(token.token_hash, T0) is None


async def test_delete_of_an_unknown_user_is_not_found(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        with pytest.raises(NotFound):
            await uow.users.delete(999)


@pytest.mark.parametrize("reference", ["assignee", "creator", "comment", "timeline", "notification"])
async def test_delete_is_refused_while_history_references_the_user(
    uow_factory: UowFactory, reference: str
) -> None:
    async with uow_factory() as uow:
        user = await stored_user(uow)
        if reference == "assignee":
            await stored_incident(uow, assignee_id=user.id)
        elif reference == "creator":
            await stored_incident(uow, created_by_id=user.id)
        else:
            incident = await stored_incident(uow)
            if reference == "comment":
                await uow.comments.add(Comment(incident.id, user.id, "looking", T0))
            elif reference == "timeline":
                await uow.timeline.add_many([TimelineEvent(incident.id, TimelineKind.UPDATED, T0, user.id)])
            else:
                await uow.notifications.add_new([page_for("p-1", incident_id=incident.id, user_id=user.id)])
        await uow.commit()

    async with uow_factory() as uow:
        with pytest.raises(Conflict, match="reference the user"):
            await uow.users.delete(user.id)
    async with uow_factory() as uow:
        assert await uow.users.get(user.id) is not None


async def test_resolve_targets_by_id_team_and_role_once_each_in_id_order(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        payments = await stored_team(uow, "payments")
        search = await stored_team(uow, "search")
        direct = await stored_user(uow, "direct@example.com")
        member = await stored_user(uow, "member@example.com", team_id=payments.id)
        payments_lead = await stored_user(
            uow, "lead@example.com", team_id=payments.id, role=Role.TEAM_LEAD
        )  # a member and a role holder: listed once
        search_lead = await stored_user(uow, "slead@example.com", team_id=search.id, role=Role.TEAM_LEAD)
        teamless_manager = await stored_user(uow, "mgr@example.com", role=Role.MANAGER)
        await stored_user(uow, "away@example.com", team_id=payments.id, is_active=False)
        other = await stored_user(uow, "other@example.com", team_id=search.id)
        await uow.commit()

    async with uow_factory() as uow:
        # Without roles (the usual policy), Postgres reads with one fixed `= ANY(array)` statement.
        ids_and_team = await uow.users.resolve_targets(
            user_ids=[member.id, direct.id, member.id], team_ids=[payments.id], roles=[]
        )
        team_only = await uow.users.resolve_targets(user_ids=[], team_ids=[search.id], roles=[])
        ids_only = await uow.users.resolve_targets(user_ids=[search_lead.id, 999_999], team_ids=[], roles=[])
        resolved = await uow.users.resolve_targets(
            user_ids=[direct.id, member.id],
            team_ids=[payments.id],
            roles=[(Role.TEAM_LEAD, payments.id), (Role.MANAGER, None)],
        )
        lead_anywhere = await uow.users.resolve_targets(
            user_ids=[], team_ids=[], roles=[(Role.TEAM_LEAD, None)]
        )
        nothing = await uow.users.resolve_targets(user_ids=[], team_ids=[], roles=[])
    assert [u.id for u in resolved] == [direct.id, member.id, payments_lead.id, teamless_manager.id]
    assert [u.id for u in lead_anywhere] == [payments_lead.id, search_lead.id]
    assert nothing == []
    assert [u.id for u in ids_and_team] == [direct.id, member.id, payments_lead.id]
    assert [u.id for u in team_only] == [search_lead.id, other.id]
    assert [u.id for u in ids_only] == [search_lead.id]


async def test_get_for_update_reads_the_user_and_the_lock_ends_with_the_unit_of_work(
    uow_factory: UowFactory,
) -> None:
    async with uow_factory() as uow:
        user = await stored_user(uow)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.users.get(user.id, for_update=True) == user
        assert await uow.users.get(999, for_update=True) is None
        await uow.commit()
    async with uow_factory() as uow:  # released: a later unit of work locks it again
        locked = await uow.users.get(user.id, for_update=True)
        assert locked is not None
        locked.full_name = "Ann Changed"
        await uow.users.update(locked)
        await uow.commit()
    async with uow_factory() as uow:
        stored = await uow.users.get(user.id)
    assert stored is not None and stored.full_name == "Ann Changed"


async def test_get_many_returns_the_users_that_exist_in_id_order(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        first = await stored_user(uow, "first@example.com")
        second = await stored_user(uow, "second@example.com", is_active=False)  # inactive ones too
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.users.get_many([second.id, 999, first.id, second.id]) == [first, second]
        assert await uow.users.get_many([]) == []
