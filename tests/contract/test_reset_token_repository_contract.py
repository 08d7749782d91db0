"""PasswordResetTokenRepository: a token is used once, by its hash, before it expires; it keeps the
credentials version it was issued under."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from entity_builders import T0, UowFactory, stored_user

from incidentcore.model import PasswordResetToken

pytestmark = pytest.mark.anyio

EXPIRES = T0 + timedelta(minutes=30)


async def used_by(uow_factory: UowFactory, token_hash: str, at: datetime) -> int | None:
    async with uow_factory() as uow:
        token = await uow.reset_tokens.use(token_hash, at)
        await uow.commit()
    return None if token is None else token.user_id


async def test_a_token_is_used_once_and_names_its_user(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        user = await stored_user(uow)
        token = await uow.reset_tokens.add(PasswordResetToken(user.id, "sha-1", EXPIRES, credentials_version=7))
        await uow.commit()
    assert token.id > 0
    async with uow_factory() as uow:
        assert await uow.reset_tokens.use("sha-2", T0) is None
        used = await uow.reset_tokens.use("sha-1", T0 + timedelta(minutes=1))
        assert used == PasswordResetToken(
            user.id, "sha-1", EXPIRES, credentials_version=7, used_at=T0 + timedelta(minutes=1), id=token.id
        )
        assert (
            await uow.reset_tokens.use("sha-1", T0 + timedelta(minutes=1)) is None
        )  # in the same transaction
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.reset_tokens.use("sha-1", T0 + timedelta(minutes=2)) is None


async def test_get_reads_a_token_without_claiming_it(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        user = await stored_user(uow)
        token = await uow.reset_tokens.add(PasswordResetToken(user.id, "sha-1", EXPIRES, credentials_version=2))
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.reset_tokens.get("sha-1") == token
        assert await uow.reset_tokens.get("sha-2") is None
    assert await used_by(uow_factory, "sha-1", T0) == user.id  # reading claimed nothing
    async with uow_factory() as uow:
        stored = await uow.reset_tokens.get("sha-1")
    assert stored is not None and stored.used_at == T0


async def test_an_expired_token_cannot_be_used(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        user = await stored_user(uow)
        await uow.reset_tokens.add(PasswordResetToken(user.id, "sha-1", EXPIRES))
        await uow.commit()
    assert await used_by(uow_factory, "sha-1", EXPIRES) is None
    assert await used_by(uow_factory, "sha-1", EXPIRES - timedelta(seconds=1)) == user.id


async def test_a_use_that_is_rolled_back_leaves_the_token_usable(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        user = await stored_user(uow)
        await uow.reset_tokens.add(PasswordResetToken(user.id, "sha-1", EXPIRES))
        await uow.commit()
    async with uow_factory() as uow:
        used = await uow.reset_tokens.use("sha-1", T0)
        assert used is not None and used.user_id == user.id
    assert await used_by(uow_factory, "sha-1", T0) == user.id
