"""PasswordResetTokenRepository: a token is used once, by its hash, before it expires."""

from __future__ import annotations

from datetime import timedelta

import pytest
from entity_builders import T0, UowFactory, stored_user

from incidentcore.model import PasswordResetToken

pytestmark = pytest.mark.anyio

EXPIRES = T0 + timedelta(minutes=30)


async def test_a_token_is_used_once_and_names_its_user(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        user = await stored_user(uow)
        token = await uow.reset_tokens.add(PasswordResetToken(user.id, "sha-1", EXPIRES))
        await uow.commit()
    assert token.id > 0
    async with uow_factory() as uow:
        assert await uow.reset_tokens.use("sha-2", T0) is None
        assert await uow.reset_tokens.use("sha-1", T0 + timedelta(minutes=1)) == user.id
        assert (
            await uow.reset_tokens.use("sha-1", T0 + timedelta(minutes=1)) is None
        )  # in the same transaction
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.reset_tokens.use("sha-1", T0 + timedelta(minutes=2)) is None


async def test_an_expired_token_cannot_be_used(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        user = await stored_user(uow)
        await uow.reset_tokens.add(PasswordResetToken(user.id, "sha-1", EXPIRES))
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.reset_tokens.use("sha-1", EXPIRES) is None
        assert await uow.reset_tokens.use("sha-1", EXPIRES - timedelta(seconds=1)) == user.id


async def test_a_use_that_is_rolled_back_leaves_the_token_usable(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        user = await stored_user(uow)
        await uow.reset_tokens.add(PasswordResetToken(user.id, "sha-1", EXPIRES))
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.reset_tokens.use("sha-1", T0) == user.id
    async with uow_factory() as uow:
        assert await uow.reset_tokens.use("sha-1", T0) == user.id
