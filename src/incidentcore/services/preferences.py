"""Per-user notification preferences: which channels page a user, where, and from which severity."""

from __future__ import annotations

from incidentcore.errors import FieldError, NotFound, ValidationFailed
from incidentcore.model import Channel, NotificationPreference, Severity, User
from incidentcore.permissions import Action, require
from incidentcore.ports import (
    ChannelAddresses,
    DestinationPolicy,
    DestinationRefused,
    InvalidAddress,
    UnitOfWork,
)
from incidentcore.validation import ADDRESS_MAX


def check_address(
    addresses: ChannelAddresses, channel: Channel, address: str | None, enabled: bool
) -> str | None:
    """The address to store (None: email falls back to the account's address); the channel's own
    format is the adapter's to judge (`addresses`)."""
    if address is not None:
        address = address.strip() or None
    if address is None:
        if enabled and channel is not Channel.EMAIL:
            raise ValidationFailed(FieldError("address", f"the {channel.value} channel needs an address"))
        return None
    if len(address) > ADDRESS_MAX:
        raise ValidationFailed(FieldError("address", f"must be at most {ADDRESS_MAX} characters"))
    try:
        return addresses.check(channel, address)
    except InvalidAddress as invalid:
        raise ValidationFailed(FieldError("address", invalid.reason)) from None


class Preferences:
    """How each user wants to be paged, per channel: their own, or anyone's for an admin."""

    def __init__(self, uow: UnitOfWork, destinations: DestinationPolicy, addresses: ChannelAddresses) -> None:
        self.uow = uow
        self.destinations = destinations
        self.addresses = addresses

    async def list_for(self, actor: User, user_id: int) -> list[NotificationPreference]:
        self._require(actor, user_id)
        async with self.uow:
            await self._check_user(user_id)
            return await self.uow.preferences.list_for_users([user_id])

    async def set_for(
        self,
        actor: User,
        user_id: int,
        channel: Channel,
        *,
        enabled: bool,
        address: str | None,
        min_severity: Severity | None,
    ) -> NotificationPreference:
        self._require(actor, user_id)
        address = check_address(self.addresses, channel, address, enabled)
        if address is not None:
            try:
                await self.destinations.check(channel, address)
            except DestinationRefused as refused:
                raise ValidationFailed(FieldError("address", refused.reason)) from None
        async with self.uow:
            await self._check_user(user_id)
            preference = await self.uow.preferences.upsert(
                NotificationPreference(user_id, channel, enabled, address, min_severity)
            )
            await self.uow.commit()
        return preference

    def _require(self, actor: User, user_id: int) -> None:
        require(actor, Action.SELF_MANAGE if user_id == actor.id else Action.PREFERENCE_MANAGE_OTHERS)

    async def _check_user(self, user_id: int) -> None:
        if await self.uow.users.get(user_id) is None:
            raise NotFound(f"user {user_id} does not exist")
