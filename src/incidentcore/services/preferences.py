"""Per-user notification preferences: which channels page a user, where, and from which severity."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from incidentcore.errors import FieldError, NotFound, RateLimited, ValidationFailed
from incidentcore.model import Channel, NotificationPreference, Severity, User
from incidentcore.permissions import Action, require
from incidentcore.ports import (
    ChannelAddresses,
    Clock,
    DeliveryFailed,
    DestinationPolicy,
    DestinationRefused,
    InvalidAddress,
    LoginThrottle,
    Notifier,
    OutgoingMessage,
    UnitOfWork,
)
from incidentcore.validation import ADDRESS_MAX

TEST_PAGE_SUBJECT = "incidentcore test page"
TEST_PAGE_BODY = (
    "This is a test page from incidentcore, sent because you asked for one.\n"
    "If you can read it, pages for incidents reach you here."
)


@dataclass(frozen=True)
class DeliveryReport:
    """What became of a test page (`Preferences.send_test`): where it went, and whether the channel's
    provider took it (`error` says why not)."""

    channel: Channel
    address: str
    delivered: bool
    error: str | None = None


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

    def __init__(
        self,
        uow: UnitOfWork,
        destinations: DestinationPolicy,
        addresses: ChannelAddresses,
        notifier: Notifier,
        clock: Clock,
        throttle: LoginThrottle,
        *,
        send_timeout: timedelta = timedelta(seconds=10),
    ) -> None:
        self.uow = uow
        self.destinations = destinations
        self.addresses = addresses
        self.notifier = notifier
        self.clock = clock
        self.throttle = throttle
        self.send_timeout = send_timeout

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

    async def send_test(self, actor: User, channel: Channel) -> DeliveryReport:
        """Sends `actor` a test page on `channel` now, to the address their preference holds (email: the
        account's, unless one is set), enabled or not, through the same destination checks as every
        page; waits at most `send_timeout`. A few per user in a while (429 beyond)."""
        require(actor, Action.SELF_MANAGE)
        retry_after = self.throttle.begin_attempt([f"test-page:{actor.id}"], self.clock.now())
        if retry_after is not None:
            raise RateLimited("too many test pages: try again later", retry_after)
        async with self.uow:
            preferences = await self.uow.preferences.list_for_users([actor.id])
        address = next((p.address for p in preferences if p.channel is channel), None)
        if address is None and channel is Channel.EMAIL:
            address = actor.email
        if address is None:
            raise ValidationFailed(FieldError("channel", f"set an address for {channel.value} first"))
        error = None
        deadline = asyncio.timeout(self.send_timeout.total_seconds())
        try:
            async with deadline:
                await self.destinations.check(channel, address)
                await self.notifier.send(OutgoingMessage(channel, address, TEST_PAGE_SUBJECT, TEST_PAGE_BODY))
        except DestinationRefused as refused:
            error = f"not sent: {refused.reason}"
        except DeliveryFailed as failure:
            error = failure.reason
        except TimeoutError:
            if not deadline.expired():
                raise
            error = f"no answer within {self.send_timeout.total_seconds():g} s"
        return DeliveryReport(channel, address, error is None, error)

    def _require(self, actor: User, user_id: int) -> None:
        require(actor, Action.SELF_MANAGE if user_id == actor.id else Action.PREFERENCE_MANAGE_OTHERS)

    async def _check_user(self, user_id: int) -> None:
        if await self.uow.users.get(user_id) is None:
            raise NotFound(f"user {user_id} does not exist")
