"""PreferenceRepository: at most one preference per (user, channel); upsert replaces it."""

from __future__ import annotations

import pytest
from entity_builders import UowFactory, stored_user

from incidentcore.model import Channel, NotificationPreference, Severity

pytestmark = pytest.mark.anyio


async def test_upsert_inserts_then_replaces(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        user = await stored_user(uow)
        created = await uow.preferences.upsert(NotificationPreference(user.id, Channel.SMS, address="+100"))
        await uow.commit()
    assert created == NotificationPreference(user.id, Channel.SMS, address="+100")

    replacement = NotificationPreference(user.id, Channel.SMS, False, None, Severity.CRITICAL)
    async with uow_factory() as uow:
        assert await uow.preferences.upsert(replacement) == replacement
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.preferences.list_for_users([user.id]) == [replacement]


async def test_list_for_users_by_user_then_channel(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        ann = await stored_user(uow, "ann@example.com")
        bob = await stored_user(uow, "bob@example.com")
        cid = await stored_user(uow, "cid@example.com")
        for user, channel in [
            (bob, Channel.SMS),
            (ann, Channel.SLACK),
            (ann, Channel.EMAIL),
            (cid, Channel.SMS),
        ]:
            await uow.preferences.upsert(NotificationPreference(user.id, channel, address=f"{user.id}"))
        await uow.commit()
    async with uow_factory() as uow:
        found = await uow.preferences.list_for_users([bob.id, ann.id])
        none = await uow.preferences.list_for_users([])
    assert [(p.user_id, p.channel) for p in found] == [
        (ann.id, Channel.EMAIL),
        (ann.id, Channel.SLACK),
        (bob.id, Channel.SMS),
    ]
    assert none == []
