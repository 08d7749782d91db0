"""PasswordResetTokenRepository: tokens by hash; using one is saved."""

from __future__ import annotations

from datetime import timedelta

import pytest
from entity_builders import T0, UowFactory, stored_user

from incidentcore.errors import NotFound
from incidentcore.model import PasswordResetToken

pytestmark = pytest.mark.anyio


async def test_add_find_by_hash_and_use(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        user = await stored_user(uow)
        token = await uow.reset_tokens.add(PasswordResetToken(user.id, "sha-1", T0 + timedelta(minutes=30)))
        await uow.commit()
    assert token.id > 0
    async with uow_factory() as uow:
        found = await uow.reset_tokens.get_by_hash("sha-1")
        assert found == token
        assert await uow.reset_tokens.get_by_hash("sha-2") is None
        token.used_at = T0 + timedelta(minutes=1)
        await uow.reset_tokens.update(token)
        await uow.commit()
    async with uow_factory() as uow:
        used = await uow.reset_tokens.get_by_hash("sha-1")
    assert used == token
    assert used is not None
    assert not used.usable(T0 + timedelta(minutes=2))


async def test_update_of_an_unknown_token_is_not_found(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        with pytest.raises(NotFound):
            await uow.reset_tokens.update(PasswordResetToken(1, "sha", T0, id=999))
